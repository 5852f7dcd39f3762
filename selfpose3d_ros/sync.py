"""Approximate-time synchronisation of N camera streams, testable without a ROS graph.

:class:`ApproxTimeSync` follows the policy of ``message_filters.ApproximateTimeSynchronizer``
(``queue_size`` messages kept per input, ``slop`` seconds, ``allow_headerless``) and of its
C++ ``ApproximateTime`` policy for *which* set is emitted:

1. Each input keeps a queue of its messages, in stamp order (a stamp that is not newer than
   the last one accepted on that input is rejected and counted).
2. When every input has at least one queued message, the *pivot* is the latest of the
   queue heads (the oldest message of each input). If the oldest head is more than
   ``slop`` before the pivot it can never be part of a set (any set needs a message at or
   after the pivot from the pivot's input), so it is dropped and the search restarts.
3. Otherwise the emitted set is the one that contains the pivot and has the smallest time
   span (newest − oldest stamp) among the queued messages. It is emitted as soon as no
   message still to come can give a smaller span: a future message on input ``i`` has a
   stamp ``>= last_i + min_period`` (``min_period`` is the C++ "inter-message lower bound",
   default 0: with jittered stamps a set then waits for the next message of the inputs
   that could still improve it; with ``min_period`` set to a little under the frame period
   exact and jittered sets are emitted as soon as they are complete).
4. Emitting a set removes its messages and drops every older message of each input.

Differences from message_filters: no ``age_penalty`` (C++) and the Python package's
greedy "first combination within slop" search is replaced by the optimal one above.

Partial sets (:class:`PartialPolicy`): a camera that stopped publishing would stall every
set. With a policy, an input whose last stamp is more than ``stale_timeout`` seconds behind
the newest stamp received on any input is *stale*; while at least ``min_inputs`` inputs are
live, sets are formed over the live ones and emitted with ``None`` for the stale ones. A
stale camera that publishes again is live at once and takes part in the next sets.
Staleness is measured in stamp time, so the behaviour is deterministic for recorded data.

All stamps are handled internally as integer nanoseconds.

Example:
    >>> got = []
    >>> sync = ApproxTimeSync(2, queue_size=5, slop=0.01, callback=lambda *m: got.append(m))
    >>> for index, stamp, item in [(0, 1.000, "a0"), (1, 1.004, "b0"), (0, 1.100, "a1")]:
    ...     _ = sync.add(index, stamp, item)
    >>> got  # decided once input 0's next message shows no closer one can come
    [('a0', 'b0')]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

__all__ = [
    "ApproxTimeSync",
    "PartialPolicy",
    "SyncStats",
    "SyncHandle",
    "make_synchronizer",
    "stamp_to_ns",
    "ns_to_time_msg",
    "message_filters_available",
]

_LOG = logging.getLogger(__name__)
_NS = 1_000_000_000
_MISSING = object()


def stamp_to_ns(stamp: Any) -> int:
    """Convert a stamp to integer nanoseconds.

    Args:
        stamp: a ``builtin_interfaces/Time`` (``sec``/``nanosec``), an ``rclpy.time.Time``
            (``nanoseconds``), an ``int`` (nanoseconds) or a ``float`` (seconds).

    Returns:
        Nanoseconds since the clock's epoch.
    """
    if isinstance(stamp, bool):
        raise ValueError(f"a stamp cannot be a bool, got {stamp!r}")
    if isinstance(stamp, int):
        return stamp
    if isinstance(stamp, float):
        if stamp != stamp or stamp in (float("inf"), float("-inf")):
            raise ValueError(f"a stamp must be finite, got {stamp!r}")
        return int(round(stamp * _NS))
    if hasattr(stamp, "sec") and hasattr(stamp, "nanosec"):
        return int(stamp.sec) * _NS + int(stamp.nanosec)
    if hasattr(stamp, "nanoseconds"):
        return int(stamp.nanoseconds)
    raise ValueError(
        "a stamp must be a builtin_interfaces/Time, an rclpy Time, int nanoseconds or float "
        f"seconds; got {type(stamp).__name__}"
    )


def ns_to_time_msg(ns: int):
    """Integer nanoseconds → ``builtin_interfaces/Time`` (floor division, so negative
    times keep ``0 <= nanosec < 1e9``)."""
    from builtin_interfaces.msg import Time

    sec, nanosec = divmod(int(ns), _NS)
    return Time(sec=sec, nanosec=nanosec)


@dataclass(frozen=True)
class PartialPolicy:
    """When to emit a set without a camera that dropped out.

    Attributes:
        min_inputs: the fewest live inputs a partial set may have (>= 1).
        stale_timeout: seconds (stamp time) an input's last message may lag behind the
            newest stamp of any input before the input counts as stale.
    """

    min_inputs: int
    stale_timeout: float

    def __post_init__(self):
        if int(self.min_inputs) != self.min_inputs or self.min_inputs < 1:
            raise ValueError(f"min_inputs must be an integer >= 1, got {self.min_inputs!r}")
        if not self.stale_timeout > 0:
            raise ValueError(f"stale_timeout must be > 0 s, got {self.stale_timeout!r}")


@dataclass
class SyncStats:
    """Counters of an :class:`ApproxTimeSync` (a snapshot; sizes are ``num_inputs``).

    Attributes:
        received: messages accepted per input.
        rejected: messages refused per input (out of order, duplicate stamp, no header).
        dropped: accepted messages that left a queue without being emitted, per input.
        drop_reasons: count per reason (``"queue_overflow"``, ``"beyond_slop"``,
            ``"superseded"`` = older than an emitted set).
        sets: complete sets emitted.
        partial_sets: sets emitted with at least one stale input (``None``).
        last_reject_reason: the latest rejection, readable, for diagnostics.
        stale: indices of the inputs that are stale now (always empty without a policy).
    """

    received: list[int]
    rejected: list[int]
    dropped: list[int]
    drop_reasons: Counter = field(default_factory=Counter)
    sets: int = 0
    partial_sets: int = 0
    last_reject_reason: str | None = None
    stale: list[int] = field(default_factory=list)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected)


class ApproxTimeSync:
    """Approximate-time synchroniser for ``num_inputs`` streams (see the module docstring).

    Args:
        num_inputs: number of inputs N (>= 1).
        queue_size: messages kept per input (>= 1); the oldest is dropped on overflow.
        slop: the largest time span (s) of an emitted set.
        callback: called as ``callback(*items)`` with one item per input (``None`` for a
            stale input of a partial set), like message_filters. Called outside the lock,
            in the thread that called :meth:`add`.
        allow_headerless: accept messages without ``header.stamp``, stamping them with
            ``now()``; otherwise they are rejected (counted).
        min_period: a lower bound (s) on the time between two messages of one input, used
            only to emit a set earlier (0 = no assumption).
        partial: emit sets without stale inputs (see :class:`PartialPolicy`); ``None``
            emits complete sets only.
        now: clock for headerless messages, seconds (default ``time.time``).
    """

    def __init__(
        self,
        num_inputs: int,
        queue_size: int,
        slop: float,
        callback: Callable[..., Any],
        *,
        allow_headerless: bool = False,
        min_period: float = 0.0,
        partial: PartialPolicy | None = None,
        now: Callable[[], float] = time.time,
    ):
        if int(num_inputs) != num_inputs or num_inputs < 1:
            raise ValueError(f"num_inputs must be an integer >= 1, got {num_inputs!r}")
        if int(queue_size) != queue_size or queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {queue_size!r}")
        if not slop >= 0:
            raise ValueError(f"slop must be >= 0 s, got {slop!r}")
        if not min_period >= 0:
            raise ValueError(f"min_period must be >= 0 s, got {min_period!r}")
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {type(callback).__name__}")
        if partial is not None and partial.min_inputs > num_inputs:
            raise ValueError(
                f"partial.min_inputs ({partial.min_inputs}) exceeds num_inputs ({num_inputs})"
            )
        self.num_inputs = int(num_inputs)
        self.queue_size = int(queue_size)
        self.slop = float(slop)
        self.min_period = float(min_period)
        self.allow_headerless = bool(allow_headerless)
        self.partial = partial
        self._callback = callback
        self._now = now
        self._slop_ns = int(round(self.slop * _NS))
        self._min_period_ns = int(round(self.min_period * _NS))
        self._stale_ns = None if partial is None else int(round(partial.stale_timeout * _NS))
        self._lock = threading.Lock()
        self._warned_order = [False] * self.num_inputs
        self.reset()

    # ------------------------------------------------------------------ public
    def reset(self) -> None:
        """Forget queued messages, stamps and counters (e.g. after a bag loops)."""
        n = self.num_inputs
        with self._lock:
            self._queues: list[deque[tuple[int, Any]]] = [deque() for _ in range(n)]
            self._last_ns: list[int | None] = [None] * n
            self._first_ns: int | None = None
            self._newest_ns: int | None = None
            self._stats = SyncStats(received=[0] * n, rejected=[0] * n, dropped=[0] * n)

    def add(self, index: int, msg_or_stamp: Any, item: Any = _MISSING) -> bool:
        """Queue one message of input ``index`` and emit every set that is now decided.

        Args:
            index: input number in ``[0, num_inputs)``.
            msg_or_stamp: a message with ``header.stamp``, or a stamp (see
                :func:`stamp_to_ns`). A headerless message is stamped with ``now()`` when
                ``allow_headerless``.
            item: what the callback receives for this input (default: ``msg_or_stamp``).

        Returns:
            ``True`` if the message was queued, ``False`` if it was rejected (the reason
            is in ``stats().last_reject_reason``).
        """
        if isinstance(index, bool) or int(index) != index or not 0 <= index < self.num_inputs:
            raise ValueError(f"index must be in [0, {self.num_inputs}), got {index!r}")
        index = int(index)
        if item is _MISSING:
            item = msg_or_stamp
        ns, why = self._resolve_stamp(msg_or_stamp)
        with self._lock:
            if ns is None:
                self._reject(index, why)
                return False
            last = self._last_ns[index]
            if last is not None and ns <= last:
                kind = "duplicate stamp" if ns == last else "out-of-order stamp"
                self._reject(index, f"input {index}: {kind} {ns / _NS:.9f} s "
                                    f"(last accepted {last / _NS:.9f} s)")
                return False
            self._last_ns[index] = ns
            self._first_ns = ns if self._first_ns is None else min(self._first_ns, ns)
            self._newest_ns = ns if self._newest_ns is None else max(self._newest_ns, ns)
            self._stats.received[index] += 1
            queue = self._queues[index]
            queue.append((ns, item))
            while len(queue) > self.queue_size:
                queue.popleft()
                self._drop(index, "queue_overflow")
            ready = self._process()
        for items in ready:
            self._callback(*items)
        return True

    def stats(self) -> SyncStats:
        """A snapshot of the counters (safe to keep; later calls do not change it)."""
        with self._lock:
            s = self._stats
            return SyncStats(
                received=list(s.received), rejected=list(s.rejected), dropped=list(s.dropped),
                drop_reasons=Counter(s.drop_reasons), sets=s.sets, partial_sets=s.partial_sets,
                last_reject_reason=s.last_reject_reason, stale=self._stale_inputs(),
            )

    def queued(self) -> list[int]:
        """Number of queued messages per input, ``(num_inputs,)``."""
        with self._lock:
            return [len(q) for q in self._queues]

    # ----------------------------------------------------------------- helpers
    def _resolve_stamp(self, msg_or_stamp: Any) -> tuple[int | None, str]:
        header = getattr(msg_or_stamp, "header", None)
        if header is not None and hasattr(header, "stamp"):
            return stamp_to_ns(header.stamp), ""
        try:
            return stamp_to_ns(msg_or_stamp), ""
        except ValueError:
            pass
        if self.allow_headerless:
            return stamp_to_ns(float(self._now())), ""
        return None, (f"message of type {type(msg_or_stamp).__name__} has no header.stamp "
                      "(allow_headerless is False)")

    def _reject(self, index: int, reason: str) -> None:
        self._stats.rejected[index] += 1
        self._stats.last_reject_reason = reason
        if not self._warned_order[index]:
            self._warned_order[index] = True
            _LOG.warning("%s (rejected; warning once per input)", reason)
        else:
            _LOG.debug("%s (rejected)", reason)

    def _drop(self, index: int, reason: str) -> None:
        self._stats.dropped[index] += 1
        self._stats.drop_reasons[reason] += 1

    def _stale_inputs(self) -> list[int]:
        if self._stale_ns is None or self._newest_ns is None:
            return []
        out = []
        for i, last in enumerate(self._last_ns):
            ref = self._first_ns if last is None else last
            if self._newest_ns - ref > self._stale_ns:
                out.append(i)
        return out

    def _process(self) -> list[list[Any]]:
        """Emit every decided set; called with the lock held."""
        ready: list[list[Any]] = []
        while True:
            stale = set(self._stale_inputs())
            active = [i for i in range(self.num_inputs) if i not in stale]
            need = self.num_inputs if self.partial is None else self.partial.min_inputs
            if len(active) < need or any(not self._queues[i] for i in active):
                return ready
            heads = {i: self._queues[i][0][0] for i in active}
            pivot = max(active, key=lambda i: (heads[i], -i))
            oldest = min(active, key=lambda i: (heads[i], i))
            t_pivot = heads[pivot]
            if t_pivot - heads[oldest] > self._slop_ns:
                self._queues[oldest].popleft()
                self._drop(oldest, "beyond_slop")
                continue
            choice, span = self._best_set(active, pivot, t_pivot)
            decided = all(self._last_ns[i] + self._min_period_ns - t_pivot >= span
                          for i in active if i != pivot)
            if not decided:
                return ready
            items: list[Any] = [None] * self.num_inputs
            for i in active:
                queue = self._queues[i]
                for _ in range(choice[i]):
                    queue.popleft()
                    self._drop(i, "superseded")
                items[i] = queue.popleft()[1]
            if stale:
                self._stats.partial_sets += 1
            else:
                self._stats.sets += 1
            ready.append(items)

    def _best_set(self, active: Sequence[int], pivot: int, t_pivot: int
                  ) -> tuple[dict[int, int], int]:
        """The smallest-span set containing the pivot (queue head of ``pivot``).

        Every other input takes either its latest message at or before the pivot
        (``before``, always present since its head is not after the pivot) or its
        earliest one after it (``after``). For a threshold B on the "before" distances,
        inputs within B take ``before`` and the rest ``after``; span = B + max after
        distance. Trying every B gives the optimum in O(N log N) after the scans.

        Returns:
            (queue position per active input, span in ns).
        """
        before: dict[int, tuple[int, int]] = {}  # input -> (distance ns, queue position)
        after: dict[int, tuple[int, int]] = {}
        for i in active:
            if i == pivot:
                continue
            pos_before = 0
            for pos, (ns, _) in enumerate(self._queues[i]):
                if ns <= t_pivot:
                    pos_before = pos
                else:
                    after[i] = (ns - t_pivot, pos)
                    break
            before[i] = (t_pivot - self._queues[i][pos_before][0], pos_before)
        best_span: int | None = None
        best_threshold = 0
        for threshold in sorted({0, *(d for d, _ in before.values())}):
            late = [i for i in before if before[i][0] > threshold]
            if any(i not in after for i in late):
                continue
            span = threshold + max((after[i][0] for i in late), default=0)
            if best_span is None or span <= best_span:  # ties: the earlier set
                best_span, best_threshold = span, threshold
        assert best_span is not None  # the largest threshold takes "before" everywhere
        choice = {pivot: 0}
        for i, (d, pos) in before.items():
            choice[i] = pos if d <= best_threshold else after[i][1]
        return choice, best_span


# --------------------------------------------------------------------------- factory
def message_filters_available() -> bool:
    """Whether ``message_filters`` (ROS 2) can be imported."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True


