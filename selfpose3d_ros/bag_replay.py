"""Replay a bag's camera topics with rclpy (``ros2 bag play`` for the pose pipeline).

:class:`BagReplayer` reads a rosbag2 with ``rosbags`` and publishes the stored CDR bytes
unchanged (``Publisher.publish(bytes)``: no conversion, so any encoding and message
size go through as recorded):

* topics: by default every ``Image``, ``CompressedImage`` and ``CameraInfo`` topic and
  ``/tf_static`` (published transient-local, like tf2's static broadcaster); or a list;
  a ``prefix`` namespaces them (``/replay`` + ``/cam0/image_raw``);
* timing: in bag (log) time at ``rate`` × real time, or as fast as possible (``rate``
  0); ``loop`` starts over at the end;
* stamps: the original header stamps, or ``restamp``: every header stamp (and
  ``/tf_static``'s) shifted so that the bag starts now — ``now + (stamp − t0) / rate``,
  recomputed at every loop, so a looped bag's stamps keep increasing and messages that
  shared a stamp still share one (synchronisers keep working);
* ``clock``: also publish ``/clock`` (bag time, or the restamped time) for nodes with
  ``use_sim_time``.

A message type must be importable in Python (``sensor_msgs`` etc.); topics whose type is
not (e.g. ``/tf_static`` without ``tf2_msgs``, which has no PyPI wheel) are skipped with
a warning.
"""

from __future__ import annotations

import importlib
import logging
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rosbags.interfaces import Nodetype, QosDurability
from rosbags.rosbag2 import Reader

from .bags import (
    CAMERA_INFO_TYPE,
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    TF_TYPE,
    header_stamp_ns,
    typestore,
)

__all__ = ["BagReplayer", "ReplayStats", "message_class", "restamp_cdr", "main"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_DEFAULT_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE, CAMERA_INFO_TYPE)


