"""SelfPose3d losses (paper §3.3–3.5; method.md) and the supervised upper-bound losses.

Every loss is zero at a perfect prediction and positive otherwise (tested). Shapes use
B batch, V views, J joints, P pseudo people per view, K person proposals, h w heatmap,
X Y Z room voxels. Pixels are heatmap pixels unless stated.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..geometry.affine import apply_affine, input_to_heatmap, project_to_input
from ..geometry.camera import CameraTensors
from ..geometry.grid import VoxelGrid
from ..models.config import ModelConfig
from ..render import HeatmapTargets, render_heatmaps, render_targets
from .config import RootSynthConfig

__all__ = [
    "gaussian_root_volume",
    "SyntheticRoots",
    "synthetic_root_batch",
    "l2",
    "pseudo_heatmap_targets",
    "RenderedPoses",
    "render_poses",
    "heatmap_loss",
    "attention_regulariser",
    "hungarian_l1",
]


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the paper's "L2")."""
    return ((pred - target) ** 2).mean()


# ---------------------------------------------------------------------------- roots
def gaussian_root_volume(roots: torch.Tensor, valid: torch.Tensor, grid: VoxelGrid,
                         sigma: float) -> torch.Tensor:
    """Target root volume: a Gaussian (σ m, truncated at 3σ) per root, max over roots.

    Args:
        roots: (B, R, 3) world positions (m); valid: (B, R) bool.
    Returns:
        (B, X, Y, Z) in [0, 1].
    """
    pts = grid.points(roots.device, roots.dtype)  # (N, 3)
    d2 = ((pts[None, None] - roots[:, :, None]) ** 2).sum(-1)  # (B, R, N)
    g = torch.exp(-d2 / (2 * sigma * sigma)) * (d2 <= (3 * sigma) ** 2)
    g = g * valid[..., None].to(g.dtype)
    vol = g.amax(1) if roots.shape[1] else torch.zeros_like(d2[:, 0])  # (B, N)
    return vol.reshape(roots.shape[0], *grid.shape)  # (B, N) → (B, X, Y, Z)


class SyntheticRoots(NamedTuple):
    """Fields: heatmaps (B, V, 1, h, w) rendered root heatmaps with noise; target
    (B, X, Y, Z) root volume; roots (B, R, 3); valid (B, R)."""

    heatmaps: torch.Tensor
    target: torch.Tensor
    roots: torch.Tensor
    valid: torch.Tensor


def synthetic_root_batch(cfg: ModelConfig, rs: RootSynthConfig, cams: CameraTensors,
                         affines: torch.Tensor, generator: torch.Generator,
                         floor_z: float = 0.0) -> SyntheticRoots:
    """Random roots in the room → per-view root heatmaps + target volume (paper §3.3).

    Each of the B samples gets 1 … K−1 roots uniformly inside the room grid shrunk by
    ``rs.wall_margin`` at the sides, at heights ``rs.height_range`` above the floor; every
    second root is, with probability ``rs.neighbour_prob``, moved beside the root before it
    (``rs.neighbour_distance`` apart horizontally, clamped into the same area). They
    are projected through the cameras and the input affines (B, V, 2, 3), rendered as
    σ = ``rs.sigma_px`` Gaussians (summed, clipped) with a peak drawn from
    ``rs.amplitude_range``; a root is dropped from a view with probability
    ``rs.view_dropout``, each rendered root is displaced by N(0, ``rs.jitter_px``²) per
    view, single-view false blobs are added (``rs.false_blobs`` per view on
    average), and N(0, ``rs.noise_std``) noise. Only roots rendered in at least
    ``rs.target_min_views`` views are targets (and ``valid``).
    """
    B, V = affines.shape[:2]
    dev, dt = affines.device, affines.dtype
    R = rs.max_roots - 1
    g = generator

    def rand(*shape):
        return torch.rand(*shape, generator=g, device=dev, dtype=dt)

    count = torch.randint(1, R + 1, (B, 1), generator=g, device=dev)  # (B, 1)
    valid = torch.arange(R, device=dev)[None] < count  # (B, R)
    lo = torch.as_tensor(cfg.room.lower, dtype=dt, device=dev)
    size = torch.as_tensor(cfg.room.size, dtype=dt, device=dev)
    m = rs.wall_margin
    xy = lo[:2] + m + rand(B, R, 2) * (size[:2] - 2 * m).clamp(min=0.0)
    z = floor_z + rs.height_range[0] + rand(B, R, 1) * (rs.height_range[1] - rs.height_range[0])
    roots = torch.cat([xy, z], dim=-1)  # (B, R, 3)
    if rs.neighbour_prob > 0 and R > 1:  # people side by side: root 2i+1 beside root 2i
        second = (torch.arange(R, device=dev) % 2 == 1)[None]  # (1, R)
        beside = second & (rand(B, R) < rs.neighbour_prob)  # (B, R)
        d_lo, d_hi = rs.neighbour_distance
        dist = d_lo + (d_hi - d_lo) * rand(B, R)  # (B, R)
        ang = 2.0 * math.pi * rand(B, R)
        prev = torch.roll(roots, 1, dims=1)  # (B, R, 3): row i holds root i − 1
        nxy = prev[..., :2] + torch.stack([dist * ang.cos(), dist * ang.sin()], -1)
        nxy = torch.minimum(torch.maximum(nxy, lo[:2] + m), lo[:2] + size[:2] - m)
        nb = torch.cat([nxy, z], dim=-1)  # (B, R, 3): own height, position beside
        roots = torch.where(beside[..., None], nb, roots)
    proj = project_to_input(roots, cams, affines)  # uv (B, V, R, 2)
    uv = input_to_heatmap(proj.uv, cfg.input_size, cfg.heatmap_size)  # (B, V, R, 2)
    if rs.jitter_px > 0:  # the views of a real root disagree by a few pixels
        uv = uv + torch.randn(uv.shape, generator=g, device=dev, dtype=dt) * rs.jitter_px
    keep = proj.valid & valid[:, None] & (rand(B, V, R) >= rs.view_dropout)
    lo_a, hi_a = rs.amplitude_range
    amp = keep.to(dt) * (lo_a + (hi_a - lo_a) * rand(B, V, R))  # (B, V, R)
    w, h = cfg.heatmap_size
    # single-view false blobs: up to F per view, each present with probability rate / F
    F = max(1, int(math.ceil(rs.false_blobs * 3)))
    fb_uv = rand(B, V, F, 2) * torch.tensor([w - 1.0, h - 1.0], dtype=dt, device=dev)
    fb_on = rand(B, V, F) < rs.false_blobs / F
    fb_amp = fb_on.to(dt) * (lo_a + (hi_a - lo_a) * rand(B, V, F))
    uv_all = torch.cat([uv, fb_uv], dim=2)  # (B, V, R + F, 2)
    amp_all = torch.cat([amp, fb_amp], dim=2)  # (B, V, R + F)
    hm = render_heatmaps(uv_all[..., None, :], amp_all[..., None], h, w,
                         rs.sigma_px)  # (B, V, 1, h, w)
    noise = torch.randn(hm.shape, generator=g, device=dev, dtype=dt) * rs.noise_std
    hm = (hm + noise).clamp(0.0, 1.0)
    # a root seen by fewer than target_min_views views is rendered but is no target
    located = valid & (keep.sum(1) >= rs.target_min_views)  # (B, R)
    target = gaussian_root_volume(roots, located, cfg.room, rs.target_sigma)
    return SyntheticRoots(heatmaps=hm, target=target, roots=roots, valid=located)


