"""ROS 2 node ``pose_estimator``: N synchronised camera images → 3D skeletons.

Inputs (relative names, so a namespace or a remap moves them):

- ``<cam>/image_raw`` (``sensor_msgs/Image``) or ``<cam>/image_raw/compressed``
  (``CompressedImage``, param ``image_transport: compressed``), sensor-data QoS;
- calibration, param ``calibration``: ``rig_yaml`` (our rig YAML file: intrinsics and
  extrinsics) or ``camera_info`` (intrinsics, size, ROI and binning from
  ``<cam>/camera_info``; extrinsics from the rig YAML when ``rig_yaml`` is set, else from
  ``/tf_static``: world frame → the CameraInfo's ``header.frame_id``, an optical frame).

Outputs, stamped with the synchronised set's image time (the oldest stamp in the set,
always a real image stamp) in ``world_frame``: ``skeletons`` (``selfpose3d/SkeletonArray``),
``markers`` (``visualization_msgs/MarkerArray``: DELETEALL, then bones and joints per
person) and ``/diagnostics`` at ``diagnostics_period`` (latency, rates, dropped sets,
per-camera staleness, why the pipeline is degraded).

Data flow: subscription callbacks only check the stamp order and hand each message to the
approximate-time synchroniser (:func:`selfpose3d_ros.sync.make_synchronizer`, with a
partial-set policy: a camera whose stamps lag more than ``stale_timeout`` is left out while
``min_views`` cameras still report). A complete (or partial) set goes into a one-slot
mailbox (:class:`LatestSlot`); a single worker thread takes the newest set, converts the
images, runs the core :class:`~selfpose3d_core.models.estimator.Estimator` and publishes.
When inference is slower than the cameras, sets that were superseded in the mailbox are
counted as dropped: the node never builds a backlog.

Bad input never stops the node: a wrong encoding, a malformed buffer, an image whose size
does not match its calibration, a CameraInfo with NaNs or zeros, an out-of-order stamp are
logged as a throttled error naming the camera and the reason, dropped, and shown in the
diagnostics for ``issue_hold`` seconds. The remaining views keep the estimate going.

Everything but the ``rclpy`` I/O (:class:`PoseEstimatorNode`) is plain Python and is
tested offline: :class:`LatestSlot`, :class:`Throttle`, :class:`IssueBoard`,
:class:`StampGuard`, :class:`RigCalibration`, :class:`FrameProcessor`,
:func:`output_messages`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from selfpose3d_ros.diagnostics import MonitorConfig, PipelineMonitor
from selfpose3d_ros.image_conv import ImageConversionError, msg_to_rgb
from selfpose3d_ros.messages import SkeletonArray
from selfpose3d_ros.node_main import run_node
from selfpose3d_ros.params import ParamSpec, check_value, declare_parameters, spec_by_name
from selfpose3d_ros.sync import PartialPolicy, make_synchronizer, ns_to_time_msg, stamp_to_ns
from selfpose3d_ros.transforms import (
    StaticTransforms,
    TransformLookupError,
    tf2_msgs_available,
)

__all__ = [
    "ESTIMATOR_PARAMS",
    "topic_names",
    "LatestSlot",
    "Throttle",
    "IssueBoard",
    "Issue",
    "StampGuard",
    "InputError",
    "CalibrationError",
    "camera_from_info",
    "RigCalibration",
    "FrameResult",
    "FrameProcessor",
    "output_messages",
    "PoseEstimatorNode",
    "main",
]

_LOG = logging.getLogger(__name__)
_NS = 1_000_000_000

# --------------------------------------------------------------------------- parameters
#: Every parameter of the node (the README table is generated from this list).
ESTIMATOR_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("cameras", [], "camera names, in input order; empty = the cameras of "
              "`rig_yaml`", read_only=True),
    ParamSpec("image_topic", "{camera}/image_raw", "image topic per camera ({camera} is "
              "replaced; relative = in the node's namespace; remappable). With "
              "`image_transport: compressed`, `/compressed` is appended", read_only=True),
    ParamSpec("camera_info_topic", "{camera}/camera_info", "CameraInfo topic per camera "
              "(used when `calibration: camera_info`)", read_only=True),
    ParamSpec("image_transport", "raw", "`raw` (sensor_msgs/Image) or `compressed` "
              "(sensor_msgs/CompressedImage, JPEG/PNG)", choices=("raw", "compressed"),
              read_only=True),
    ParamSpec("calibration", "rig_yaml", "where the cameras come from: `rig_yaml` (the "
              "file) or `camera_info` (intrinsics from CameraInfo; extrinsics from "
              "`rig_yaml` if set, else /tf_static world_frame → CameraInfo frame_id)",
              choices=("rig_yaml", "camera_info"), read_only=True),
    ParamSpec("rig_yaml", "", "rig YAML file (selfpose3d-rig/1): cameras and extrinsics",
              read_only=True),
    ParamSpec("world_frame", "world", "TF frame of the published skeletons and markers "
              "(the rig's world frame)", read_only=True),
    ParamSpec("checkpoint", "", "model checkpoint (model.pt from `selfpose3d train`); "
              "required", read_only=True),
    ParamSpec("device", "cuda", "`cuda` or `cpu`; `cuda` falls back to the CPU with a "
              "warning when CUDA is not available", choices=("cuda", "cpu"), read_only=True),
    ParamSpec("threads", 0, "torch CPU threads for inference (0 = torch's default)",
              range=(0, 256), read_only=True),
    ParamSpec("slop", 0.05, "largest stamp spread of a synchronised set (s)",
              range=(0.0, 1.0), read_only=True),
    ParamSpec("queue_size", 5, "messages kept per camera by the synchroniser",
              range=(1, 100), read_only=True),
    ParamSpec("min_views", 2, "fewest cameras a set needs (partial sets below all cameras "
              "are used while a camera is stale)", range=(1, 64), read_only=True),
    ParamSpec("stale_timeout", 0.5, "a camera whose stamps lag the newest by more than this "
              "is left out of the sets (s, stamp time)", range=(0.01, 60.0), read_only=True),
    ParamSpec("min_period", 0.0, "lower bound on a camera's frame interval (s); set a little "
              "under the frame period to emit sets as soon as they are complete (0 = off)",
              range=(0.0, 10.0), read_only=True),
    ParamSpec("time_jump_reset", 2.0, "a stamp this far (s) behind its camera's last one is "
              "a clock jump (bag loop): the synchroniser restarts (0 = never)",
              range=(0.0, 1e6), read_only=True),
    ParamSpec("root_threshold", -1.0, "person root-score threshold; negative = the "
              "checkpoint's value", range=(-1.0, 1e3)),
    ParamSpec("publish_markers", True, "publish RViz markers on `markers`"),
    ParamSpec("marker_lifetime", 0.3, "marker lifetime (s; 0 = forever)", range=(0.0, 60.0)),
    ParamSpec("marker_min_confidence", 0.1, "joints below this confidence are not drawn",
              range=(0.0, 1.0)),
    ParamSpec("diagnostics_period", 1.0, "period of /diagnostics (s)", range=(0.05, 60.0),
              read_only=True),
    ParamSpec("expected_rate", 0.0, "expected output rate (Hz) for the diagnostics rate "
              "check; 0 = no check", range=(0.0, 1000.0)),
    ParamSpec("latency_warn", 0.25, "diagnostics WARN when latency p95 exceeds it (s)",
              range=(0.001, 600.0)),
    ParamSpec("latency_error", 1.0, "diagnostics ERROR when latency p95 exceeds it (s)",
              range=(0.001, 600.0)),
    ParamSpec("drop_warn", 0.2, "diagnostics WARN when more than this fraction of the "
              "sets in the window was dropped (1 = never; a model slower than the cameras "
              "drops sets by design)", range=(0.0, 1.0)),
    ParamSpec("issue_hold", 3.0, "an input problem stays in the diagnostics this long after "
              "its last occurrence (s)", range=(0.1, 3600.0)),
    ParamSpec("log_throttle", 5.0, "the same problem of the same camera is logged at most "
              "once per this period (s)", range=(0.0, 3600.0)),
    ParamSpec("tracking", True, "give each person a persistent id (`Skeleton.id`; -1 when "
              "off): people matched frame to frame to their tracks' Kalman predictions "
              "(selfpose3d_core.tracking)", read_only=True),
    ParamSpec("tracking_gate", 0.4, "a person joins a track when their mean joint distance "
              "to its prediction is below this (m; grows by 1.5 m/s while the track is "
              "missed)", range=(0.05, 5.0), read_only=True),
    ParamSpec("tracking_max_missed", 5, "a track survives this many estimated sets "
              "without its person", range=(0, 1000), read_only=True),
    ParamSpec("smoothing", False, "publish the tracks' Kalman-filtered joints instead of "
              "each set's own (causal: less jitter, a little lag; needs `tracking`)",
              read_only=True),
)
_SPECS = spec_by_name(ESTIMATOR_PARAMS)


def topic_names(cameras: Sequence[str], image_topic: str, camera_info_topic: str,
                transport: str = "raw") -> tuple[list[str], list[str]]:
    """Image and CameraInfo topics of ``cameras`` from the ``{camera}`` patterns.

    >>> topic_names(["cam0"], "{camera}/image_raw", "{camera}/camera_info", "compressed")
    (['cam0/image_raw/compressed'], ['cam0/camera_info'])
    """
    if not cameras:
        raise ValueError("no cameras: set `cameras` or `rig_yaml`")
    if len(set(cameras)) != len(cameras):
        raise ValueError(f"camera names must be unique, got {list(cameras)}")
    if transport not in ("raw", "compressed"):
        raise ValueError(f"image_transport must be 'raw' or 'compressed', got {transport!r}")
    suffix = "/compressed" if transport == "compressed" else ""
    images = [image_topic.replace("{camera}", c) + suffix for c in cameras]
    infos = [camera_info_topic.replace("{camera}", c) for c in cameras]
    for kind, topics in (("image_topic", images), ("camera_info_topic", infos)):
        if len(set(topics)) != len(topics):
            raise ValueError(f"{kind} gives the same topic to several cameras: {topics} "
                             f"(use '{{camera}}' in the pattern)")
    return images, infos


# --------------------------------------------------------------------------- plumbing
class LatestSlot:
    """A one-slot mailbox: :meth:`put` replaces what is waiting, :meth:`get` takes it.

    The producer never blocks; a slow consumer only ever sees the newest item, and every
    replaced item is counted in :attr:`superseded` (and returned by :meth:`put`).

    >>> slot = LatestSlot()
    >>> slot.put("a"), slot.put("b"), slot.get(timeout=0), slot.superseded
    (None, 'a', 'b', 1)
    """

    _EMPTY = object()

    def __init__(self):
        self._item: Any = self._EMPTY
        self._cond = threading.Condition()
        self._closed = False
        self.superseded = 0

    def put(self, item: Any) -> Any:
        """Store ``item``; return the item it replaced (None if the slot was empty)."""
        with self._cond:
            old = None if self._item is self._EMPTY else self._item
            if self._item is not self._EMPTY:
                self.superseded += 1
            self._item = item
            self._cond.notify()
            return old

    def get(self, timeout: float | None = None) -> Any:
        """Take the waiting item; wait up to ``timeout`` s. None when nothing came or the
        slot was closed."""
        with self._cond:
            if self._item is self._EMPTY and not self._closed:
                self._cond.wait(timeout)
            if self._item is self._EMPTY:
                return None
            item, self._item = self._item, self._EMPTY
            return item

    def close(self) -> None:
        """Wake a waiting :meth:`get` for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class Throttle:
    """Per-key rate limit for log lines: :meth:`ready` is true at most once per ``period``.

    >>> th = Throttle(5.0)
    >>> [th.ready(("cam0", "encoding"), t) for t in (0.0, 1.0, 2.0, 6.0)]
    [True, False, False, True]
    >>> th.suppressed(("cam0", "encoding"))  # refused before the last True
    2
    """

    def __init__(self, period: float):
        self.period = float(period)
        self._last: dict[Any, float] = {}
        self._refused: Counter = Counter()
        self._reported: dict[Any, int] = {}
        self._lock = threading.Lock()

    def ready(self, key: Any, now: float) -> bool:
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period:
                self._refused[key] += 1
                return False
            self._last[key] = now
            self._reported[key] = self._refused.pop(key, 0)
            return True

    def suppressed(self, key: Any) -> int:
        """How many calls :meth:`ready` refused for ``key`` before its last True."""
        with self._lock:
            return self._reported.get(key, 0)


