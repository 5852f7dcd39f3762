"""The ROS nodes' logic without a ROS graph: pose_estimator helpers, the synthetic
publisher's frames and faults, static transforms, parameters, launch descriptions and
bringup commands (no DDS, no rclpy.init)."""

from __future__ import annotations

import math
import re
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from selfpose3d_core.geometry.camera import Camera
from selfpose3d_ros import bringup
from selfpose3d_ros.image_conv import ImageConversionError, numpy_to_image, rgb_to_compressed
from selfpose3d_ros.launch_description import (
    DEMO_ARGUMENTS,
    RIG_ARGUMENTS,
    NodeSpec,
    demo_nodes,
    nodes_from_launch_args,
    parse_topic_map,
    rig_nodes,
)
from selfpose3d_ros.params import ParamSpec, check_value, markdown_table
from selfpose3d_ros.pose_estimator import (
    ESTIMATOR_PARAMS,
    CalibrationError,
    FrameProcessor,
    InputError,
    Issue,
    IssueBoard,
    LatestSlot,
    OutputSettings,
    RigCalibration,
    StampGuard,
    Throttle,
    _HookedNode,
    camera_from_info,
    image_for_camera,
    output_messages,
    topic_names,
)
from selfpose3d_ros.sync import make_synchronizer
from selfpose3d_ros.synthetic_publisher import (
    SYNTH_PARAMS,
    Fault,
    ImageSettings,
    active_faults,
    camera_info_msg,
    frame_messages,
    ground_truth_msg,
    parse_fault,
    synthetic_rig,
)
from selfpose3d_ros.transforms import (
    StaticTransforms,
    TransformLookupError,
    camera_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
)

REPO = Path(__file__).resolve().parents[1]
NS = 1_000_000_000


def cam(name="cam0", w=64, h=48, eye=(2.0, 1.0, 2.5)):
    return Camera.look_at(eye=eye, target=[0, 0, 1], fx=50.0, width=w, height=h, name=name,
                          dist=[-0.1, 0.01, 0, 0, 0])


def header(sec=1, nanosec=0, frame="cam0_optical_frame"):
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame)


