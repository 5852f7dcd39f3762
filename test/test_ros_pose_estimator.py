"""pose_estimator over real DDS, across processes: synthetic_rig_publisher (5 cameras,
640×480) → pose_estimator → a probe node in this process.

One scenario (about 30 s) runs once per module and is recorded; the tests check phases of
it. The publisher's fault schedule (seconds after its first frame):

====================  ==========================================================
0–4 s                 all cameras fine
4–7 s                 cam1 stops (drop), then comes back
9–12 s                cam2 delivered 1 s late (beyond slop and the stale timeout)
13–15 s               cam3 sends truncated (malformed) images
15.5–17.5 s           cam4 sends an unsupported encoding
18–20 s               cam0's CameraInfo has NaN in K
20.5–22.5 s           cam2's images are half size (inconsistent with CameraInfo)
23–25 s               cam3 sends an old image again after each new one (out of order)
25–29.5 s             all fine again (recovery)
====================  ==========================================================

The estimator runs with ``calibration: camera_info`` (intrinsics from CameraInfo,
extrinsics from the rig YAML), one CPU thread and the shipped small model
(:func:`estimator_checkpoint`); at 5 Hz it drops sets by design (inference ~0.5 s).

Environment: random ROS_DOMAIN_ID, localhost-only discovery, ROS_LOG_DIR in a temp dir,
the package's Fast DDS profile (selfpose3d_ros.testing.isolated_ros_env).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from selfpose3d_ros import bringup  # noqa: E402
from selfpose3d_ros.launch_description import NodeSpec  # noqa: E402
from selfpose3d_ros.messages import SkeletonArray, msg_to_arrays  # noqa: E402
from selfpose3d_ros.sync import stamp_to_ns  # noqa: E402
from selfpose3d_ros.testing import isolated_ros_env  # noqa: E402

NUM_CAMERAS = 5
SEED = 1000  # people and motion the shipped model never saw ...
RIG_SEED = 0  # ... in the room (cameras) it was trained for
NUM_FRAMES = 40
RATE = 5.0
#: the timeline (run length, fault windows, the log throttle and diagnostics hold) in units
#: of a machine where the node's inference takes ~0.5 s; :func:`time_scale` stretches it on
#: a slower CPU so each window still sees several results
RUN_S0 = 30.5
FAULTS = [  # camera, kind, start, duration
    ("cam1", "drop", 4, 3),
    ("cam2", "delay=1.0", 9, 3),
    ("cam3", "truncate", 13, 2),
    ("cam4", "encoding", 15.5, 2),
    ("cam0", "nan_info", 18, 2),
    ("cam2", "size", 20.5, 2),
    ("cam3", "old_stamp", 23, 2),
]
NS = 1_000_000_000
#: offline inference time per frame (1 thread) the timeline was written for
REFERENCE_INFERENCE_S = 0.5
_SCALE: list[float] = []


def S(t: float) -> float:
    """A time of the timeline on this machine (set by the ``time_scale`` fixture)."""
    return t * _SCALE[0]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def rig():
    """The synthetic room the publisher plays (same seed and camera count)."""
    from selfpose3d_ros.synthetic_publisher import synthetic_rig

    return synthetic_rig(NUM_CAMERAS, SEED, rig_seed=RIG_SEED)


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "selfpose3d_small_synthetic.pt"


@pytest.fixture(scope="module")
def estimator_checkpoint() -> Path:
    """The model the estimator runs: the shipped checkpoint (checkpoints/README.md),
    whose image backbone turns the published camera images into heatmaps. It was trained
    on another recording of the same room (seed 0); these people and motions are new."""
    return SHIPPED


class Recording:
    """What the probe saw; all stamps in integer ns."""

    def __init__(self):
        self.skeletons: list[SkeletonArray] = []
        self.markers: list[MarkerArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.ground_truth: list[SkeletonArray] = []
        self.info_stamps: set[int] = set()
        self.first_ns: int | None = None
        self.estimator_log = ""
        self.exit_codes: dict[str, int] = {}
        self.alive_at_end = False
        self.param_results: list[tuple[bool, str]] = []
        self.descriptors: list = []

    def t(self, ns: int) -> float:
        """Seconds after the publisher's first frame."""
        return (ns - self.first_ns) / NS

    def pipeline_status(self) -> list[tuple[float, DiagnosticStatus]]:
        out = []
        for arr in self.diagnostics:
            st = arr.status[0]
            if st.name.endswith("pose_estimator"):
                out.append((self.t(stamp_to_ns(arr.header.stamp)), st))
        return out


