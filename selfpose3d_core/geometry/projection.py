"""Projection with OpenCV distortion (torch: differentiable, batched; numpy: float64).

Convention: see :mod:`selfpose3d_core.geometry.camera`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .camera import Camera, CameraTensors

__all__ = [
    "Projection",
    "project",
    "project_numpy",
    "distort_normalized",
    "undistort_points_numpy",
    "undistort_pixels_numpy",
]

#: Depth (m) below which a point counts as behind the camera; division uses max(z, eps).
DEPTH_EPS = 1e-4


class Projection(NamedTuple):
    """Result of :func:`project`.

    Fields:
        uv: (*, N, 2) pixel coordinates.
        depth: (*, N) depth along the optical axis (m).
        valid: (*, N) bool — in front of the camera and inside the trusted distortion
            radius (does *not* test the image bounds; see :func:`in_image`).
    """

    uv: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor


def distort_normalized(xy: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Apply OpenCV distortion to normalised coordinates.

    Args:
        xy: (*, N, 2) normalised image coordinates ``(x/z, y/z)``.
        dist: (*, 5) ``(k1, k2, p1, p2, k3)``, broadcastable to xy's leading dims.
    Returns:
        (*, N, 2) distorted normalised coordinates.
    """
    x, y = xy[..., 0], xy[..., 1]
    k1, k2, p1, p2, k3 = (dist[..., i, None] for i in range(5))  # each (*, 1)
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], dim=-1)


def project(points: torch.Tensor, cams: CameraTensors) -> Projection:
    """Project world points into cameras (differentiable in points and camera parameters).

    Args:
        points: (*, N, 3) world points (m).
        cams: camera tensors with leading dims broadcastable against ``points.shape[:-2]``;
            e.g. points (B, 1, N, 3) with cams of leading dims (V,) → (B, V, N, 2).
    Returns:
        :class:`Projection` with uv (*, N, 2), depth (*, N), valid (*, N).

    Points behind the camera get ``depth <= 0``; the division uses ``max(z, DEPTH_EPS)``
    so their uv stay finite (and are flagged invalid).

    Example:
        >>> from selfpose3d_core.geometry import Camera, stack_cameras
        >>> cam = Camera.look_at([3, 0, 2.5], [0, 0, 1], fx=800, width=1280, height=720)
        >>> project(torch.tensor([[0.0, 0.0, 1.0]]), stack_cameras([cam])).uv.shape
        torch.Size([1, 1, 2])
    """
    if points.shape[-1] != 3:
        raise ValueError(f"project: points must be (*, N, 3), got {tuple(points.shape)}")
    R, t, K = cams.R, cams.t, cams.K
    # x_cam = R x + t for every point: (*, N, 3) = (*, N, 3) @ (*, 3, 3)^T + (*, 1, 3)
    xc = points @ R.transpose(-1, -2) + t[..., None, :]
    z = xc[..., 2]
    z_safe = torch.clamp(z, min=DEPTH_EPS)
    xy = xc[..., :2] / z_safe[..., None]
    r2 = (xy * xy).sum(-1)
    xyd = distort_normalized(xy, cams.dist)
    # pixel = K [xd, yd, 1]^T
    u = K[..., 0, 0, None] * xyd[..., 0] + K[..., 0, 1, None] * xyd[..., 1] + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * xyd[..., 1] + K[..., 1, 2, None]
    valid = (z > DEPTH_EPS) & (r2 <= cams.r2_max[..., None])
    return Projection(uv=torch.stack([u, v], dim=-1), depth=z, valid=valid)


def in_image(uv: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """uv: (*, N, 2), size: (*, 2) (width, height) → (*, N) bool inside the image."""
    w, h = size[..., 0, None], size[..., 1, None]
    u, v = uv[..., 0], uv[..., 1]
    return (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)


__all__.append("in_image")


def project_numpy(points: np.ndarray, cam: Camera) -> np.ndarray:
    """points: (..., 3) world (m) → (..., 2) pixels for one camera (float64, distortion)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1] != 3:
        raise ValueError(f"project_numpy: points must be (..., 3), got {points.shape}")
    xc = points @ cam.R.T + cam.t
    z = np.maximum(xc[..., 2], DEPTH_EPS)
    x, y = xc[..., 0] / z, xc[..., 1] / z
    k1, k2, p1, p2, k3 = cam.dist
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    K = cam.K
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=-1)


def undistort_points_numpy(uv: np.ndarray, cam: Camera, iterations: int = 20) -> np.ndarray:
    """Pixels → undistorted normalised coordinates ``(x/z, y/z)``.

    uv: (..., 2) pixels → (..., 2). Iterative inversion of the OpenCV model (as
    ``cv2.undistortPoints``), exact to ~1e-9 inside the image for usual lenses.
    """
    uv = np.asarray(uv, dtype=np.float64)
    K = cam.K
    yd = (uv[..., 1] - K[1, 2]) / K[1, 1]
    xd = (uv[..., 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    k1, k2, p1, p2, k3 = cam.dist
    x, y = xd.copy(), yd.copy()
    if not cam.has_distortion:
        return np.stack([x, y], axis=-1)
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return np.stack([x, y], axis=-1)


def undistort_pixels_numpy(uv: np.ndarray, cam: Camera) -> np.ndarray:
    """Pixels → pixels of the same camera without distortion. uv: (..., 2) → (..., 2)."""
    xy = undistort_points_numpy(uv, cam)
    K = cam.K
    return np.stack([K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2],
                     K[1, 1] * xy[..., 1] + K[1, 2]], axis=-1)