def rgb(w=64, h=48, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- plumbing
class TestLatestSlot:
    def test_keeps_only_the_newest(self):
        slot = LatestSlot()
        assert slot.put(1) is None and slot.put(2) == 1 and slot.put(3) == 2
        assert slot.get(timeout=0) == 3 and slot.get(timeout=0) is None
        assert slot.superseded == 2

    def test_slow_consumer_never_builds_a_backlog(self):
        slot, seen = LatestSlot(), []

        def consume():
            while True:
                item = slot.get(timeout=1.0)
                if item is None:
                    return
                seen.append(item)
                time.sleep(0.02)  # a slow "model"

        th = threading.Thread(target=consume)
        th.start()
        for i in range(200):
            slot.put(i)
            time.sleep(0.001)
        time.sleep(0.1)
        slot.close()
        th.join(5)
        assert seen == sorted(seen) and seen[-1] == 199
        assert len(seen) + slot.superseded == 200
        assert len(seen) < 100

    def test_close_wakes_a_waiting_get(self):
        slot = LatestSlot()
        th = threading.Thread(target=lambda: slot.get(timeout=30))
        th.start()
        slot.close()
        th.join(2)
        assert not th.is_alive()


def test_throttle_per_key():
    th = Throttle(5.0)
    assert th.ready("a", 0.0) and th.ready("b", 0.5)
    assert not th.ready("a", 1.0) and not th.ready("a", 4.9)
    assert th.ready("a", 5.0) and th.suppressed("a") == 2
    assert Throttle(0.0).ready("a", 0.0) and Throttle(0.0).ready("a", 0.0)


def test_issue_board_holds_then_forgets():
    board = IssueBoard(hold_s=2.0)
    board.report(Issue("cam1", "encoding", "unsupported image encoding 'x'"), now=0.0)
    board.report(Issue("cam0", "size", "image is 2x2"), now=1.0)
    assert board.active(1.5) == ["cam0: image is 2x2", "cam1: unsupported image encoding 'x'"]
    assert board.cameras(2.5) == {"cam0"}
    assert board.active(3.5) == []


def test_stamp_guard():
    g = StampGuard(2, jump_reset_s=2.0)
    assert g.check(0, 10 * NS) == "ok" and g.check(1, 10 * NS) == "ok"
    assert g.check(0, 10 * NS) == "out_of_order"  # duplicate
    assert g.check(0, 9 * NS) == "out_of_order"
    assert g.check(0, 11 * NS) == "ok"
    assert g.check(1, 5 * NS) == "jump"  # 5 s back: a bag looped
    assert g.last(0) is None and g.check(0, 5 * NS) == "ok"
    assert StampGuard(1, 0.0).check(0, 1) == "ok"


def test_topic_names():
    assert topic_names(["a", "b"], "{camera}/image_raw", "{camera}/camera_info") == (
        ["a/image_raw", "b/image_raw"], ["a/camera_info", "b/camera_info"])
    imgs, _ = topic_names(["a"], "/rig/{camera}/color", "{camera}/info", "compressed")
    assert imgs == ["/rig/a/color/compressed"]
    with pytest.raises(ValueError, match="same topic"):
        topic_names(["a", "b"], "image_raw", "{camera}/camera_info")
    with pytest.raises(ValueError, match="unique"):
        topic_names(["a", "a"], "{camera}/i", "{camera}/c")
    with pytest.raises(ValueError, match="no cameras"):
        topic_names([], "{camera}/i", "{camera}/c")


# --------------------------------------------------------------------------- calibration
class TestCalibration:
    def test_camera_info_round_trip(self):
        c = cam()
        info = camera_info_msg(c, header())
        back = camera_from_info(info, c.R, c.t, "cam0")
        np.testing.assert_allclose(back.K, c.K)
        np.testing.assert_allclose(back.dist, c.dist)
        assert back.image_size == c.image_size

    @pytest.mark.parametrize("field, value, match", [
        ("k", [float("nan")] + [0.0] * 8, "non-finite"),
        ("k", [0.0] * 9, "all zeros"),
        ("d", [0.1, float("inf"), 0, 0, 0], "non-finite"),
        ("p", [1.0] * 5, "12"),
        ("width", 0, "image size"),
        ("distortion_model", "equidistant", "not supported"),
    ])
    def test_bad_camera_info(self, field, value, match):
        c = cam()
        info = camera_info_msg(c, header())
        setattr(info, field, value)
        with pytest.raises(CalibrationError, match=match):
            camera_from_info(info, c.R, c.t, "cam0")

    def test_rig_calibration_keeps_the_last_valid(self):
        c0, c1 = cam("cam0"), cam("cam1", eye=(-2.0, 1.0, 2.5))
        calib = RigCalibration(["cam0", "cam1"], extrinsics={"cam0": (c0.R, c0.t),
                                                             "cam1": (c1.R, c1.t)})
        assert calib.snapshot() == ([None, None], 0) and not calib.ready
        info = camera_info_msg(c0, header())
        assert calib.update_from_info(0, info) and calib.ready
        assert not calib.update_from_info(0, info)  # unchanged: no new version
        cams, version = calib.snapshot()
        assert cams[1] is None and version == 1
        bad = camera_info_msg(c0, header())
        bad.k = [float("nan")] * 9
        with pytest.raises(CalibrationError):
            calib.update_from_info(0, bad)
        cams, version = calib.snapshot()
        assert version == 1 and cams[0] is not None

    def test_extrinsics_from_static_transforms(self):
        c = cam("cam0")
        tf = StaticTransforms()
        tf.add(camera_transform(c, "world", "cam0_optical_frame"))
        calib = RigCalibration(["cam0"], transforms=tf, world_frame="world")
        assert calib.update_from_info(0, camera_info_msg(c, header()))
        got = calib.snapshot()[0][0]
        np.testing.assert_allclose(got.R, c.R, atol=1e-9)
        np.testing.assert_allclose(got.t, c.t, atol=1e-9)
        with pytest.raises(TransformLookupError):
            calib.update_from_info(0, camera_info_msg(cam(w=32), header(frame="other")))

    def test_fixed_rig_ignores_camera_info(self):
        calib = RigCalibration(["cam0"], fixed=[cam()])
        assert calib.snapshot()[1] == 1
        assert not calib.update_from_info(0, camera_info_msg(cam(w=32), header()))


class TestStaticTransforms:
    def test_quaternions(self):
        rng = np.random.default_rng(0)
        for _ in range(20):
            q = rng.normal(size=4)
            R = quaternion_to_matrix(q)
            np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
            np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(R)), R,
                                       atol=1e-12)
        with pytest.raises(ValueError):
            quaternion_to_matrix([0, 0, 0, 0])

    def test_camera_transform_is_the_camera_pose(self):
        c = cam()
        msg = camera_transform(c, "world", "cam0_optical_frame")
        tr, rot = msg.transform.translation, msg.transform.rotation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], c.center)
        R = quaternion_to_matrix((rot.x, rot.y, rot.z, rot.w))
        # the optical z axis (viewing direction) points from the centre to the target
        view = R @ [0, 0, 1]
        target = np.array([0, 0, 1.0]) - c.center
        np.testing.assert_allclose(view, target / np.linalg.norm(target), atol=1e-9)

    def test_chain_and_errors(self):
        def tf(parent, child, xyz, q=(0, 0, 0, 1)):
            m = TransformStamped()
            m.header.frame_id, m.child_frame_id = parent, child
            m.transform.translation.x, m.transform.translation.y, \
                m.transform.translation.z = xyz
            r = m.transform.rotation
            r.x, r.y, r.z, r.w = q
            return m

        s = math.sqrt(0.5)
        buf = StaticTransforms()
        buf.add(tf("world", "rig", (1, 0, 0), (0, 0, s, s)))  # 90° about z
        buf.add(tf("rig", "cam", (0, 2, 0)))
        R, t = buf.lookup("world", "cam")
        np.testing.assert_allclose(R @ [1, 0, 0] + t, [1, 0, 0] + np.array([-2, 0, 0]) +
                                   np.array([0, 1, 0]), atol=1e-12)
        R2, t2 = buf.lookup("cam", "world")
        np.testing.assert_allclose(R2 @ (R @ [0.3, 0.2, 0.1] + t) + t2, [0.3, 0.2, 0.1],
                                   atol=1e-12)
        buf.add(tf("world", "other", (0, 0, 1)))
        R3, t3 = buf.lookup("other", "cam")  # via the common ancestor
        np.testing.assert_allclose(R3 @ [0, 0, 0] + t3, [-1, 0, -1], atol=1e-12)
        with pytest.raises(ValueError, match="loop"):
            buf.add(tf("cam", "world", (0, 0, 0)))
        with pytest.raises(TransformLookupError):
            buf.lookup("world", "nowhere")
        with pytest.raises(ValueError):
            buf.add(tf("a", "a", (0, 0, 0)))