class SyncHandle(NamedTuple):
    """What :func:`make_synchronizer` built.

    Attributes:
        backend: ``"message_filters"`` or ``"selfpose3d"``.
        synchronizer: the ``ApproximateTimeSynchronizer`` or :class:`ApproxTimeSync`.
        subscriptions: the subscriber objects (keep them alive), one per topic.
    """

    backend: str
    synchronizer: Any
    subscriptions: list


def make_synchronizer(
    node: Any,
    msg_types: Any,
    topics: Sequence[str],
    queue_size: int,
    slop: float,
    callback: Callable[..., Any],
    *,
    qos_profile: Any = None,
    allow_headerless: bool = False,
    partial: PartialPolicy | None = None,
    min_period: float = 0.0,
    prefer_message_filters: bool = True,
) -> SyncHandle:
    """Subscribe to ``topics`` and call ``callback(*msgs)`` with synchronised sets.

    Uses ``message_filters.ApproximateTimeSynchronizer`` when it is importable,
    ``prefer_message_filters`` is true and no partial-set policy is asked for (message_filters
    has none); otherwise subscribes with ``node.create_subscription`` and feeds an
    :class:`ApproxTimeSync`.

    Args:
        node: an ``rclpy.node.Node`` (anything with ``create_subscription``).
        msg_types: one message class for every topic, or a sequence with one per topic.
        topics: topic names, in input order (relative names are namespaced by the node).
        queue_size, slop, allow_headerless: as :class:`ApproxTimeSync`.
        callback: ``callback(*msgs)``; ``None`` for stale inputs of partial sets.
        qos_profile: subscription QoS; default ``rclpy.qos.qos_profile_sensor_data``.
        partial, min_period: as :class:`ApproxTimeSync` (the built-in backend only).
        prefer_message_filters: set False to always use the built-in backend.

    Returns:
        A :class:`SyncHandle`.
    """
    topics = list(topics)
    if not topics:
        raise ValueError("topics is empty")
    if isinstance(msg_types, (list, tuple)):
        types = list(msg_types)
        if len(types) != len(topics):
            raise ValueError(f"{len(types)} msg_types for {len(topics)} topics")
    else:
        types = [msg_types] * len(topics)
    if qos_profile is None:
        from rclpy.qos import qos_profile_sensor_data

        qos_profile = qos_profile_sensor_data

    if prefer_message_filters and partial is None and message_filters_available():
        import message_filters

        subs = [message_filters.Subscriber(node, t, name, qos_profile=qos_profile)
                for t, name in zip(types, topics)]
        sync = message_filters.ApproximateTimeSynchronizer(
            subs, queue_size, slop, allow_headerless=allow_headerless)
        sync.registerCallback(callback)
        _LOG.info("synchronising %d topics with message_filters (slop %.3f s)", len(topics),
                  slop)
        return SyncHandle("message_filters", sync, subs)

    sync = ApproxTimeSync(len(topics), queue_size, slop, callback,
                          allow_headerless=allow_headerless, min_period=min_period,
                          partial=partial)
    subs = []
    for i, (t, name) in enumerate(zip(types, topics)):
        subs.append(node.create_subscription(
            t, name, lambda msg, i=i: sync.add(i, msg), qos_profile))
    _LOG.info("synchronising %d topics with the built-in ApproxTimeSync (slop %.3f s%s)",
              len(topics), slop, "" if partial is None else
              f", partial sets from {partial.min_inputs} inputs after "
              f"{partial.stale_timeout:.2f} s")
    return SyncHandle("selfpose3d", sync, subs)