class Issue(NamedTuple):
    """One input problem of one camera (``camera`` is a name; ``kind`` a short tag such
    as ``encoding``, ``malformed``, ``size``, ``camera_info``, ``stamp``, ``missing``)."""

    camera: str
    kind: str
    message: str


class IssueBoard:
    """The input problems seen in the last ``hold_s`` seconds, for the diagnostics.

    >>> board = IssueBoard(hold_s=3.0)
    >>> board.report(Issue("cam1", "encoding", "unsupported encoding 'foo'"), now=0.0)
    >>> board.active(now=1.0)
    ["cam1: unsupported encoding 'foo'"]
    >>> board.active(now=5.0)
    []
    """

    def __init__(self, hold_s: float = 3.0):
        self.hold_s = float(hold_s)
        self._items: dict[tuple[str, str], tuple[float, str, int]] = {}
        self._lock = threading.Lock()

    def report(self, issue: Issue, now: float) -> None:
        with self._lock:
            key = (issue.camera, issue.kind)
            count = self._items.get(key, (0.0, "", 0))[2] + 1
            self._items[key] = (float(now), issue.message, count)

    def active(self, now: float) -> list[str]:
        """``"<camera>: <message>"`` per (camera, kind) seen within ``hold_s``, sorted."""
        with self._lock:
            for key in [k for k, (t, _, _) in self._items.items() if now - t > self.hold_s]:
                del self._items[key]
            return [f"{cam}: {msg}" for (cam, _), (_, msg, _) in sorted(self._items.items())]

    def cameras(self, now: float) -> set[str]:
        """Cameras with an active issue."""
        self.active(now)
        with self._lock:
            return {cam for cam, _ in self._items}


