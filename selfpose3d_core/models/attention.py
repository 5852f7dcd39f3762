"""``attn_net_2d``: the soft-attention net of SelfPose3d (training only).

The same ResNet + deconvolution head as the heatmap net, with a sigmoid: one attention
map per joint heatmap, (*, 3, H, W) → (*, J, H/4, W/4) in (0, 1). The paper uses a
separate ResNet-18 (deeper trunks or weights shared with the heatmap net were worse).
"""

from __future__ import annotations

import dataclasses

from .config import BackboneConfig
from .heatmap_net import HeatmapNet2D

__all__ = ["attn_net_2d"]


def attn_net_2d(config: BackboneConfig | None = None, load_pretrained: bool = True
                ) -> HeatmapNet2D:
    """Build the attention net. ``config`` defaults to ResNet-18 with 15 joints; its
    ``activation`` is forced to ``"sigmoid"``.
    """
    config = dataclasses.replace(config or BackboneConfig(name="resnet18"),
                                 activation="sigmoid")
    net = HeatmapNet2D(config)
    if load_pretrained and config.pretrained:
        net.load_pretrained(config.pretrained)
    return net
