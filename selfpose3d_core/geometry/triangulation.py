"""Weighted DLT triangulation, with a leave-one-view-out variant robust to one outlier.

Inputs are distorted pixels; they are undistorted to normalised coordinates first, which
also conditions the linear system (no pixel-scale rows).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .camera import Camera
from .projection import project_numpy, undistort_points_numpy

__all__ = ["Triangulation", "triangulate_dlt", "triangulate_robust", "reprojection_errors"]


class Triangulation(NamedTuple):
    """Fields: points (N, 3) metres (NaN where fewer than 2 views had weight);
    errors (V, N) reprojection error in pixels (NaN where a view had no weight);
    used (V, N) bool, the views that made each point."""

    points: np.ndarray
    errors: np.ndarray
    used: np.ndarray


def _normalised(uv: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    return np.stack([undistort_points_numpy(uv[v], c) for v, c in enumerate(cameras)])


def _dlt(xn: np.ndarray, Rt: np.ndarray, w: np.ndarray) -> np.ndarray:
    """xn (V, N, 2) normalised, Rt (V, 3, 4), w (S, V, N) weights → (S, N, 3)."""
    # rows per view: w (x P3 - P1), w (y P3 - P2) — (V, N, 2, 4)
    rows = xn[..., None] * Rt[:, None, 2:3, :] - Rt[:, None, :2, :]
    A = w[..., None, None] * rows[None]  # (S, V, N, 2, 4)
    S, V, N = w.shape
    A = A.transpose(0, 2, 1, 3, 4).reshape(S, N, 2 * V, 4)  # (S, N, 2V, 4)
    _, _, vh = np.linalg.svd(A)
    X = vh[..., -1, :]  # (S, N, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        P = X[..., :3] / X[..., 3:4]
    enough = (w > 0).sum(1) >= 2  # (S, N)
    return np.where(enough[..., None], P, np.nan)


def reprojection_errors(points: np.ndarray, uv: np.ndarray,
                        cameras: Sequence[Camera]) -> np.ndarray:
    """points (N, 3), uv (V, N, 2) → (V, N) pixel distance between projection and uv."""
    proj = np.stack([project_numpy(points, c) for c in cameras])  # (V, N, 2)
    return np.linalg.norm(proj - uv, axis=-1)


def _check(uv, cameras, weights):
    uv = np.asarray(uv, dtype=np.float64)
    V = len(cameras)
    if uv.ndim != 3 or uv.shape[0] != V or uv.shape[2] != 2:
        raise ValueError(f"triangulate: uv must be (V={V}, N, 2), got {uv.shape}")
    w = np.ones(uv.shape[:2]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != uv.shape[:2]:
        raise ValueError(f"triangulate: weights must be (V, N) = {uv.shape[:2]}, got {w.shape}")
    w = np.where(np.isfinite(uv).all(-1), np.clip(w, 0, None), 0.0)
    return np.nan_to_num(uv), w


def triangulate_dlt(uv, cameras: Sequence[Camera], weights=None) -> Triangulation:
    """Weighted linear triangulation of N points seen in V views.

    Args:
        uv: (V, N, 2) pixels (distorted, as detected); NaN = not seen.
        cameras: V cameras.
        weights: (V, N) per-view confidences (0 = unused); default all ones.
    Returns:
        :class:`Triangulation`.
    """
    uv, w = _check(uv, cameras, weights)
    xn = _normalised(uv, cameras)
    Rt = np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cameras])
    pts = _dlt(xn, Rt, w[None])[0]
    err = np.where(w > 0, reprojection_errors(np.nan_to_num(pts), uv, cameras), np.nan)
    return Triangulation(points=pts, errors=err, used=w > 0)


def triangulate_robust(uv, cameras: Sequence[Camera], weights=None,
                       outlier_px: float = 15.0) -> Triangulation:
    """Weighted DLT that drops the single worst view when it is an outlier.

    Solves the all-view system and every leave-one-view-out system in one batch. Keeps the
    all-view point where its largest reprojection error is ≤ ``outlier_px``; otherwise
    takes the leave-one-out solution with the smallest largest error over its own views
    (needs ≥ 3 weighted views; with 2 there is nothing to vote).

    Args and returns as :func:`triangulate_dlt`.
    """
    uv, w = _check(uv, cameras, weights)
    V, N = w.shape
    xn = _normalised(uv, cameras)
    Rt = np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cameras])
    drop = 1.0 - np.eye(V)  # (V, V): subset s drops view s
    W = np.concatenate([w[None], drop[:, :, None] * w[None]], axis=0)  # (V+1, V, N)
    pts = _dlt(xn, Rt, W)  # (V+1, N, 3)
    proj = np.stack([project_numpy(np.nan_to_num(pts), c) for c in cameras], 1)  # (S, V, N, 2)
    err = np.linalg.norm(proj - uv[None], axis=-1)  # (S, V, N)
    worst = np.where(W > 0, err, -np.inf).max(1)  # (S, N)
    worst = np.where(np.isnan(pts[..., 0]), np.inf, worst)
    n_views = (w > 0).sum(0)  # (N,)
    best_loo = 1 + np.argmin(worst[1:], axis=0)  # (N,)
    use_loo = (worst[0] > outlier_px) & (n_views >= 3) & (
        worst[best_loo, np.arange(N)] < worst[0])
    choice = np.where(use_loo, best_loo, 0)  # (N,)
    idx = np.arange(N)
    points = pts[choice, idx]
    used = W[choice, :, idx].T > 0  # (V, N)
    errors = np.where(w > 0, err[choice, :, idx].T, np.nan)
    return Triangulation(points=points, errors=errors, used=used)
