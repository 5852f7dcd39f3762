"""ResNet trunks (He et al. 2016) for the 2D heatmap and attention nets.

The standard architecture: a 7×7 stride-2 convolution, 3×3 stride-2 max-pooling and
four stages of residual blocks (BasicBlock for ResNet-18/34, Bottleneck for ResNet-50),
the last three starting with stride 2, so the output stride is 32. There is no
classification head. A ``width`` smaller than 64 scales every stage's channel count
(``width · 2^stage · expansion``), which gives the narrow CPU variants.

Parameter names follow the usual layout (``conv1``, ``bn1``, ``layer1`` … ``layer4``,
``downsample.0/1`` in the first block of a stage), so a user-supplied ImageNet ResNet
state dict of the same depth loads by name (its ``fc.*`` keys are reported as unexpected).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    """1×1 projection (+BN) when the block changes channels or resolution, else None."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BN and an identity (or 1×1 projection) shortcut.

    Shapes: (N, cin, H, W) → (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (carries the stride), 1×1 expand ×4, with BN and a shortcut.

    Shapes: (N, cin, H, W) → (N, 4 · planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk without the classifier.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        width: channels of the stem and of the first stage's ``planes`` (64 standard).

    Shapes: (N, 3, H, W) → (N, out_channels, H / 32, W / 32) (rounded up per stride-2 step).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 width: int = 64) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1 or width < 1:
            raise ValueError(f"ResNet: need 4 stages with ≥ 1 block and width ≥ 1, got "
                             f"layers={tuple(layers)}, width={width}")
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = width
        stages = []
        for i, n in enumerate(layers):
            planes = width * 2 ** i
            blocks = [block(cin, planes, stride=1 if i == 0 else 2)]
            cin = planes * block.expansion
            blocks += [block(cin, planes) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = cin
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images → (N, out_channels, H/32, W/32) features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, width, H/4, W/4)
        x = self.layer1(x)
        x = self.layer2(x)  # (N, ·, H/8, W/8)
        x = self.layer3(x)  # (N, ·, H/16, W/16)
        return self.layer4(x)  # (N, out_channels, H/32, W/32)
