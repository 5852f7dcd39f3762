"""Voxel grids: the whole-room grid, per-person cubes, and a room proposal from the cameras.

A grid of shape (X, Y, Z) spans ``center ± size / 2`` with voxel centres on
``linspace(min, max, n)`` per axis (both ends included, as VoxelPose). Flattened voxel
order is x-major: index = (ix * Y + iy) * Z + iz, so ``(N,) → (X, Y, Z)`` is a plain
reshape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.spatial import Delaunay, QhullError

from .camera import Camera

__all__ = ["VoxelGrid", "cube_points", "propose_room"]


def _vec3(name, value, dtype) -> tuple:
    arr = np.asarray(value, dtype=dtype).ravel()
    if arr.shape != (3,):
        raise ValueError(f"VoxelGrid.{name} must have 3 values, got {value!r}")
    return tuple(arr.tolist())


@dataclass(frozen=True)
class VoxelGrid:
    """An axis-aligned voxel grid in the world frame.

    Attributes:
        center: (3,) centre (m).
        size: (3,) side lengths (m).
        shape: (3,) voxel counts (X, Y, Z), each ≥ 2.
    """

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", _vec3("center", self.center, float))
        object.__setattr__(self, "size", _vec3("size", self.size, float))
        object.__setattr__(self, "shape", _vec3("shape", self.shape, int))
        if min(self.size) <= 0 or min(self.shape) < 2:
            raise ValueError(f"VoxelGrid needs positive size and ≥ 2 voxels per axis, got "
                             f"size={self.size}, shape={self.shape}")

    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.shape))

    @property
    def pitch(self) -> np.ndarray:
        """(3,) distance between neighbouring voxel centres (m)."""
        return np.asarray(self.size) / (np.asarray(self.shape) - 1)

    @property
    def lower(self) -> np.ndarray:
        return np.asarray(self.center) - np.asarray(self.size) / 2

    def axes(self) -> list[np.ndarray]:
        """Voxel-centre coordinates along x, y, z (three 1-D arrays)."""
        lo = self.lower
        return [np.linspace(lo[i], lo[i] + self.size[i], self.shape[i]) for i in range(3)]

    def offsets(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """(N, 3) voxel centres relative to ``center``, x-major order."""
        ax = [torch.as_tensor(a - c, dtype=dtype, device=device)
              for a, c in zip(self.axes(), self.center)]
        gx, gy, gz = torch.meshgrid(*ax, indexing="ij")  # each (X, Y, Z)
        return torch.stack([gx, gy, gz], dim=-1).reshape(-1, 3)  # (X*Y*Z, 3)

    def points(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """(N, 3) world voxel centres, x-major order (N = X·Y·Z)."""
        return self.offsets(device, dtype) + torch.as_tensor(self.center, dtype=dtype,
                                                             device=device)

    def index_to_world(self, index):
        """Fractional voxel indices (*, 3) → world (*, 3) (numpy or torch)."""
        lo, p = self.lower, self.pitch
        if isinstance(index, torch.Tensor):
            return index * index.new_tensor(p) + index.new_tensor(lo)
        return np.asarray(index) * p + lo

    def world_to_index(self, points):
        """World (*, 3) → fractional voxel indices (*, 3) (numpy or torch)."""
        lo, p = self.lower, self.pitch
        if isinstance(points, torch.Tensor):
            return (points - points.new_tensor(lo)) / points.new_tensor(p)
        return (np.asarray(points) - lo) / p

    def contains(self, points) -> np.ndarray:
        """World (*, 3) → (*,) bool inside the grid's box."""
        idx = self.world_to_index(np.asarray(points))
        return np.all((idx >= 0) & (idx <= np.asarray(self.shape) - 1), axis=-1)