class StampGuard:
    """Per-camera stamp order, checked before the synchroniser sees a message.

    :meth:`check` returns ``"ok"``, ``"out_of_order"`` (not newer than the camera's last
    stamp: drop it) or ``"jump"`` (more than ``jump_reset_s`` behind: the clock jumped back,
    e.g. a bag looped; the caller restarts the synchroniser, and the message is accepted).

    >>> g = StampGuard(2, jump_reset_s=2.0)
    >>> [g.check(0, t) for t in (10 * 10**9, 9 * 10**9, 11 * 10**9, 1 * 10**9)]
    ['ok', 'out_of_order', 'ok', 'jump']
    """

    def __init__(self, num_cameras: int, jump_reset_s: float = 2.0):
        self.jump_ns = int(round(jump_reset_s * _NS))
        self._last: list[int | None] = [None] * num_cameras
        self._lock = threading.Lock()

    def check(self, index: int, ns: int) -> str:
        with self._lock:
            last = self._last[index]
            if last is not None and ns <= last:
                if self.jump_ns > 0 and last - ns > self.jump_ns:
                    self._last = [None] * len(self._last)
                    self._last[index] = ns
                    return "jump"
                return "out_of_order"
            self._last[index] = ns
            return "ok"

    def last(self, index: int) -> int | None:
        return self._last[index]


# --------------------------------------------------------------------------- calibration
class InputError(ValueError):
    """An input message that cannot be used (size mismatch, missing calibration)."""


class CalibrationError(ValueError):
    """A CameraInfo (or extrinsics) that cannot be used: NaN, zeros, inconsistent."""


_INFO_ARRAYS = (("k", 9), ("d", None), ("r", 9), ("p", 12))


def _info_key(info: Any) -> tuple:
    """The numeric content of a CameraInfo (to notice when it changes)."""
    roi = info.roi
    return (int(info.width), int(info.height), str(info.distortion_model),
            tuple(np.asarray(info.k, np.float64).ravel().tolist()),
            tuple(np.asarray(info.d, np.float64).ravel().tolist()),
            int(info.binning_x), int(info.binning_y),
            (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)))


