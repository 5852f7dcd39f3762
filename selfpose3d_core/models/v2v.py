"""V2V-style 3D encoder–decoder (Moon et al. 2018, as used by VoxelPose / SelfPose3d).

Layout for widths (c0, c1, c2, c3) (reference (16, 32, 64, 128): 3.24 M parameters
with 1 → 1 channels, 28 GMAC on an 80×80×20 room, 78 GMAC on a 64³ cube)::

    front:   7³ conv in → c0 (BN, ReLU), residual c0 → c1            full resolution
    skip1 = front output (identity)
    enc1:    2× max-pool, residual c1 → c2                           1/2
    skip2 = residual c2 → c2
    enc2:    2× max-pool, residual c2 → c3                           1/4
    mid:     two residuals c3 → c3                                   1/4
    dec2:    2× transposed conv c3 → c2 (BN, ReLU), + skip2, residual c2 → c2
    dec1:    2× transposed conv c2 → c1 (BN, ReLU), + skip1, residual c1 → c1
    out:     1×1×1 conv c1 → out (with bias, no activation)

A residual block is two 3³ convs with BatchNorm3d (ReLU between and after the sum) and a
1×1×1 conv + BN shortcut when the channel count changes. Volumes are channel-first
(N, C, X, Y, Z) with x, y, z in the grid's axis order; X, Y, Z must be divisible by 4.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import V2VConfig

__all__ = ["V2VNet", "Res3d", "count_parameters"]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of ``module``."""
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def _basic(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel_size=k, padding=k // 2, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, kernel_size=2, stride=2, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Res3d(nn.Module):
    """Residual block: (N, cin, X, Y, Z) → (N, cout, X, Y, Z)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=False), nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, kernel_size=3, padding=1, bias=False), nn.BatchNorm3d(cout))
        self.shortcut = (nn.Identity() if cin == cout else nn.Sequential(
            nn.Conv3d(cin, cout, kernel_size=1, bias=False), nn.BatchNorm3d(cout)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class V2VNet(nn.Module):
    """The 3D CNN shared by root_net (1 → 1) and pose_net (J → J).

    Args:
        config: channel widths and input/output channels.

    Shapes: (N, C_in, X, Y, Z) → (N, C_out, X, Y, Z), X, Y, Z divisible by 4. The output
    is raw (no activation).
    """

    def __init__(self, config: V2VConfig) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2, c3 = config.channels
        self.front = nn.Sequential(_basic(config.in_channels, c0, 7), Res3d(c0, c1))
        self.enc1 = nn.Sequential(nn.MaxPool3d(2), Res3d(c1, c2))
        self.skip2 = Res3d(c2, c2)
        self.enc2 = nn.Sequential(nn.MaxPool3d(2), Res3d(c2, c3))
        self.mid = nn.Sequential(Res3d(c3, c3), Res3d(c3, c3))
        self.up2 = _up(c3, c2)
        self.dec2 = Res3d(c2, c2)
        self.up1 = _up(c2, c1)
        self.dec1 = Res3d(c1, c1)
        self.out = nn.Conv3d(c1, config.out_channels, kernel_size=1)
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.out.weight, std=0.001)
        nn.init.zeros_(self.out.bias)
        self.to(memory_format=torch.channels_last_3d)  # weights match the input layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, X, Y, Z) → (N, C_out, X, Y, Z) raw volumes."""
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"V2VNet: input must be (N, {self.config.in_channels}, X, Y, Z), "
                             f"got {tuple(x.shape)}")
        if any(s % 4 for s in x.shape[2:]):
            raise ValueError(f"V2VNet: X, Y, Z must be divisible by 4 (two 2× poolings), "
                             f"got {tuple(x.shape[2:])}")
        # channels-last 3D layout: ~1.7x faster 3D convolutions on CPU (oneDNN)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        f = self.front(x)  # (N, c1, X, Y, Z)
        e1 = self.enc1(f)  # (N, c2, X/2, Y/2, Z/2)
        e2 = self.mid(self.enc2(e1))  # (N, c3, X/4, Y/4, Z/4)
        d2 = self.dec2(self.up2(e2) + self.skip2(e1))  # (N, c2, X/2, Y/2, Z/2)
        d1 = self.dec1(self.up1(d2) + f)  # (N, c1, X, Y, Z)
        return self.out(d1)  # (N, C_out, X, Y, Z)
