"""Differentiable Gaussian heatmap rendering of 2D joints.

A joint at float pixel ``(u, v)`` with weight ``c`` renders as
``c · exp(-((x - u)² + (y - v)²) / (2 σ²))`` on the pixel-centre grid; people are summed
and the result is clipped to [0, 1]. The Gaussian is separable, so each map is an outer
product (an einsum over people), not a dense (P, J, H, W) tensor. No quantisation of the
centres: gradients flow to ``uv`` and the weights (SelfPose3d's cross-view rendering).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["render_heatmaps", "HeatmapTargets", "render_targets", "gaussian_dilate"]


def render_heatmaps(uv: torch.Tensor, weight: torch.Tensor, height: int, width: int,
                    sigma: float = 3.0) -> torch.Tensor:
    """Render joints as Gaussian heatmaps.

    Args:
        uv: (*, P, J, 2) joint positions in heatmap pixels (float).
        weight: (*, P, J) per-joint weights (confidence; 0 = not drawn).
        height, width: heatmap size H, W.
        sigma: Gaussian σ in heatmap pixels.
    Returns:
        (*, J, H, W) heatmaps, summed over people and clipped to [0, 1].

    Example:
        >>> hm = render_heatmaps(torch.tensor([[[4.0, 2.0]]]), torch.ones(1, 1), 5, 9)
        >>> hm.shape, float(hm[0, 2, 4])
        (torch.Size([1, 5, 9]), 1.0)
    """
    if uv.shape[-1] != 2 or uv.shape[:-1] != weight.shape:
        raise ValueError(f"render_heatmaps: uv must be (*, P, J, 2) and weight (*, P, J); got "
                         f"{tuple(uv.shape)} and {tuple(weight.shape)}")
    if sigma <= 0:
        raise ValueError(f"render_heatmaps: sigma must be > 0, got {sigma}")
    xs = torch.arange(width, dtype=uv.dtype, device=uv.device)
    ys = torch.arange(height, dtype=uv.dtype, device=uv.device)
    inv = 1.0 / (2.0 * sigma * sigma)
    gx = torch.exp(-(xs - uv[..., 0, None]) ** 2 * inv)  # (*, P, J, W)
    gy = torch.exp(-(ys - uv[..., 1, None]) ** 2 * inv)  # (*, P, J, H)
    gy = gy * weight[..., None]
    hm = torch.einsum("...pjh,...pjw->...jhw", gy, gx)  # (*, J, H, W)
    return hm.clamp(max=1.0)


class HeatmapTargets(NamedTuple):
    """Training targets from 2D poses.

    Fields:
        heatmaps: (*, J, H, W) Gaussian targets in [0, 1].
        weights: (*, J) 1 where at least one person has the joint inside the map with
            confidence ≥ ``min_conf``, else 0 (a joint nobody shows carries no loss).
            Joints up to 3σ outside the map are drawn (their tails) but do not count.
    """

    heatmaps: torch.Tensor
    weights: torch.Tensor


def render_targets(uv: torch.Tensor, conf: torch.Tensor, height: int, width: int,
                   sigma: float = 3.0, min_conf: float = 0.0,
                   use_confidence: bool = True) -> HeatmapTargets:
    """Target heatmaps from (pseudo) 2D poses.

    Args:
        uv: (*, P, J, 2) joints in heatmap pixels; NaN = missing.
        conf: (*, P, J) confidences; joints below ``min_conf`` are dropped ("hard" labels:
            ``min_conf=0.7``).
        height, width, sigma: as :func:`render_heatmaps`.
        use_confidence: weight each Gaussian by its confidence (else by 1).
    Returns:
        :class:`HeatmapTargets`.
    """
    finite = torch.isfinite(uv).all(-1)

    def within(margin: float) -> torch.Tensor:
        return finite & (uv[..., 0] >= -0.5 - margin) & (uv[..., 0] <= width - 0.5 + margin) \
            & (uv[..., 1] >= -0.5 - margin) & (uv[..., 1] <= height - 0.5 + margin)

    confident = (conf >= min_conf) & (conf > 0)
    # joints just outside the map still draw their tails (as a rendered prediction does)
    draw = within(3.0 * sigma) & confident
    keep = within(0.0) & confident
    w = torch.where(draw, conf if use_confidence else torch.ones_like(conf),
                    torch.zeros_like(conf))
    uv = torch.where(finite[..., None], uv, torch.zeros_like(uv))
    hm = render_heatmaps(uv, w, height, width, sigma)
    return HeatmapTargets(heatmaps=hm, weights=keep.any(-2).to(uv.dtype))


def gaussian_dilate(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Peak-preserving widening of heatmaps: a grey-scale dilation with a Gaussian.

    ``out(p) = max_q maps(q) · exp(-|p - q|² / (2 σ²))``, separable (rows, then columns).
    A Gaussian blob of σ₀ and peak ``a`` becomes a Gaussian of ``sqrt(σ₀² + σ²)`` with the
    same peak ``a`` (a convolution would divide the peak by ``1 + σ²/σ₀²``); separate
    blobs stay separate maxima instead of adding up.

    Args:
        maps: (*, H, W) heatmaps.
        sigma: σ of the structuring Gaussian (pixels); 0 returns ``maps`` unchanged.
    Returns:
        (*, H, W), same dtype and device. Differentiable (sub-gradient of the max).

    Example:
        >>> m = torch.zeros(1, 9, 9); m[0, 4, 4] = 1.0
        >>> out = gaussian_dilate(m, 1.0)
        >>> float(out[0, 4, 4]), round(float(out[0, 4, 5]), 4)
        (1.0, 0.6065)
    """
    if sigma < 0:
        raise ValueError(f"gaussian_dilate: sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return maps
    if maps.dim() < 2:
        raise ValueError(f"gaussian_dilate: maps must be (*, H, W), got {tuple(maps.shape)}")
    r = max(1, int(round(3.0 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device) ** 2
                  / (2.0 * sigma * sigma))  # (2r + 1,)
    lead = maps.shape[:-2]
    x = maps.reshape(-1, *maps.shape[-2:])  # (N, H, W)
    # pad with -inf-like zeros: heatmaps are ≥ 0, so a zero border never wins the max
    x = F.pad(x, (r, r, 0, 0))
    x = (x.unfold(2, 2 * r + 1, 1) * k).amax(-1)  # (N, H, W + 2r) → (N, H, W, 2r+1) → (N, H, W)
    x = F.pad(x, (0, 0, r, r))
    x = (x.unfold(1, 2 * r + 1, 1) * k).amax(-1)  # (N, H + 2r, W) → (N, H, W, 2r+1) → (N, H, W)
    return x.reshape(*lead, *x.shape[-2:])  # (N, H, W) → (*, H, W)