def camera_from_info(info: Any, R: np.ndarray, t: np.ndarray, name: str):
    """``sensor_msgs/CameraInfo`` + extrinsics → core ``Camera``, with clear errors.

    Raises:
        CalibrationError: non-finite numbers (NaN/inf) in ``k``, ``d``, ``r`` or ``p``,
            an all-zero ``k`` (uncalibrated), a zero image size, or anything the core
            converter refuses (unsupported distortion model, ROI outside the image, ...).
    """
    from selfpose3d_core.geometry.calibration import camera_from_camera_info

    for key, n in _INFO_ARRAYS:
        arr = np.asarray(getattr(info, key), dtype=np.float64).ravel()
        if n is not None and arr.size not in (0, n):
            raise CalibrationError(f"CameraInfo {key!r} has {arr.size} numbers, expected {n}")
        if not np.all(np.isfinite(arr)):
            bad = [v for v in arr.tolist() if not np.isfinite(v)]
            raise CalibrationError(f"CameraInfo {key!r} has non-finite values {bad[:3]} "
                                   f"(NaN calibration)")
    if int(info.width) <= 0 or int(info.height) <= 0:
        raise CalibrationError(f"CameraInfo image size is {info.width}x{info.height}")
    k = np.asarray(info.k, dtype=np.float64)
    if not np.any(k):
        raise CalibrationError("CameraInfo 'k' is all zeros (camera not calibrated)")
    try:
        return camera_from_camera_info(info, R, t, name=name)
    except ValueError as e:
        raise CalibrationError(str(e)) from None


class RigCalibration:
    """The rig's current cameras, per input, updated from a rig YAML, CameraInfo messages
    and static transforms; thread-safe.

    Modes:

    - ``fixed``: all cameras given at construction (rig YAML); CameraInfo is ignored.
    - CameraInfo: ``intrinsics_from_info=True``: a camera is known once its CameraInfo is
      valid *and* its extrinsics are known, either from ``extrinsics`` (name → (R, t), e.g.
      from the rig YAML) or from ``transforms`` (world frame → CameraInfo ``frame_id``).

    A rejected CameraInfo keeps the last valid calibration of that camera. :attr:`version`
    increases whenever a camera changes, so the worker knows when to re-set the estimator.
    """

    def __init__(self, names: Sequence[str], *, fixed: Sequence[Any] | None = None,
                 extrinsics: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 transforms: StaticTransforms | None = None, world_frame: str = "world"):
        self.names = list(names)
        self.intrinsics_from_info = fixed is None
        self.world_frame = world_frame
        self._extrinsics = dict(extrinsics or {})
        self._transforms = transforms
        self._lock = threading.Lock()
        self._keys: list[tuple | None] = [None] * len(self.names)
        self._infos: list[Any] = [None] * len(self.names)
        if fixed is not None:
            fixed = list(fixed)
            if len(fixed) != len(self.names):
                raise ValueError(f"{len(fixed)} cameras for {len(self.names)} names")
            self._cameras: list[Any] = fixed
        else:
            self._cameras = [None] * len(self.names)
        self.version = 1 if fixed is not None else 0

    def update_from_info(self, index: int, info: Any) -> bool:
        """Use a CameraInfo for camera ``index``. Returns True when the camera changed.

        Raises:
            CalibrationError: the message is unusable (the last valid calibration stays).
            TransformLookupError: the extrinsics are not known yet (retried on the next).
        """
        if not self.intrinsics_from_info:
            return False
        key = _info_key(info)
        frame = str(info.header.frame_id)
        with self._lock:
            if key == self._keys[index] and self._cameras[index] is not None:
                return False
        name = self.names[index]
        if name in self._extrinsics:
            R, t = self._extrinsics[name]
        elif self._transforms is not None:
            if not frame:
                raise CalibrationError("CameraInfo has an empty header.frame_id: no TF frame "
                                       "to take the extrinsics from")
            R, t = self._transforms.camera_extrinsics(self.world_frame, frame)
        else:
            raise CalibrationError("no extrinsics for this camera (not in the rig YAML, no "
                                   "/tf_static)")
        cam = camera_from_info(info, R, t, name)
        with self._lock:
            self._keys[index] = key
            self._infos[index] = info
            self._cameras[index] = cam
            self.version += 1
        return True

    def snapshot(self) -> tuple[list[Any], int]:
        """(cameras per input, None where unknown; version)."""
        with self._lock:
            return list(self._cameras), self.version

    @property
    def ready(self) -> bool:
        with self._lock:
            return any(c is not None for c in self._cameras)


# --------------------------------------------------------------------------- processing
class FrameResult(NamedTuple):
    """What the worker made of one synchronised set.

    Fields:
        stamp_ns: the set's time (the oldest image stamp in it), integer ns.
        skeletons: the core's ``Skeletons``, or None when the set was not estimated.
        views: how many images were used.
        issues: problems of single inputs (a camera's image was dropped).
        missing: names of the cameras that had no message in the set.
        dropped_reason: why the set was not estimated (None when it was).
        track_ids: (P,) the people's track ids, or None when untracked.
    """

    stamp_ns: int
    skeletons: Any
    views: int
    issues: tuple[Issue, ...]
    missing: tuple[str, ...]
    dropped_reason: str | None
    track_ids: np.ndarray | None = None


def image_for_camera(msg: Any, camera: Any) -> np.ndarray:
    """An image message → RGB ``(H, W, 3)`` uint8 for ``camera`` (size checked).

    Raises:
        ImageConversionError: unsupported encoding, malformed buffer, undecodable data.
        InputError: the image size differs from the calibration's.
    """
    w, h = camera.image_size
    if hasattr(msg, "encoding"):  # raw Image: check the size before converting
        if (int(msg.width), int(msg.height)) != (w, h):
            raise InputError(f"image is {msg.width}x{msg.height} but its calibration is "
                             f"{w}x{h} (inconsistent calibration)")
    rgb = msg_to_rgb(msg)
    if (rgb.shape[1], rgb.shape[0]) != (w, h):
        raise InputError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but its calibration is "
                         f"{w}x{h} (inconsistent calibration)")
    return rgb


