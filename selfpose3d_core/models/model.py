"""The network container and builders from a :class:`ModelConfig`.

:class:`SelfPose3dModel` holds the four networks and the config they were built from;
it has no ``forward`` of its own (the estimator/trainer composes the nets with the
unprojection). A checkpoint of ``{"model_config": model.config.to_dict(),
"state_dict": model.state_dict()}`` rebuilds with :func:`model_from_checkpoint` (plus
``"extra": {"body_prior": ...}`` when the model has a body prior).
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from ..body_prior import BodyPrior
from .attention import attn_net_2d
from .config import ModelConfig
from .heatmap_net import HeatmapNet2D, heatmap_net_2d
from .pose_net import PoseNet
from .root_net import RootNet

__all__ = ["SelfPose3dModel", "build_model", "model_from_checkpoint"]


class SelfPose3dModel(nn.Module):
    """Container of the SelfPose3d networks.

    Attributes:
        config: the :class:`ModelConfig` it was built from.
        backbone: ``heatmap_net_2d``, images (*, 3, H, W) → raw heatmaps (*, J, H/4, W/4).
        root_net: room volume (B, X, Y, Z) → root likelihood (B, X, Y, Z).
        pose_net: cube volumes (*, J, x, y, z) + centres (*, 3) → :class:`PoseOutput`.
        attn_net: ``attn_net_2d`` (sigmoid maps, training only) or None.
        body_prior: the :class:`~selfpose3d_core.body_prior.BodyPrior` fitted at the end of
            training (detections-mode refinement; ``ModelConfig.refine_prior``) or None.
            Not a parameter: checkpoints carry it in ``extra["body_prior"]``.
    """

    def __init__(self, config: ModelConfig, load_pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        self.backbone: HeatmapNet2D = heatmap_net_2d(config.backbone_config(),
                                                     load_pretrained=load_pretrained)
        self.root_net = RootNet(config.root_v2v_config())
        self.pose_net = PoseNet(config.pose_v2v_config(), config.cube_grid(), config.beta,
                                input_skip=config.pose_input_skip,
                                skip_sigma=config.pose_skip_sigma,
                                skip_power=config.pose_skip_power)
        attn = config.attention_config()
        self.attn_net: HeatmapNet2D | None = (None if attn is None else
                                              attn_net_2d(attn, load_pretrained=False))
        self.body_prior: BodyPrior | None = None


def build_model(config: ModelConfig, load_pretrained: bool = True) -> SelfPose3dModel:
    """Build every network of ``config`` (loading ``config.backbone_weights`` if set and
    ``load_pretrained``)."""
    return SelfPose3dModel(config, load_pretrained=load_pretrained)


def model_from_checkpoint(checkpoint: Mapping[str, Any], strict: bool = True
                          ) -> SelfPose3dModel:
    """Rebuild a model from ``{"model_config": dict, "state_dict": dict}``.

    The backbone's ``pretrained`` file is not read (the state dict supersedes it). A state
    dict without the (training-only) attention net — an inference export — gives a model
    without it.

    Raises:
        ValueError: if either key is missing.
    """
    missing = [k for k in ("model_config", "state_dict") if k not in checkpoint]
    if missing:
        raise ValueError(f"model_from_checkpoint: checkpoint lacks {missing}; has "
                         f"{sorted(checkpoint)}")
    model = build_model(ModelConfig.from_dict(checkpoint["model_config"]),
                        load_pretrained=False)
    state = checkpoint["state_dict"]
    if model.attn_net is not None and not any(k.startswith("attn_net.") for k in state):
        model.attn_net = None  # an inference export: the attention net is training-only
    model.load_state_dict(state, strict=strict)
    model.body_prior = BodyPrior.from_checkpoint(checkpoint)
    return model
