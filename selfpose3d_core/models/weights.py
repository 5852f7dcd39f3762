"""Loading user-supplied weights (state-dict files) into a module, by name and shape.

Nothing is downloaded. Keys whose shapes disagree with the module are skipped (not an
error), so e.g. a COCO-17 heatmap net loads into a 15-joint one except its last layer;
everything that did not load is reported through :mod:`logging` and returned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, NamedTuple

import torch
from torch import nn

__all__ = ["LoadReport", "read_state_dict", "load_weights"]

log = logging.getLogger(__name__)

#: Container keys under which checkpoints commonly keep the state dict.
_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict")


class LoadReport(NamedTuple):
    """What :func:`load_weights` did (sorted key lists).

    Fields:
        loaded: keys copied into the module.
        missing: module keys the file did not provide (left as initialised).
        unexpected: file keys the module does not have (ignored).
        mismatched: keys present on both sides with different shapes (left as initialised).
    """

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]

    @property
    def complete(self) -> bool:
        """True when every module key was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict file (``torch.save``), on the CPU, tensors only.

    Accepts a bare state dict or a checkpoint dict holding one under ``state_dict``,
    ``model`` or ``model_state_dict``; a ``module.`` prefix (DataParallel/DDP) is removed.

    Raises:
        ValueError: if the file holds no mapping of names to tensors.
    """
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (name → tensor), got "
                         f"{type(obj).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_weights(module: nn.Module, state: Mapping[str, torch.Tensor] | str | Path,
                 name: str = "") -> LoadReport:
    """Copy matching tensors (same name and shape) from ``state`` into ``module``.

    Args:
        module: the target.
        state: a state dict or the path of a file :func:`read_state_dict` reads.
        name: label used in the log messages (defaults to the class name).
    Returns:
        :class:`LoadReport`; missing/unexpected/mismatched keys are also logged as warnings.
    """
    label = name or type(module).__name__
    if not isinstance(state, Mapping):
        label = f"{label} ← {state}"
        state = read_state_dict(state)
    own = module.state_dict()
    ok = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    mismatched = sorted(k for k in state if k in own and own[k].shape != state[k].shape)
    unexpected = sorted(k for k in state if k not in own)
    missing = sorted(k for k in own if k not in ok and k not in mismatched)
    module.load_state_dict(ok, strict=False)
    report = LoadReport(sorted(ok), missing, unexpected, mismatched)
    log.info("%s: loaded %d of %d tensors", label, len(ok), len(own))
    if mismatched:
        log.warning("%s: %d shape-mismatched keys left as initialised: %s", label,
                    len(mismatched), ", ".join(
                        f"{k} {tuple(state[k].shape)}≠{tuple(own[k].shape)}"
                        for k in mismatched))
    if missing:
        log.warning("%s: %d missing keys: %s", label, len(missing), ", ".join(missing))
    if unexpected:
        log.warning("%s: %d unexpected keys ignored: %s", label, len(unexpected),
                    ", ".join(unexpected))
    return report