def message_class(msgtype: str):
    """The rclpy message class of ``pkg/msg/Name`` (ImportError if not installed)."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise ValueError(f"message type must look like 'pkg/msg/Name', got {msgtype!r}")
    pkg, kind, name = parts
    module = importlib.import_module(f"{pkg}.{kind}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"{pkg}.{kind} has no {name}") from None


def _header_first(msgtype: str) -> bool:
    fields = typestore().fielddefs.get(msgtype)
    if not fields or not fields[1]:
        return False
    name, (node, ref) = fields[1][0][0], fields[1][0][1][:2]
    return name == "header" and node == Nodetype.NAME and ref == "std_msgs/msg/Header"


def restamp_cdr(raw: bytes, ns: int) -> bytes:
    """A CDR message whose first field is a ``std_msgs/Header`` with its stamp set to
    ``ns`` (the bytes are patched in place of the old stamp; nothing else changes)."""
    if len(raw) < 12 or raw[0] != 0 or raw[1] not in (0, 1):
        raise ValueError(f"not a plain CDR message (first bytes {bytes(raw[:4]).hex()})")
    out = bytearray(raw)
    sec, nanosec = divmod(int(ns), _NS)
    struct.pack_into("<iI" if raw[1] == 1 else ">iI", out, 4, sec, nanosec)
    return bytes(out)


@dataclass
class ReplayStats:
    """What a :meth:`BagReplayer.run` published.

    Attributes:
        published: messages per output topic.
        loops: passes over the bag.
        seconds: wall time of the run.
        skipped_topics: bag topics not published (type not importable), with the reason.
    """

    published: Counter = field(default_factory=Counter)
    loops: int = 0
    seconds: float = 0.0
    skipped_topics: dict = field(default_factory=dict)


class BagReplayer:
    """Publish a bag's topics on a node (see the module docstring).

    Args:
        node: an ``rclpy`` node to create the publishers on.
        bag: a rosbag2 directory or a ``.mcap``/``.db3`` file.
        topics: bag topics to publish (default: camera images, CameraInfo, /tf_static).
        rate: speed factor over bag time (1 = real time); 0 = as fast as possible.
        loop: start over at the end (until :meth:`stop`, shutdown or ``max_loops``).
        restamp: shift header stamps so the bag starts now (see the module docstring).
        prefix: namespace prepended to every topic name.
        clock: publish ``/clock`` (``rosgraph_msgs/Clock``) before each message.
        reliable: camera publishers' reliability (best effort otherwise); depth ``depth``.
        wait_subscribers: before publishing, wait until every image topic has at least
            this many subscribers (``wait_timeout`` seconds, then TimeoutError).
    """

    def __init__(self, node: Any, bag: str | Path, *, topics: Sequence[str] | None = None,
                 rate: float = 1.0, loop: bool = False, restamp: bool = False,
                 prefix: str = "", clock: bool = False, reliable: bool = True,
                 depth: int = 10, wait_subscribers: int = 0, wait_timeout: float = 10.0):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        if not rate >= 0:
            raise ValueError(f"rate must be >= 0 (0 = as fast as possible), got {rate!r}")
        if int(depth) != depth or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self.node = node
        self.path = Path(bag)
        if not self.path.exists():
            raise ValueError(f"{self.path}: no such bag")
        self.rate = float(rate)
        self.loop = bool(loop)
        self.restamp = bool(restamp)
        self.wait_subscribers = int(wait_subscribers)
        self.wait_timeout = float(wait_timeout)
        self._stop = False
        self._reader = Reader(self.path)
        self._reader.open()
        self.stats = ReplayStats()
        by_topic: dict[str, list] = {}
        for c in self._reader.connections:
            by_topic.setdefault(c.topic, []).append(c)
        if topics is None:
            chosen = sorted(t for t, cs in by_topic.items() if cs[0].msgtype in _DEFAULT_TYPES
                            or (cs[0].msgtype == TF_TYPE and t.endswith("tf_static")))
        else:
            chosen = [str(t) for t in topics]
            unknown = [t for t in chosen if t not in by_topic]
            if unknown:
                raise ValueError(f"{self.path}: topics {unknown} are not in the bag; its "
                                 f"topics: {sorted(by_topic)}")
        self._pubs: dict[str, Any] = {}
        self._kind: dict[str, str] = {}  # topic -> "header" | "tf" | "plain"
        self._conns = []
        self._image_pubs = []
        for t in chosen:
            conns = by_topic[t]
            msgtype = conns[0].msgtype
            try:
                cls = message_class(msgtype)
            except ImportError as e:
                if topics is not None:
                    raise ValueError(f"topic {t}: message type {msgtype} is not importable "
                                     f"here ({e})") from None
                log.warning("not replaying %s: its type %s is not installed (%s)", t, msgtype, e)
                self.stats.skipped_topics[t] = f"{msgtype} not importable"
                continue
            qos_bag = [q for c in conns for q in getattr(c.ext, "offered_qos_profiles", ())]
            latched = any(q.durability == QosDurability.TRANSIENT_LOCAL for q in qos_bag) or (
                msgtype == TF_TYPE and t.endswith("tf_static"))
            if latched:
                count = sum(c.msgcount for c in conns)
                qos = QoSProfile(depth=max(1, min(count, 100)),
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            else:
                qos = QoSProfile(depth=int(depth), reliability=ReliabilityPolicy.RELIABLE
                                 if reliable else ReliabilityPolicy.BEST_EFFORT)
            out = "/" + "/".join(s for s in f"{prefix}/{t}".split("/") if s)
            self._pubs[t] = node.create_publisher(cls, out, qos)
            self._kind[t] = ("tf" if msgtype == TF_TYPE else
                             "header" if _header_first(msgtype) else "plain")
            self._conns.extend(conns)
            if msgtype in (IMAGE_TYPE, COMPRESSED_TYPE):
                self._image_pubs.append(self._pubs[t])
        if not self._pubs:
            raise ValueError(f"{self.path}: nothing to replay (topics {chosen}; skipped "
                             f"{self.stats.skipped_topics})")
        self._clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self._clock_pub = node.create_publisher(Clock, "/clock", 10)
            self._clock_cls = Clock
        log.info("replaying %s: %s (rate %s, loop %s, restamp %s)", self.path,
                 ", ".join(f"{t} → {p.topic_name}" for t, p in self._pubs.items()),
                 self.rate or "max", self.loop, self.restamp)

    def stop(self) -> None:
        """Make :meth:`run` return after the current message."""
        self._stop = True

    def _ok(self) -> bool:
        import rclpy

        return not self._stop and rclpy.ok(context=self.node.context)

    def _sleep_until(self, due: float) -> None:
        while self._ok():
            left = due - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def _wait_for_subscribers(self) -> None:
        if self.wait_subscribers <= 0 or not self._image_pubs:
            return
        deadline = time.monotonic() + self.wait_timeout
        while self._ok():
            counts = [p.get_subscription_count() for p in self._image_pubs]
            if min(counts) >= self.wait_subscribers:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"waited {self.wait_timeout:.1f} s for {self.wait_subscribers} "
                    f"subscriber(s) per image topic; have "
                    f"{dict(zip([p.topic_name for p in self._image_pubs], counts))}")
            time.sleep(0.02)

    def _shift(self, ns: int) -> int:
        """A bag time/stamp → the restamped time of the current loop."""
        return self._now0 + int(round((ns - self._t0) * self._scale))

    def _restamped(self, topic: str, raw: bytes) -> bytes:
        kind = self._kind[topic]
        if kind == "header":
            return restamp_cdr(raw, self._shift(header_stamp_ns(raw)))
        if kind == "tf":
            store = typestore()
            msg = store.deserialize_cdr(raw, TF_TYPE)
            for tr in msg.transforms:
                st = tr.header.stamp
                st.sec, st.nanosec = divmod(self._shift(st.sec * _NS + st.nanosec), _NS)
            return bytes(store.serialize_cdr(msg, TF_TYPE))
        return raw

    def run(self, max_loops: int | None = None) -> ReplayStats:
        """Publish (blocking) until the bag ends (or, with ``loop``, until :meth:`stop`,
        shutdown or ``max_loops`` passes). Returns the :class:`ReplayStats`."""
        t_start = time.monotonic()
        self._wait_for_subscribers()
        self._t0 = None
        self._scale = 1.0 / self.rate if self.rate > 0 else 1.0
        while self._ok():
            loop_wall = time.monotonic()
            self._now0 = self.node.get_clock().now().nanoseconds
            for conn, log_ns, raw in self._reader.messages(connections=self._conns):
                if not self._ok():
                    break
                if self._t0 is None:
                    self._t0 = log_ns
                if self.rate > 0:
                    self._sleep_until(loop_wall + (log_ns - self._t0) / self.rate / _NS)
                data = bytes(raw)
                if self.restamp:
                    data = self._restamped(conn.topic, data)
                pub = self._pubs[conn.topic]
                try:
                    if self._clock_pub is not None:
                        c_ns = self._shift(log_ns) if self.restamp else log_ns
                        msg = self._clock_cls()
                        msg.clock.sec, msg.clock.nanosec = divmod(c_ns, _NS)
                        self._clock_pub.publish(msg)
                    pub.publish(data)
                except Exception:
                    if self._ok():
                        raise
                    break  # shut down (Ctrl-C) between the check and the publish
                self.stats.published[pub.topic_name] += 1
            self.stats.loops += 1
            if not self.loop or (max_loops is not None and self.stats.loops >= max_loops):
                break
            if not self.restamp and self.stats.loops == 1:
                log.warning("looping with the original stamps: they jump back at every loop "
                            "(synchronisers drop such messages); use restamp")
        self.stats.seconds = time.monotonic() - t_start
        log.info("replayed %d messages in %.2f s (%d loop(s))",
                 sum(self.stats.published.values()), self.stats.seconds, self.stats.loops)
        return self.stats

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``ros2 run selfpose3d bag_replay BAG [options] [--ros-args ...]``: the same as
    ``selfpose3d-ros bag-replay`` (see :mod:`selfpose3d_ros.cli`)."""
    import sys

    from .cli import main as cli_main

    return cli_main(["bag-replay", *(sys.argv[1:] if argv is None else argv)])