# ---------------------------------------------------------------------------- 2D targets
def pseudo_heatmap_targets(uv: torch.Tensor, conf: torch.Tensor, affines: torch.Tensor,
                           cfg: ModelConfig, sigma: float, min_conf: float
                           ) -> tuple[HeatmapTargets, torch.Tensor]:
    """Pseudo-pose heatmaps of one (augmented) copy.

    Args:
        uv: (B, V, P, J, 2) pseudo joints in full-image pixels (NaN = none).
        conf: (B, V, P, J) confidences.
        affines: (B, V, 2, 3) the copy's image → input affines.
    Returns:
        (targets with heatmaps (B, V, J, h, w) and weights (B, V, J),
         joints in heatmap pixels (B, V, P, J, 2)).
    """
    inp = apply_affine(uv.flatten(2, 3), affines).unflatten(2, uv.shape[2:4])
    hm_uv = input_to_heatmap(inp, cfg.input_size, cfg.heatmap_size)  # (B, V, P, J, 2)
    w, h = cfg.heatmap_size
    targets = render_targets(hm_uv, conf, h, w, sigma=sigma, min_conf=min_conf)
    return targets, hm_uv


# ---------------------------------------------------------------------------- 3D → 2D
class RenderedPoses(NamedTuple):
    """Fields: heatmaps (B, V, J, h, w); uv (B, V, K, J, 2) heatmap px; visible
    (B, V, K, J) bool (valid proposal, in front of the camera, inside its image)."""

    heatmaps: torch.Tensor
    uv: torch.Tensor
    visible: torch.Tensor


def render_poses(joints: torch.Tensor, valid: torch.Tensor, cams: CameraTensors,
                 affines: torch.Tensor, cfg: ModelConfig, sigma: float) -> RenderedPoses:
    """Project 3D poses through camera + affine and render them (float centres).

    Args:
        joints: (B, K, J, 3) world joints; valid: (B, K) bool proposals.
        affines: (B, V, 2, 3) the target copy's affines.
    """
    B, K, J = joints.shape[:3]
    proj = project_to_input(joints.reshape(B, K * J, 3), cams, affines)  # (B, V, K·J, ..)
    V = proj.uv.shape[1]
    uv = input_to_heatmap(proj.uv, cfg.input_size, cfg.heatmap_size).reshape(B, V, K, J, 2)
    vis = proj.valid.reshape(B, V, K, J) & valid[:, None, :, None]  # (B, V, K·J) → (B,V,K,J)
    w, h = cfg.heatmap_size
    hm = render_heatmaps(uv, vis.to(uv.dtype), h, w, sigma)  # (B, V, J, h, w)
    return RenderedPoses(heatmaps=hm, uv=uv, visible=vis)


