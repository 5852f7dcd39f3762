"""Epipolar geometry of two calibrated cameras (pinhole part; lens distortion ignored)."""

from __future__ import annotations

import numpy as np

from .camera import Camera

__all__ = ["fundamental_matrix", "epipolar_distances"]


def fundamental_matrix(a: Camera, b: Camera) -> np.ndarray:
    """(3, 3) fundamental matrix F with ``x_bᵀ F x_a = 0`` for homogeneous pixels x_a of
    ``a`` and x_b of ``b`` of the same world point (from K, R, t; distortion ignored)."""
    R = b.R @ a.R.T  # a → b
    t = b.t - R @ a.t
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return np.linalg.inv(b.K).T @ tx @ R @ np.linalg.inv(a.K)


def epipolar_distances(uv_a: np.ndarray, uv_b: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Distance (px, in image b) of each joint of each b person to the epipolar line of
    the same joint of each a person.

    Args:
        uv_a: (Pa, J, 2) pixels in image a; uv_b: (Pb, J, 2) pixels in image b.
        F: (3, 3) from :func:`fundamental_matrix` (a → b).
    Returns:
        (Pa, Pb, J) distances.
    """
    uv_a, uv_b = np.asarray(uv_a, np.float64), np.asarray(uv_b, np.float64)
    if uv_a.ndim != 3 or uv_b.ndim != 3 or uv_a.shape[1:] != uv_b.shape[1:] \
            or uv_a.shape[2] != 2:
        raise ValueError(f"epipolar_distances: uv_a must be (Pa, J, 2) and uv_b (Pb, J, 2), "
                         f"got {uv_a.shape} and {uv_b.shape}")
    xa = np.concatenate([uv_a, np.ones((*uv_a.shape[:2], 1))], -1)  # (Pa, J, 3)
    xb = np.concatenate([uv_b, np.ones((*uv_b.shape[:2], 1))], -1)  # (Pb, J, 3)
    lines = xa @ F.T  # (Pa, J, 3) epipolar lines in b
    return np.abs(np.einsum("qkj,pkj->pqk", xb, lines)) / np.linalg.norm(
        lines[:, None, :, :2], axis=-1)  # (Pa, Pb, J)