@pytest.fixture(scope="module")
def time_scale(estimator_checkpoint) -> float:
    """How much slower than the reference this machine runs the node's model: the
    offline estimator on random 640×480 images with 1 thread and 5 forced proposals
    (the shipped model's usual count here), relative to ``REFERENCE_INFERENCE_S``,
    clamped to [1, 4]. Every time of the timeline is multiplied by it."""
    import dataclasses

    import torch

    from selfpose3d_core.models.estimator import Estimator, load_checkpoint_file
    from selfpose3d_core.models.model import model_from_checkpoint

    ck = load_checkpoint_file(estimator_checkpoint)
    model = model_from_checkpoint(ck)
    model.config = dataclasses.replace(model.config, max_people=5)
    from selfpose3d_ros.synthetic_publisher import synthetic_rig

    cams = list(synthetic_rig(NUM_CAMERAS, SEED, rig_seed=RIG_SEED).cameras)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        est = Estimator(model, cams, threshold=float("-inf"))
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (c.height, c.width, 3), dtype=np.uint8) for c in cams]
        est.estimate(images)
        t0 = time.perf_counter()
        for _ in range(2):
            est.estimate(images)
        per_frame = (time.perf_counter() - t0) / 2
    finally:
        torch.set_num_threads(threads)
    scale = float(np.clip(per_frame / REFERENCE_INFERENCE_S, 1.0, 4.0))
    _SCALE[:] = [scale]
    return scale


@pytest.fixture(scope="module")
def recording(tmp_path_factory, rig, estimator_checkpoint, time_scale) -> Recording:
    from selfpose3d_core.geometry.rig_yaml import save_rig_yaml

    tmp = tmp_path_factory.mktemp("ros")
    rig_yaml = tmp / "rig.yaml"
    save_rig_yaml(rig_yaml, rig)
    env = isolated_ros_env(tmp / "roslog")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    estimator = NodeSpec("selfpose3d", "pose_estimator", "pose_estimator", parameters=({
        "checkpoint": str(estimator_checkpoint), "rig_yaml": str(rig_yaml),
        "calibration": "camera_info", "device": "cpu", "threads": 1,
        "cameras": [f"cam{i}" for i in range(NUM_CAMERAS)],
        "latency_warn": 5.0, "latency_error": 10.0, "drop_warn": 1.0,
        "log_throttle": S(5.0), "issue_hold": S(3.0)},))
    faults = [f"{cam}:{kind}:{S(t0):g}:{S(dt):g}" for cam, kind, t0, dt in FAULTS]
    publisher = NodeSpec("selfpose3d", "synthetic_rig_publisher", "synthetic_rig_publisher",
                         parameters=({"rate": RATE, "num_cameras": NUM_CAMERAS, "seed": SEED,
                                      "rig_seed": RIG_SEED, "num_frames": NUM_FRAMES,
                                      "cache_frames": True,
                                      "publish_ground_truth": True, "faults": faults},))
    rec = Recording()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env["ROS_DOMAIN_ID"]))
    running = []
    try:
        node = rclpy.create_node("probe", context=context)
        node.create_subscription(SkeletonArray, "skeletons", rec.skeletons.append, 50)
        node.create_subscription(MarkerArray, "markers", rec.markers.append, 50)
        node.create_subscription(DiagnosticArray, "/diagnostics", rec.diagnostics.append, 50)
        node.create_subscription(SkeletonArray, "ground_truth", rec.ground_truth.append, 50)
        for i in range(NUM_CAMERAS):
            node.create_subscription(
                CameraInfo, f"cam{i}/camera_info",
                lambda m: rec.info_stamps.add(stamp_to_ns(m.header.stamp)),
                qos_profile_sensor_data)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        # the estimator first (it loads torch and the model), then the publisher
        running = bringup.start([estimator], env=env, log_dir=tmp / "logs")
        deadline = time.monotonic() + 60
        while not rec.diagnostics and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            assert running[0].alive, running[0].log_text()
        assert rec.diagnostics, "the estimator never published diagnostics"
        running += bringup.start([publisher], env=env, log_dir=tmp / "logs")
        while not rec.info_stamps and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        assert rec.info_stamps, running[1].log_text()
        rec.first_ns = min(rec.info_stamps)
        end = time.monotonic() + S(RUN_S0) - 0.5
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        # run-time parameters (after the recorded run: they change the output)
        client = AsyncParameterClient(node, "pose_estimator")
        assert client.wait_for_services(timeout_sec=10)
        fut = client.set_parameters([
            Parameter("root_threshold", value=0.5), Parameter("slop", value=0.1),
            Parameter("marker_lifetime", value=100.0), Parameter("latency_warn", value=20.0)])
        executor.spin_until_future_complete(fut, timeout_sec=10)
        rec.param_results = [(r.successful, r.reason) for r in fut.result().results]
        fut = client.describe_parameters(["slop", "queue_size", "device"])
        executor.spin_until_future_complete(fut, timeout_sec=10)
        rec.descriptors = list(fut.result().descriptors)
        rec.alive_at_end = all(r.alive for r in running)
        executor.remove_node(node)
        node.destroy_node()
    finally:
        rec.exit_codes = bringup.stop(running)
        rclpy.try_shutdown(context=context)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rec.estimator_log = running[0].log_text() if running else ""
    return rec