# --------------------------------------------------------------------------- processing
class TestImages:
    def test_raw_and_compressed(self):
        c, img = cam(), rgb()
        np.testing.assert_array_equal(image_for_camera(numpy_to_image(img, "rgb8"), c), img)
        np.testing.assert_array_equal(
            image_for_camera(numpy_to_image(img[..., ::-1].copy(), "bgr8"), c), img)
        got = image_for_camera(rgb_to_compressed(img, "png"), c)
        np.testing.assert_array_equal(got, img)

    def test_bad_images(self):
        c, img = cam(), rgb()
        with pytest.raises(InputError, match="inconsistent calibration"):
            image_for_camera(numpy_to_image(rgb(32, 24), "rgb8"), c)
        with pytest.raises(InputError, match="inconsistent calibration"):
            image_for_camera(rgb_to_compressed(rgb(32, 24), "png"), c)
        msg = numpy_to_image(img, "rgb8")
        msg.encoding = "yuv420"
        with pytest.raises(ImageConversionError, match="unsupported image encoding"):
            image_for_camera(msg, c)
        msg = numpy_to_image(img, "rgb8")
        msg.data = bytes(msg.data[:100])
        with pytest.raises(ImageConversionError, match="data has 100 bytes"):
            image_for_camera(msg, c)
        bad = CompressedImage(format="jpeg", data=b"\x00garbage")
        with pytest.raises(ImageConversionError, match="decode"):
            image_for_camera(bad, c)