def cube_points(centers: torch.Tensor, cube: VoxelGrid) -> torch.Tensor:
    """Voxel centres of one cube per centre.

    Args:
        centers: (*, 3) cube centres (m), e.g. (B, P, 3) root proposals.
        cube: the cube's grid (its own ``center`` is ignored; size and shape are used).
    Returns:
        (*, N, 3) world points, N = cube.num_voxels, x-major.
    """
    off = cube.offsets(centers.device, centers.dtype)  # (N, 3)
    return centers[..., None, :] + off


def propose_room(cameras: Sequence[Camera], floor_z: float = 0.0, height: float = 2.0,
                 min_views: int = 2, pitch: float = 0.1, margin: float = 0.3,
                 sample_step: float = 0.05) -> VoxelGrid:
    """Propose the room grid from the cameras' view frusta and the floor plane.

    The floor region counted is the set of (x, y) where a standing person — points at
    heights 0.1 m, ``height / 2`` and ``height - 0.2`` above the floor — is inside the
    image of at least ``min_views`` cameras at every one of those heights, and that lies
    inside the convex hull of the cameras' floor positions (rig cameras hang on the walls
    and ceiling of the room they watch; this cuts off what they see through each other's
    side). With fewer than 3 non-collinear cameras only the first rule applies. The grid is the
    bounding box of that region grown by ``margin``, from ``floor_z`` to ``floor_z +
    height``, with voxel counts from ``pitch`` rounded up to multiples of 4.

    Args:
        cameras: the rig (world z up, floor at ``floor_z``).
        floor_z: floor height (m).
        height: vertical extent of the grid (m).
        min_views: how many cameras must see a point.
        pitch: target voxel pitch (m).
        margin: growth of the covered region on each side (m).
        sample_step: floor sampling step (m).
    Returns:
        A :class:`VoxelGrid`.
    Raises:
        ValueError: if no floor point is seen by ``min_views`` cameras.
    """
    if len(cameras) < min_views:
        raise ValueError(f"propose_room: {len(cameras)} cameras < min_views={min_views}")
    centres = np.stack([c.center for c in cameras])
    reach = max(4.0, 1.5 * float(np.ptp(centres[:, :2], axis=0).max()))
    lo = centres[:, :2].mean(0) - reach
    hi = centres[:, :2].mean(0) + reach
    xs = np.arange(lo[0], hi[0], sample_step)
    ys = np.arange(lo[1], hi[1], sample_step)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")  # (Nx, Ny)
    seen_all = np.ones(gx.shape, dtype=bool)
    for h in (0.1, height / 2, height - 0.2):
        pts = np.stack([gx, gy, np.full_like(gx, floor_z + h)], -1)  # (Nx, Ny, 3)
        count = np.zeros(gx.shape, dtype=int)
        for cam in cameras:  # a handful of cameras, once per rig: not a hot path
            z = cam.world_to_camera(pts)[..., 2]
            count += (z > 0.1) & cam.in_image(cam.project(pts))
        seen_all &= count >= min_views
    if len(cameras) >= 3:
        try:
            hull = Delaunay(centres[:, :2])
            seen_all &= hull.find_simplex(np.stack([gx, gy], -1)) >= 0
        except QhullError:  # collinear cameras: no hull
            pass
    if not seen_all.any():
        raise ValueError(f"propose_room: no floor point within {reach:.1f} m of the cameras "
                         f"is seen by {min_views} cameras; check the calibration and floor_z")
    x_in, y_in = gx[seen_all], gy[seen_all]
    x0, x1 = x_in.min() - margin, x_in.max() + margin
    y0, y1 = y_in.min() - margin, y_in.max() + margin
    size = (x1 - x0, y1 - y0, height)
    # multiples of 4 so the 3D CNN's two 2x poolings divide evenly
    shape = [max(4, -(-(int(round(s / pitch)) + 1) // 4) * 4) for s in size]
    return VoxelGrid(center=((x0 + x1) / 2, (y0 + y1) / 2, floor_z + height / 2), size=size,
                     shape=tuple(shape))
