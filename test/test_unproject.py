"""Voxel grids, unprojection (peak location, fusion rule, gradients, caching), room proposal."""

import numpy as np
import pytest
import torch
from helpers import ring_rig

from selfpose3d_core.geometry import stack_cameras
from selfpose3d_core.geometry.affine import letterbox_affine
from selfpose3d_core.geometry.checks import gradcheck_unproject, point_to_voxel_peak
from selfpose3d_core.geometry.grid import VoxelGrid, cube_points, propose_room
from selfpose3d_core.geometry.unproject import SamplingGridCache, sampling_grid, unproject

IN, HM = (320, 256), (80, 64)


class TestVoxelGrid:
    def test_points_order_and_ends(self):
        g = VoxelGrid(center=(0, 0, 1), size=(2, 4, 2), shape=(3, 5, 2))
        p = g.points(dtype=torch.float64).reshape(3, 5, 2, 3)  # (X, Y, Z, 3)
        np.testing.assert_allclose(p[0, 0, 0], [-1, -2, 0])
        np.testing.assert_allclose(p[-1, -1, -1], [1, 2, 2])
        np.testing.assert_allclose(p[1, 2, 1], [0, 0, 2])
        idx = g.world_to_index(p)
        np.testing.assert_allclose(g.index_to_world(idx), p)

    def test_rejects_bad(self):
        with pytest.raises(ValueError, match="positive size"):
            VoxelGrid(center=(0, 0, 0), size=(1, 1, 0), shape=(4, 4, 4))

    def test_cube_points_batched(self):
        cube = VoxelGrid(center=(0, 0, 0), size=(2, 2, 2), shape=(4, 4, 4))
        c = torch.tensor([[[0.0, 0, 1], [1, 1, 1]]])  # (B=1, P=2, 3)
        pts = cube_points(c, cube)
        assert pts.shape == (1, 2, 64, 3)
        np.testing.assert_allclose(pts.mean(2), c, atol=1e-6)


def test_point_unprojects_to_its_voxel():
    r = point_to_voxel_peak(np.random.default_rng(0), num_points=5, num_views=5,
                            input_size=IN, heatmap_size=HM)
    for X, peak_xyz, nearest, max_abs, value in zip(r.points, r.peak_xyz, r.is_nearest,
                                                    r.max_abs_error_m, r.peak_value):
        assert nearest or max_abs <= r.pitch.max() * 0.75, f"peak {peak_xyz} vs point {X}"
        assert 0.5 < value <= 1.0  # voxel centre ≠ point: below the peak 1


def test_fusion_is_masked_mean_and_clamped():
    cams = ring_rig(3)
    ct = stack_cameras(cams, dtype=torch.float64)
    A = torch.as_tensor(np.stack([letterbox_affine((640, 480), IN)] * 3))[None]
    pts = torch.tensor([[[0.0, 0.0, 1.0], [50.0, 0.0, 1.0]]], dtype=torch.float64)
    sg = sampling_grid(pts, ct, A, IN, HM)
    assert sg.mask[0, :, 0].tolist() == [1.0, 1.0, 1.0] and sg.mask[0, :, 1].sum() == 0
    hm = torch.stack([torch.full((1, HM[1], HM[0]), v, dtype=torch.float64)
                      for v in (0.2, 0.5, 0.8)])[None]  # (1, V=3, J=1, H, W)
    vol = unproject(hm, sg)
    np.testing.assert_allclose(vol[0, 0, 0], 0.5, atol=1e-6)  # mean of views that see it
    assert vol[0, 0, 1] == 0.0  # seen by no view
    vol2 = unproject(hm * 3, sg)
    assert vol2.max() == 1.0  # clamped