def _outputs_between(rec: Recording, t0: float, t1: float) -> list[SkeletonArray]:
    return [m for m in rec.skeletons if t0 <= rec.t(stamp_to_ns(m.header.stamp)) < t1]


def _reasons_between(rec: Recording, t0: float, t1: float) -> list[str]:
    return [st.message for t, st in rec.pipeline_status() if t0 <= t < t1]


# --------------------------------------------------------------------------- tests
def test_nodes_alive_and_clean_exit(recording):
    assert recording.alive_at_end, recording.estimator_log[-3000:]
    assert recording.exit_codes == {"pose_estimator": 0, "synthetic_rig_publisher": 0}, \
        recording.estimator_log[-3000:]
    assert "Traceback" not in recording.estimator_log


def test_parameters_at_run_time(recording):
    ok, read_only, out_of_range, inconsistent = recording.param_results
    assert ok == (True, "")
    assert not read_only[0] and not out_of_range[0] and not inconsistent[0]
    assert "latency_warn must be <= latency_error" in inconsistent[1]
    slop, queue, device = recording.descriptors
    assert slop.read_only and slop.description and slop.floating_point_range[0].to_value == 1.0
    assert queue.integer_range[0].from_value == 1
    assert "cuda" in device.description and device.read_only


def test_skeletons_arrive_with_image_stamps(recording):
    rec = recording
    run_s = S(RUN_S0)
    assert len(rec.skeletons) >= 15, f"only {len(rec.skeletons)} results in {run_s:.1f} s"
    stamps = [stamp_to_ns(m.header.stamp) for m in rec.skeletons]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # the probe may miss the first frames while discovery completes: compare from its
    # first CameraInfo on
    seen = [s for s in stamps if s >= rec.first_ns]
    missing = [rec.t(s) for s in seen if s not in rec.info_stamps]
    assert len(seen) >= len(stamps) - 3 and not missing, f"result stamps {missing} are no " \
        "image stamps"
    for m in rec.skeletons:
        assert m.header.frame_id == "world"
        data = msg_to_arrays(m)
        assert len(data.joint_names) == 15
        assert data.joints.shape == (len(m.skeletons), 15, 3)
        assert np.isfinite(data.joints).all()
    assert max(len(m.skeletons) for m in rec.skeletons) >= 1


def test_markers_well_formed(recording):
    rec = recording
    skeleton_stamps = {stamp_to_ns(m.header.stamp): len(m.skeletons) for m in rec.skeletons}
    assert len(rec.markers) >= 0.9 * len(rec.skeletons)
    for arr in rec.markers:
        first, rest = arr.markers[0], arr.markers[1:]
        assert first.action == Marker.DELETEALL
        stamp = stamp_to_ns(first.header.stamp)
        assert stamp in skeleton_stamps
        assert len(rest) <= 2 * skeleton_stamps[stamp]
        keys = set()
        for m in rest:
            assert m.header.frame_id == "world" and stamp_to_ns(m.header.stamp) == stamp
            assert m.type in (Marker.LINE_LIST, Marker.SPHERE_LIST)
            assert m.action == Marker.ADD and m.pose.orientation.w == 1.0
            assert m.color.a > 0 and m.scale.x > 0
            assert len(m.points) > 0
            if m.type == Marker.LINE_LIST:
                assert len(m.points) % 2 == 0
            assert (m.ns, m.id) not in keys
            keys.add((m.ns, m.id))
            assert m.lifetime.sec > 0 or m.lifetime.nanosec > 0


