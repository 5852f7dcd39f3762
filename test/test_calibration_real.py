"""Calibration converters on the real data in ``../shared/data`` (see its README)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from selfpose3d_core.geometry.calibration import (
    PANOPTIC_TO_OURS,
    PIZZA_DEMO_CROP_SIZE,
    camera_from_camera_info,
    camera_to_camera_info_dict,
    load_4dassociation_calibration,
    load_panoptic_calibration,
    load_pizza_demo_calibration,
    load_qualisys_calibration,
    load_voxelpose_calibration,
    panoptic_world_to_ours,
    pizza_demo_crop_cameras,
)
from selfpose3d_core.geometry.camera import Camera
from selfpose3d_core.geometry.checks import fit_sphere

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PANOPTIC_SEQS = ("160906_band1", "160906_band2")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real test data not found at {DATA.resolve()} (expected the shared "
                    f"data folder next to the repository)")
    return DATA


def _centres(cams) -> np.ndarray:
    return np.array([c.center for c in cams])  # (V, 3)


def _assert_same_camera(a: Camera, b: Camera, atol: float = 1e-9) -> None:
    assert a.image_size == b.image_size and a.name == b.name
    for f in ("K", "R", "t", "dist"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=atol, err_msg=f)


# ---------------------------------------------------------------------------- Shelf / Campus
def test_shelf_voxelpose_cameras(data_dir):
    cams = load_voxelpose_calibration(data_dir / "shelf_mmpose_subset/calibration_shelf.json")
    C = _centres(cams)
    log.info("Shelf camera centres (m):\n%s", C.round(3))
    assert [c.name for c in cams] == ["0", "1", "2", "3", "4"]
    assert all(c.image_size == (1032, 776) for c in cams)
    assert np.all((C[:, 2] > 0.8) & (C[:, 2] < 3.0))  # measured 0.96 .. 2.69 m
    horiz = np.linalg.norm(C[:, :2], axis=1)
    assert np.all((horiz > 2.0) & (horiz < 4.5))  # measured 2.6 .. 3.9 m around the shelf
    # every camera sees the middle of the scene (origin, 1 m up) in front of it
    for c in cams:
        assert c.world_to_camera(np.array([0.0, 0.0, 1.0]))[2] > 0
        assert c.in_image(c.project(np.array([0.0, 0.0, 1.0])))


def test_shelf_voxelpose_equals_4dassociation(data_dir):
    vp = load_voxelpose_calibration(data_dir / "shelf_mmpose_subset/calibration_shelf.json")
    fd = load_4dassociation_calibration(data_dir / "shelf_4dassociation/calibration.json")
    assert len(vp) == len(fd) == 5
    for a, b in zip(vp, fd):
        assert a.image_size == b.image_size
        np.testing.assert_allclose(a.K, b.K, atol=1e-3)
        np.testing.assert_allclose(a.R, b.R, atol=1e-6)
        np.testing.assert_allclose(a.center, b.center, atol=1e-5)  # measured 4e-6 m


def test_campus_cameras(data_dir):
    cams = load_voxelpose_calibration(data_dir / "campus_mmpose_subset/calibration_campus.json")
    C = _centres(cams)
    log.info("Campus camera centres (m):\n%s", C.round(3))
    assert len(cams) == 3 and all(c.image_size == (360, 288) for c in cams)
    assert np.all((C[:, 2] > 1.5) & (C[:, 2] < 2.5))  # measured 1.92 .. 1.97 m
    with pytest.raises(ValueError, match="image size"):
        load_voxelpose_calibration(data_dir / "panoptic_pizza1_demo/calibration.json")


def test_voxelpose_explicit_size_and_distortion_order(tmp_path):
    entry = {"R": np.eye(3).tolist(), "T": [[0.0], [0.0], [-3000.0]], "fx": 500, "fy": 500,
             "cx": 99.5, "cy": 49.5, "k": [[0.1], [0.2], [0.3]], "p": [[0.01], [0.02]]}
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"0": entry}))
    (cam,) = load_voxelpose_calibration(f, image_size=(200, 100))
    np.testing.assert_allclose(cam.dist, [0.1, 0.2, 0.01, 0.02, 0.3])
    np.testing.assert_allclose(cam.t, [0.0, 0.0, 3.0])  # t = -R T / 1000
    assert cam.image_size == (200, 100)


# ---------------------------------------------------------------------------- Panoptic
def test_panoptic_world_change():
    assert np.linalg.det(PANOPTIC_TO_OURS) == pytest.approx(1.0)
    # 1 m above the floor in Panoptic is y = -100 cm → z = +1 m in ours
    np.testing.assert_allclose(panoptic_world_to_ours([[10.0, -100.0, 20.0]]),
                               [[0.1, 0.2, 1.0]])
    with pytest.raises(ValueError, match="3"):
        panoptic_world_to_ours(np.zeros((4, 2)))


@pytest.mark.parametrize("seq", PANOPTIC_SEQS)
def test_panoptic_hd_dome(data_dir, seq):
    path = data_dir / f"panoptic_mmpose_subset/{seq}/calibration_{seq}.json"
    cams = load_panoptic_calibration(path)
    assert len(cams) == 31
    assert all(c.name.startswith("00_") and c.image_size == (1920, 1080) for c in cams)
    C = _centres(cams)
    centre, radius, resid = fit_sphere(C)  # least-squares sphere through the centres
    log.info("Panoptic %s: dome centre %s m, radius %.3f m, max residual %.3f m, heights "
             "%.2f .. %.2f m", seq, centre.round(3), radius, resid, C[:, 2].min(),
             C[:, 2].max())
    assert 2.5 < radius < 3.2 and resid < 0.1  # measured r = 2.75 m, residual 0.03 m
    assert np.linalg.norm(centre[:2]) < 0.2 and 1.0 < centre[2] < 1.8  # z up: (0, 0, 1.36)
    assert np.all((C[:, 2] > 0.5) & (C[:, 2] < 3.6))
    # every HD camera looks at the middle of the dome
    for c in cams:
        d = np.array([0.0, 0.0, 1.0]) - c.center
        assert c.R[2] @ d / np.linalg.norm(d) > 0.9


def test_panoptic_camera_selection(data_dir):
    path = data_dir / "panoptic_mmpose_subset/160906_band1/calibration_160906_band1.json"
    cams = load_panoptic_calibration(path, camera_names=["00_16", "00_03", "01_01"])
    assert [c.name for c in cams] == ["00_16", "00_03", "01_01"]
    assert cams[2].image_size == (640, 480)
    with pytest.raises(ValueError, match="not in the file"):
        load_panoptic_calibration(path, camera_names=["00_99"])


# ---------------------------------------------------------------------------- pizza demo
def test_pizza_demo_cameras(data_dir):
    cams = load_pizza_demo_calibration(data_dir / "panoptic_pizza1_demo/calibration.json")
    C = _centres(cams)
    log.info("pizza demo camera centres (m):\n%s", C.round(3))
    assert len(cams) == 5 and all(c.image_size == (1920, 1080) for c in cams)
    assert np.all((C[:, 2] > 1.0) & (C[:, 2] < 3.6))  # measured 1.51 .. 3.40 m
    assert np.all(np.linalg.norm(C[:, :2], axis=1) < 3.5)  # on the Panoptic dome
    assert cams[0].dist[4] == pytest.approx(-0.0371786)  # k3 went to OpenCV's 5th slot


def test_pizza_demo_crop_cameras(data_dir):
    full = load_pizza_demo_calibration(data_dir / "panoptic_pizza1_demo/calibration.json")
    crop = pizza_demo_crop_cameras(full)
    assert all(c.image_size == PIZZA_DEMO_CROP_SIZE for c in crop)
    s = 512 / 1080
    pad = (960 - 1920 * s) / 2
    X = np.array([[0.0, 0.0, 1.0], [0.3, -0.2, 0.8]])  # the table, seen by every camera
    for f, c in zip(full, crop):
        uv = f.project(X)
        assert np.all(f.in_image(uv))
        # up to the affine u' = s u + pad, v' = s v (VoxelPose's warp)
        np.testing.assert_allclose(c.project(X), uv * s + [pad, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="1920x1080"):
        pizza_demo_crop_cameras(crop)


@pytest.mark.parametrize("view", range(5))
def test_pizza_demo_black_bars_match_crop_camera(data_dir, view):
    full = load_pizza_demo_calibration(data_dir / "panoptic_pizza1_demo/calibration.json")
    crop = pizza_demo_crop_cameras(full)[view]
    A = crop.K @ np.linalg.inv(full[view].K)  # (3, 3) full-frame pixels → image pixels
    img = cv2.imread(str(data_dir / f"panoptic_pizza1_demo/images/view_{view}.jpg"),
                     cv2.IMREAD_GRAYSCALE)
    assert img.shape == (512, 960)
    col = img.astype(np.float64).mean(0)  # (960,) column means
    u_src = (np.arange(960) - A[0, 2]) / A[0, 0]  # source column of each image column
    # bilinear warp with a black border: a column's share of the picture
    share = np.clip(np.minimum(u_src + 1.0, 1920.0 - u_src), 0.0, 1.0)
    inner = col[(share == 1) & (np.arange(960) > 40) & (np.arange(960) < 920)].mean()
    edge = np.nonzero((share > 0) & (share < 1))[0]
    log.info("pizza view %d: partial columns %s, share %s, measured %s", view, edge,
             share[edge].round(2), (col[edge] / inner).round(2))
    assert np.all(col[share == 0] < 3)  # the bars (cols 0..24, 936..959) are black
    assert np.all(col[(share == 1)][:5] > 0.3 * inner)
    assert edge.tolist() == [935]  # only column 935 is a partial blend (0.21)
    assert col[935] / col[930:934].mean() == pytest.approx(share[935], abs=0.05)


# ---------------------------------------------------------------------------- Pose2Sim
def test_qualisys_pose2sim_cameras(data_dir):
    cams = load_qualisys_calibration(data_dir / "pose2sim_demo_multiperson/Calib.qca.txt")
    C = _centres(cams)
    log.info("Pose2Sim camera centres (m):\n%s", C.round(3))
    assert [c.name for c in cams] == ["cam01", "cam02", "cam03", "cam04"]
    assert all(c.image_size == (1088, 1920) for c in cams)
    np.testing.assert_allclose(cams[0].K[0, 0], 107599.671875 / 64)
    np.testing.assert_allclose(cams[0].dist, [-0.046183, 0.139983, 0.000608, 0.00069, 0.0])
    assert np.all((C[:, 2] > 1.5) & (C[:, 2] < 2.5))  # cameras above the floor: 1.69 .. 2.09
    assert np.all(np.linalg.norm(C[:, :2], axis=1) > 2.0)  # around the capture area
    origin = np.zeros(3)
    for c in cams:
        assert c.world_to_camera(origin)[2] > 2.0  # in front, 2.9 .. 4.4 m away
        assert c.in_image(c.project(origin))
        assert c.R[1] @ [0.0, 0.0, 1.0] < -0.7  # image "down" is world -z: the world is z up
        assert c.R[2] @ [0.0, 0.0, 1.0] < 0.0  # looking slightly down towards the floor


# ---------------------------------------------------------------------------- CameraInfo
def _cam() -> Camera:
    return Camera.look_at([3, 0.5, 2.5], [0, 0, 1], fx=900, fy=880, width=1280, height=720,
                          dist=[-0.1, 0.02, 0.001, -0.002, 0.003], name="cam0")


def test_camera_info_round_trip():
    cam = _cam()
    info = camera_to_camera_info_dict(cam)
    assert len(info["k"]) == 9 and len(info["d"]) == 5 and len(info["p"]) == 12
    _assert_same_camera(camera_from_camera_info(info, cam.R, cam.t, name="cam0"), cam)
    # the same through an object with attributes (a real message)
    msg = SimpleNamespace(**{**info, "roi": SimpleNamespace(**info["roi"])})
    _assert_same_camera(camera_from_camera_info(msg, cam.R, cam.t, name="cam0"), cam)


def test_camera_info_real_message():
    msg_mod = pytest.importorskip("sensor_msgs.msg")
    cam = _cam()
    info = camera_to_camera_info_dict(cam)
    msg = msg_mod.CameraInfo(width=cam.width, height=cam.height,
                             distortion_model=info["distortion_model"], d=info["d"],
                             k=info["k"], r=info["r"], p=info["p"])
    _assert_same_camera(camera_from_camera_info(msg, cam.R, cam.t, name="cam0"), cam)


def test_camera_info_binning_and_roi():
    cam = _cam()
    info = camera_to_camera_info_dict(cam)
    b = camera_from_camera_info({**info, "binning_x": 2, "binning_y": 2}, cam.R, cam.t)
    assert b.image_size == (640, 360)
    np.testing.assert_allclose(b.K[[0, 1], [0, 1]], cam.K[[0, 1], [0, 1]] / 2)
    np.testing.assert_allclose(b.K[:2, 2], (cam.K[:2, 2] + 0.5) / 2 - 0.5)
    roi = {"x_offset": 100, "y_offset": 40, "width": 600, "height": 400, "do_rectify": False}
    r = camera_from_camera_info({**info, "roi": roi}, cam.R, cam.t)
    assert r.image_size == (600, 400)
    np.testing.assert_allclose(r.K[:2, 2], cam.K[:2, 2] - [100, 40])
    # ROI first (full-resolution pixels), then binning
    rb = camera_from_camera_info({**info, "roi": roi, "binning_x": 2, "binning_y": 4},
                                 cam.R, cam.t)
    assert rb.image_size == (300, 100)
    np.testing.assert_allclose(rb.K[:2, 2], (cam.K[:2, 2] - [100, 40] + 0.5) / [2, 4] - 0.5)
    X = np.array([[0.1, 0.2, 1.1]])
    np.testing.assert_allclose(rb.project(X), (cam.project(X) - [100, 40] + 0.5) / [2, 4] - 0.5)


def test_camera_info_distortion_models():
    cam = _cam()
    info = camera_to_camera_info_dict(cam)
    rp = {**info, "distortion_model": "rational_polynomial", "d": info["d"] + [0.0] * 3}
    _assert_same_camera(camera_from_camera_info(rp, cam.R, cam.t, name="cam0"), cam)
    with pytest.raises(ValueError, match="rest 0"):
        camera_from_camera_info({**rp, "d": info["d"] + [0.1, 0.0, 0.0]}, cam.R, cam.t)
    with pytest.raises(ValueError, match="equidistant"):
        camera_from_camera_info({**info, "distortion_model": "equidistant", "d": [0.1] * 4},
                                cam.R, cam.t)
    empty = camera_from_camera_info({**info, "d": [], "distortion_model": ""}, cam.R, cam.t)
    assert not empty.has_distortion
    with pytest.raises(ValueError, match="inside"):
        camera_from_camera_info({**info, "roi": {"x_offset": 1000, "width": 500}}, cam.R, cam.t)
    with pytest.raises(ValueError, match="'k'"):
        camera_from_camera_info({**info, "k": [0.0] * 9}, cam.R, cam.t)


# ---------------------------------------------------------------------------- malformed files
@pytest.mark.parametrize("loader, name, text, match", [
    (load_voxelpose_calibration, "calibration_shelf.json",
     '{"0": {"R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}', "missing key 'T'"),
    (load_voxelpose_calibration, "calibration_shelf.json", "{not json", "not valid JSON"),
    (load_voxelpose_calibration, "calibration_campus.json",
     '{"0": {"R": [[1,0,0],[0,1,0],[0,0,1]], "T": [1, 2], "fx": 1, "fy": 1, "cx": 0, '
     '"cy": 0, "k": [0, 0, 0], "p": [0, 0]}}', "'T' must have 3 numbers"),
    (load_4dassociation_calibration, "calibration.json",
     '{"0": {"K": [1,0,0,0,1,0,0,0,1], "RT": [2,0,0,0, 0,1,0,0, 0,0,1,0], '
     '"imgSize": [10, 10]}}', "rotation"),
    (load_panoptic_calibration, "calibration_x.json", '{"cameras": []}', "non-empty"),
    (load_pizza_demo_calibration, "calibration.json", '{"sequence": []}',
     "customized_sequence"),
    (load_qualisys_calibration, "Calib.qca.txt",
     "<calibration><cameras><camera serial='c1'><fov_video left='0' right='9' top='0' "
     "bottom='9'/></camera></cameras></calibration>", "missing <intrinsic>"),
    (load_qualisys_calibration, "Calib.qca.txt", "<calibration", "XML"),
])
def test_malformed_calibration_files(tmp_path, loader, name, text, match):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        loader(f)
    assert str(f) in str(e.value)