class FakeEstimator:
    def __init__(self, cameras):
        self.cameras = list(cameras)
        self.calls = []
        self.set_calls = 0
        self.shift = 0.0  # the person walks along x by this much per call

    def set_cameras(self, cameras):
        self.cameras = list(cameras)
        self.set_calls += 1

    def estimate(self, images):
        self.calls.append([None if i is None else i.shape for i in images])
        from selfpose3d_core.models.estimator import Skeletons

        joints = np.zeros((1, 15, 3))
        joints[0, :, 2] = np.linspace(0.1, 1.7, 15)
        joints[0, :, 0] = self.shift * len(self.calls)
        return Skeletons(joints=joints, confidence=np.ones((1, 15)),
                         root_scores=np.ones(1), roots=np.zeros((1, 3)))


class TestFrameProcessor:
    def make(self, n=3, fixed=True, min_views=2, **kw):
        cams = [cam(f"cam{i}", eye=(2.0, i - 1.0, 2.5)) for i in range(n)]
        names = [c.name for c in cams]
        if fixed:
            calib = RigCalibration(names, fixed=cams)
        else:
            calib = RigCalibration(names, extrinsics={c.name: (c.R, c.t) for c in cams})
        made = []

        def factory(cameras):
            made.append(FakeEstimator(cameras))
            return made[-1]

        return FrameProcessor(names, calib, factory, min_views=min_views, **kw), cams, made

    def test_tracking_ids_smoothing_and_reset(self):
        from selfpose3d_core.skeleton import PANOPTIC15
        from selfpose3d_core.tracking import SkeletonTracker

        settings = OutputSettings(joint_names=PANOPTIC15.joints, limbs=PANOPTIC15.limbs)
        plain, _, _ = self.make()
        img = numpy_to_image(rgb(), "rgb8", header=header(7, 5))
        res = plain.process([img, img, img])
        assert res.track_ids is None
        assert [s.id for s in output_messages(res, settings)[0].skeletons] == [-1]
        for smoothing in (False, True):
            proc, _, made = self.make(tracker=SkeletonTracker(), smoothing=smoothing)
            ids, xs = [], []
            for k in range(4):
                img = numpy_to_image(rgb(), "rgb8", header=header(7 + k, 5))
                if k == 0:
                    proc.process([img, img, img])
                    made[0].shift = 0.1  # then 0.1 m per set along x
                    continue
                res = proc.process([img, img, img])
                msg, markers = output_messages(res, settings)
                ids.append(msg.skeletons[0].id)
                xs.append(msg.skeletons[0].joints[0].x)
            assert ids == [0, 0, 0]  # one person, one id
            assert markers.markers[1].id == 0  # the marker ids follow the track id
            # the set's own joints, or the filter's (close: the walk is steady)
            raw = [0.1 * k for k in range(2, 5)]
            if smoothing:
                assert xs != pytest.approx(raw, abs=1e-6) and xs == pytest.approx(raw, abs=0.02)
            else:
                assert xs == pytest.approx(raw)
            # the stamps go back (a looping bag): the tracks start afresh
            img = numpy_to_image(rgb(), "rgb8", header=header(1, 0))
            res = proc.process([img, img, img])
            assert list(res.track_ids) == [1]

    def test_missing_and_bad_inputs(self):
        proc, cams, made = self.make()
        good = numpy_to_image(rgb(), "rgb8", header=header(5, 200))
        bad = numpy_to_image(rgb(), "rgb8", header=header(5, 100))
        bad.encoding = "foo"
        res = proc.process([good, None, bad])
        assert res.skeletons is None and res.views == 1
        assert res.dropped_reason.startswith("only 1 usable view")
        assert res.missing == ("cam1",)
        assert [(i.camera, i.kind) for i in res.issues] == [("cam2", "encoding")]
        assert res.stamp_ns == 5 * NS + 100  # the oldest stamp of the set
        res = proc.process([good, numpy_to_image(rgb(), "rgb8", header=header(5, 300)),
                            None])
        assert res.skeletons is not None and res.views == 2 and res.dropped_reason is None
        assert made[0].calls[-1] == [(48, 64, 3), (48, 64, 3), None]

    def test_uncalibrated_cameras_get_a_stand_in(self):
        proc, cams, made = self.make(fixed=False, min_views=1)
        img = numpy_to_image(rgb(), "rgb8", header=header())
        res = proc.process([img, img, img])
        assert res.skeletons is None
        assert {i.kind for i in res.issues} == {"calibration"}
        proc.calibration.update_from_info(1, camera_info_msg(cams[1], header()))
        res = proc.process([img, img, img])
        assert res.views == 1 and [c.name for c in made[0].cameras] == ["cam1"] * 3
        proc.calibration.update_from_info(0, camera_info_msg(cams[0], header()))
        proc.process([img, img, img])
        assert made[0].set_calls == 1 and made[0].cameras[0].name == "cam0"

    def test_output_messages(self):
        proc, cams, _ = self.make()
        img = numpy_to_image(rgb(), "rgb8", header=header(7, 5))
        res = proc.process([img, img, img])
        from selfpose3d_core.skeleton import PANOPTIC15

        settings = OutputSettings(world_frame="rig", joint_names=PANOPTIC15.joints,
                                  limbs=PANOPTIC15.limbs, marker_lifetime=0.5)
        sk, markers = output_messages(res, settings)
        assert sk.header.frame_id == "rig" and (sk.header.stamp.sec, sk.header.stamp.nanosec) \
            == (7, 5)
        assert len(sk.skeletons) == 1 and len(sk.joint_names) == 15
        assert markers.markers[0].action == Marker.DELETEALL
        assert {m.type for m in markers.markers[1:]} == {Marker.LINE_LIST, Marker.SPHERE_LIST}
        assert all(m.header.stamp == sk.header.stamp for m in markers.markers)
        settings.publish_markers = False
        assert output_messages(res, settings)[1] is None