def test_ground_truth_published_with_the_image_stamps(recording):
    rec = recording
    assert len(rec.ground_truth) >= 0.8 * RATE * (S(RUN_S0) - 2)
    assert all(stamp_to_ns(m.header.stamp) in rec.info_stamps for m in rec.ground_truth
               if stamp_to_ns(m.header.stamp) >= rec.first_ns)
    assert any(len(m.skeletons) > 0 for m in rec.ground_truth)


@pytest.mark.parametrize("t0, t1, camera, words", [
    (4.0, 7.0, "cam1", ("stale", "no image")),
    (9.0, 12.0, "cam2", ("stale", "no image")),
    (13.0, 15.0, "cam3", ("data has",)),
    (15.5, 17.5, "cam4", ("unsupported image encoding",)),
    (18.0, 20.0, "cam0", ("non-finite", "NaN")),
    (20.5, 22.5, "cam2", ("inconsistent calibration",)),
    (23.0, 25.0, "cam3", ("out-of-order",)),
], ids=["drop", "delay", "malformed", "encoding", "nan_calibration", "size", "out_of_order"])
def test_fault_is_diagnosed_and_output_continues(recording, t0, t1, camera, words):
    rec = recording
    t0, t1 = S(t0), S(t1)
    reasons = _reasons_between(rec, t0, t1 + S(4.0))
    hits = [r for r in reasons if camera in r and any(w in r for w in words)]
    assert hits, f"no diagnostics about {camera} {words} in {t0}-{t1 + S(4.0)} s: {reasons}"
    levels = [st.level for t, st in rec.pipeline_status() if t0 + 1 <= t < t1 + 1]
    assert DiagnosticStatus.WARN in levels or DiagnosticStatus.ERROR in levels
    assert len(_outputs_between(rec, t0, t1)) >= 1, "no output during the fault"


def test_recovers_after_the_faults(recording):
    rec = recording
    assert len(_outputs_between(rec, S(25.5), S(RUN_S0))) >= 2
    tail = [(t, st) for t, st in rec.pipeline_status() if t >= S(28.0)]
    assert tail, "no diagnostics at the end"
    _, last = tail[-1]
    assert last.level == DiagnosticStatus.OK, last.message
    values = {kv.key: kv.value for kv in last.values}
    assert values["cameras live"] == f"{NUM_CAMERAS}/{NUM_CAMERAS}"
    assert int(values["sets superseded (estimator busy)"]) > 0  # 5 Hz vs ~2 Hz inference


def test_errors_are_logged_throttled(recording):
    log = recording.estimator_log
    stamp_errors = re.findall(r"ERROR.*camera cam3: out-of-order stamp", log)
    assert 1 <= len(stamp_errors) <= 2, stamp_errors  # 10 bad messages in 2 s, 5 s throttle
    assert re.search(r"ERROR.*camera cam0: CameraInfo dropped: .*non-finite", log)
    assert re.search(r"ERROR.*camera cam4: image dropped: unsupported image encoding", log)
    assert re.search(r"WARN.*camera cam1 missing", log)
    assert re.search(r"INFO.*camera cam1 is back", log)


#: a true person counts as found when a skeleton lies within this MPJPE of it (the
#: Panoptic Recall@500 criterion)
FOUND_M = 0.5


class Matched(NamedTuple):
    """Results of some phases against the ground truth of the same stamps."""

    errors: list[float]  # MPJPE (m) of each true person matched to a skeleton
    counts: list[tuple[int, int]]  # (estimated, true) people per result
    missed: list[int]  # true people without a skeleton within FOUND_M, per result


