"""``heatmap_net_2d``: a ResNet trunk + deconvolution head → per-joint 2D heatmaps.

Images (*, 3, H, W) with H, W divisible by 32 → heatmaps (*, J, H/4, W/4): the trunk's
stride 32 is undone by three 4×4 stride-2 transposed convolutions (BN, ReLU), and a 1×1
convolution gives one map per joint. ImageNet mean/std normalisation happens inside
(non-persistent buffers), so callers pass RGB in [0, 1] (float) or uint8 in [0, 255].

Output range: with ``activation="none"`` (the heatmap net) the maps are raw, unbounded
regression outputs trained by MSE against Gaussian targets in [0, 1] — clamp them to
[0, 1] before unprojection if you need a bound (the unprojection clamps its output).
With ``activation="sigmoid"`` (the attention net) they lie in (0, 1).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from .config import BackboneConfig
from .registry import get_backbone_spec
from .weights import LoadReport, load_weights, read_state_dict

__all__ = ["HeatmapNet2D", "heatmap_net_2d", "IMAGENET_MEAN", "IMAGENET_STD"]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Stride of the trunk: inputs must be divisible by it.
STRIDE = 32


class HeatmapNet2D(nn.Module):
    """ResNet + three 4×4 stride-2 deconvolutions + 1×1 conv (Simple-Baselines style).

    Args:
        config: backbone name, joints, deconv width, output activation.

    Attributes:
        backbone: the :class:`~selfpose3d_core.models.resnet.ResNet` trunk.
        deconv: the three (ConvTranspose2d, BatchNorm2d, ReLU) upsampling stages.
        final: 1×1 conv to J maps.
    """

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        spec = get_backbone_spec(config.name)
        self.config = config
        self.backbone = spec.build()
        ch = config.deconv_channels or spec.deconv_channels
        layers: list[nn.Module] = []
        cin = self.backbone.out_channels
        for _ in range(3):
            layers += [nn.ConvTranspose2d(cin, ch, kernel_size=4, stride=2, padding=1,
                                          bias=False),
                       nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
            cin = ch
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(ch, config.num_joints, kernel_size=1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        for m in self.deconv.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    @property
    def num_joints(self) -> int:
        return self.config.num_joints

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Per-joint maps.

        Args:
            images: (*, 3, H, W) RGB, float in [0, 1] or uint8; H, W divisible by 32;
                e.g. (N, 3, H, W) or (B, V, 3, H, W).
        Returns:
            (*, J, H/4, W/4) heatmaps: raw for ``activation="none"``, in (0, 1) for
            ``"sigmoid"``.
        """
        if images.dim() < 4 or images.shape[-3] != 3:
            raise ValueError(f"HeatmapNet2D: images must be (*, 3, H, W), got "
                             f"{tuple(images.shape)}")
        H, W = images.shape[-2:]
        if H % STRIDE or W % STRIDE:
            raise ValueError(f"HeatmapNet2D: image height and width must be divisible by "
                             f"{STRIDE}, got {H}×{W}")
        lead = images.shape[:-3]
        if images.dtype == torch.uint8:
            images = images.to(self.mean.dtype) / 255.0
        x = images.reshape(-1, 3, H, W)  # (N, 3, H, W), N = prod(*)
        x = (x - self.mean) / self.std
        x = self.final(self.deconv(self.backbone(x)))  # (N, J, H/4, W/4)
        if self.config.activation == "sigmoid":
            x = torch.sigmoid(x)
        return x.reshape(*lead, *x.shape[1:])  # (*, J, H/4, W/4)

    def load_pretrained(self, path: str | Path) -> LoadReport:
        """Load a user-supplied state dict: a whole net (keys ``backbone.*``, ``deconv.*``,
        ``final.*``) or a bare ResNet trunk (keys ``conv1.*``, ``layer1.*`` …, e.g. an
        ImageNet classifier whose ``fc.*`` are reported as unexpected).
        """
        state = read_state_dict(path)
        whole = any(k.split(".", 1)[0] in ("backbone", "deconv", "final") for k in state)
        target = self if whole else self.backbone
        label = f"{type(self).__name__}{'' if whole else '.backbone'} ← {path}"
        return load_weights(target, state, name=label)


def heatmap_net_2d(config: BackboneConfig, load_pretrained: bool = True) -> HeatmapNet2D:
    """Build the 2D heatmap net; loads ``config.pretrained`` if set and asked to."""
    net = HeatmapNet2D(config)
    if load_pretrained and config.pretrained:
        net.load_pretrained(config.pretrained)
    return net
