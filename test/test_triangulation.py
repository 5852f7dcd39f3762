"""Triangulation: exact round trip, weights, one outlier view."""

import numpy as np
from helpers import ring_rig

from selfpose3d_core.geometry import project_numpy
from selfpose3d_core.geometry.checks import triangulation_round_trip
from selfpose3d_core.geometry.triangulation import triangulate_dlt, triangulate_robust


def _scene(n=50, seed=0):
    rng = np.random.default_rng(seed)
    cams = ring_rig(5, seed=seed)
    X = rng.uniform([-1.5, -1.5, 0.1], [1.5, 1.5, 1.9], size=(n, 3))
    uv = np.stack([project_numpy(X, c) for c in cams])  # (V, N, 2)
    return cams, X, uv


def test_round_trip_without_noise_is_exact():
    rt = triangulation_round_trip(num_views=5, num_points=50, seed=0)  # = _scene()
    err = rt.dlt_max_error_m
    assert err < 1e-6, f"project → triangulate round trip error {err} m"
    assert rt.dlt_max_reprojection_px < 1e-4
    assert rt.robust_max_error_m < 1e-6
    assert rt.robust_all_used


def test_zero_weight_views_are_ignored_and_two_views_suffice():
    cams, X, uv = _scene()
    uv = uv.copy()
    uv[2:] += 500.0  # garbage in views 2..4
    w = np.zeros(uv.shape[:2])
    w[:2] = 1.0
    tri = triangulate_dlt(uv, cams, w)
    assert np.abs(tri.points - X).max() < 1e-6
    assert np.isnan(tri.errors[2:]).all()


def test_nan_pixels_and_single_view_give_nan_point():
    cams, X, uv = _scene(n=3)
    uv = uv.copy()
    uv[1:, 0] = np.nan  # point 0 seen by one view only
    tri = triangulate_dlt(uv, cams)
    assert np.isnan(tri.points[0]).all()
    assert np.abs(tri.points[1:] - X[1:]).max() < 1e-6


def test_robust_to_one_outlier_view():
    cams, X, uv = _scene(n=200, seed=1)
    rng = np.random.default_rng(2)
    noisy = uv + rng.normal(0, 1.0, uv.shape)
    bad_view = rng.integers(0, 5, size=200)
    noisy[bad_view, np.arange(200)] += rng.uniform(60, 150, size=(200, 2)) * rng.choice(
        [-1, 1], size=(200, 2))
    plain = triangulate_dlt(noisy, cams)
    robust = triangulate_robust(noisy, cams)
    e_plain = np.linalg.norm(plain.points - X, axis=1)
    e_rob = np.linalg.norm(robust.points - X, axis=1)
    assert np.median(e_rob) < 0.01, np.median(e_rob)
    assert np.median(e_plain) > 3 * np.median(e_rob)
    dropped = ~robust.used[bad_view, np.arange(200)]
    assert dropped.mean() > 0.95


def test_confidence_weights_reduce_error():
    cams, X, uv = _scene(n=300, seed=3)
    rng = np.random.default_rng(4)
    sig = np.array([0.5, 0.5, 0.5, 8.0, 8.0])[:, None, None]
    noisy = uv + rng.normal(0, 1, uv.shape) * sig
    w = np.broadcast_to(1 / sig[..., 0], uv.shape[:2])
    e_w = np.linalg.norm(triangulate_dlt(noisy, cams, w).points - X, axis=1).mean()
    e_u = np.linalg.norm(triangulate_dlt(noisy, cams).points - X, axis=1).mean()
    assert e_w < 0.7 * e_u