def heatmap_loss(pred: torch.Tensor, target: HeatmapTargets,
                 attention: torch.Tensor | None = None,
                 foreground_weight: float = 0.0) -> torch.Tensor:
    """L2 between rendered and pseudo heatmaps, optionally attention-weighted.

    ``mean(w · A ⊗ (1 + f·H*) ⊗ (H − H*)²)`` with w the (B, V, J) target weights (joints
    nobody shows in a view carry no loss), A (B, V, J, h, w) the soft attention (1 if
    None) and f = ``foreground_weight``: > 0 weighs the pixels under the Gaussians more,
    so a 2D net trained from scratch does not settle on the all-zero map first.
    """
    d2 = (pred - target.heatmaps) ** 2
    if foreground_weight:
        d2 = d2 * (1.0 + foreground_weight * target.heatmaps)
    if attention is not None:
        d2 = attention * d2
    return (d2 * target.weights[..., None, None]).mean()


def attention_regulariser(attention: torch.Tensor) -> torch.Tensor:
    """L2(A, 1): keeps the soft attention from collapsing to 0."""
    return ((attention - 1.0) ** 2).mean()


# ---------------------------------------------------------------------------- Hungarian L1
def hungarian_l1(pred_uv: torch.Tensor, pred_visible: torch.Tensor, pseudo_uv: torch.Tensor,
                 pseudo_weight: torch.Tensor, drop_worst_view: bool = True) -> torch.Tensor:
    """Per-view Hungarian-matched L1 between projected predictions and pseudo poses.

    The cost of (prediction k, pseudo person p) in a view is the mean absolute 2D error
    over the joints both have; each view is matched with ``linear_sum_assignment`` (a
    tiny K×P problem per view: this is the one loop, over B·V views, on the CPU); a view's
    loss is the mean cost of its matches. With ``drop_worst_view`` (hard attention) the
    view with the largest loss in each frame is dropped before averaging.

    Args:
        pred_uv: (B, V, K, J, 2) projected predictions (heatmap px).
        pred_visible: (B, V, K, J) bool.
        pseudo_uv: (B, V, P, J, 2) pseudo poses (heatmap px; NaN allowed where weight 0).
        pseudo_weight: (B, V, P, J) > 0 where the pseudo joint counts.
    Returns:
        scalar loss (0 when nothing matches).
    """
    B, V, K, J = pred_visible.shape
    both = pred_visible[:, :, :, None] & (pseudo_weight > 0)[:, :, None]  # (B, V, K, P, J)
    psu = torch.nan_to_num(pseudo_uv)
    err = (pred_uv[:, :, :, None] - psu[:, :, None]).abs().sum(-1)  # (B, V, K, P, J)
    n = both.sum(-1)  # (B, V, K, P)
    cost = (err * both).sum(-1) / n.clamp(min=1)  # (B, V, K, P)
    min_joints = max(3, J // 3)  # a pair must share a third of the joints to be matched
    ok = n >= min_joints
    cost_np = torch.where(ok, cost, torch.full_like(cost, 1e6)).detach().cpu().numpy()
    ok_np = ok.cpu().numpy()
    vb, vv, vk, vp = [], [], [], []
    for b in range(B):
        for v in range(V):
            if not ok_np[b, v].any():
                continue
            rows, cols = linear_sum_assignment(cost_np[b, v])
            good = ok_np[b, v, rows, cols]
            vb += [b] * int(good.sum())
            vv += [v] * int(good.sum())
            vk += rows[good].tolist()
            vp += cols[good].tolist()
    if not vb:
        return pred_uv.sum() * 0.0
    idx = [torch.as_tensor(np.asarray(i), device=cost.device) for i in (vb, vv, vk, vp)]
    matched = cost[idx[0], idx[1], idx[2], idx[3]]  # (M,)
    flat = idx[0] * V + idx[1]  # (M,) view id in [0, B·V)
    total = torch.zeros(B * V, dtype=cost.dtype, device=cost.device).index_add(0, flat, matched)
    count = torch.zeros(B * V, dtype=cost.dtype, device=cost.device).index_add(
        0, flat, torch.ones_like(matched))
    has = (count > 0).reshape(B, V)  # (B·V,) → (B, V)
    per_view = (total / count.clamp(min=1)).reshape(B, V)
    if drop_worst_view:
        n_views = has.sum(1, keepdim=True)  # (B, 1)
        masked = torch.where(has, per_view.detach(), torch.full_like(per_view, -1.0))
        worst = masked.argmax(1, keepdim=True)  # (B, 1)
        drop = torch.zeros_like(has).scatter_(1, worst, True) & (n_views >= 2)
        has = has & ~drop
    per_frame = (per_view * has).sum(1) / has.sum(1).clamp(min=1)  # (B,)
    frames = has.any(1)
    return per_frame[frames].mean() if frames.any() else pred_uv.sum() * 0.0