def _matched_errors(rec: Recording, phases) -> Matched:
    """Match the results whose stamp lies in one of the (t0, t1) phases to the ground
    truth (Hungarian on person MPJPE)."""
    from scipy.optimize import linear_sum_assignment

    gt = {stamp_to_ns(m.header.stamp): msg_to_arrays(m) for m in rec.ground_truth}
    out = Matched([], [], [])
    for m in rec.skeletons:
        ns = stamp_to_ns(m.header.stamp)
        g = gt.get(ns)
        if g is None or not any(t0 <= rec.t(ns) < t1 for t0, t1 in phases):
            continue
        out.counts.append((len(m.skeletons), len(g.joints)))
        if not len(m.skeletons) or not len(g.joints):
            out.missed.append(len(g.joints))
            continue
        est = msg_to_arrays(m).joints
        cost = np.linalg.norm(est[:, None] - g.joints[None], axis=-1).mean(-1)  # (P, G)
        rows, cols = linear_sum_assignment(cost)
        out.errors.extend(cost[rows, cols].tolist())
        out.missed.append(len(g.joints) - int((cost[rows, cols] < FOUND_M).sum()))
    return out


def test_accuracy_against_ground_truth(recording):
    """The skeletons match the synthetic ground truth (same stamps) in the fault-free
    phases (all 5 cameras fine): every person found in every result, at most one extra
    skeleton, and the median person MPJPE under a bound.

    The checks hold on every frame of the recording, so they do not depend on which
    frames the node happens to process. The shipped image backbone is weak (from
    scratch, 11 min of CPU; offline on the demo's held-back recording of this room
    98 mm MPJPE, checkpoints/README.md) and over-counts: offline, on the 40 frames this
    test plays, it finds all 100 people (matched MPJPE median 91 mm, max 252 mm) and adds
    one low-score skeleton in 16 frames. The node's own I/O is checked tightly by
    :func:`test_same_skeletons_as_the_offline_estimator`.
    """
    m = _matched_errors(recording, [(0.0, S(4.0)), (S(25.5), S(RUN_S0))])
    assert len(m.counts) >= 4 and m.errors, m.counts
    assert not any(m.missed), f"people missed per result: {m.missed}; counts {m.counts}"
    assert all(e <= g + 1 for e, g in m.counts), f"(estimated, true) people: {m.counts}"
    mpjpe = float(np.median(m.errors))
    assert mpjpe < 0.16, f"median person MPJPE {mpjpe * 1000:.0f} mm; errors {m.errors}"


def test_accuracy_with_a_camera_missing(recording):
    """While cam1 is gone (4–7 s) the remaining 4 views still give skeletons."""
    m = _matched_errors(recording, [(S(4.5), S(7.0))])
    assert m.counts and m.errors, m.counts
    assert float(np.median(m.errors)) < 0.25, m.errors


def test_same_skeletons_as_the_offline_estimator(recording, estimator_checkpoint, rig):
    """Results of fault-free image sets equal what the core estimator computes offline
    from the same rendered frames and the same calibration: the node's image conversion,
    calibration (CameraInfo intrinsics + rig YAML extrinsics), synchronisation and
    message packing change nothing."""
    from selfpose3d_core.models.estimator import Estimator
    from selfpose3d_ros.synthetic_publisher import SyntheticSource, synthetic_config

    rec = recording
    source = SyntheticSource(synthetic_config(NUM_CAMERAS, 3, NUM_FRAMES, SEED, 640, 480,
                                              RATE, RIG_SEED))
    gt_frames = [source.frame(i) for i in range(NUM_FRAMES)]
    gt = {stamp_to_ns(m.header.stamp): msg_to_arrays(m) for m in rec.ground_truth}
    est = Estimator.from_checkpoint(estimator_checkpoint, list(rig.cameras))
    compared = 0
    for m in rec.skeletons:
        ns = stamp_to_ns(m.header.stamp)
        if not (0.5 <= rec.t(ns) < S(4.0) or S(26.0) <= rec.t(ns) < S(RUN_S0)) \
                or ns not in gt:
            continue
        g = gt[ns].joints
        # the frame the publisher played at this stamp: the one with this ground truth
        idx = [i for i, f in enumerate(gt_frames) if f.gt_joints is not None and
               f.gt_joints.shape == g.shape and np.allclose(f.gt_joints, g, atol=1e-4)]
        if len(idx) != 1:
            continue
        offline = est.estimate(gt_frames[idx[0]].images)
        online = msg_to_arrays(m)
        assert len(online.joints) == len(offline.joints), (rec.t(ns), idx)
        if len(offline.joints):
            np.testing.assert_allclose(online.joints, offline.joints, atol=2e-3)
            np.testing.assert_allclose(online.root_scores, offline.root_scores, atol=1e-3)
        compared += 1
        if compared == 4:
            break
    assert compared >= 2, f"only {compared} results could be paired with a frame"
