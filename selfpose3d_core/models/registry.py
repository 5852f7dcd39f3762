"""Name → constructor registry of 2D backbone trunks (a plain dict, no ``eval``).

Each entry builds a fresh :class:`~selfpose3d_core.models.resnet.ResNet` trunk and
carries the default width of the deconvolution head that goes on top of it.

==================  =======================  ===========  ===============
name                blocks                   stem width   deconv channels
==================  =======================  ===========  ===============
``resnet18``        BasicBlock (2, 2, 2, 2)  64           256
``resnet34``        BasicBlock (3, 4, 6, 3)  64           256
``resnet50``        Bottleneck (3, 4, 6, 3)  64           256
``resnet18-narrow`` BasicBlock (2, 2, 2, 2)  16           64
``resnet50-narrow`` Bottleneck (3, 4, 6, 3)  16           64
==================  =======================  ===========  ===============
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

from .resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["BackboneSpec", "BACKBONES", "available_backbones", "get_backbone_spec",
           "register_backbone"]


class BackboneSpec(NamedTuple):
    """A registered trunk.

    Fields:
        build: no-argument constructor of the trunk (a :class:`ResNet`).
        deconv_channels: default channel count of the deconvolution head.
    """

    build: Callable[[], ResNet]
    deconv_channels: int


BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec(partial(ResNet, BasicBlock, (2, 2, 2, 2), 64), 256),
    "resnet34": BackboneSpec(partial(ResNet, BasicBlock, (3, 4, 6, 3), 64), 256),
    "resnet50": BackboneSpec(partial(ResNet, Bottleneck, (3, 4, 6, 3), 64), 256),
    "resnet18-narrow": BackboneSpec(partial(ResNet, BasicBlock, (2, 2, 2, 2), 16), 64),
    "resnet50-narrow": BackboneSpec(partial(ResNet, Bottleneck, (3, 4, 6, 3), 16), 64),
}


def available_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(BACKBONES)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registered :class:`BackboneSpec` of ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the registered ones.
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; available: "
                         f"{', '.join(available_backbones())}") from None


def register_backbone(name: str, spec: BackboneSpec, overwrite: bool = False) -> None:
    """Add a trunk under ``name`` (e.g. a user's own ResNet variant).

    Raises:
        ValueError: if ``name`` is taken and ``overwrite`` is False.
    """
    if name in BACKBONES and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered (pass overwrite=True)")
    BACKBONES[name] = spec
