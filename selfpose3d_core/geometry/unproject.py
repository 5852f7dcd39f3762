"""Unprojection of multi-view heatmaps into voxel volumes (SelfPose3d / VoxelPose §3.2).

For every voxel centre: project into each view with the full camera model (distortion
included), apply the view's input affine, map to heatmap pixels, normalise to [-1, 1] and
sample bilinearly (zero outside the heatmap). Views are fused as
``Σ_v mask_v · sample_v / (Σ_v mask_v + eps)`` where ``mask_v`` says the voxel projects
inside view v's original image (and in front of it); the result is clamped to [0, 1].

The sampling grid depends only on the cameras, the affines, the sizes and the voxel
points: :class:`SamplingGridCache` keeps it while those stay the same (the room grid of a
fixed rig is computed once).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .affine import input_to_heatmap, project_to_input
from .camera import CameraTensors

__all__ = ["SamplingGrid", "sampling_grid", "unproject", "SamplingGridCache"]

#: Added to the view-count denominator (voxels seen by no view become 0, not NaN).
FUSE_EPS = 1e-6
# Fused values below the dtype's smallest normal number (denormals) become exactly 0: the
# far tails of Gaussian heatmaps otherwise reach the 3D CNNs as denormal floats (≈ 6 % of
# a Shelf cube's inputs), on which CPU convolutions run ~7× slower (pose_net, 4 Shelf
# cubes, 1 thread: 1.7 s → 0.26 s). Nothing else changes (a 1e-6 floor, tried first,
# also removed the tiny but batch-normalised signal of an untrained backbone).


class SamplingGrid(NamedTuple):
    """Where every voxel lands in every view's heatmap.

    Fields:
        grid: (*, V, N, 2) ``grid_sample`` coordinates in [-1, 1] (align_corners=True).
        mask: (*, V, N) float, 1 where the voxel projects inside view v's original image.
    """

    grid: torch.Tensor
    mask: torch.Tensor


def sampling_grid(points: torch.Tensor, cams: CameraTensors, affines: torch.Tensor,
                  input_size, heatmap_size) -> SamplingGrid:
    """Sampling grid of world points in every view's heatmap.

    Args:
        points: (*, N, 3) world voxel centres (m), e.g. (B, N, 3) or (B, P·N, 3).
        cams: V cameras (leading dims (V,)).
        affines: (*, V, 2, 3) image → network-input affines.
        input_size: network input (width, height) in pixels.
        heatmap_size: heatmap (width, height) in pixels.
    Returns:
        :class:`SamplingGrid` with grid (*, V, N, 2) and mask (*, V, N).
    """
    proj = project_to_input(points, cams, affines)  # uv (*, V, N, 2)
    hm = input_to_heatmap(proj.uv, input_size, heatmap_size)
    hw, hh = heatmap_size
    scale = hm.new_tensor([2.0 / (hw - 1), 2.0 / (hh - 1)])
    grid = hm * scale - 1.0
    # keep far-away points finite and ≥ 1 heatmap pixel outside (grid_sample reads zeros)
    grid = torch.nan_to_num(grid, nan=-3.0).clamp(-3.0, 3.0)
    return SamplingGrid(grid=grid, mask=proj.valid.to(grid.dtype))


def unproject(heatmaps: torch.Tensor, sg: SamplingGrid,
              num_views: torch.Tensor | None = None) -> torch.Tensor:
    """Fuse multi-view heatmaps at the grid's voxels.

    Args:
        heatmaps: (B, V, J, H, W) heatmaps.
        sg: sampling grid with grid (B, V, N, 2) and mask (B, V, N) (a leading dim of 1
            broadcasts over B).
        num_views: optional (B,) denominators: ``Σ_v mask_v · sample_v / num_views`` (the
            fraction of the rig's live views that fire at the voxel) instead of the mean
            over the views that see the voxel. The mean favours voxels seen by few
            cameras (two firing views out of two score 1, three out of five 0.6), which
            ranks multi-person ghost intersections near the edges of the rig's coverage
            above real people; see ``ModelConfig.root_fusion``.
    Returns:
        (B, J, N) fused values in [0, 1], no denormals; reshape N to (X, Y, Z) or
        (P, x, y, z).
    """
    if heatmaps.dim() != 5:
        raise ValueError(f"unproject: heatmaps must be (B, V, J, H, W), got "
                         f"{tuple(heatmaps.shape)}")
    B, V, J, H, W = heatmaps.shape
    grid, mask = sg.grid, sg.mask
    if grid.shape[-3] != V:
        raise ValueError(f"unproject: grid has {grid.shape[-3]} views, heatmaps have {V}")
    N = grid.shape[-2]
    grid = grid.expand(B, V, N, 2).to(heatmaps.dtype)
    mask = mask.expand(B, V, N).to(heatmaps.dtype)
    samples = F.grid_sample(
        heatmaps.reshape(B * V, J, H, W),  # (B·V, J, H, W)
        grid.reshape(B * V, 1, N, 2),  # (B·V, 1, N, 2)
        mode="bilinear", padding_mode="zeros", align_corners=True,
    ).reshape(B, V, J, N)  # (B·V, J, 1, N) → (B, V, J, N)
    num = torch.einsum("bvjn,bvn->bjn", samples, mask)  # Σ_v mask·sample, no (B,V,J,N) temp
    if num_views is None:
        fused = num / (mask.sum(1)[:, None] + FUSE_EPS)
    else:
        if tuple(num_views.shape) != (B,):
            raise ValueError(f"unproject: num_views must be ({B},), got "
                             f"{tuple(num_views.shape)}")
        fused = num / (num_views.to(num.dtype)[:, None, None] + FUSE_EPS)
    fused = fused.clamp(0.0, 1.0)
    small = fused < torch.finfo(fused.dtype).tiny  # denormals (see the note above)
    # exact zeros forward (x − x = 0), gradients as if kept (straight through)
    return fused - (fused * small).detach()


class SamplingGridCache:
    """Keeps the last :class:`SamplingGrid` while its inputs are unchanged.

    The key compares the camera tensors, the affines, the sizes and the points by value
    (cheap next to recomputing a grid). Use one cache per grid kind (room / cubes).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: SamplingGrid | None = None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _same(a: tuple, b: tuple) -> bool:
        for x, y in zip(a, b):
            if isinstance(x, torch.Tensor):
                if (not isinstance(y, torch.Tensor) or x.shape != y.shape
                        or x.device != y.device or x.dtype != y.dtype or not torch.equal(x, y)):
                    return False
            elif x != y:
                return False
        return len(a) == len(b)

    def get(self, points: torch.Tensor, cams: CameraTensors, affines: torch.Tensor,
            input_size, heatmap_size) -> SamplingGrid:
        """:func:`sampling_grid` with caching (same arguments)."""
        key = (*cams, affines, points, tuple(input_size), tuple(heatmap_size))
        if self._key is not None and self._same(key, self._key):
            self.hits += 1
            return self._value
        self.misses += 1
        value = sampling_grid(points, cams, affines, input_size, heatmap_size)
        self._key = tuple(k.detach().clone() if isinstance(k, torch.Tensor) else k for k in key)
        self._value = SamplingGrid(value.grid.detach(), value.mask.detach()) \
            if not (points.requires_grad or affines.requires_grad) else value
        return self._value
