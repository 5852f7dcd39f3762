"""Camera rosbag2 bags ↔ the dataset format (``selfpose3d-dataset/1``), without rclpy.

Reading and writing use the pure-Python ``rosbags`` library (sqlite3 and mcap storage;
Jazzy type store), so nothing here needs a running ROS graph; images go through
:mod:`selfpose3d_ros.image_conv` (every ``Image`` encoding it supports, row padding,
JPEG/PNG ``CompressedImage``).

Recording (:class:`BagRecorder`, :func:`record_dataset_to_bag`) writes per camera
``<ns>/<cam>/image_raw`` (``sensor_msgs/Image``, ``rgb8`` or ``bgr8``) or
``<ns>/<cam>/image_raw/compressed`` (``CompressedImage``, JPEG or PNG) and
``<ns>/<cam>/camera_info`` (``CameraInfo``, same stamp), ``frame_id``
``<cam>_optical_frame``, plus one ``/tf_static`` message with every camera's optical
frame in the rig's world frame. Bag (log) time equals the header stamps.

Extraction (:class:`CameraBag`, :func:`bag_to_dataset`) reads any rosbag2 with camera
streams:

* Camera topics are discovered by type (``Image``/``CompressedImage``; a raw and a
  compressed topic of one camera → the raw one; depth/unsupported encodings skipped) or
  given as a list. A camera's name is the namespace of its image topic
  (``/rig/cam0/image_raw`` → ``cam0``), its ``CameraInfo`` the sibling
  ``<namespace>/camera_info`` (image_transport's layout).
* Sets are formed offline with the live nodes' policy,
  :class:`~selfpose3d_ros.sync.ApproxTimeSync` (header stamps, ``slop``), fed in stamp
  order: complete sets only (a frame with a camera missing is skipped), or, with
  ``min_views``, also sets with at least that many cameras (a camera's missing frames —
  gaps in its stamps longer than ``gap`` — are filled with placeholders first, so those
  sets come out with that camera missing).
* **Calibration.** ``CameraInfo`` carries *intrinsics only* (K, distortion, size,
  binning, ROI; converted by the core's
  :func:`~selfpose3d_core.geometry.calibration.camera_from_camera_info`). Extrinsics come
  from a rig YAML given by the user (matched by camera name or ``CameraInfo`` frame id;
  takes precedence), otherwise from ``/tf_static``: the pose of the ``CameraInfo``
  ``header.frame_id`` (an *optical* frame, REP 103) in the world frame. A bag without
  ``CameraInfo`` needs the rig YAML for the intrinsics too. Bags written by
  :class:`BagRecorder` carry their rig in ``/tf_static``, so they need no rig YAML.

The extracted dataset has images and cameras and empty keypoints (2D pseudo poses come
from a detector, see :mod:`selfpose3d_ros.train_from_bag`); ``bag_frames.json`` beside it
records the header stamps of every view of every frame.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from selfpose3d_core.data.dataset import DatasetMeta, DatasetWriter, MultiViewDataset
from selfpose3d_core.geometry.calibration import (
    camera_from_camera_info,
    camera_to_camera_info_dict,
)
from selfpose3d_core.geometry.camera import Camera
from selfpose3d_core.geometry.rig_yaml import Rig, load_rig_yaml

from .image_conv import compressed_to_rgb, image_to_rgb, rgb_to_compressed
from .sync import ApproxTimeSync
from .transforms import StaticTransforms, TransformLookupError, matrix_to_quaternion

__all__ = [
    "IMAGE_TYPE", "COMPRESSED_TYPE", "CAMERA_INFO_TYPE", "TF_TYPE", "STORAGES",
    "IMAGE_FORMATS", "DEFAULT_START_TIME", "BAG_FRAMES_FILE", "typestore", "header_stamp_ns",
    "BagRecorder", "record_dataset_to_bag", "CameraStream", "SyncResult", "SyncedFrame",
    "CameraBag", "BagExtraction", "bag_to_dataset",
]

log = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TF_TYPE = "tf2_msgs/msg/TFMessage"
STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
IMAGE_FORMATS = ("raw", "jpeg", "png")
RAW_ENCODINGS = ("rgb8", "bgr8")
#: Default first stamp of recorded bags (2023-11-14T22:13:20Z): realistic epoch stamps.
DEFAULT_START_TIME = 1_700_000_000.0
BAG_FRAMES_FILE = "bag_frames.json"
STAMP_SOURCES = ("header", "bag")
_NS = 1_000_000_000
# the last segment(s) of an image topic that are not part of the camera's name
_IMAGE_TOPIC_NAMES = {"image_raw", "image_rect", "image_rect_color", "image_color",
                      "image_mono", "image", "image_rect_raw", "image_raw_color"}


@lru_cache(maxsize=1)
def typestore():
    """The ROS 2 Jazzy message type store of ``rosbags`` (Image, CameraInfo, TFMessage...)."""
    return get_typestore(Stores.ROS2_JAZZY)


def header_stamp_ns(raw: bytes | memoryview | np.ndarray) -> int:
    """Header stamp (ns) of a CDR-serialised message whose first field is a
    ``std_msgs/Header`` (Image, CompressedImage, CameraInfo), read without deserialising.

    Raises:
        ValueError: the buffer is too short or not plain CDR.
    """
    buf = memoryview(raw).cast("B") if not isinstance(raw, bytes) else raw
    if len(buf) < 12 or buf[0] != 0 or buf[1] not in (0, 1):
        raise ValueError(f"not a plain CDR message with a header (first bytes "
                         f"{bytes(buf[:4]).hex()}, {len(buf)} bytes)")
    sec, nanosec = struct.unpack_from("<iI" if buf[1] == 1 else ">iI", buf, 4)
    return sec * _NS + nanosec


def _time_msg(ns: int):
    sec, nanosec = divmod(int(ns), _NS)
    return typestore().types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def _header(ns: int, frame_id: str):
    return typestore().types["std_msgs/msg/Header"](stamp=_time_msg(ns), frame_id=frame_id)


def _qos(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> Qos:
    zero = QosTime(sec=0, nsec=0)
    return Qos(history=QosHistory.KEEP_LAST, depth=depth,
               reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               durability=(QosDurability.TRANSIENT_LOCAL if transient_local
                           else QosDurability.VOLATILE),
               deadline=zero, lifespan=zero, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=zero, avoid_ros_namespace_conventions=False)


def _join_topic(*parts: str) -> str:
    segs = [s for p in parts for s in str(p).split("/") if s]
    return "/" + "/".join(segs)


# =========================================================================== recording
class BagRecorder:
    """Write calibrated camera streams into a new rosbag2.

    Args:
        path: the bag directory to create (must not exist).
        cameras: one :class:`Camera` per view (names become topic namespaces).
        storage: ``"sqlite3"`` or ``"mcap"``.
        image_format: ``"raw"`` (``sensor_msgs/Image``), ``"jpeg"`` or ``"png"``
            (``CompressedImage``).
        encoding: raw images' encoding, ``"rgb8"`` or ``"bgr8"``.
        namespace: prefix of every camera topic (``""`` → ``/<cam>/...``).
        world_frame: the TF parent frame of the cameras in ``/tf_static``.
        frame_id_format: a camera's optical frame, formatted with ``name``.
        row_padding: bytes appended to every row of raw images (``step`` > ``width·3``,
            as some drivers do).
        jpeg_quality: JPEG quality of compressed images.
        tf_static: write ``/tf_static`` with the cameras' poses (before the first frame).

    Example:
        >>> with BagRecorder("/tmp/rig_bag", cams, storage="mcap") as rec:  # doctest: +SKIP
        ...     rec.write_frame(1_700_000_000 * 10**9, images)
    """

    def __init__(self, path: str | Path, cameras: Sequence[Camera], *, storage: str = "sqlite3",
                 image_format: str = "raw", encoding: str = "rgb8", namespace: str = "",
                 world_frame: str = "world", frame_id_format: str = "{name}_optical_frame",
                 row_padding: int = 0, jpeg_quality: int = 90, tf_static: bool = True):
        cameras = tuple(cameras)
        if not cameras or not all(isinstance(c, Camera) for c in cameras):
            raise ValueError(f"BagRecorder: cameras must be a non-empty sequence of Camera, got "
                             f"{[type(c).__name__ for c in cameras]}")
        names = [c.name for c in cameras]
        if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
            raise ValueError(f"BagRecorder: camera names must be unique, non-empty and without "
                             f"'/', got {names}")
        if storage not in STORAGES:
            raise ValueError(f"BagRecorder: storage must be one of {sorted(STORAGES)}, "
                             f"got {storage!r}")
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"BagRecorder: image_format must be one of {IMAGE_FORMATS}, "
                             f"got {image_format!r}")
        if encoding not in RAW_ENCODINGS:
            raise ValueError(f"BagRecorder: encoding must be one of {RAW_ENCODINGS}, "
                             f"got {encoding!r}")
        if int(row_padding) != row_padding or row_padding < 0:
            raise ValueError(f"BagRecorder: row_padding must be an integer >= 0, "
                             f"got {row_padding!r}")
        self.path = Path(path)
        self.cameras = cameras
        self.image_format = image_format
        self.encoding = encoding
        self.world_frame = world_frame
        self.row_padding = int(row_padding)
        self.jpeg_quality = int(jpeg_quality)
        self._tf_pending = bool(tf_static)
        self.frame_ids = [frame_id_format.format(name=c.name) for c in cameras]
        store = typestore()
        self._types = store.types
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST,
                              storage_plugin=STORAGES[storage])
        self._writer.open()
        cam_qos = [_qos(reliable=True, depth=10)]
        suffix = "image_raw" if image_format == "raw" else "image_raw/compressed"
        img_type = IMAGE_TYPE if image_format == "raw" else COMPRESSED_TYPE
        self.image_topics = [_join_topic(namespace, c.name, suffix) for c in cameras]
        self.info_topics = [_join_topic(namespace, c.name, "camera_info") for c in cameras]
        self._img_conns = [self._writer.add_connection(t, img_type, typestore=store,
                                                       offered_qos_profiles=cam_qos)
                           for t in self.image_topics]
        self._info_conns = [self._writer.add_connection(t, CAMERA_INFO_TYPE, typestore=store,
                                                        offered_qos_profiles=cam_qos)
                            for t in self.info_topics]
        self._tf_conn = (self._writer.add_connection(
            "/tf_static", TF_TYPE, typestore=store,
            offered_qos_profiles=[_qos(transient_local=True, depth=1)]) if tf_static else None)
        self._infos = [self._camera_info(c) for c in cameras]
        self.frames_written = 0
        self._closed = False

    # -------------------------------------------------------------- messages
    def _camera_info(self, cam: Camera) -> dict:
        d = camera_to_camera_info_dict(cam)
        roi = self._types["sensor_msgs/msg/RegionOfInterest"](**d.pop("roi"))
        return dict(d, roi=roi)

    def _info_msg(self, view: int, ns: int):
        d = dict(self._infos[view])
        arr = {k: np.asarray(d.pop(k), dtype=np.float64) for k in ("d", "k", "r", "p")}
        return self._types[CAMERA_INFO_TYPE](header=_header(ns, self.frame_ids[view]), **arr,
                                             **d)

    def _image_msg(self, view: int, ns: int, rgb: np.ndarray):
        cam = self.cameras[view]
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.shape != (cam.height, cam.width, 3):
            raise ValueError(f"view {cam.name}: image must be ({cam.height}, {cam.width}, 3) "
                             f"uint8 RGB, got {rgb.shape} {rgb.dtype}")
        header = _header(ns, self.frame_ids[view])
        if self.image_format != "raw":
            c = rgb_to_compressed(rgb, self.image_format, quality=self.jpeg_quality)
            return self._types[COMPRESSED_TYPE](header=header, format=c.format,
                                                data=np.frombuffer(bytes(c.data), np.uint8))
        px = rgb if self.encoding == "rgb8" else rgb[..., ::-1]
        h, w = rgb.shape[:2]
        step = w * 3 + self.row_padding
        buf = np.zeros((h, step), np.uint8)
        buf[:, :w * 3] = px.reshape(h, w * 3)
        return self._types[IMAGE_TYPE](header=header, height=h, width=w,
                                       encoding=self.encoding, is_bigendian=0, step=step,
                                       data=buf.reshape(-1))

    def _write(self, conn, ns: int, msg, typename: str) -> None:
        self._writer.write(conn, int(ns), typestore().serialize_cdr(msg, typename))

    def write_tf_static(self, ns: int) -> None:
        """Write ``/tf_static``: world → every camera's optical frame (once; the first
        :meth:`write_view` does it when not called before)."""
        if not self._tf_pending or self._tf_conn is None:
            return
        T = self._types
        transforms = []
        for cam, frame_id in zip(self.cameras, self.frame_ids):
            # the optical frame's pose in the world: rotation Rᵀ, translation the centre
            R_wc, t_wc = cam.R.T, -cam.R.T @ cam.t
            q = matrix_to_quaternion(R_wc)
            transforms.append(T["geometry_msgs/msg/TransformStamped"](
                header=_header(ns, self.world_frame), child_frame_id=frame_id,
                transform=T["geometry_msgs/msg/Transform"](
                    translation=T["geometry_msgs/msg/Vector3"](*map(float, t_wc)),
                    rotation=T["geometry_msgs/msg/Quaternion"](*map(float, q)))))
        self._write(self._tf_conn, ns, T[TF_TYPE](transforms=transforms), TF_TYPE)
        self._tf_pending = False

    def write_view(self, view: int, ns: int, rgb: np.ndarray, *, camera_info: bool = True,
                   bag_time: int | None = None) -> None:
        """Write one camera's image (and its CameraInfo) stamped ``ns``, at bag (receive)
        time ``bag_time`` (default ``ns``)."""
        if self._closed:
            raise ValueError("BagRecorder: write after close")
        if not 0 <= int(view) < len(self.cameras):
            raise ValueError(f"view must be in [0, {len(self.cameras)}), got {view!r}")
        at = int(ns if bag_time is None else bag_time)
        self.write_tf_static(at)
        img_type = IMAGE_TYPE if self.image_format == "raw" else COMPRESSED_TYPE
        msg = self._image_msg(view, ns, rgb)
        if camera_info:
            self._write(self._info_conns[view], at, self._info_msg(view, ns), CAMERA_INFO_TYPE)
        self._write(self._img_conns[view], at, msg, img_type)

    def write_frame(self, ns: int, images: Sequence[np.ndarray | None],
                    stamps: Sequence[int] | None = None, bag_time: int | None = None) -> None:
        """Write one multi-view frame: ``images`` per view (None = that camera dropped the
        frame), all stamped ``ns`` unless ``stamps`` gives one per view (jitter), at bag
        time ``bag_time`` (default: each message's stamp)."""
        if len(images) != len(self.cameras):
            raise ValueError(f"write_frame: {len(images)} images for {len(self.cameras)} "
                             f"cameras")
        if stamps is not None and len(stamps) != len(self.cameras):
            raise ValueError(f"write_frame: {len(stamps)} stamps for {len(self.cameras)} "
                             f"cameras")
        for v, img in enumerate(images):
            if img is not None:
                self.write_view(v, int(ns if stamps is None else stamps[v]), img,
                                bag_time=bag_time)
        self.frames_written += 1

    def close(self) -> Path:
        if not self._closed:
            self._writer.close()
            self._closed = True
        return self.path

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._writer.close()
            self._closed = True


def record_dataset_to_bag(dataset: str | Path | MultiViewDataset, bag: str | Path, *,
                          storage: str = "sqlite3", image_format: str = "raw",
                          encoding: str = "rgb8", fps: float | None = None,
                          start_time: float = DEFAULT_START_TIME,
                          frames: Sequence[int] | None = None, namespace: str = "",
                          row_padding: int = 0, jpeg_quality: int = 90,
                          tf_static: bool = True) -> Path:
    """Record a dataset (e.g. the synthetic rig) as a camera bag.

    Frame ``i`` (of ``frames``, default all) is stamped ``start_time + (ts_i − ts_0)`` with
    the dataset's timestamps, or ``start_time + i / fps`` when ``fps`` is given; header
    stamps and bag time are equal. Cameras' poses go to ``/tf_static`` in the dataset's
    world frame (see :class:`BagRecorder` for the other arguments).

    Returns:
        The bag directory.
    """
    ds = dataset if isinstance(dataset, MultiViewDataset) else MultiViewDataset(dataset)
    if not ds.has_images:
        raise ValueError(f"{ds.root}: the dataset has no images (dataset.yaml images: false); "
                         f"a camera bag needs them")
    idx = list(range(ds.num_frames)) if frames is None else [int(f) for f in frames]
    if not idx:
        raise ValueError("record_dataset_to_bag: no frames to record")
    bad = [f for f in idx if not 0 <= f < ds.num_frames]
    if bad:
        raise ValueError(f"frames {bad[:5]} out of range [0, {ds.num_frames})")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not math.isfinite(start_time) or start_time < 0:
        raise ValueError(f"start_time must be a finite time >= 0 s, got {start_time!r}")
    t0 = int(round(start_time * _NS))
    ts0 = ds.timestamps[idx[0]]
    with BagRecorder(bag, ds.cameras, storage=storage, image_format=image_format,
                     encoding=encoding, namespace=namespace, world_frame=ds.world_frame,
                     row_padding=row_padding, jpeg_quality=jpeg_quality,
                     tf_static=tf_static) as rec:
        for i, f in enumerate(idx):
            dt = i / fps if fps is not None else ds.timestamps[f] - ts0
            ns = t0 + int(round(dt * _NS))
            rec.write_frame(ns, [ds.image(f, v) for v in range(ds.num_views)])
    log.info("recorded %d frames × %d cameras of %s into %s (%s, %s)", len(idx), ds.num_views,
             ds.root, bag, storage, image_format if image_format != "raw" else encoding)
    return Path(bag)


# =========================================================================== reading
class CameraStream(NamedTuple):
    """One camera of a bag.

    Attributes:
        name: view name (from the topic namespace, or given).
        image_topic: its Image or CompressedImage topic.
        compressed: whether the topic is a CompressedImage.
        info_topic: its CameraInfo topic, or None when the bag has none.
    """

    name: str
    image_topic: str
    compressed: bool
    info_topic: str | None


class SyncResult(NamedTuple):
    """Synchronised sets of a bag.

    Attributes:
        sets: one tuple per set, a stamp (ns) per view or None (view missing).
        stats: the :class:`~selfpose3d_ros.sync.SyncStats` of the synchroniser.
        slop: the slop used (s).
    """

    sets: list[tuple[int | None, ...]]
    stats: Any
    slop: float


class SyncedFrame(NamedTuple):
    """One synchronised multi-view frame.

    Attributes:
        index: position in the list of sets given to :meth:`CameraBag.frames`.
        stamps: per view the stamp (ns; header or bag time) or None.
        images: per view an (H, W, 3) uint8 RGB image or None.
    """

    index: int
    stamps: tuple[int | None, ...]
    images: list[np.ndarray | None]

    @property
    def stamp(self) -> int:
        """The frame's stamp (ns): the mean of its views' stamps."""
        s = [x for x in self.stamps if x is not None]
        return int(round(sum(s) / len(s)))


def _camera_name_parts(topic: str, compressed: bool) -> list[str]:
    segs = [s for s in topic.split("/") if s]
    if compressed and segs and segs[-1] == "compressed":
        segs = segs[:-1]
    return segs[:-1] if segs else []


def _unique_names(parts: list[list[str]]) -> list[str]:
    names = [p[-1] if p else "" for p in parts]
    if len(set(names)) == len(names) and all(names):
        return names
    names = ["_".join(p) for p in parts]
    if len(set(names)) == len(names) and all(names):
        return names
    return [f"view{i}" for i in range(len(parts))]


class CameraBag:
    """A rosbag2's camera streams: discovery, header stamps, calibration, synchronised
    frames. Reads the bag once on opening (stamps, CameraInfo, ``/tf_static``; images are
    decoded only by :meth:`frames`).

    Args:
        path: the bag (a rosbag2 directory, or a ``.mcap`` / ``.db3`` file).
        topics: image topics to use, in view order (default: discovered by type).
        names: view names, one per topic (default: from the topic namespaces).
        stamps: what sets are formed on: ``"header"`` (the images' header stamps, the
            capture times) or ``"bag"`` (the bag's receive times, for drivers that leave
            header stamps unset).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, topics: Sequence[str] | None = None,
                 names: Sequence[str] | None = None, stamps: str = "header"):
        if stamps not in STAMP_SOURCES:
            raise ValueError(f"stamps must be one of {STAMP_SOURCES}, got {stamps!r}")
        self.stamp_source = stamps
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"{self.path}: no such bag (a rosbag2 directory or a .mcap/.db3 "
                             f"file)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as e:  # rosbags raises its own error types
            raise ValueError(f"{self.path}: cannot open as a rosbag2: {e}") from None
        try:
            self._conns_by_topic: dict[str, list] = defaultdict(list)
            for c in self._reader.connections:
                self._conns_by_topic[c.topic].append(c)
            self.streams = self._discover(topics, names)
            self._scan()
        except BaseException:
            self._reader.close()
            raise

    # -------------------------------------------------------------- discovery
    def _topic_type(self, topic: str) -> str | None:
        types = {c.msgtype for c in self._conns_by_topic.get(topic, ())}
        return types.pop() if len(types) == 1 else None

    def _first_message(self, topic: str):
        conns = self._conns_by_topic[topic]
        for conn, _, raw in self._reader.messages(connections=conns):
            return typestore().deserialize_cdr(raw, conn.msgtype)
        return None

    def _supported(self, topic: str, compressed: bool) -> str | None:
        """Why a topic's first image cannot be read (None = it can)."""
        msg = self._first_message(topic)
        if msg is None:
            return "no messages"
        try:
            rgb = compressed_to_rgb(msg) if compressed else image_to_rgb(msg)
        except ValueError as e:
            return str(e)
        self._first_sizes[topic] = rgb.shape[:2]
        return None

    def _discover(self, topics: Sequence[str] | None, names: Sequence[str] | None
                  ) -> list[CameraStream]:
        self._first_sizes: dict[str, tuple[int, int]] = {}
        image_types = (IMAGE_TYPE, COMPRESSED_TYPE)
        available = {t: self._topic_type(t) for t in self._conns_by_topic}
        if topics is not None:
            topics = [str(t) for t in topics]
            if not topics:
                raise ValueError("topics is empty: give image topics or None to discover them")
            for t in topics:
                if available.get(t) not in image_types:
                    cams = sorted(k for k, v in available.items() if v in image_types)
                    raise ValueError(f"{self.path}: topic {t!r} is not an Image or "
                                     f"CompressedImage topic of this bag (its type: "
                                     f"{available.get(t)}); image topics: {cams}")
            chosen = topics
        else:
            candidates = sorted(t for t, ty in available.items() if ty in image_types)
            raw_bases = {t for t in candidates if available[t] == IMAGE_TYPE}
            chosen = []
            for t in candidates:
                if t.rsplit("/", 1)[-1] in ("compressedDepth", "theora"):
                    log.info("skipping %s (not a colour image stream)", t)
                    continue
                if available[t] == COMPRESSED_TYPE and t.endswith("/compressed") \
                        and t[:-len("/compressed")] in raw_bases:
                    log.info("skipping %s: the raw topic %s is in the bag", t,
                             t[:-len("/compressed")])
                    continue
                chosen.append(t)
        streams_parts = []
        keep = []
        for t in chosen:
            compressed = available[t] == COMPRESSED_TYPE
            why = self._supported(t, compressed)
            if why is not None:
                if topics is not None:
                    raise ValueError(f"{self.path}: cannot read the images of {t}: {why}")
                log.warning("skipping %s: %s", t, why)
                continue
            keep.append((t, compressed))
            streams_parts.append(_camera_name_parts(t, compressed))
        if not keep:
            found = sorted(f"{t} ({ty})" for t, ty in available.items())
            raise ValueError(f"{self.path}: no readable Image/CompressedImage topic; topics: "
                             f"{found}")
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != len(keep):
                raise ValueError(f"{len(names)} names for {len(keep)} image topics "
                                 f"{[t for t, _ in keep]}")
            if len(set(names)) != len(names) or any(not n or "/" in n for n in names):
                raise ValueError(f"names must be unique, non-empty, without '/', got {names}")
        else:
            names = _unique_names(streams_parts)
        streams = []
        for (t, compressed), parts, name in zip(keep, streams_parts, names):
            info = _join_topic(*parts, "camera_info")
            if available.get(info) != CAMERA_INFO_TYPE:
                log.warning("%s: no CameraInfo topic %s in the bag", t, info)
                info = None
            streams.append(CameraStream(name, t, compressed, info))
        log.info("cameras: %s", ", ".join(f"{s.name}={s.image_topic}" for s in streams))
        return streams

    def _stamp(self, conn, log_ns: int, raw) -> int:
        """The stamp (ns) sets are formed on: the header stamp, or the bag time."""
        if self.stamp_source == "bag":
            return int(log_ns)
        try:
            return header_stamp_ns(raw)
        except ValueError:  # not plain CDR: deserialise
            msg = typestore().deserialize_cdr(raw, conn.msgtype)
            return msg.header.stamp.sec * _NS + msg.header.stamp.nanosec

    # -------------------------------------------------------------- first pass
    def _scan(self) -> None:
        """Header stamps of every image; CameraInfo and /tf_static messages."""
        store = typestore()
        view_of = {s.image_topic: v for v, s in enumerate(self.streams)}
        info_of = {s.info_topic: v for v, s in enumerate(self.streams) if s.info_topic}
        tf_topics = [t for t in self._conns_by_topic
                     if self._topic_type(t) == TF_TYPE and t.rstrip("/").endswith("tf_static")]
        conns = [c for t in (*view_of, *info_of, *tf_topics) for c in self._conns_by_topic[t]]
        stamps: list[list[int]] = [[] for _ in self.streams]
        self.camera_infos: list[Any] = [None] * len(self.streams)
        info_changes = Counter()
        self.tf = StaticTransforms()
        for conn, log_ns, raw in self._reader.messages(connections=conns):
            if conn.topic in view_of:
                stamps[view_of[conn.topic]].append(self._stamp(conn, log_ns, raw))
            elif conn.topic in info_of:
                v = info_of[conn.topic]
                msg = store.deserialize_cdr(raw, conn.msgtype)
                first = self.camera_infos[v]
                if first is None:
                    self.camera_infos[v] = msg
                elif (first.width, first.height) != (msg.width, msg.height) or not (
                        np.array_equal(first.k, msg.k) and np.array_equal(first.d, msg.d)):
                    info_changes[v] += 1
            else:
                for tr in store.deserialize_cdr(raw, conn.msgtype).transforms:
                    self.tf.add(tr)
        for v, n in info_changes.items():
            log.warning("%s: CameraInfo changes %d times in the bag; using the first one",
                        self.streams[v].info_topic, n)
        self.stamps = [np.asarray(s, dtype=np.int64) for s in stamps]
        empty = [s.image_topic for s, st in zip(self.streams, self.stamps) if st.size == 0]
        if empty:
            raise ValueError(f"{self.path}: image topics without messages: {empty}")

    # -------------------------------------------------------------- properties
    @property
    def view_names(self) -> list[str]:
        return [s.name for s in self.streams]

    @property
    def num_views(self) -> int:
        return len(self.streams)

    def frame_id(self, view: int) -> str:
        """The view's optical frame: CameraInfo ``header.frame_id`` (or the image's)."""
        info = self.camera_infos[view]
        if info is not None and info.header.frame_id:
            return info.header.frame_id
        msg = self._first_message(self.streams[view].image_topic)
        return msg.header.frame_id

    def frame_period(self) -> float:
        """Time between consecutive images of a camera (s; 0 if unknown): the mean of the
        intervals shorter than 1.5 × their median (so dropped frames do not count)."""
        diffs = np.concatenate([np.diff(np.unique(s)) for s in self.stamps]).astype(np.float64)
        if not diffs.size:
            return 0.0
        regular = diffs[diffs < 1.5 * np.median(diffs)]
        return float(np.mean(regular if regular.size else diffs)) / _NS

    # -------------------------------------------------------------- calibration
    def _match_rig(self, rig: Rig) -> list[Camera]:
        by_name = {c.name: c for c in rig.cameras}
        out, missing = [], []
        for v, s in enumerate(self.streams):
            fid = self.frame_id(v).lstrip("/")
            cands = [s.name, fid]
            for suffix in ("_optical_frame", "_optical", "_link", "_frame"):
                if fid.endswith(suffix):
                    cands.append(fid[:-len(suffix)])
            cam = next((by_name[c] for c in cands if c in by_name), None)
            if cam is None:
                missing.append(f"{s.name} (frame_id {fid!r})")
            out.append(cam)
        if missing:
            raise ValueError(f"rig YAML cameras {sorted(by_name)} do not match the bag's "
                             f"cameras {missing}; rename them in the YAML, or name the "
                             f"views with --names")
        return out

    def _connected(self, a: str, b: str) -> bool:
        try:
            self.tf.lookup(a, b)
        except TransformLookupError:
            return False
        return True

    def _world_frame(self, world_frame: str | None, frame_ids: list[str]) -> str:
        if world_frame is not None:
            return world_frame.lstrip("/")
        for cand in ("world", "map", "odom"):
            if all(self._connected(cand, f) for f in frame_ids):
                return cand
        common = sorted(f for f in self.tf.frames() if f not in frame_ids
                        and all(self._connected(f, c) for c in frame_ids))
        raise ValueError(f"{self.path}: /tf_static has no frame 'world', 'map' or 'odom' "
                         f"connected to every camera frame {frame_ids}; name the world frame "
                         f"(--world-frame; frames connected to all cameras: {common})")

    def cameras(self, rig: Rig | str | Path | None = None, world_frame: str | None = None
                ) -> tuple[tuple[Camera, ...], str, dict]:
        """The views' cameras.

        Intrinsics from each view's first CameraInfo (the rig YAML's when the bag has
        none); extrinsics from ``rig`` when given, else from ``/tf_static`` (the CameraInfo
        frame's pose in ``world_frame``; default ``world``, ``map`` or ``odom`` when they
        connect to every camera, else the root of the cameras' tree).

        Returns:
            (cameras in view order named like the views, world frame name, a dict saying
            where intrinsics and extrinsics came from).

        Raises:
            ValueError: no extrinsics (no rig YAML, cameras not in ``/tf_static``), no
                intrinsics for a view, or an image size that differs from the calibration.
        """
        if rig is not None and not isinstance(rig, Rig):
            rig = load_rig_yaml(rig)
        rig_cams = self._match_rig(rig) if rig is not None else None
        frame_ids = [self.frame_id(v).lstrip("/") for v in range(self.num_views)]
        if rig is not None:
            world = rig.world_frame
            extr = [(c.R, c.t) for c in rig_cams]
            ext_src = "rig_yaml"
            tf_ok = [f for f in frame_ids if f in self.tf.frames()]
            if tf_ok:
                log.info("using the rig YAML's extrinsics (the bag's /tf_static also has %s)",
                         tf_ok)
        else:
            known = self.tf.frames()
            missing = [f for f in frame_ids if f not in known]
            if missing or not frame_ids:
                raise ValueError(
                    f"{self.path}: no camera extrinsics: CameraInfo carries intrinsics only, "
                    f"and /tf_static has no transform for the camera frames {missing} "
                    f"(frames in /tf_static: {sorted(known) or 'none'}). Give the "
                    f"rig's extrinsics as a rig YAML (--rig CAMERAS.yaml, format "
                    f"selfpose3d-rig/1, cameras named {self.view_names} or by frame id)")
            world = self._world_frame(world_frame, frame_ids)
            extr = []
            for f in frame_ids:
                try:
                    extr.append(self.tf.camera_extrinsics(world, f))
                except TransformLookupError as e:
                    raise ValueError(f"{self.path}: camera extrinsics from /tf_static: "
                                     f"{e}") from None
            ext_src = f"tf_static ({world})"
            for f in frame_ids:
                if "optical" not in f:
                    log.warning("camera frame %r is not an optical frame (REP 103 names end in "
                                "'_optical_frame'): its pose is used as the OpenCV camera "
                                "(x right, y down, z forward)", f)
        cams, int_src = [], []
        for v, s in enumerate(self.streams):
            R, t = extr[v]
            info = self.camera_infos[v]
            try:
                cam = (camera_from_camera_info(info, R, t, name=s.name) if info is not None
                       else None)
            except ValueError as e:
                if rig_cams is None:
                    raise ValueError(f"{s.info_topic}: {e}; give the intrinsics in a rig YAML "
                                     f"(--rig)") from None
                log.warning("%s: %s; using the rig YAML's intrinsics", s.info_topic, e)
                cam = None
            if cam is not None:
                int_src.append("camera_info")
                if rig_cams is not None:
                    rc = rig_cams[v]
                    if (rc.width, rc.height) != (cam.width, cam.height) or not np.allclose(
                            rc.K, cam.K, atol=0.5):
                        log.warning("%s: the rig YAML's intrinsics differ from CameraInfo; "
                                    "using CameraInfo's", s.name)
            elif rig_cams is not None:
                cam = rig_cams[v].replace(R=R, t=t, name=s.name)
                int_src.append("rig_yaml")
            else:
                raise ValueError(f"{self.path}: view {s.name} ({s.image_topic}) has no "
                                 f"CameraInfo topic and no rig YAML was given: no intrinsics")
            size = self._first_sizes[s.image_topic]
            if (cam.height, cam.width) != size:
                raise ValueError(f"view {s.name}: images are {size[1]}x{size[0]} but the "
                                 f"calibration is {cam.width}x{cam.height} (CameraInfo binning "
                                 f"and roi applied); they must match")
            cams.append(cam)
        return tuple(cams), world, {"intrinsics": int_src, "extrinsics": ext_src,
                                    "frame_ids": frame_ids}

    # -------------------------------------------------------------- sync
    def _placeholders(self, gap: float) -> list[np.ndarray]:
        """Per view, the stamps (ns) where the view lacks a frame: inside gaps longer than
        ``gap`` seconds and before/after the view's own first/last frame, at the view's
        frame period from its neighbouring frames."""
        first = min(int(s[0]) for s in self.stamps)
        last = max(int(s[-1]) for s in self.stamps)
        gap_ns = gap * _NS
        default = self.frame_period() * _NS
        out = []
        for st in self.stamps:
            st = np.unique(st)
            d = np.diff(st)
            period = float(np.median(d)) if d.size else default
            fill: list[int] = []
            if period > 0:
                for a, b in zip(st[:-1], st[1:]):
                    if b - a > gap_ns:
                        k = int(round((b - a) / period))
                        fill += [int(a + round(j * period)) for j in range(1, k)]
                j = 1
                while st[0] - j * period >= first - 0.5 * period:
                    fill.append(int(st[0] - round(j * period)))
                    j += 1
                j = 1
                while st[-1] + j * period <= last + 0.5 * period:
                    fill.append(int(st[-1] + round(j * period)))
                    j += 1
            out.append(np.asarray(sorted(set(fill) - set(st.tolist())), dtype=np.int64))
        return out

    def sync(self, slop: float | None = None, min_views: int | None = None,
             gap: float | None = None, queue_size: int = 30) -> SyncResult:
        """Approximately synchronised sets over the header stamps (no image is decoded).

        The stamps of all views are fed in time order to
        :class:`~selfpose3d_ros.sync.ApproxTimeSync` (the live nodes' policy). With
        ``min_views`` below the number of views, a view's missing frames are first filled
        with placeholders (see ``gap``), so the sets there come out with that view missing
        instead of being dropped.

        Args:
            slop: the largest stamp span of a set (s); default half a frame period.
            min_views: keep sets with at least this many views (default: all views).
            gap: with ``min_views``: a view lacks frames where its consecutive stamps are
                more than this apart (s; default 1.5 frame periods); placeholders go at its
                frame period into such gaps and before/after its first/last frame.
            queue_size: messages queued per view.

        Returns:
            A :class:`SyncResult`, sets in time order.
        """
        V = self.num_views
        period = self.frame_period()
        if slop is None:
            slop = 0.5 * period if period > 0 else 0.01
        if not (math.isfinite(slop) and slop >= 0):
            raise ValueError(f"slop must be a finite number of seconds >= 0, got {slop!r}")
        min_views = V if min_views is None else int(min_views)
        if not 1 <= min_views <= V:
            raise ValueError(f"min_views must be in [1, {V}] (the bag's camera count), "
                             f"got {min_views}")
        missing, sentinel = object(), object()
        events = [(int(ns), v, ns) for v, st in enumerate(self.stamps) for ns in st.tolist()]
        if min_views < V:
            gap = 1.5 * period if gap is None else float(gap)
            if not (math.isfinite(gap) and gap > 0):
                raise ValueError(f"gap must be a positive number of seconds, got {gap!r}")
            for v, fill in enumerate(self._placeholders(gap)):
                events += [(int(ns), v, missing) for ns in fill.tolist()]
        events.sort(key=lambda e: (e[0], e[1]))
        sets: list[tuple[int | None, ...]] = []

        def on_set(*items):
            if any(i is sentinel for i in items):
                return
            s = tuple(None if i is missing else int(i) for i in items)
            if sum(i is not None for i in s) >= min_views:
                sets.append(s)

        sync = ApproxTimeSync(V, queue_size, slop, on_set)
        for ns, v, item in events:
            sync.add(v, ns, item)
        # flush: a stamp past every real one (by more than slop) decides the pending sets
        end = events[-1][0] + int(round(slop * _NS)) + 1
        for v in range(V):
            sync.add(v, end, sentinel)
        stats = sync.stats()
        n_partial = sum(any(ns is None for ns in s) for s in sets)
        log.info("sync (slop %.4f s, min views %d): %d complete + %d partial sets from %s "
                 "images per view; dropped %s, rejected %s", slop, min_views,
                 len(sets) - n_partial, n_partial, [int(s.size) for s in self.stamps],
                 stats.dropped, stats.rejected)
        return SyncResult(sets=sets, stats=stats, slop=float(slop))

    # -------------------------------------------------------------- images
    def frames(self, sets: Sequence[Sequence[int | None]]) -> Iterator[SyncedFrame]:
        """Decode the images of ``sets`` (from :meth:`sync`), yielding frames in order.

        Reads the bag once; only the images of the wanted sets are decoded, and a frame is
        yielded as soon as all of its views have been read.
        """
        V = self.num_views
        want: dict[tuple[int, int], int] = {}
        for k, s in enumerate(sets):
            if len(s) != V:
                raise ValueError(f"set {k} has {len(s)} stamps for {V} views")
            for v, ns in enumerate(s):
                if ns is not None:
                    want[(v, int(ns))] = k
        pending: dict[int, list] = {}
        remaining = [sum(ns is not None for ns in s) for s in sets]
        view_of = {s.image_topic: v for v, s in enumerate(self.streams)}
        conns = [c for t in view_of for c in self._conns_by_topic[t]]
        store = typestore()
        nxt = 0
        for conn, log_ns, raw in self._reader.messages(connections=conns):
            v = view_of[conn.topic]
            k = want.pop((v, self._stamp(conn, log_ns, raw)), None)
            if k is None:
                continue
            msg = store.deserialize_cdr(raw, conn.msgtype)
            rgb = compressed_to_rgb(msg) if self.streams[v].compressed else image_to_rgb(msg)
            pending.setdefault(k, [None] * V)[v] = rgb
            remaining[k] -= 1
            while nxt < len(sets) and remaining[nxt] == 0:
                yield SyncedFrame(nxt, tuple(sets[nxt]), pending.pop(nxt, [None] * V))
                nxt += 1
        if nxt < len(sets):
            raise ValueError(f"{self.path}: {len(want)} images of the synchronised sets were "
                             f"not found on the second read (from set {nxt})")

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> CameraBag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# =========================================================================== extraction
@dataclass(frozen=True)
class BagExtraction:
    """What :func:`bag_to_dataset` wrote.

    Attributes:
        root: the dataset directory.
        num_frames: frames written.
        views: view names.
        topics: image topic per view.
        sets: synchronised sets found before ``every``/``max_frames``.
        partial_frames: frames written with a view missing.
        calibration: where intrinsics and extrinsics came from.
    """

    root: Path
    num_frames: int
    views: tuple[str, ...]
    topics: tuple[str, ...]
    sets: int
    partial_frames: int
    calibration: dict = field(default_factory=dict)


def bag_to_dataset(bag: str | Path, out: str | Path, *, topics: Sequence[str] | None = None,
                   names: Sequence[str] | None = None, stamps: str = "header",
                   rig: str | Path | Rig | None = None,
                   world_frame: str | None = None, slop: float | None = None,
                   min_views: int | None = None, gap: float | None = None,
                   every: int = 1, max_frames: int | None = None, jpeg_quality: int = 95,
                   overwrite: bool = False) -> BagExtraction:
    """Extract synchronised multi-view frames and the calibration of a camera bag into a
    dataset directory (images + cameras; keypoints empty).

    Args:
        bag: a rosbag2 directory (or ``.mcap``/``.db3`` file) with Image/CompressedImage
            (+ CameraInfo) topics.
        out: the dataset directory to write.
        topics, names, stamps: image topics (view order), view names and the stamps sets
            are formed on (see :class:`CameraBag`).
        rig: a rig YAML (or :class:`Rig`) giving the extrinsics (and intrinsics of views
            without CameraInfo); needed when the bag has no ``/tf_static`` for the cameras.
        world_frame: world frame for ``/tf_static`` extrinsics (see
            :meth:`CameraBag.cameras`).
        slop, min_views, gap: see :meth:`CameraBag.sync`.
        every: keep every Nth synchronised set.
        max_frames: stop after this many frames.
        jpeg_quality: JPEG quality of the dataset's images.
        overwrite: replace an existing dataset at ``out``.

    Returns:
        A :class:`BagExtraction`.
    """
    if int(every) != every or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise ValueError(f"max_frames must be an integer >= 1, got {max_frames!r}")
    out = Path(out)
    with CameraBag(bag, topics=topics, names=names, stamps=stamps) as cb:
        cams, world, calib = cb.cameras(rig=rig, world_frame=world_frame)
        res = cb.sync(slop=slop, min_views=min_views, gap=gap)
        sets = res.sets[::int(every)]
        if max_frames is not None:
            sets = sets[:int(max_frames)]
        if not sets:
            raise ValueError(f"{bag}: no synchronised set of {min_views or cb.num_views} views "
                             f"within slop {res.slop:.4f} s (images per view "
                             f"{[int(s.size) for s in cb.stamps]}); try a larger --slop or "
                             f"--min-views")
        period = cb.frame_period()
        fps = 1.0 / (period * every) if period > 0 else 1.0
        source = {"type": "rosbag2", "bag": str(Path(bag).resolve()),
                  "topics": {s.name: s.image_topic for s in cb.streams},
                  "camera_info": {s.name: s.info_topic for s in cb.streams},
                  "stamps": stamps, "slop": res.slop, "min_views": int(min_views or cb.num_views),
                  "every": int(every), "calibration": {k: v for k, v in calib.items()
                                                       if k != "frame_ids"}}
        meta = DatasetMeta(fps=fps, joint_set="coco17", source=source,
                           description=f"extracted from the rosbag2 {Path(bag).name}")
        frames_json = []
        partial = 0
        last_t = -math.inf
        writer = DatasetWriter(out, cams, meta, overwrite=overwrite, jpeg_quality=jpeg_quality,
                               world_frame=world)
        for fr in cb.frames(sets):
            t = max(fr.stamp / _NS, last_t)
            last_t = t
            writer.add_frame(t, images=fr.images)
            partial += any(s is None for s in fr.stamps)
            frames_json.append({"index": fr.index, "stamps_ns": list(fr.stamps)})
        (out / BAG_FRAMES_FILE).write_text(json.dumps(
            {"bag": source["bag"], "stamps": stamps, "views": cb.view_names,
             "topics": [s.image_topic for s in cb.streams], "frames": frames_json}) + "\n")
        writer.close()
        log.info("wrote %s: %d frames (%d partial) of %d views from %s; calibration: "
                 "intrinsics %s, extrinsics %s", out, len(sets), partial, cb.num_views, bag,
                 sorted(set(calib["intrinsics"])), calib["extrinsics"])
        return BagExtraction(root=out, num_frames=len(sets), views=tuple(cb.view_names),
                             topics=tuple(s.image_topic for s in cb.streams),
                             sets=len(res.sets), partial_frames=partial, calibration=calib)

