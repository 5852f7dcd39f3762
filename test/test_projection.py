"""Camera model and projection: agreement with OpenCV, gradients, undistortion."""

import cv2
import numpy as np
import pytest
import torch
from helpers import random_camera

from selfpose3d_core.geometry import Camera, project, project_numpy, stack_cameras
from selfpose3d_core.geometry.checks import (
    compare_projection_with_opencv,
    gradcheck_projection,
    points_in_front,
)
from selfpose3d_core.geometry.projection import undistort_pixels_numpy, undistort_points_numpy


class TestProjectAgainstOpenCV:
    def test_random_cameras_with_distortion(self):
        r = compare_projection_with_opencv(np.random.default_rng(0), num_cameras=20,
                                           num_points=200)
        assert r.all_valid
        assert r.max_diff < 1e-3, f"max |ours - cv2.projectPoints| = {r.max_diff} px"

    def test_camera_method_matches(self):
        cam = random_camera(np.random.default_rng(1))
        X = points_in_front(np.random.default_rng(2), cam, 10)
        np.testing.assert_allclose(cam.project(X), project_numpy(X, cam))


class TestProjectBatching:
    def test_broadcast_batch_views(self):
        rng = np.random.default_rng(3)
        cams = [random_camera(rng) for _ in range(4)]
        ct = stack_cameras(cams, dtype=torch.float64)
        X = torch.as_tensor(rng.uniform(-1, 1, size=(2, 1, 7, 3)) + [0, 0, 1])  # (B, 1, N, 3)
        out = project(X, ct)
        assert out.uv.shape == (2, 4, 7, 2) and out.valid.shape == (2, 4, 7)
        for v, cam in enumerate(cams):
            np.testing.assert_allclose(out.uv[1, v].numpy(), project_numpy(X[1, 0].numpy(), cam),
                                       atol=1e-9)

    def test_behind_camera_is_invalid_and_finite(self):
        cam = Camera.look_at([0, 0, 3], [0, 0, 0], fx=500, width=640, height=480,
                             up=(0, 1, 0))
        X = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
        out = project(X, stack_cameras([cam], dtype=torch.float64))
        assert torch.isfinite(out.uv).all()
        assert out.valid.tolist() == [[False, True]]

    def test_bad_shape_raises(self):
        cam = stack_cameras([random_camera(np.random.default_rng(0))])
        with pytest.raises(ValueError, match=r"\(\*, N, 3\)"):
            project(torch.zeros(4, 2), cam)


def test_gradcheck_projection_with_distortion():
    assert gradcheck_projection(seed=5)  # raises with the details on failure


def test_undistort_inverts_distortion():
    rng = np.random.default_rng(7)
    for _ in range(5):
        cam = random_camera(rng)
        X = points_in_front(rng, cam, 100)
        uv = project_numpy(X, cam)
        xc = cam.world_to_camera(X)
        np.testing.assert_allclose(undistort_points_numpy(uv, cam), xc[:, :2] / xc[:, 2:],
                                   atol=1e-8)
        ideal = cam.replace(dist=np.zeros(5)).project(X)
        np.testing.assert_allclose(undistort_pixels_numpy(uv, cam), ideal, atol=1e-6)
        ref = cv2.undistortPoints(uv[:, None], cam.K, cam.dist)[:, 0]
        np.testing.assert_allclose(undistort_points_numpy(uv, cam), ref, atol=1e-5)


class TestCameraValidation:
    def test_rejects_non_rotation(self):
        with pytest.raises(ValueError, match="rotation"):
            Camera(K=np.eye(3), R=2 * np.eye(3), t=np.zeros(3), width=10, height=10)

    def test_rejects_nan(self):
        with pytest.raises(ValueError, match="finite"):
            Camera(K=np.eye(3), R=np.eye(3), t=[np.nan, 0, 0], width=10, height=10)

    def test_rejects_bad_shape(self):
        with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
            Camera(K=np.eye(4), R=np.eye(3), t=np.zeros(3), width=10, height=10)

    def test_center_and_scaled_crop(self):
        cam = random_camera(np.random.default_rng(8), distortion=False)
        X = points_in_front(np.random.default_rng(9), cam, 20)
        uv = cam.project(X)
        half = cam.scaled(0.5)
        np.testing.assert_allclose(half.project(X), (uv + 0.5) * 0.5 - 0.5, atol=1e-9)
        crop = cam.cropped(10, 20, 100, 100)
        np.testing.assert_allclose(crop.project(X), uv - [10, 20], atol=1e-9)
        np.testing.assert_allclose(cam.world_to_camera(cam.center), 0, atol=1e-9)

    def test_distortion_radius_is_trusted_inside_image(self):
        rng = np.random.default_rng(10)
        cam = random_camera(rng)
        ct = stack_cameras([cam], dtype=torch.float64)
        X = torch.as_tensor(points_in_front(rng, cam, 100))
        assert project(X, ct).valid.all()
