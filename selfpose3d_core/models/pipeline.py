"""The differentiable 3D part shared by inference and training.

heatmaps (B, V, J, h, w) ──root channel, room grid──▶ root_net ──▶ root volume (B, X, Y, Z)
root proposals (B, K, 3) ──J channels, K cubes──▶ pose_net ──▶ joints (B, K, J, 3)

Views can be switched off per frame with ``view_mask`` (B, V) (a camera that dropped
out): a masked view contributes nothing to the fusion, exactly as if the voxel projected
outside its image.

The networks are passed in as callables (``root_net``, ``pose_net``) so training can pass
DDP-wrapped modules; grids and sizes come from the :class:`ModelConfig`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..geometry.camera import CameraTensors
from ..geometry.grid import cube_points
from ..geometry.unproject import SamplingGrid, SamplingGridCache, sampling_grid, unproject
from ..render import gaussian_dilate
from .config import ModelConfig
from .pose_net import PoseOutput

__all__ = ["RoomVolumes", "room_input", "room_volume", "pose_volumes", "estimate_poses",
           "masked_grid"]


class RoomVolumes(NamedTuple):
    """Fields: input (B, X, Y, Z) unprojected root heatmaps; output (B, X, Y, Z) root_net."""

    input: torch.Tensor
    output: torch.Tensor


def masked_grid(sg: SamplingGrid, view_mask: torch.Tensor | None) -> SamplingGrid:
    """Apply a (B, V) view mask (1 = use the view) to a sampling grid's (B|1, V, N) mask."""
    if view_mask is None:
        return sg
    return SamplingGrid(sg.grid, sg.mask * view_mask.to(sg.mask.dtype)[..., None])


def room_input(cfg: ModelConfig, heatmaps: torch.Tensor, cams: CameraTensors,
               affines: torch.Tensor, cache: SamplingGridCache | None = None,
               view_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Root channel of every view → room grid: (B, X, Y, Z) in [0, 1] (root_net's input).

    Args:
        cfg: grids and sizes.
        heatmaps: (B, V, J, h, w) heatmaps in [0, 1] (clamp raw backbone output first), or
            (B, V, 1, h, w) root heatmaps only.
        cams: V cameras.
        affines: (B, V, 2, 3) image → network-input affines.
        cache: optional sampling-grid cache (a fixed rig computes the room grid once).
        view_mask: optional (B, V) 0/1, views to ignore.

    The root channel is widened by ``cfg.root_dilate_px`` and fused by
    ``cfg.root_fusion`` (see :class:`ModelConfig`); synthetic roots go through the same
    path, so root_net trains and runs on one input distribution.
    """
    B = heatmaps.shape[0]
    points = cfg.room.points(heatmaps.device, heatmaps.dtype)[None]  # (1, N, 3)
    args = (points.expand(B, -1, -1), cams, affines, cfg.input_size, cfg.heatmap_size)
    sg = cache.get(*args) if cache is not None else sampling_grid(*args)
    if heatmaps.shape[2] != 1:  # all J joints given: take the root channel
        heatmaps = heatmaps[:, :, cfg.root_joint:cfg.root_joint + 1]  # (B, V, 1, h, w)
    root_hm = gaussian_dilate(heatmaps, cfg.root_dilate_px)  # (B, V, 1, h, w)
    num_views = None
    if cfg.root_fusion == "views":  # Σ_v / live views, not the mean over the seeing views
        num_views = (view_mask.to(heatmaps.dtype).sum(1) if view_mask is not None else
                     heatmaps.new_full((B,), float(heatmaps.shape[1])))
    vol = unproject(root_hm, masked_grid(sg, view_mask), num_views)  # (B, 1, N)
    return vol.reshape(B, *cfg.room.shape)  # (B, 1, N) → (B, X, Y, Z)


def room_volume(cfg: ModelConfig, root_net, heatmaps: torch.Tensor, cams: CameraTensors,
                affines: torch.Tensor, cache: SamplingGridCache | None = None,
                view_mask: torch.Tensor | None = None) -> RoomVolumes:
    """:func:`room_input` then ``root_net``: :class:`RoomVolumes` (B, X, Y, Z) each."""
    vol = room_input(cfg, heatmaps, cams, affines, cache, view_mask)
    return RoomVolumes(input=vol, output=root_net(vol))


def pose_volumes(cfg: ModelConfig, heatmaps: torch.Tensor, cams: CameraTensors,
                 affines: torch.Tensor, centers: torch.Tensor,
                 view_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Unproject all J channels into one cube per proposal.

    Args:
        heatmaps: (B, V, J, h, w); affines (B, V, 2, 3); centers (B, K, 3) cube centres.
    Returns:
        (B, K, J, x, y, z) cube volumes.
    """
    cube = cfg.cube_grid()
    B, K = centers.shape[:2]
    J = heatmaps.shape[2]
    pts = cube_points(centers, cube)  # (B, K, M, 3)
    M = pts.shape[2]
    sg = sampling_grid(pts.reshape(B, K * M, 3), cams, affines, cfg.input_size,
                       cfg.heatmap_size)  # grid (B, V, K·M, 2)
    vol = unproject(heatmaps, masked_grid(sg, view_mask))  # (B, J, K·M)
    vol = vol.reshape(B, J, K, *cube.shape)  # (B, J, K·M) → (B, J, K, x, y, z)
    return vol.transpose(1, 2)  # (B, K, J, x, y, z)


def estimate_poses(cfg: ModelConfig, pose_net, heatmaps: torch.Tensor, cams: CameraTensors,
                   affines: torch.Tensor, centers: torch.Tensor,
                   view_mask: torch.Tensor | None = None,
                   person_heatmaps: torch.Tensor | None = None) -> PoseOutput:
    """pose_net on every proposal at once: joints (B, K, J, 3) (see :class:`PoseOutput`).

    ``person_heatmaps`` (B, K, V, J, h, w), when given (detections mode, see
    :mod:`selfpose3d_core.person_heatmaps`), replace ``heatmaps`` for the cubes: proposal k
    is unprojected from its own maps.
    """
    if person_heatmaps is None:
        vols = pose_volumes(cfg, heatmaps, cams, affines, centers, view_mask)
        return pose_net(vols, centers)
    B, K = centers.shape[:2]
    if tuple(person_heatmaps.shape[:3]) != (B, K, heatmaps.shape[1]):
        raise ValueError(f"estimate_poses: person_heatmaps must be ({B}, {K}, "
                         f"{heatmaps.shape[1]}, J, h, w), got {tuple(person_heatmaps.shape)}")
    V = person_heatmaps.shape[2]
    flat = person_heatmaps.reshape(B * K, *person_heatmaps.shape[2:])  # (B·K, V, J, h, w)
    aff = affines[:, None].expand(B, K, V, 2, 3).reshape(B * K, V, 2, 3)
    mask = None if view_mask is None else \
        view_mask[:, None].expand(B, K, V).reshape(B * K, V)  # (B, K, V) → (B·K, V)
    vols = pose_volumes(cfg, flat, cams, aff, centers.reshape(B * K, 1, 3), mask)
    vols = vols.reshape(B, K, *vols.shape[2:])  # (B·K, 1, J, x, y, z) → (B, K, J, x, y, z)
    return pose_net(vols, centers)
