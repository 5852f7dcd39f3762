"""selfpose3d_ros bags: record → rosbag2 (sqlite3, mcap) → bag_to_dataset, sync of jittered
and incomplete streams, row padding, calibration sources, train-from-bag, replay over DDS."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from selfpose3d_core.data.dataset import MultiViewDataset
from selfpose3d_core.geometry.rig_yaml import load_rig_yaml
from selfpose3d_core.synthetic import SynthConfig, synthesize
from selfpose3d_ros.bags import (
    BAG_FRAMES_FILE,
    DEFAULT_START_TIME,
    BagRecorder,
    CameraBag,
    bag_to_dataset,
    header_stamp_ns,
    record_dataset_to_bag,
)

NS = 1_000_000_000
T0 = int(DEFAULT_START_TIME) * NS
PERIOD = NS // 10  # the synthetic rig's 10 Hz


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> MultiViewDataset:
    root = tmp_path_factory.mktemp("bags") / "synth"
    synthesize(SynthConfig.from_dict({"num_cameras": 3, "num_frames": 6, "image_width": 160,
                                      "image_height": 120, "num_people": 2, "seed": 11}), root)
    return MultiViewDataset(root)


def _source_images(ds: MultiViewDataset, frame: int) -> list[np.ndarray]:
    return [ds.image(frame, v) for v in range(ds.num_views)]


def assert_same_cameras(got, want, atol=1e-9):
    assert [c.name for c in got] == [c.name for c in want]
    for a, b in zip(got, want):
        assert (a.width, a.height) == (b.width, b.height)
        for field in ("K", "dist", "R", "t"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=0, atol=atol,
                                       err_msg=f"{a.name}.{field}")


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("storage, image_format, encoding, padding", [
    ("sqlite3", "raw", "rgb8", 0),
    ("mcap", "raw", "bgr8", 7),       # padded rows: step = width·3 + 7
    ("sqlite3", "jpeg", "rgb8", 0),
    ("mcap", "png", "rgb8", 0),
])
def test_record_and_extract_round_trip(synth, tmp_path, storage, image_format, encoding,
                                       padding):
    bag = record_dataset_to_bag(synth, tmp_path / "bag", storage=storage,
                                image_format=image_format, encoding=encoding,
                                row_padding=padding)
    assert (bag / "metadata.yaml").is_file()
    lossy = image_format == "jpeg"
    with CameraBag(bag) as cb:
        assert cb.view_names == list(synth.view_names)
        suffix = "image_raw" if image_format == "raw" else "image_raw/compressed"
        assert [s.image_topic for s in cb.streams] == [f"/{v}/{suffix}"
                                                       for v in synth.view_names]
        assert [s.info_topic for s in cb.streams] == [f"/{v}/camera_info"
                                                      for v in synth.view_names]
        cams, world, calib = cb.cameras()
        assert world == "world" and calib["extrinsics"] == "tf_static (world)"
        assert_same_cameras(cams, synth.cameras)
        res = cb.sync()
        assert res.sets == [(T0 + k * PERIOD,) * 3 for k in range(6)]
        frames = list(cb.frames(res.sets))
        assert [f.index for f in frames] == list(range(6))
        for fr in frames:
            for got, want in zip(fr.images, _source_images(synth, fr.index)):
                assert got.shape == want.shape and got.dtype == np.uint8
                if lossy:
                    assert np.abs(got.astype(int) - want).mean() < 3.0
                else:  # raw (any padding) and PNG: bit-exact
                    np.testing.assert_array_equal(got, want)

    out = bag_to_dataset(bag, tmp_path / "ds")
    assert out.num_frames == 6 and out.partial_frames == 0
    ds = MultiViewDataset(out.root)
    assert ds.view_names == synth.view_names and ds.world_frame == synth.world_frame
    assert_same_cameras(ds.cameras, synth.cameras)
    np.testing.assert_allclose(ds.timestamps, DEFAULT_START_TIME + np.arange(6) * 0.1,
                               rtol=0, atol=1e-6)
    assert ds.fps == pytest.approx(10.0)
    for k in range(6):
        assert all(kp.num_people == 0 for kp in ds.keypoints(k))  # no pseudo labels yet
        for got, want in zip(_source_images(ds, k), _source_images(synth, k)):
            assert np.abs(got.astype(int) - want).mean() < (3.5 if lossy else 2.0)
    sidecar = json.loads((out.root / BAG_FRAMES_FILE).read_text())
    assert sidecar["views"] == list(synth.view_names)
    assert sidecar["frames"][2]["stamps_ns"] == [T0 + 2 * PERIOD] * 3


def test_header_stamp_without_deserialising(synth, tmp_path):
    from selfpose3d_ros.bags import typestore

    store = typestore()
    T = store.types
    msg = T["sensor_msgs/msg/CompressedImage"](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
            sec=1_700_000_123, nanosec=456), frame_id="cam"),
        format="jpeg", data=np.zeros(3, np.uint8))
    raw = bytes(store.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))
    assert header_stamp_ns(raw) == 1_700_000_123 * NS + 456
    with pytest.raises(ValueError, match="not a plain CDR"):
        header_stamp_ns(b"\x01\x02")


# --------------------------------------------------------------------------- sync
def _jittered_bag(synth: MultiViewDataset, path: Path, drop: tuple[int, int]):
    """Every view stamped with its own jitter (±4 ms); view drop[0] misses frame drop[1]."""
    rng = np.random.default_rng(3)
    stamps = T0 + np.arange(6)[:, None] * PERIOD + rng.integers(-4_000_000, 4_000_000, (6, 3))
    with BagRecorder(path, synth.cameras, storage="sqlite3") as rec:
        for k in range(6):
            imgs = _source_images(synth, k)
            if k == drop[1]:
                imgs[drop[0]] = None
            rec.write_frame(T0 + k * PERIOD, imgs, stamps=[int(s) for s in stamps[k]])
    return stamps


def test_jittered_stamps_and_a_missing_frame(synth, tmp_path):
    stamps = _jittered_bag(synth, tmp_path / "bag", drop=(1, 3))
    # complete sets only: the frame with cam1 missing is skipped
    with CameraBag(tmp_path / "bag") as cb:
        res = cb.sync()
        kept = [0, 1, 2, 4, 5]
        assert res.sets == [tuple(int(s) for s in stamps[k]) for k in kept]
        for fr, k in zip(cb.frames(res.sets), kept):
            for got, want in zip(fr.images, _source_images(synth, k)):
                np.testing.assert_array_equal(got, want)
        # a tighter slop than the jitter: no set at all survives except exact ones
        assert len(cb.sync(slop=0.001).sets) < 5
    out = bag_to_dataset(tmp_path / "bag", tmp_path / "complete")
    assert out.num_frames == 5 and out.partial_frames == 0
    ds = MultiViewDataset(out.root)
    np.testing.assert_allclose(ds.timestamps, stamps[kept].mean(1) / NS, rtol=0, atol=1e-6)

    # at least 2 views: the frame comes through without cam1
    out = bag_to_dataset(tmp_path / "bag", tmp_path / "partial", min_views=2)
    assert out.num_frames == 6 and out.partial_frames == 1
    ds = MultiViewDataset(out.root)
    assert ds.image(3, "cam1") is None
    for v in (0, 2):
        assert np.abs(ds.image(3, v).astype(int) - synth.image(3, v)).mean() < 2.0
    frames = json.loads((out.root / BAG_FRAMES_FILE).read_text())["frames"]
    assert frames[3]["stamps_ns"] == [int(stamps[3, 0]), None, int(stamps[3, 2])]

    # every 2nd set, at most 2 frames
    out = bag_to_dataset(tmp_path / "bag", tmp_path / "every", every=2, max_frames=2)
    ds = MultiViewDataset(out.root)
    assert ds.num_frames == 2 and ds.fps == pytest.approx(5.0, rel=0.03)
    np.testing.assert_allclose(ds.timestamps, stamps[[0, 2]].mean(1) / NS, atol=1e-6)


def test_a_camera_that_starts_late(synth, tmp_path):
    with BagRecorder(tmp_path / "bag", synth.cameras, storage="mcap") as rec:
        for k in range(6):
            imgs = _source_images(synth, k)
            if k < 2:
                imgs[2] = None
            rec.write_frame(T0 + k * PERIOD, imgs)
    assert bag_to_dataset(tmp_path / "bag", tmp_path / "a").num_frames == 4
    out = bag_to_dataset(tmp_path / "bag", tmp_path / "b", min_views=2)
    assert out.num_frames == 6 and out.partial_frames == 2
    with pytest.raises(ValueError, match="min_views must be in"):
        bag_to_dataset(tmp_path / "bag", tmp_path / "c", min_views=4)


def test_sets_on_bag_time_when_header_stamps_are_unset(synth, tmp_path):
    with BagRecorder(tmp_path / "bag", synth.cameras) as rec:
        for k in range(6):
            rec.write_frame(0, _source_images(synth, k), bag_time=T0 + k * PERIOD + 1000 * k)
    with CameraBag(tmp_path / "bag") as cb:  # every header stamp 0: one set
        assert cb.sync().sets == [(0, 0, 0)]
    out = bag_to_dataset(tmp_path / "bag", tmp_path / "ds", stamps="bag")
    ds = MultiViewDataset(out.root)
    assert ds.num_frames == 6
    np.testing.assert_allclose(ds.timestamps, (T0 + np.arange(6) * (PERIOD + 1000)) / NS,
                               atol=1e-6)
    for k in range(6):
        assert np.abs(ds.image(k, 1).astype(int) - synth.image(k, 1)).mean() < 2.0


def test_a_foreign_bag(tmp_path):
    """A bag as a real rig records it: topics under a namespace, raw + compressed copies, a
    depth stream, mono8 and padded bgra8 images, optical frames below links in /tf_static."""
    from rosbags.rosbag2 import Writer

    from selfpose3d_core.geometry.calibration import camera_to_camera_info_dict
    from selfpose3d_core.geometry.camera import Camera
    from selfpose3d_ros.bags import typestore
    from selfpose3d_ros.transforms import matrix_to_quaternion

    store = typestore()
    T = store.types
    rng = np.random.default_rng(0)
    H, W = 24, 32

    def header(ns, frame):
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
            sec=ns // NS, nanosec=ns % NS), frame_id=frame)

    def tf(parent, child, R, t):
        q = matrix_to_quaternion(R)
        return T["geometry_msgs/msg/TransformStamped"](
            header=header(T0, parent), child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](*map(float, t)),
                rotation=T["geometry_msgs/msg/Quaternion"](*map(float, q))))

    def rot(axis, deg):
        import cv2
        return cv2.Rodrigues(np.asarray(axis, float) * np.deg2rad(deg))[0]

    # world → base (rotated, moved) → <cam>_link → <cam>_optical_frame (REP 103 turn)
    to_optical = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)  # optical → link
    base_R, base_t = rot([0, 0, 1], 30), np.array([1.0, -2.0, 2.5])
    links = {"left": (rot([0, 1, 0], 20), [0.0, 0.3, 0.0]),
             "right": (rot([0, 1, 0], 25) @ rot([0, 0, 1], -10), [0.0, -0.3, 0.1])}
    K = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
    transforms = [tf("world", "base", base_R, base_t)]
    want_cams = {}
    for name, (R_l, t_l) in links.items():
        transforms += [tf("base", f"{name}_link", R_l, t_l),
                       tf(f"{name}_link", f"{name}_optical_frame", to_optical, [0, 0, 0])]
        R_wc = base_R @ R_l @ to_optical
        t_wc = base_R @ np.asarray(t_l) + base_t
        want_cams[name] = Camera(K=K, R=R_wc.T, t=-R_wc.T @ t_wc, width=W, height=H,
                                 name=name)
    frames = {"left": rng.integers(0, 256, (4, H, W), dtype=np.uint8),      # mono8
              "right": rng.integers(0, 256, (4, H, W, 4), dtype=np.uint8)}  # bgra8
    with Writer(tmp_path / "bag", version=9) as w:
        def conn(topic, typ):
            return w.add_connection(topic, typ, typestore=store)

        c_tf = conn("/tf_static", "tf2_msgs/msg/TFMessage")
        w.write(c_tf, T0, store.serialize_cdr(T["tf2_msgs/msg/TFMessage"](transforms),
                                              "tf2_msgs/msg/TFMessage"))
        c = {n: (conn(f"/rig/{n}/image_raw", "sensor_msgs/msg/Image"),
                 conn(f"/rig/{n}/image_raw/compressed", "sensor_msgs/msg/CompressedImage"),
                 conn(f"/rig/{n}/camera_info", "sensor_msgs/msg/CameraInfo")) for n in links}
        c_depth = conn("/rig/depth/image_raw", "sensor_msgs/msg/Image")
        for k in range(4):
            ns = T0 + k * PERIOD
            for n in links:
                fid = f"{n}_optical_frame"
                px = frames[n][k]
                step = W if n == "left" else W * 4 + 16
                buf = np.zeros((H, step), np.uint8)
                buf[:, :px[0].size] = px.reshape(H, -1)
                img = T["sensor_msgs/msg/Image"](
                    header=header(ns, fid), height=H, width=W,
                    encoding="mono8" if n == "left" else "bgra8", is_bigendian=0, step=step,
                    data=buf.reshape(-1))
                w.write(c[n][0], ns, store.serialize_cdr(img, "sensor_msgs/msg/Image"))
                jpg = T["sensor_msgs/msg/CompressedImage"](header=header(ns, fid),
                                                           format="jpeg",
                                                           data=np.zeros(4, np.uint8))
                w.write(c[n][1], ns, store.serialize_cdr(jpg, "sensor_msgs/msg/CompressedImage"))
                d = camera_to_camera_info_dict(want_cams[n])
                roi = T["sensor_msgs/msg/RegionOfInterest"](**d.pop("roi"))
                arr = {f: np.asarray(d.pop(f), float) for f in ("d", "k", "r", "p")}
                info = T["sensor_msgs/msg/CameraInfo"](header=header(ns, fid), roi=roi,
                                                       **arr, **d)
                w.write(c[n][2], ns, store.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))
            depth = T["sensor_msgs/msg/Image"](
                header=header(ns, "depth"), height=H, width=W, encoding="16UC1",
                is_bigendian=0, step=2 * W, data=np.zeros(2 * H * W, np.uint8))
            w.write(c_depth, ns, store.serialize_cdr(depth, "sensor_msgs/msg/Image"))

    with CameraBag(tmp_path / "bag") as cb:  # raw preferred; depth (16UC1) skipped
        assert [(s.name, s.image_topic, s.info_topic) for s in cb.streams] == [
            (n, f"/rig/{n}/image_raw", f"/rig/{n}/camera_info") for n in ("left", "right")]
        cams, world, _ = cb.cameras()
        assert world == "world"
        assert_same_cameras(cams, [want_cams["left"], want_cams["right"]])
        for fr in cb.frames(cb.sync().sets):
            np.testing.assert_array_equal(fr.images[0], np.repeat(
                frames["left"][fr.index][..., None], 3, axis=2))
            np.testing.assert_array_equal(fr.images[1], frames["right"][fr.index][..., 2::-1])
    with pytest.raises(ValueError, match="cannot read the images of /rig/depth"):
        CameraBag(tmp_path / "bag", topics=["/rig/depth/image_raw"])


# --------------------------------------------------------------------------- calibration
def test_without_tf_static_the_rig_yaml_gives_the_extrinsics(synth, tmp_path):
    bag = record_dataset_to_bag(synth, tmp_path / "bag", tf_static=False, namespace="/rig")
    with pytest.raises(ValueError, match="intrinsics only.*rig YAML"):
        bag_to_dataset(bag, tmp_path / "no_rig")
    # a rig YAML whose extrinsics differ from the recorded ones: they are the ones used
    rig = load_rig_yaml(synth.root / "cameras.yaml")
    moved = [c.replace(t=c.t + np.array([0.1, 0.0, 0.0])) for c in rig.cameras]
    rig = dataclasses.replace(rig, cameras=tuple(moved))
    out = bag_to_dataset(bag, tmp_path / "ds", rig=rig)
    assert out.calibration["extrinsics"] == "rig_yaml"
    assert out.calibration["intrinsics"] == ["camera_info"] * 3
    assert out.topics == tuple(f"/rig/{v}/image_raw" for v in synth.view_names)
    assert_same_cameras(MultiViewDataset(out.root).cameras, moved)
    # rig cameras named differently: a clear error naming both sides
    renamed = dataclasses.replace(rig, cameras=tuple(c.replace(name=f"x{i}")
                                                     for i, c in enumerate(moved)))
    with pytest.raises(ValueError, match="do not match the bag's cameras"):
        bag_to_dataset(bag, tmp_path / "bad", rig=renamed)


def test_topics_and_names(synth, tmp_path):
    bag = record_dataset_to_bag(synth, tmp_path / "bag", frames=[0, 1, 2])
    out = bag_to_dataset(bag, tmp_path / "ds", topics=["/cam2/image_raw", "/cam0/image_raw"],
                         names=["right", "left"])
    ds = MultiViewDataset(out.root)
    assert ds.view_names == ("right", "left") and ds.num_frames == 3
    want = [synth.cameras[2].replace(name="right"), synth.cameras[0].replace(name="left")]
    assert_same_cameras(ds.cameras, want)
    with pytest.raises(ValueError, match="not an Image or CompressedImage topic"):
        bag_to_dataset(bag, tmp_path / "x", topics=["/cam0/camera_info"])
    with pytest.raises(ValueError, match="exists"):
        bag_to_dataset(bag, tmp_path / "ds")  # a dataset is there (no overwrite)


# --------------------------------------------------------------------------- train-from-bag
@pytest.fixture
def one_thread():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_train_from_bag_runs_a_few_steps(synth, tmp_path, one_thread):
    from selfpose3d_core.geometry.grid import VoxelGrid
    from selfpose3d_core.models import CubeConfig, model_preset
    from selfpose3d_core.training.config import STAGES, StageConfig, TrainConfig
    from selfpose3d_ros.train_from_bag import keypoints_from_dataset, train_from_bag

    model = dataclasses.replace(
        model_preset("small"), input_size=(160, 128), heatmap_size=(40, 32),
        room=VoxelGrid(center=(0, 0, 1), size=(6, 6, 2), shape=(16, 16, 8)),
        cube=CubeConfig(size=(2.0, 2.0, 2.0), shape=(8, 8, 8)),
        root_channels=(4, 8, 8, 8), pose_channels=(8, 8, 16, 16), max_people=2,
        root_threshold=-1.0)
    schedule = TrainConfig(stages={s: StageConfig(epochs=1.0, lr=1e-3) for s in STAGES},
                           heatmap_source="detections", proposal_threshold=-1.0,
                           log_every=1, checkpoint_every=0)
    bag = record_dataset_to_bag(synth, tmp_path / "bag", storage="mcap", image_format="jpeg")
    res = train_from_bag(bag, tmp_path / "out", pseudo_label_fn=keypoints_from_dataset(synth.root),
                         model=model, schedule=schedule, max_steps=4, show_progress=False)
    assert 1 <= res.train.steps <= 4
    assert res.model is not None and res.model.is_file()
    ds = MultiViewDataset(res.dataset)
    assert ds.joint_set == synth.joint_set
    for k in range(ds.num_frames):  # the source's keypoints, frame by frame
        for got, want in zip(ds.keypoints(k), synth.keypoints(k)):
            np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-9)
            np.testing.assert_allclose(got.conf, want.conf, atol=1e-9)
    # a second call reuses the extracted dataset and resumes the finished run
    again = train_from_bag(bag, tmp_path / "out",
                           pseudo_label_fn=keypoints_from_dataset(synth.root), model=model,
                           schedule=schedule, max_steps=4, show_progress=False)
    assert again.extraction is None and again.train.steps == 0


def test_train_from_bag_without_a_detector(tmp_path, capsys):
    from selfpose3d_ros.cli import main
    from selfpose3d_ros.train_from_bag import train_from_bag

    with pytest.raises(ValueError, match="selfpose3d pseudo-label"):
        train_from_bag(tmp_path / "bag", tmp_path / "out")
    assert main(["train-from-bag", str(tmp_path / "bag"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_cli_record_and_extract(synth, tmp_path):
    from selfpose3d_ros.cli import main

    assert main(["bag-record", str(synth.root), "--out", str(tmp_path / "bag"), "--storage",
                 "mcap", "--format", "jpeg", "--frames", "0:4", "--fps", "5"]) == 0
    assert main(["bag-to-dataset", str(tmp_path / "bag"), "--out", str(tmp_path / "ds")]) == 0
    ds = MultiViewDataset(tmp_path / "ds")
    assert ds.num_frames == 4 and ds.fps == pytest.approx(5.0)
    assert main(["bag-to-dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


# --------------------------------------------------------------------------- replay
@pytest.fixture
def ros_env(monkeypatch, tmp_path):
    """Loopback-only discovery, a random domain and a private log dir (before rclpy.init)."""
    domain = random.randint(1, 101)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOG_DIR", str(tmp_path / "ros_log"))
    return domain


def test_bag_replay_publishes_over_dds(synth, tmp_path, ros_env):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from selfpose3d_ros.bag_replay import BagReplayer

    bag = record_dataset_to_bag(synth, tmp_path / "bag", storage="sqlite3")
    prefix = f"/replay_{random.randrange(1 << 30)}"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_env)
    got: dict[str, list] = {}
    stop = threading.Event()
    spinner = None
    try:
        sub = rclpy.create_node("bag_replay_test_subscriber", context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        topics = [(f"{prefix}/{v}/image_raw", Image) for v in synth.view_names]
        topics.append((f"{prefix}/cam0/camera_info", CameraInfo))
        for topic, cls in topics:
            sub.create_subscription(
                cls, topic, lambda m, t=topic: got.setdefault(t, []).append(
                    (m.header.stamp.sec * NS + m.header.stamp.nanosec, m.width)), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(sub)
        spinner = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.02)
                                                   for _ in iter(stop.is_set, True)])
        spinner.start()
        node = rclpy.create_node("bag_replay", context=context)

        def replay(**kw):
            got.clear()
            r = BagReplayer(node, bag, prefix=prefix, wait_subscribers=1, wait_timeout=20, **kw)
            t = time.monotonic()
            stats = r.run()
            r.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(
                    len(got.get(t, ())) < 6 for t, cls in topics if cls is Image):
                time.sleep(0.02)
            return stats, time.monotonic() - t

        # real time × 4 with the recorded stamps
        stats, _ = replay(rate=4.0)
        assert stats.published[f"{prefix}/cam1/image_raw"] == 6 and stats.loops == 1
        want = [T0 + k * PERIOD for k in range(6)]
        for v in synth.view_names:
            assert [s for s, _ in got[f"{prefix}/{v}/image_raw"]] == want
            assert {w for _, w in got[f"{prefix}/{v}/image_raw"]} == {160}
        assert len(got.get(f"{prefix}/cam0/camera_info", [])) <= 6

        # as fast as possible, restamped to now: sets keep one stamp, 100 ms apart
        before = time.time_ns()
        stats, wall = replay(rate=0.0, restamp=True)
        stamps = np.array([[s for s, _ in got[f"{prefix}/{v}/image_raw"]]
                           for v in synth.view_names])
        assert stamps.shape == (3, 6) and np.all(stamps == stamps[0])
        assert np.all(np.diff(stamps[0]) == PERIOD)
        assert before - NS < stamps[0, 0] < before + 5 * NS
        node.destroy_node()
        sub.destroy_node()
    finally:
        stop.set()
        if spinner is not None:
            spinner.join()
        rclpy.try_shutdown(context=context)