def test_hooked_node_gates_messages_into_the_synchroniser():
    subs = []

    class FakeNode:
        def create_subscription(self, msg_type, topic, callback, qos, **kw):
            subs.append((topic, callback))
            return object()

    got, seen = [], []

    def before(i, msg):
        seen.append(i)
        return msg.header.frame_id != "drop"

    handle = make_synchronizer(_HookedNode(FakeNode(), ["a", "b"], before), Image, ["a", "b"],
                               5, 0.01, lambda *m: got.append(m), qos_profile=10,
                               prefer_message_filters=False)
    cb = dict(subs)
    cb["a"](Image(header=header(1, frame="x")))
    cb["b"](Image(header=header(1, frame="drop")))
    cb["b"](Image(header=header(1, 1000, frame="y")))
    cb["a"](Image(header=header(2, frame="x")))
    assert seen == [0, 1, 1, 0]
    assert handle.synchronizer.stats().received == [2, 1]
    assert [tuple(m.header.frame_id for m in s) for s in got] == [("x", "y")]


# --------------------------------------------------------------------------- publisher
class TestSyntheticPublisher:
    def test_parse_fault(self):
        assert parse_fault("cam2:delay=1.5:10:3") == Fault("cam2", "delay", 10.0, 3.0, "1.5")
        assert parse_fault("cam0:drop:0:0").duration == math.inf
        for bad in ("cam0:drop:1", "cam0:explode:0:1", "cam0:delay:0:1", "cam0:drop:-1:1",
                    ":drop:0:1", "cam0:drop:a:1"):
            with pytest.raises(ValueError):
                parse_fault(bad)

    def test_active_faults(self):
        faults = [parse_fault("cam1:drop:4:3"), parse_fault("cam1:size:5:1"),
                  parse_fault("cam2:truncate:0:0")]
        assert active_faults(faults, "cam1", 3.9) == {}
        assert set(active_faults(faults, "cam1", 5.5)) == {"drop", "size"}
        assert set(active_faults(faults, "cam1", 7.0)) == set()
        assert set(active_faults(faults, "cam2", 1e6)) == {"truncate"}

    def test_frame_messages_and_faults(self):
        c, img, s = cam(), rgb(), ImageSettings()
        h = header(3)
        msgs, info = frame_messages(c, img, h, {}, s)
        assert len(msgs) == 1 and msgs[0].encoding == "rgb8" and msgs[0].header == h
        assert info.header == h and info.width == 64 and info.k[0] == 50.0
        assert frame_messages(c, img, h, {"drop": Fault("cam0", "drop", 0, 1)}, s) == ([],
                                                                                      None)
        f = {k: Fault("cam0", k, 0, 1) for k in ("truncate", "nan_info")}
        msgs, info = frame_messages(c, img, h, f, s)
        assert len(msgs[0].data) == 64 * 48 * 3 // 2 and math.isnan(info.k[0])
        msgs, _ = frame_messages(c, img, h, {"size": Fault("cam0", "size", 0, 1)}, s)
        assert (msgs[0].width, msgs[0].height) == (32, 24)
        msgs, _ = frame_messages(c, img, h, {"encoding": Fault("cam0", "encoding", 0, 1)}, s)
        assert msgs[0].encoding == "yuv420"
        prev = numpy_to_image(img, "rgb8", header=header(2))
        msgs, _ = frame_messages(c, img, h, {"old_stamp": Fault("cam0", "old_stamp", 0, 1)},
                                 s, previous=prev)
        assert [m.header.stamp.sec for m in msgs] == [3, 2]
        msgs, _ = frame_messages(c, img, h, {}, ImageSettings(encoding="bgr8"))
        assert msgs[0].encoding == "bgr8" and image_for_camera(msgs[0], c).tolist() == \
            img.tolist()
        msgs, _ = frame_messages(c, img, h, {}, ImageSettings(transport="compressed"))
        assert isinstance(msgs[0], CompressedImage) and "jpeg" in msgs[0].format

    def test_ground_truth_msg(self):
        joints = np.random.default_rng(0).normal(size=(2, 15, 3))
        msg = ground_truth_msg(np.array([4, 9]), joints, header(1, frame="world"))
        assert [s.id for s in msg.skeletons] == [4, 9]
        np.testing.assert_allclose([[p.x, p.y, p.z] for p in msg.skeletons[1].joints],
                                   joints[1])

    def test_synthetic_rig_matches_the_scene(self):
        from selfpose3d_core.synthetic import SynthConfig, SyntheticScene

        rig = synthetic_rig(4, seed=7, image_width=320, image_height=240)
        scene = SyntheticScene(SynthConfig(num_cameras=4, seed=7, image_width=320,
                                           image_height=240, num_frames=5, fps=3.0))
        assert [c.name for c in rig.cameras] == ["cam0", "cam1", "cam2", "cam3"]
        for a, b in zip(rig.cameras, scene.cameras):
            np.testing.assert_array_equal(a.K, b.K)
            np.testing.assert_array_equal(a.R, b.R)
            np.testing.assert_array_equal(a.t, b.t)

    def test_dataset_source(self, tmp_path):
        from selfpose3d_core.synthetic import SynthConfig, synthesize
        from selfpose3d_ros.synthetic_publisher import DatasetSource

        cfg = SynthConfig(num_cameras=3, num_frames=2, image_width=96, image_height=64)
        synthesize(cfg, tmp_path / "ds")
        src = DatasetSource(str(tmp_path / "ds"), cache=True)
        fr = src.frame(1)
        assert len(fr.images) == 3 and fr.images[0].shape == (64, 96, 3)
        assert fr.gt_joints.shape[1:] == (15, 3) and len(fr.gt_ids) == len(fr.gt_joints)
        assert src.frame(1) is fr


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("specs", [ESTIMATOR_PARAMS, SYNTH_PARAMS], ids=["estimator", "synth"])
def test_parameter_specs(specs):
    names = [s.name for s in specs]
    assert len(set(names)) == len(names)
    for s in specs:
        assert len(s.description) > 10, s.name
        assert check_value(s, s.default) is None
    table = markdown_table(specs)
    assert all(f"`{n}`" in table for n in names)


