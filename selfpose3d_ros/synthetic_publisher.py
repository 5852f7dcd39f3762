"""ROS 2 node ``synthetic_rig_publisher``: plays a multi-camera rig as camera topics.

The source is the core's synthetic operating room (generated on the fly from a
:class:`~selfpose3d_core.synthetic.SynthConfig`: ``seed``, ``num_cameras``, ``num_people``,
image size) or, with ``dataset``, any dataset directory in our format. Per camera it
publishes, at ``rate`` Hz and stamped with the time the frame is ready (one stamp for all
cameras of a frame, like a hardware-triggered rig):

- ``<cam>/image_raw`` (``sensor_msgs/Image``, ``encoding`` rgb8 or bgr8) or
  ``<cam>/image_raw/compressed`` (JPEG ``CompressedImage``, ``image_transport:
  compressed``),
- ``<cam>/camera_info`` (``sensor_msgs/CameraInfo``: K, plumb_bob D, R = I, P = [K | 0]),
- ``/tf_static``: world → ``<cam>_optical_frame`` (OpenCV optical-frame axes: x right,
  y down, z forward) as ``tf2_msgs/TFMessage`` (transient local), published directly since
  ``tf2_ros`` is not installable here. When ``tf2_msgs`` itself is not importable (there is
  no PyPI wheel of it), no TF is published and a warning says so,
- optionally ``ground_truth`` (``selfpose3d/SkeletonArray`` with the person ids) for tests.

Fault injection for tests (``drop_camera``, ``delay_camera`` + ``delay``, and the
``faults`` schedule: see :func:`parse_fault`) happens in this publisher, so the estimator
sees exactly what a broken camera would send.

The frame logic (sources, faults, message building) is plain Python, tested offline; the
node class only does the timers and publishing.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from selfpose3d_ros.image_conv import numpy_to_image, rgb_to_compressed
from selfpose3d_ros.node_main import run_node
from selfpose3d_ros.params import ParamSpec, declare_parameters
from selfpose3d_ros.sync import ns_to_time_msg
from selfpose3d_ros.transforms import camera_transform, tf2_msgs_available

__all__ = [
    "SYNTH_PARAMS",
    "FAULT_KINDS",
    "Fault",
    "parse_fault",
    "active_faults",
    "synthetic_config",
    "synthetic_rig",
    "SyntheticSource",
    "DatasetSource",
    "camera_info_msg",
    "frame_messages",
    "SyntheticRigPublisher",
    "main",
]

_NS = 1_000_000_000

#: Every parameter of the node (the README table is generated from this list).
SYNTH_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("rate", 10.0, "frames per second", range=(0.1, 120.0), read_only=True),
    ParamSpec("dataset", "", "dataset directory (selfpose3d-dataset/1) to play instead of "
              "the synthetic room", read_only=True),
    ParamSpec("num_cameras", 5, "synthetic room: cameras cam0..camN-1", range=(3, 8),
              read_only=True),
    ParamSpec("num_people", 3, "synthetic room: most people at once", range=(1, 6),
              read_only=True),
    ParamSpec("num_frames", 200, "synthetic room: frames generated before looping",
              range=(1, 100000), read_only=True),
    ParamSpec("seed", 0, "synthetic room: seed of the rig, people and motion",
              range=(0, 2**31 - 1), read_only=True),
    ParamSpec("rig_seed", -1, "synthetic room: seed of the rig (cameras) alone; -1 = `seed` "
              "(other people and motion in a known room: `seed` 1000, `rig_seed` 0 is the "
              "held-back recording of the shipped checkpoint's room)",
              range=(-1, 2**31 - 1), read_only=True),
    ParamSpec("image_width", 640, "synthetic room: image width (px)", range=(64, 4096),
              read_only=True),
    ParamSpec("image_height", 480, "synthetic room: image height (px)", range=(64, 4096),
              read_only=True),
    ParamSpec("cache_frames", False, "keep rendered/decoded frames in memory (less CPU per "
              "loop, num_frames × cameras images of RAM)", read_only=True),
    ParamSpec("loop", True, "start again after the last frame; false = exit after it",
              read_only=True),
    ParamSpec("encoding", "rgb8", "raw image encoding", choices=("rgb8", "bgr8"),
              read_only=True),
    ParamSpec("image_transport", "raw", "`raw` (Image) or `compressed` (JPEG "
              "CompressedImage on <image_topic>/compressed)", choices=("raw", "compressed"),
              read_only=True),
    ParamSpec("jpeg_quality", 90, "JPEG quality for `compressed`", range=(1, 100),
              read_only=True),
    ParamSpec("image_topic", "{camera}/image_raw", "image topic per camera ({camera} is "
              "replaced)", read_only=True),
    ParamSpec("camera_info_topic", "{camera}/camera_info", "CameraInfo topic per camera",
              read_only=True),
    ParamSpec("world_frame", "world", "TF parent frame of the cameras", read_only=True),
    ParamSpec("frame_id", "{camera}_optical_frame", "images' and CameraInfos' frame id "
              "(OpenCV optical frame)", read_only=True),
    ParamSpec("publish_tf", True, "publish world → optical frames on /tf_static (needs "
              "tf2_msgs)", read_only=True),
    ParamSpec("publish_ground_truth", False, "publish the 3D ground truth (when the source "
              "has it) as a SkeletonArray", read_only=True),
    ParamSpec("ground_truth_topic", "ground_truth", "topic of the ground truth",
              read_only=True),
    ParamSpec("reliable", False, "publish images and CameraInfo reliable instead of best "
              "effort (sensor-data QoS)", read_only=True),
    ParamSpec("drop_camera", "", "fault injection: this camera never publishes",
              read_only=True),
    ParamSpec("delay_camera", "", "fault injection: this camera's messages are delivered "
              "`delay` s late (stamps unchanged)", read_only=True),
    ParamSpec("delay", 0.5, "delay of `delay_camera` (s)", range=(0.0, 60.0),
              read_only=True),
    ParamSpec("faults", [], "fault schedule, entries `camera:kind[=value]:start:duration` "
              "(s after the first frame; duration 0 = to the end); kinds: drop, delay=S, "
              "truncate, encoding=E, size, nan_info, old_stamp", read_only=True),
)

#: Fault kinds of the ``faults`` schedule.
FAULT_KINDS = ("drop", "delay", "truncate", "encoding", "size", "nan_info", "old_stamp")


class Fault(NamedTuple):
    """One injected fault: ``camera`` misbehaves as ``kind`` from ``start`` for
    ``duration`` seconds (relative to the first frame; ``inf`` = to the end).

    Kinds: ``drop`` (nothing published), ``delay`` (delivered ``value`` s late, same
    stamp), ``truncate`` (image buffer cut in half: malformed), ``encoding`` (the
    encoding field set to ``value``, default an unsupported ``yuv420``), ``size`` (image at
    half size, CameraInfo unchanged: inconsistent), ``nan_info`` (CameraInfo ``k`` with
    NaN), ``old_stamp`` (the previous frame's image is sent again after the current one:
    an out-of-order stamp).
    """

    camera: str
    kind: str
    start: float
    duration: float
    value: str = ""

    def active(self, t: float) -> bool:
        return self.start <= t < self.start + self.duration


def parse_fault(text: str) -> Fault:
    """``"cam2:delay=1.0:10:3"`` → ``Fault("cam2", "delay", 10.0, 3.0, "1.0")``.

    Raises:
        ValueError: a malformed entry, an unknown kind, a negative time, a delay without
            a number.
    """
    parts = str(text).strip().split(":")
    if len(parts) != 4:
        raise ValueError(f"fault {text!r}: expected camera:kind[=value]:start:duration")
    camera, kind, start, duration = parts
    kind, _, value = kind.partition("=")
    if not camera or kind not in FAULT_KINDS:
        raise ValueError(f"fault {text!r}: kind must be one of {FAULT_KINDS}")
    try:
        t0, dt = float(start), float(duration)
    except ValueError:
        raise ValueError(f"fault {text!r}: start and duration must be numbers") from None
    if t0 < 0 or dt < 0 or not math.isfinite(t0):
        raise ValueError(f"fault {text!r}: start and duration must be >= 0")
    if kind == "delay":
        try:
            if not float(value) >= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"fault {text!r}: delay needs a value >= 0 s (delay=0.5)") from None
    return Fault(camera, kind, t0, math.inf if dt == 0 else dt, value)


def active_faults(faults: Sequence[Fault], camera: str, t: float) -> dict[str, Fault]:
    """The faults of ``camera`` active at ``t`` (s after the first frame), by kind."""
    return {f.kind: f for f in faults if f.camera == camera and f.active(t)}


# --------------------------------------------------------------------------- sources
def synthetic_config(num_cameras: int = 5, num_people: int = 3, num_frames: int = 200,
                     seed: int = 0, image_width: int = 640, image_height: int = 480,
                     rate: float = 10.0, rig_seed: int = -1):
    """The :class:`SynthConfig` the publisher plays (``rate`` sets the motion's fps;
    ``rig_seed`` < 0: the rig comes from ``seed``)."""
    from selfpose3d_core.synthetic import SynthConfig

    return SynthConfig(num_cameras=num_cameras, num_people=num_people,
                       num_frames=num_frames, fps=min(float(rate), 120.0), seed=seed,
                       rig_seed=None if rig_seed < 0 else int(rig_seed),
                       image_width=image_width, image_height=image_height)


def synthetic_rig(num_cameras: int = 5, seed: int = 0, image_width: int = 640,
                  image_height: int = 480, world_frame: str = "world", rig_seed: int = -1):
    """The cameras of the synthetic room the publisher plays, as a core ``Rig`` (write it
    with ``save_rig_yaml`` to give the estimator the same calibration)."""
    from selfpose3d_core.geometry.rig_yaml import Rig
    from selfpose3d_core.synthetic import SyntheticScene

    cfg = synthetic_config(num_cameras=num_cameras, num_frames=1, seed=seed,
                           image_width=image_width, image_height=image_height,
                           rig_seed=rig_seed)
    return Rig(cameras=tuple(SyntheticScene(cfg).cameras), world_frame=world_frame)


class FrameData(NamedTuple):
    """One frame of a source: images ``(H, W, 3)`` uint8 RGB per camera (None = none),
    ground truth ids ``(P,)`` and joints ``(P, 15, 3)`` (None when the source has none)."""

    images: list[np.ndarray | None]
    gt_ids: np.ndarray | None
    gt_joints: np.ndarray | None


class SyntheticSource:
    """Frames of the synthetic operating room, rendered on demand (optionally cached)."""

    def __init__(self, config: Any, cache: bool = False):
        from selfpose3d_core.synthetic import SyntheticScene

        self.scene = SyntheticScene(config)
        self.cameras = list(self.scene.cameras)
        self.num_frames = len(self.scene)
        self._cache: dict[int, FrameData] | None = {} if cache else None

    def frame(self, index: int) -> FrameData:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        fr = self.scene.frame(index, render_images=True)
        data = FrameData([v.image for v in fr.views], np.asarray(fr.ids),
                         np.asarray(fr.joints))
        if self._cache is not None:
            self._cache[index] = data
        return data


class DatasetSource:
    """Frames of a dataset directory (images decoded from its JPEGs; GT when present)."""

    def __init__(self, root: str, cache: bool = False):
        from selfpose3d_core.data.dataset import (
            GroundTruth3D,
            MultiViewDataset,
            has_ground_truth,
        )

        self.dataset = MultiViewDataset(root)
        if not self.dataset.has_images:
            raise ValueError(f"dataset {root} has no images (dataset.yaml images: false)")
        self.cameras = list(self.dataset.cameras)
        self.num_frames = self.dataset.num_frames
        self.gt = GroundTruth3D(root) if has_ground_truth(root) else None
        self._cache: dict[int, FrameData] | None = {} if cache else None

    def frame(self, index: int) -> FrameData:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        images = [self.dataset.image(index, v) for v in range(self.dataset.num_views)]
        ids = joints = None
        if self.gt is not None:
            g = self.gt.frame(index)
            ids, joints = g.ids, g.joints[:, :15]
        data = FrameData(images, ids, joints)
        if self._cache is not None:
            self._cache[index] = data
        return data


# --------------------------------------------------------------------------- messages
def camera_info_msg(camera: Any, header: Header) -> CameraInfo:
    """A core ``Camera`` → ``sensor_msgs/CameraInfo`` (plumb_bob; R = I; P = [K | 0])."""
    from selfpose3d_core.geometry.calibration import camera_to_camera_info_dict

    d = camera_to_camera_info_dict(camera)
    msg = CameraInfo(header=header, width=d["width"], height=d["height"],
                     distortion_model=d["distortion_model"], d=[float(v) for v in d["d"]],
                     k=[float(v) for v in d["k"]], r=[float(v) for v in d["r"]],
                     p=[float(v) for v in d["p"]], binning_x=0, binning_y=0)
    return msg


@dataclass
class ImageSettings:
    encoding: str = "rgb8"
    transport: str = "raw"
    jpeg_quality: int = 90


def _image_msg(rgb: np.ndarray, header: Header, s: ImageSettings) -> Image | CompressedImage:
    if s.transport == "compressed":
        return rgb_to_compressed(rgb, "jpeg", quality=s.jpeg_quality, header=header)
    arr = rgb if s.encoding == "rgb8" else rgb[..., ::-1]
    return numpy_to_image(arr, s.encoding, header=header)


def frame_messages(camera: Any, rgb: np.ndarray | None, header: Header,
                   faults: dict[str, Fault], settings: ImageSettings,
                   previous: Any = None) -> tuple[list[Any], CameraInfo | None]:
    """The messages one camera sends for one frame, with its active faults applied.

    Args:
        camera: the core ``Camera`` (for the CameraInfo).
        rgb: the frame's image, or None (nothing but the CameraInfo is sent).
        header: stamp and frame id of the frame.
        faults: the camera's active faults (:func:`active_faults`).
        settings: encoding / transport.
        previous: the camera's image message of the previous frame (``old_stamp``).

    Returns:
        ``(image messages in send order, CameraInfo or None)``. ``drop`` gives
        ``([], None)``; ``delay`` is applied by the caller (when it sends).
    """
    if "drop" in faults:
        return [], None
    info = camera_info_msg(camera, header)
    if "nan_info" in faults:
        k = list(info.k)
        k[0] = float("nan")
        info.k = k
    if rgb is None:
        return [], info
    if "size" in faults:
        h, w = rgb.shape[:2]
        rgb = cv2.resize(rgb, (max(w // 2, 2), max(h // 2, 2)), interpolation=cv2.INTER_AREA)
    msg = _image_msg(rgb, header, settings)
    if "truncate" in faults:
        msg.data = bytes(msg.data[: len(msg.data) // 2])
    if "encoding" in faults and isinstance(msg, Image):
        msg.encoding = faults["encoding"].value or "yuv420"
    msgs = [msg]
    if "old_stamp" in faults and previous is not None:
        msgs.append(previous)
    return msgs, info


def ground_truth_msg(ids: np.ndarray, joints: np.ndarray, header: Header):
    """Ground truth → ``SkeletonArray`` (confidence 1, root score 1, the person ids)."""
    from selfpose3d_core.skeleton import PANOPTIC15
    from selfpose3d_ros.messages import skeletons_to_msg

    joints = np.asarray(joints, np.float64).reshape(-1, 15, 3)
    n = joints.shape[0]

    class _GT(NamedTuple):
        joints: np.ndarray
        confidence: np.ndarray
        root_scores: np.ndarray

    gt = _GT(joints, np.ones((n, 15), np.float32), np.ones(n, np.float32))
    return skeletons_to_msg(gt, PANOPTIC15, header, ids=np.asarray(ids, np.int64))


# --------------------------------------------------------------------------- the node
class _Finished(Exception):
    """Raised out of spin when the last frame is out and ``loop`` is false."""


class SyntheticRigPublisher(Node):
    """The ``synthetic_rig_publisher`` node (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__("synthetic_rig_publisher", **kwargs)
        log = self.get_logger()
        p = declare_parameters(self, SYNTH_PARAMS)
        self.params = p
        if p["dataset"]:
            self.source: Any = DatasetSource(p["dataset"], cache=p["cache_frames"])
            what = f"dataset {p['dataset']}"
        else:
            cfg = synthetic_config(p["num_cameras"], p["num_people"], p["num_frames"],
                                   p["seed"], p["image_width"], p["image_height"], p["rate"],
                                   p["rig_seed"])
            self.source = SyntheticSource(cfg, cache=p["cache_frames"])
            what = f"synthetic room (seed {p['seed']})"
        self.names = [c.name for c in self.source.cameras]
        faults = [parse_fault(f) for f in p["faults"]]
        if p["drop_camera"]:
            faults.append(Fault(p["drop_camera"], "drop", 0.0, math.inf))
        if p["delay_camera"]:
            faults.append(Fault(p["delay_camera"], "delay", 0.0, math.inf, str(p["delay"])))
        unknown = sorted({f.camera for f in faults} - set(self.names))
        if unknown:
            raise ValueError(f"faults name unknown cameras {unknown} (cameras: {self.names})")
        self.faults = faults
        self.settings = ImageSettings(p["encoding"], p["image_transport"], p["jpeg_quality"])
        self.frame_ids = [p["frame_id"].replace("{camera}", n) for n in self.names]

        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE) if p["reliable"] \
            else qos_profile_sensor_data
        suffix = "/compressed" if p["image_transport"] == "compressed" else ""
        img_type = CompressedImage if suffix else Image
        self.pub_images = [self.create_publisher(
            img_type, p["image_topic"].replace("{camera}", n) + suffix, qos)
            for n in self.names]
        self.pub_infos = [self.create_publisher(
            CameraInfo, p["camera_info_topic"].replace("{camera}", n), qos)
            for n in self.names]
        self.pub_gt = None
        if p["publish_ground_truth"]:
            from selfpose3d_ros.messages import SkeletonArray

            self.pub_gt = self.create_publisher(
                SkeletonArray, p["ground_truth_topic"],
                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self._publish_static_tf(p)

        self._frame = 0
        self._first_ns: int | None = None
        self._previous: list[Any] = [None] * len(self.names)
        self._delayed: list[deque] = [deque() for _ in self.names]  # (due_ns, pub, msg)
        self._lock = threading.Lock()
        self._timer = self.create_timer(1.0 / p["rate"], self._tick)
        self._flush_timer = self.create_timer(0.01, self._flush) if any(
            f.kind == "delay" for f in faults) else None
        log.info(f"publishing {what}: {len(self.names)} cameras {self.names}, "
                 f"{self.source.num_frames} frames at {p['rate']} Hz, {p['image_transport']}"
                 + (f", faults {[tuple(f) for f in faults]}" if faults else ""))

    def _publish_static_tf(self, p: dict) -> None:
        self.pub_tf = None
        if not p["publish_tf"]:
            return
        if not tf2_msgs_available():
            self.get_logger().warning(
                "tf2_msgs is not importable (no PyPI wheel of it for Jazzy): /tf_static with "
                "the camera frames is not published; a ROS 2 installation has it")
            return
        from tf2_msgs.msg import TFMessage

        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_tf = self.create_publisher(TFMessage, "/tf_static", qos)
        stamp = self.get_clock().now().to_msg()
        msg = TFMessage(transforms=[
            camera_transform(cam, p["world_frame"], fid, stamp)
            for cam, fid in zip(self.source.cameras, self.frame_ids)])
        self.pub_tf.publish(msg)

    def _tick(self) -> None:
        p = self.params
        n = self.source.num_frames
        if self._frame >= n:
            if not p["loop"]:
                self.get_logger().info(f"all {n} frames published: exiting")
                self._timer.cancel()
                raise _Finished()
            self._frame = 0
        data = self.source.frame(self._frame)
        now_ns = self.get_clock().now().nanoseconds  # the frame is "captured" when ready
        if self._first_ns is None:
            self._first_ns = now_ns
        t_rel = (now_ns - self._first_ns) / _NS
        stamp = ns_to_time_msg(now_ns)
        for i, (cam, name) in enumerate(zip(self.source.cameras, self.names)):
            header = Header(stamp=stamp, frame_id=self.frame_ids[i])
            faults = active_faults(self.faults, name, t_rel)
            msgs, info = frame_messages(cam, data.images[i], header, faults, self.settings,
                                        self._previous[i])
            if msgs:
                self._previous[i] = msgs[0]
            out = [(self.pub_images[i], m) for m in msgs]
            if info is not None:
                out.append((self.pub_infos[i], info))
            delay = faults.get("delay")
            with self._lock:
                if delay is not None:
                    due = now_ns + int(float(delay.value) * _NS)
                    self._delayed[i].extend((due, pub, m) for pub, m in out)
                    continue
                # delay over: what is still queued goes first, in order
                for _, pub, m in self._delayed[i]:
                    pub.publish(m)
                self._delayed[i].clear()
            for pub, m in out:
                pub.publish(m)
        if self.pub_gt is not None and data.gt_joints is not None:
            self.pub_gt.publish(ground_truth_msg(data.gt_ids, data.gt_joints,
                                                 Header(stamp=stamp,
                                                        frame_id=p["world_frame"])))
        self._frame += 1

    def _flush(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            for queue in self._delayed:
                while queue and queue[0][0] <= now_ns:
                    _, pub, m = queue.popleft()
                    pub.publish(m)


def main(args: list[str] | None = None) -> int:
    """Console entry point ``synthetic_rig_publisher``."""
    return run_node(SyntheticRigPublisher, "synthetic_rig_publisher", args, quiet=(_Finished,))


if __name__ == "__main__":
    raise SystemExit(main())