def _conversion_kind(err: Exception) -> str:
    text = str(err)
    if isinstance(err, InputError):
        return "size"
    if "unsupported image encoding" in text:
        return "encoding"
    return "malformed"


class FrameProcessor:
    """Converts one synchronised set and runs the estimator on it (no ROS calls).

    Args:
        names: camera names, in input order.
        calibration: a :class:`RigCalibration`.
        make_estimator: ``make_estimator(cameras) -> estimator`` (an object with
            ``estimate(images)`` and ``set_cameras(cameras)``), called once the first
            camera is calibrated.
        min_views: sets with fewer usable images are not estimated.
        tracker: a ``selfpose3d_core.tracking.SkeletonTracker`` that gives the people ids
            (None: untracked); it starts afresh when the stamps go back (a bag loop).
        smoothing: publish the tracker's filtered joints instead of the set's own.
    """

    def __init__(self, names: Sequence[str], calibration: RigCalibration,
                 make_estimator: Callable[[list], Any], min_views: int = 2,
                 tracker: Any = None, smoothing: bool = False):
        self.names = list(names)
        self.calibration = calibration
        self.min_views = int(min_views)
        self.tracker = tracker
        self.smoothing = bool(smoothing)
        self._last_ns: int | None = None
        self._make_estimator = make_estimator
        self.estimator: Any = None
        self._version = -1

    def _cameras_for_estimator(self, cams: list[Any]) -> list[Any]:
        """Every input needs a camera: an uncalibrated one gets a stand-in (its image is
        always None, so the stand-in is never used)."""
        known = next(c for c in cams if c is not None)
        return [c if c is not None else known for c in cams]

    def process(self, msgs: Sequence[Any | None]) -> FrameResult:
        """One set (a message or None per camera) → :class:`FrameResult`."""
        if len(msgs) != len(self.names):
            raise ValueError(f"{len(msgs)} messages for {len(self.names)} cameras")
        present = [m for m in msgs if m is not None]
        if not present:
            raise ValueError("a synchronised set without any message")
        stamp_ns = min(stamp_to_ns(m.header.stamp) for m in present)
        cams, version = self.calibration.snapshot()
        images: list[np.ndarray | None] = [None] * len(msgs)
        issues: list[Issue] = []
        missing: list[str] = []
        for i, (msg, cam) in enumerate(zip(msgs, cams)):
            name = self.names[i]
            if msg is None:
                missing.append(name)
                continue
            if cam is None:
                issues.append(Issue(name, "calibration", "no valid calibration yet: image "
                                    "dropped"))
                continue
            try:
                images[i] = image_for_camera(msg, cam)
            except (ImageConversionError, InputError) as e:
                issues.append(Issue(name, _conversion_kind(e), f"image dropped: {e}"))
        used = sum(img is not None for img in images)
        if used < self.min_views:
            return FrameResult(stamp_ns, None, used, tuple(issues), tuple(missing),
                               f"only {used} usable view(s), min_views is {self.min_views}")
        full = self._cameras_for_estimator(cams)
        if self.estimator is None:
            self.estimator = self._make_estimator(full)
            self._version = version
        elif version != self._version:
            self.estimator.set_cameras(full)
            self._version = version
        skeletons = self.estimator.estimate(images)
        ids = None
        if self.tracker is not None:
            if self._last_ns is not None and stamp_ns < self._last_ns:
                self.tracker.reset()  # time went back: a bag loop or a restart
            self._last_ns = stamp_ns
            ids, filtered = self.tracker.step(skeletons.joints, stamp_ns / _NS,
                                              skeletons.confidence)
            if self.smoothing:
                skeletons = skeletons._replace(joints=filtered.astype(skeletons.joints.dtype))
        return FrameResult(stamp_ns, skeletons, used, tuple(issues), tuple(missing), None,
                           ids)


@dataclass
class OutputSettings:
    """How results are published (the dynamic parameters of the node)."""

    world_frame: str = "world"
    publish_markers: bool = True
    marker_lifetime: float = 0.3
    marker_min_confidence: float = 0.1
    joint_names: tuple[str, ...] = ()
    limbs: tuple[tuple[int, int], ...] = field(default_factory=tuple)


def output_messages(result: FrameResult, settings: OutputSettings):
    """A :class:`FrameResult` with skeletons → ``(SkeletonArray, MarkerArray | None)``.

    Both carry the set's stamp and ``settings.world_frame``.

    Raises:
        ValueError: non-finite joints or inconsistent shapes from the estimator.
    """
    from std_msgs.msg import Header

    from selfpose3d_ros.markers import skeleton_markers
    from selfpose3d_ros.messages import skeletons_to_msg

    stamp = ns_to_time_msg(result.stamp_ns)
    header = Header(stamp=stamp, frame_id=settings.world_frame)
    sk = result.skeletons
    msg = skeletons_to_msg(sk, settings.joint_names, header, ids=result.track_ids)
    markers = None
    if settings.publish_markers:
        markers = skeleton_markers(sk.joints, sk.confidence, settings.limbs, stamp=stamp,
                                   frame_id=settings.world_frame,
                                   min_confidence=settings.marker_min_confidence,
                                   lifetime=settings.marker_lifetime, ids=result.track_ids)
    return msg, markers