def test_readme_documents_every_node_parameter():
    text = (REPO / "README.md").read_text()
    for specs in (ESTIMATOR_PARAMS, SYNTH_PARAMS):
        for s in specs:
            assert re.search(rf"\| `{s.name}` \|", text), f"README lacks parameter {s.name}"
        # the tables are generated from the specs (selfpose3d_ros.params.markdown_table)
        assert markdown_table(specs) in text, "README parameter table is out of date"


def test_param_spec_validation():
    with pytest.raises(ValueError):
        ParamSpec("x", 5, "d", range=(0, 1))
    with pytest.raises(ValueError):
        ParamSpec("x", "a", "d", choices=("b",))
    s = ParamSpec("mode", "raw", "d", choices=("raw", "compressed"))
    assert "not one of" in check_value(s, "jpeg")


def test_params_file_sets_known_parameters_within_range():
    data = yaml.safe_load((REPO / "config" / "pose_estimator.yaml").read_text())
    params = data["/**"]["ros__parameters"]
    specs = {s.name: s for s in ESTIMATOR_PARAMS}
    assert set(params) <= set(specs)
    for name, value in params.items():
        assert check_value(specs[name], value) is None, name
        # ROS refuses e.g. an integer for a double parameter: the YAML types must match
        assert type(value) is type(specs[name].default), name


