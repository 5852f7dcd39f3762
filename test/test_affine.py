"""Input affines: composition with projection, inversion, image warping agreement."""

import numpy as np
import torch
from helpers import ring_rig

from selfpose3d_core.geometry import project_numpy, stack_cameras
from selfpose3d_core.geometry.affine import (
    affine_matrix,
    apply_affine,
    compose_affine,
    input_to_heatmap,
    invert_affine,
    letterbox_affine,
    project_to_input,
    random_augment_affine,
    warp_image,
)


def test_letterbox_maps_corners_and_centre():
    A = letterbox_affine((1280, 720), (960, 512))
    c = apply_affine(np.array([[639.5, 359.5]]), A)
    np.testing.assert_allclose(c, [[479.5, 255.5]], atol=1e-9)
    s = A[0, 0]
    assert abs(s - 512 / 720) < 1e-12 and abs(A[1, 1] - s) < 1e-12  # aspect preserved


def test_rotation_direction_and_inverse():
    A = affine_matrix((100, 100), (200, 200), 90.0, (200, 200))
    # a point to the right of the centre turns to above it (counter-clockwise as shown)
    p = apply_affine(np.array([[150.0, 100.0]]), A)
    np.testing.assert_allclose(p, [[99.5, 49.5]], atol=1e-9)
    Ai = invert_affine(A)
    np.testing.assert_allclose(apply_affine(p, Ai), [[150.0, 100.0]], atol=1e-9)
    np.testing.assert_allclose(compose_affine(Ai, A), np.eye(3)[:2], atol=1e-12)


def test_random_augment_ranges():
    rng = np.random.default_rng(0)
    scales, rots = [], []
    base = letterbox_affine((640, 480), (320, 256))
    for _ in range(2000):
        A = random_augment_affine(rng, (640, 480), (320, 256))
        lin = A[:, :2] / base[0, 0]
        scales.append(1 / np.sqrt(abs(np.linalg.det(lin))))
        rots.append(np.degrees(np.arctan2(lin[0, 1], lin[0, 0])))
    scales, rots = np.array(scales), np.array(rots)
    assert scales.min() >= 0.65 - 1e-9 and scales.max() <= 1.35 + 1e-9
    assert np.abs(rots).max() <= 45 + 1e-9
    assert 0.4 < np.mean(np.abs(rots) > 1e-9) < 0.6  # rotated with probability 0.5
    assert 0.4 < np.mean(np.abs(scales - 1) > 1e-9) < 0.6


def test_project_to_input_equals_affine_of_projection():
    cams = ring_rig(3)
    ct = stack_cameras(cams, dtype=torch.float64)
    rng = np.random.default_rng(1)
    A = np.stack([random_augment_affine(rng, (640, 480), (320, 256)) for _ in range(3)])
    X = rng.uniform([-1, -1, 0.2], [1, 1, 1.8], size=(10, 3))
    out = project_to_input(torch.as_tensor(X)[None], ct, torch.as_tensor(A)[None])
    assert out.uv.shape == (1, 3, 10, 2)
    for v, cam in enumerate(cams):
        np.testing.assert_allclose(out.uv[0, v].numpy(), apply_affine(project_numpy(X, cam),
                                                                     A[v]), atol=1e-9)
    assert out.valid.all()


def test_warp_image_agrees_with_point_mapping():
    img = np.zeros((480, 640, 3), np.uint8)
    img[200:203, 300:303] = 255  # a bright 3x3 square centred at (301, 201)
    A = affine_matrix((320, 240), (500, 400), 30.0, (320, 256))
    out = warp_image(img, A, (320, 256))
    ys, xs = np.nonzero(out[..., 0] > 0)
    w = out[ys, xs, 0].astype(float)
    centroid = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    np.testing.assert_allclose(centroid, apply_affine(np.array([[301.0, 201.0]]), A)[0],
                               atol=0.1)


def test_input_to_heatmap_pixel_centres():
    uv = np.array([[-0.5, -0.5], [959.5, 511.5], [1.5, 1.5]])
    hm = input_to_heatmap(uv, (960, 512), (240, 128))
    np.testing.assert_allclose(hm, [[-0.5, -0.5], [239.5, 127.5], [0.0, 0.0]])