def test_tiny_values_are_flushed_to_zero_not_denormal():
    cams = ring_rig(3)
    ct = stack_cameras(cams)
    A = torch.as_tensor(np.stack([letterbox_affine((640, 480), IN)] * 3),
                        dtype=torch.float32)[None]
    pts = torch.tensor([[[0.0, 0.0, 1.0]]])
    sg = sampling_grid(pts, ct, A, IN, HM)
    levels = torch.tensor([1e-40, 1e-39, 1e-30, 5e-7, 0.3])  # 1e-40, 1e-39: float32 denormals
    hm = levels[None, None, :, None, None].expand(1, 3, 5, HM[1], HM[0])  # (1, V, J=5, H, W)
    vol = unproject(hm, sg)[0, :, 0]  # (J,)
    assert vol[:2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(vol[2:], levels[2:], rtol=1e-4)  # normal numbers are kept
    tiny = torch.finfo(torch.float32).tiny  # smallest normal
    assert not ((vol != 0) & (vol.abs() < tiny)).any()
    # with gradients: the same values, and the flushed ones still pass their gradient
    hm_g = hm.clone().requires_grad_(True)
    vol_g = unproject(hm_g, sg)[0, :, 0]
    assert vol_g.tolist() == vol.tolist()
    vol_g.sum().backward()
    grad = hm_g.grad[0].sum((0, 2, 3))  # (J,) summed over views and pixels
    assert (grad > 0).all(), grad


def test_gradcheck_unprojection():
    assert gradcheck_unproject(seed=0)  # raises with the details on failure


def test_batched_cubes_match_single():
    cams = ring_rig(4)
    ct = stack_cameras(cams)
    cube = VoxelGrid(center=(0, 0, 0), size=(2, 2, 2), shape=(8, 8, 8))
    roots = torch.tensor([[[0.0, 0.0, 1.0], [0.8, -0.5, 0.9]],
                          [[-0.7, 0.4, 1.0], [0.2, 0.9, 1.1]]])  # (B=2, P=2, 3)
    A = torch.as_tensor(np.stack([letterbox_affine((640, 480), IN)] * 4), dtype=torch.float32)
    A = A[None].expand(2, 4, 2, 3)
    hm = torch.rand(2, 4, 15, HM[1], HM[0])
    pts = cube_points(roots, cube)  # (B, P, N, 3)
    sg = sampling_grid(pts.reshape(2, -1, 3), ct, A, IN, HM)  # points (B, P·N, 3)
    vol = unproject(hm, sg).reshape(2, 15, 2, 8, 8, 8)  # (B, J, P, x, y, z)
    one = unproject(hm[1:], sampling_grid(pts[1, 1][None], ct, A[1:], IN, HM))
    torch.testing.assert_close(vol[1, :, 1].reshape(15, -1), one[0])


def test_sampling_grid_cache_hits_and_invalidates():
    cams = ring_rig(3)
    ct = stack_cameras(cams)
    A = torch.as_tensor(np.stack([letterbox_affine((640, 480), IN)] * 3),
                        dtype=torch.float32)[None]
    pts = VoxelGrid(center=(0, 0, 1), size=(4, 4, 2), shape=(16, 16, 8)).points()[None]
    cache = SamplingGridCache()
    g1 = cache.get(pts, ct, A, IN, HM)
    g2 = cache.get(pts, ct, A.clone(), IN, HM)
    assert g2 is g1 and cache.hits == 1 and cache.misses == 1
    moved = ct._replace(t=ct.t + 0.01)
    g3 = cache.get(pts, moved, A, IN, HM)
    assert cache.misses == 2 and not torch.equal(g3.grid, g1.grid)


def test_propose_room_covers_the_shared_view():
    cams = ring_rig(5, distortion=False)
    g = propose_room(cams, floor_z=0.0, height=2.0)
    assert all(s % 4 == 0 for s in g.shape)
    assert abs(g.center[2] - 1.0) < 1e-9 and abs(g.size[2] - 2.0) < 1e-9
    assert np.hypot(*g.center[:2]) < 0.5  # symmetric rig → centred near the origin
    assert 2.0 < g.size[0] < 8.0 and 2.0 < g.size[1] < 8.0
    assert g.contains(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.5]])).all()
    assert not g.contains(np.array([[6.0, 0.0, 1.0]])).any()
    with pytest.raises(ValueError, match="min_views"):
        propose_room(cams[:1])