# --------------------------------------------------------------------------- launch
class TestLaunchDescription:
    def test_rig_nodes(self):
        (spec,) = rig_nodes(checkpoint="/m.pt", device="cpu", cameras="a,b",
                            camera_topics="a=/rig/a/color, b=/rig/b/color",
                            camera_info_topics={"a": "/rig/a/info"}, namespace="ops",
                            fastdds_profile="")
        assert (spec.package, spec.executable, spec.name, spec.namespace) == (
            "selfpose3d", "pose_estimator", "pose_estimator", "ops")
        assert spec.parameters[0].endswith("config/pose_estimator.yaml")
        assert spec.parameter_dict() == {"checkpoint": "/m.pt", "device": "cpu",
                                         "cameras": ["a", "b"]}
        assert spec.remappings == (("a/image_raw", "/rig/a/color"),
                                   ("b/image_raw", "/rig/b/color"),
                                   ("a/camera_info", "/rig/a/info"))
        assert spec.env == ()
        (spec,) = rig_nodes(image_transport="compressed", camera_topics="a=/x")
        assert spec.remappings == (("a/image_raw/compressed", "/x"),)
        assert dict(spec.env)["FASTRTPS_DEFAULT_PROFILES_FILE"].endswith(
            "fastdds_large_images.xml")
        with pytest.raises(ValueError):
            rig_nodes(device="tpu")
        with pytest.raises(ValueError):
            parse_topic_map("a:/x")

    def test_demo_nodes(self):
        nodes = demo_nodes(checkpoint="/m.pt", num_cameras=4, seed=2, rate=5.0)
        assert [n.executable for n in nodes] == ["synthetic_rig_publisher", "pose_estimator",
                                                 "rviz2"]
        pub, est, rviz = nodes
        assert pub.parameter_dict()["num_cameras"] == 4
        p = est.parameter_dict()
        assert p["cameras"] == ["cam0", "cam1", "cam2", "cam3"]
        assert p["calibration"] == "rig_yaml" and "4cams_seed2" in p["rig_yaml"]
        assert rviz.arguments[0] == "-d" and rviz.arguments[1].endswith("selfpose3d.rviz")
        nodes = demo_nodes(checkpoint="/m.pt", source="bag", bag="/b", rviz=False)
        assert [n.executable for n in nodes] == ["bag_replay", "pose_estimator"]
        assert nodes[0].arguments == ("/b", "--loop", "--restamp")
        assert nodes[1].parameter_dict()["calibration"] == "camera_info"
        for kw in ({"checkpoint": ""}, {"checkpoint": "x", "source": "bag"},
                   {"checkpoint": "x", "source": "usb"}):
            with pytest.raises(ValueError):
                demo_nodes(**kw)

    def test_from_launch_args(self, tmp_path, monkeypatch):
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        nodes = nodes_from_launch_args("demo", {"checkpoint": "/m.pt", "rviz": "false",
                                                "num_cameras": "3", "rate": "2.5",
                                                "image_width": "160", "image_height": "120"})
        pub, est = nodes
        assert pub.parameter_dict()["rate"] == 2.5
        rig_path = Path(est.parameter_dict()["rig_yaml"])
        assert rig_path.parent == tmp_path and rig_path.is_file()
        from selfpose3d_core.geometry.rig_yaml import load_rig_yaml

        assert load_rig_yaml(rig_path).names == ("cam0", "cam1", "cam2")
        (spec,) = nodes_from_launch_args("rig", {"device": "cpu", "fastdds_profile": ""})
        assert spec.parameter_dict() == {"device": "cpu"} and spec.env == ()
        for kind, values in (("rig", {"device": "gpu"}), ("rig", {"nope": "1"}),
                             ("demo", {}), ("demo", {"checkpoint": "x", "rviz": "maybe"}),
                             ("party", {})):
            with pytest.raises(ValueError):
                nodes_from_launch_args(kind, values)

    @pytest.mark.parametrize("kind, arguments", [("rig", RIG_ARGUMENTS),
                                                 ("demo", DEMO_ARGUMENTS)])
    def test_launch_files_with_stub_launch(self, kind, arguments, monkeypatch, tmp_path):
        """Run launch/<kind>.launch.py against minimal stand-ins of `launch` and
        `launch_ros` (not installable here): every argument is declared with a
        description, and the nodes are those of nodes_from_launch_args."""
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        created = {"args": [], "nodes": []}

        class Declare:
            def __init__(self, name, default_value=None, description=None):
                created["args"].append((name, default_value, description))

        class Opaque:
            def __init__(self, function):
                self.function = function

        class Config:
            def __init__(self, name):
                self.name = name

            def perform(self, context):
                return context[self.name]

        class Node:
            def __init__(self, **kw):
                created["nodes"].append(kw)

        launch = types.ModuleType("launch")
        launch.LaunchDescription = lambda entities: list(entities)
        actions = types.ModuleType("launch.actions")
        actions.DeclareLaunchArgument, actions.OpaqueFunction = Declare, Opaque
        subs = types.ModuleType("launch.substitutions")
        subs.LaunchConfiguration = Config
        launch_ros = types.ModuleType("launch_ros")
        ros_actions = types.ModuleType("launch_ros.actions")
        ros_actions.Node = Node
        for name, mod in (("launch", launch), ("launch.actions", actions),
                          ("launch.substitutions", subs), ("launch_ros", launch_ros),
                          ("launch_ros.actions", ros_actions)):
            monkeypatch.setitem(sys.modules, name, mod)
        path = REPO / "launch" / f"{kind}.launch.py"
        namespace: dict = {"__name__": f"{kind}_launch", "__file__": str(path)}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        entities = namespace["generate_launch_description"]()
        assert [a[0] for a in created["args"]] == [a.name for a in arguments]
        assert all(desc and len(desc) > 10 for _, _, desc in created["args"])
        opaque = entities[-1]
        context = {a.name: a.default for a in arguments}
        context.update({"checkpoint": "/m.pt", "fastdds_profile": ""})
        opaque.function(context)
        expected = nodes_from_launch_args(kind, context)
        assert [n["executable"] for n in created["nodes"]] == [s.executable for s in expected]
        for n, s in zip(created["nodes"], expected):
            assert n["parameters"] == list(s.parameters)
            assert n["remappings"] == list(s.remappings)