def load_rig(path: str):
    """The rig YAML at ``path`` (a clear ValueError when it is missing or invalid)."""
    from selfpose3d_core.geometry.rig_yaml import load_rig_yaml

    if not path:
        raise ValueError("`rig_yaml` is empty")
    try:
        return load_rig_yaml(path)
    except FileNotFoundError:
        raise ValueError(f"rig_yaml {path!r} does not exist") from None


def resolve_device(device: str) -> tuple[str, str | None]:
    """``(device to use, warning or None)``: CUDA falls back to the CPU."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "cpu", "device 'cuda' requested but CUDA is not available: running on the CPU"
    return device, None


# --------------------------------------------------------------------------- the node
class _HookedNode:
    """Duck-typed node for :func:`make_synchronizer`: each subscription callback first
    goes through ``before(index, msg)``; the message reaches the synchroniser only when it
    returns True."""

    def __init__(self, node: Any, topics: Sequence[str], before: Callable[[int, Any], bool]):
        self._node = node
        self._topics = list(topics)
        self._before = before

    def create_subscription(self, msg_type, topic, callback, qos_profile=None, **kwargs):
        index = self._topics.index(topic)

        def hooked(msg, _cb=callback, _i=index):
            if self._before(_i, msg):
                _cb(msg)

        return self._node.create_subscription(msg_type, topic, hooked, qos_profile, **kwargs)


class _RosLogHandler(logging.Handler):
    """Forwards Python ``logging`` records (core, sync) to a node's ROS logger."""

    def __init__(self, logger: Any):
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"[{record.name}] {record.getMessage()}"
            if record.levelno >= logging.ERROR:
                self._logger.error(text)
            elif record.levelno >= logging.WARNING:
                self._logger.warning(text)
            elif record.levelno >= logging.INFO:
                self._logger.info(text)
            else:
                self._logger.debug(text)
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class PoseEstimatorNode(Node):
    """The ``pose_estimator`` node (see the module docstring)."""

    def __init__(self, **kwargs):
        import torch

        from selfpose3d_core.models.estimator import Estimator, load_checkpoint_file
        from selfpose3d_core.models.model import model_from_checkpoint
        from selfpose3d_core.skeleton import PANOPTIC15
        from selfpose3d_core.tracking import SkeletonTracker, TrackerConfig

        super().__init__("pose_estimator", **kwargs)
        log = self.get_logger()
        self._log_handler = _RosLogHandler(log)
        for name in ("selfpose3d_core", "selfpose3d_ros"):
            lg = logging.getLogger(name)
            lg.addHandler(self._log_handler)
            lg.setLevel(logging.INFO)
            lg.propagate = False
        p = declare_parameters(self, ESTIMATOR_PARAMS)
        self.params = p
        if not p["checkpoint"]:
            raise ValueError("parameter `checkpoint` is required (a model.pt path)")
        if p["latency_warn"] > p["latency_error"]:
            raise ValueError("latency_warn must be <= latency_error")

        # ---- cameras and calibration
        rig = load_rig(p["rig_yaml"]) if p["rig_yaml"] else None
        names = list(p["cameras"]) or (list(rig.names) if rig else [])
        self.names = names
        image_topics, info_topics = topic_names(names, p["image_topic"],
                                                p["camera_info_topic"],
                                                p["image_transport"])
        self.transforms: StaticTransforms | None = None
        if p["calibration"] == "rig_yaml":
            if rig is None:
                raise ValueError("calibration 'rig_yaml' needs the `rig_yaml` parameter")
            by_name = {c.name: c for c in rig.cameras}
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise ValueError(f"cameras {unknown} are not in {p['rig_yaml']} "
                                 f"(it has {list(by_name)})")
            self.calibration = RigCalibration(names, fixed=[by_name[n] for n in names],
                                              world_frame=p["world_frame"])
        else:
            extr = None
            if rig is not None:
                extr = {c.name: (c.R, c.t) for c in rig.cameras if c.name in names}
                missing = [n for n in names if n not in extr]
                if missing:
                    raise ValueError(f"cameras {missing} are not in {p['rig_yaml']}")
            else:
                if not tf2_msgs_available():
                    raise ValueError(
                        "calibration 'camera_info' without `rig_yaml` takes the "
                        "extrinsics from /tf_static, but tf2_msgs is not importable; "
                        "set `rig_yaml` or install tf2_msgs")
                self.transforms = StaticTransforms()
            self.calibration = RigCalibration(names, extrinsics=extr,
                                              transforms=self.transforms,
                                              world_frame=p["world_frame"])

        # ---- model (loaded now: a bad checkpoint fails at start)
        device, warn = resolve_device(p["device"])
        if warn:
            log.warning(warn)
        self.device = device
        if p["threads"] > 0:
            torch.set_num_threads(int(p["threads"]))
        ckpt = load_checkpoint_file(p["checkpoint"])
        self._model = model_from_checkpoint(ckpt, strict=False).float()
        threshold = None if p["root_threshold"] < 0 else float(p["root_threshold"])
        self._threshold = threshold

        def make_estimator(cameras):
            return Estimator(self._model, cameras, device=self.device,
                             threshold=self._threshold)

        tracker = None
        if p["tracking"]:
            tracker = SkeletonTracker(TrackerConfig(gate_m=p["tracking_gate"],
                                                    max_missed=p["tracking_max_missed"]))
        elif p["smoothing"]:
            log.warning("`smoothing` needs `tracking`: publishing each set's own joints")
        self.processor = FrameProcessor(names, self.calibration, make_estimator,
                                        min_views=p["min_views"], tracker=tracker,
                                        smoothing=p["smoothing"])
        self.output = OutputSettings(
            world_frame=p["world_frame"], publish_markers=p["publish_markers"],
            marker_lifetime=p["marker_lifetime"],
            marker_min_confidence=p["marker_min_confidence"],
            joint_names=tuple(PANOPTIC15.joints), limbs=tuple(PANOPTIC15.limbs))

        # ---- health
        self.monitor = PipelineMonitor(names, self._monitor_config(p))
        self._monitor_lock = threading.Lock()
        self.issues = IssueBoard(p["issue_hold"])
        self.throttle = Throttle(p["log_throttle"])
        self.guard = StampGuard(len(names), p["time_jump_reset"])
        self._missing: set[str] = set()
        self._counts: Counter = Counter()
        self._last_error = ""

        # ---- publishers
        out_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_skeletons = self.create_publisher(SkeletonArray, "skeletons", out_qos)
        self.pub_markers = self.create_publisher(MarkerArray, "markers", out_qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", out_qos)

        # ---- subscriptions
        msg_type = CompressedImage if p["image_transport"] == "compressed" else Image
        self.slot = LatestSlot()
        hooked = _HookedNode(self, image_topics, self._before_sync)
        self.sync_handle = make_synchronizer(
            hooked, msg_type, image_topics, p["queue_size"], p["slop"], self._on_set,
            qos_profile=qos_profile_sensor_data,
            partial=PartialPolicy(min_inputs=min(p["min_views"], len(names)),
                                  stale_timeout=p["stale_timeout"]),
            min_period=p["min_period"])
        self.sync = self.sync_handle.synchronizer
        self._info_subs = []
        if p["calibration"] == "camera_info":
            for i, topic in enumerate(info_topics):
                self._info_subs.append(self.create_subscription(
                    CameraInfo, topic, lambda m, i=i: self._on_camera_info(i, m),
                    qos_profile_sensor_data))
        if self.transforms is not None:
            from tf2_msgs.msg import TFMessage

            tf_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self._tf_sub = self.create_subscription(TFMessage, "/tf_static",
                                                    self._on_tf_static, tf_qos)
        self.add_on_set_parameters_callback(self._validate_params)
        self.add_post_set_parameters_callback(self._apply_params)
        self._diag_timer = self.create_timer(p["diagnostics_period"], self._publish_diag)

        # ---- worker
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="pose_estimator_worker",
                                        daemon=True)
        self._worker.start()
        log.info(
            f"pose_estimator: {len(names)} cameras {names}, {p['image_transport']} images "
            f"on {image_topics}, calibration from {p['calibration']}"
            + (f" ({p['rig_yaml']})" if p["rig_yaml"] else "")
            + f", device {device}, min_views {p['min_views']}, slop {p['slop']} s, "
            f"output in '{p['world_frame']}'")

    # ------------------------------------------------------------ configuration
    def _monitor_config(self, p: dict) -> MonitorConfig:
        stale = float(p["stale_timeout"])
        return MonitorConfig(
            window_s=5.0, expected_rate_hz=p["expected_rate"] or None,
            latency_warn_s=p["latency_warn"], latency_error_s=p["latency_error"],
            stale_warn_s=stale, stale_error_s=max(4 * stale, 2.0),
            drop_warn_fraction=float(p["drop_warn"]),
            min_views=min(int(p["min_views"]), len(self.names)))

    def _validate_params(self, params) -> SetParametersResult:
        values = dict(self.params)
        for prm in params:
            spec = _SPECS.get(prm.name)
            if spec is None:
                continue
            why = check_value(spec, prm.value)
            if why:
                return SetParametersResult(successful=False, reason=why)
            values[prm.name] = prm.value
        if values["latency_warn"] > values["latency_error"]:
            return SetParametersResult(successful=False,
                                       reason="latency_warn must be <= latency_error")
        return SetParametersResult(successful=True)

    def _apply_params(self, params) -> None:
        for prm in params:
            if prm.name in self.params:
                self.params[prm.name] = prm.value
        p = self.params
        self.output.publish_markers = bool(p["publish_markers"])
        self.output.marker_lifetime = float(p["marker_lifetime"])
        self.output.marker_min_confidence = float(p["marker_min_confidence"])
        self._threshold = None if p["root_threshold"] < 0 else float(p["root_threshold"])
        est = self.processor.estimator
        if est is not None:
            est.threshold = (est.config.root_threshold if self._threshold is None
                             else self._threshold)
        self.issues.hold_s = float(p["issue_hold"])
        self.throttle.period = float(p["log_throttle"])
        with self._monitor_lock:
            self.monitor.config = self._monitor_config(p)

    # ------------------------------------------------------------ input callbacks
    def _error(self, camera: str, kind: str, message: str, *, warn: bool = False
               ) -> None:
        now = time.monotonic()
        self.issues.report(Issue(camera, kind, message), now)
        self._last_error = f"{camera}: {message}"
        if self.throttle.ready((camera, kind), now):
            more = self.throttle.suppressed((camera, kind))
            extra = f" ({more} more since the last report)" if more else ""
            text = f"camera {camera}: {message}{extra}"
            (self.get_logger().warning if warn else self.get_logger().error)(text)

    def _before_sync(self, index: int, msg: Any) -> bool:
        """Subscription thread: health bookkeeping and the stamp order."""
        name = self.names[index]
        with self._monitor_lock:
            self.monitor.camera_message(index)
        try:
            ns = stamp_to_ns(msg.header.stamp)
        except ValueError as e:
            self._error(name, "stamp", f"bad stamp ({e}): dropped")
            return False
        verdict = self.guard.check(index, ns)
        if verdict == "out_of_order":
            last = self.guard.last(index)
            self._counts["out_of_order"] += 1
            self._error(name, "stamp", f"out-of-order stamp {ns / _NS:.3f} s (last "
                        f"{last / _NS:.3f} s): message dropped")
            return False
        if verdict == "jump":
            self.get_logger().warning(
                f"camera {name}: time jumped back (bag loop or clock reset): "
                f"restarting the synchroniser")
            self.sync.reset()
        return True

    def _on_set(self, *msgs) -> None:
        """Synchroniser callback (subscription thread): newest set into the mailbox."""
        if self.slot.put((msgs, time.monotonic())) is not None:
            self._counts["busy_drops"] += 1
            with self._monitor_lock:
                self.monitor.dropped(1)

    def _on_camera_info(self, index: int, info: Any) -> None:
        name = self.names[index]
        try:
            if self.calibration.update_from_info(index, info):
                self.get_logger().info(f"camera {name}: calibration from CameraInfo "
                                       f"({info.width}x{info.height})")
        except CalibrationError as e:
            self._error(name, "camera_info", f"CameraInfo dropped: {e} (keeping the "
                        "last valid calibration)")
        except TransformLookupError as e:
            self._error(name, "extrinsics", f"waiting for /tf_static: {e}", warn=True)

    def _on_tf_static(self, msg: Any) -> None:
        for tr in msg.transforms:
            try:
                self.transforms.add(tr)
            except ValueError as e:
                self.get_logger().error(f"/tf_static: transform ignored: {e}")

    # ------------------------------------------------------------ the worker
    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.slot.get(timeout=0.2)
            if item is None:
                continue
            msgs, _ = item
            try:
                self._process(msgs)
            except Exception as e:  # noqa: BLE001 - the worker must survive
                if not self.context.ok():
                    return  # shut down (Ctrl-C) while estimating: nothing to publish to
                self._counts["errors"] += 1
                with self._monitor_lock:
                    self.monitor.dropped(1)
                now = time.monotonic()
                self._last_error = f"estimation failed: {e}"
                if self.throttle.ready(("pipeline", "exception"), now):
                    self.get_logger().error(
                        f"estimation failed on a set: {type(e).__name__}: {e}")

    def _process(self, msgs: Sequence[Any]) -> None:
        with self._monitor_lock:
            self.monitor.input_set()
        result = self.processor.process(msgs)
        now = time.monotonic()
        for issue in result.issues:
            self._error(issue.camera, issue.kind, issue.message)
        self._track_missing(result.missing, now)
        if result.skeletons is None:
            self._counts["unusable_sets"] += 1
            with self._monitor_lock:
                self.monitor.dropped(1)
            self._error("pipeline", "set", f"set dropped: {result.dropped_reason}")
            return
        skel_msg, markers = output_messages(result, self.output)
        self.pub_skeletons.publish(skel_msg)
        if markers is not None:
            self.pub_markers.publish(markers)
        latency = (self.get_clock().now().nanoseconds - result.stamp_ns) / _NS
        self._counts["published"] += 1
        with self._monitor_lock:
            self.monitor.output(latency)

    def _track_missing(self, missing: Sequence[str], now: float) -> None:
        gone = set(missing)
        for name in sorted(gone):
            self.issues.report(Issue(name, "missing", "no image in the synchronised sets "
                                     "(stopped, late or stale stamps): estimating "
                                     "without it"), now)
            if self.throttle.ready((name, "missing"), now) or name not in self._missing:
                self.get_logger().warning(
                    f"camera {name} missing: estimating from "
                    f"{len(self.names) - len(gone)} of {len(self.names)} cameras")
        for name in sorted(self._missing - gone):
            self.get_logger().info(f"camera {name} is back")
        self._missing = gone

    # ------------------------------------------------------------ diagnostics
    def _publish_diag(self) -> None:
        now = time.monotonic()
        reasons = self.issues.active(now)
        stats = self.sync.stats()
        if stats.stale:
            reasons.insert(0, "partial sets without stale camera(s) "
                           + ", ".join(self.names[i] for i in stats.stale))
        with self._monitor_lock:
            self.monitor.set_degraded("; ".join(reasons) if reasons else None)
            arr = self.monitor.diagnostic_array(stamp=self.get_clock().now().to_msg())
        extra = [
            ("device", self.device),
            ("sets (complete)", stats.sets),
            ("sets (partial)", stats.partial_sets),
            ("sets superseded (estimator busy)", self._counts["busy_drops"]),
            ("sets unusable (< min_views)", self._counts["unusable_sets"]),
            ("messages rejected (out of order)", self._counts["out_of_order"]
             + stats.rejected_total),
            ("messages dropped by the synchroniser", stats.dropped_total),
            ("published", self._counts["published"]),
            ("last error", self._last_error),
        ]
        arr.status[0].values.extend(KeyValue(key=k, value=str(v)) for k, v in extra)
        self.pub_diag.publish(arr)

    def destroy_node(self):
        self._stop.set()
        self.slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        for name in ("selfpose3d_core", "selfpose3d_ros"):
            logging.getLogger(name).removeHandler(self._log_handler)
        return super().destroy_node()





def main(args: list[str] | None = None) -> int:
    """Console entry point ``pose_estimator`` (``ros2 run selfpose3d pose_estimator``).

    Returns 0 after a normal shutdown, 2 on a configuration error (logged as one line).
    """
    return run_node(PoseEstimatorNode, "pose_estimator", args, quiet=())


if __name__ == "__main__":
    raise SystemExit(main())