class TestBringup:
    def test_node_command(self, tmp_path):
        spec = NodeSpec("selfpose3d", "pose_estimator", "est", namespace="ops",
                        parameters=("/p.yaml", {"device": "cpu", "cameras": ["a"]}),
                        remappings=(("a/image_raw", "/x"),), arguments=("--flag",))
        cmd = bringup.node_command(spec, tmp_path, executable=["exe"])
        assert cmd[:7] == ["exe", "--flag", "--ros-args", "-r", "__node:=est", "-r",
                           "__ns:=/ops"]
        assert cmd[7:9] == ["--params-file", "/p.yaml"]
        written = yaml.safe_load(Path(cmd[10]).read_text())
        assert written == {"/**": {"ros__parameters": {"device": "cpu", "cameras": ["a"]}}}
        assert cmd[11:] == ["-r", "a/image_raw:=/x"]

    def test_resolve_executable(self):
        found = bringup.resolve_executable(NodeSpec("selfpose3d", "pose_estimator", "x"))
        assert found is not None
        assert bringup.resolve_executable(NodeSpec("nope", "no_such_exe_here", "x")) is None

    def test_start_stop_and_missing(self, tmp_path, monkeypatch):
        def fake(spec):
            if spec.executable == "missing":
                return None
            return [sys.executable, "-c", "import time; time.sleep(60)"]

        monkeypatch.setattr(bringup, "resolve_executable", fake)
        specs = [NodeSpec("p", "sleeper", "a"), NodeSpec("p", "missing", "b")]
        running = bringup.start(specs, log_dir=tmp_path)
        assert [r.spec.name for r in running] == ["a"] and running[0].alive
        codes = bringup.stop(running, timeout=10)
        assert set(codes) == {"a"} and not running[0].alive
        with pytest.raises(FileNotFoundError):
            bringup.start(specs, log_dir=tmp_path, skip_missing=False)

    def test_dry_run(self, tmp_path, monkeypatch, caplog):
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        assert bringup.main(["demo", "--checkpoint", "/m.pt", "--rviz", "false",
                             "--dry-run"]) == 0
        assert bringup.main(["demo"]) == 2  # no checkpoint
