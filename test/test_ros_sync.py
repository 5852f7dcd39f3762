"""selfpose3d_ros.sync: the approximate-time synchroniser, driven offline (no DDS)."""

from __future__ import annotations

import itertools
import random
import sys
import types

import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import String

from selfpose3d_ros.sync import (
    ApproxTimeSync,
    PartialPolicy,
    make_synchronizer,
    ns_to_time_msg,
    stamp_to_ns,
)

NS = 1_000_000_000


class Recorder:
    """Callback that keeps every emitted set."""

    def __init__(self):
        self.sets: list[tuple] = []

    def __call__(self, *items):
        self.sets.append(items)


def feed(sync, events):
    """events: iterable of (input, stamp_s); the item is (input, stamp_s)."""
    for i, t in events:
        sync.add(i, t, (i, t))


def frames(num_inputs, num_frames, period=0.1, t0=10.0, offset=None, skip=None):
    """Per frame, every input in order: (input, stamp)."""
    offset = offset or {}
    skip = skip or (lambda i, k: False)
    for k in range(num_frames):
        for i in range(num_inputs):
            if not skip(i, k):
                yield i, round(t0 + k * period + offset.get((i, k), 0.0), 9)


def stamps_of(s):
    return [None if it is None else it[1] for it in s]


class TestStamps:
    def test_conversions(self):
        assert stamp_to_ns(Time(sec=3, nanosec=5)) == 3 * NS + 5
        assert stamp_to_ns(1.5) == 1_500_000_000
        assert stamp_to_ns(7) == 7
        t = ns_to_time_msg(-1)
        assert (t.sec, t.nanosec) == (-1, NS - 1)
        assert stamp_to_ns(ns_to_time_msg(123_456_789_012)) == 123_456_789_012

    @pytest.mark.parametrize("bad", [float("nan"), True, "1.0", None])
    def test_bad_stamp(self, bad):
        with pytest.raises(ValueError):
            stamp_to_ns(bad)


class TestConstruction:
    @pytest.mark.parametrize("kwargs", [
        dict(num_inputs=0), dict(queue_size=0), dict(slop=-0.1), dict(callback=None),
        dict(min_period=-1.0), dict(partial=PartialPolicy(4, 0.5)),
    ])
    def test_rejects_bad_arguments(self, kwargs):
        args = dict(num_inputs=3, queue_size=5, slop=0.01, callback=Recorder()) | kwargs
        with pytest.raises(ValueError):
            ApproxTimeSync(**args)

    def test_bad_policy_and_index(self):
        with pytest.raises(ValueError, match="min_inputs"):
            PartialPolicy(0, 1.0)
        with pytest.raises(ValueError, match="stale_timeout"):
            PartialPolicy(2, 0.0)
        sync = ApproxTimeSync(2, 5, 0.01, Recorder())
        with pytest.raises(ValueError, match=r"index must be in \[0, 2\)"):
            sync.add(2, 1.0)


class TestExactAndJitter:
    def test_exact_sets_emitted_when_complete(self):
        rec = Recorder()
        sync = ApproxTimeSync(3, 5, 0.01, rec)
        for k, (i, t) in enumerate(frames(3, 10)):
            sync.add(i, t, (i, t))
            # a set with span 0 is decided the moment its last message arrives
            assert len(rec.sets) == (k + 1) // 3
        assert len(rec.sets) == 10
        for k, s in enumerate(rec.sets):
            assert [it[0] for it in s] == [0, 1, 2]
            assert len(set(stamps_of(s))) == 1
            assert stamps_of(s)[0] == pytest.approx(10.0 + 0.1 * k)
        st = sync.stats()
        assert (st.sets, st.dropped_total, st.rejected_total) == (10, 0, 0)
        assert sync.queued() == [0, 0, 0]

    def test_real_image_messages(self):
        rec = Recorder()
        sync = ApproxTimeSync(2, 3, 0.005, rec, min_period=0.02)
        msgs = []
        for i in range(2):
            m = Image()
            m.header.stamp = Time(sec=100, nanosec=1000 * i)
            m.header.frame_id = f"cam{i}"
            msgs.append(m)
            assert sync.add(i, m)
        assert len(rec.sets) == 1 and rec.sets[0][0] is msgs[0] and rec.sets[0][1] is msgs[1]

    def test_jitter_within_slop_waits_for_next_message(self):
        rng = random.Random(0)
        jitter = {(i, k): rng.uniform(-0.008, 0.008) for i in range(4) for k in range(30)}
        rec = Recorder()
        sync = ApproxTimeSync(4, 5, 0.02, rec)
        feed(sync, frames(4, 30, offset=jitter))
        # without a lower bound on the period, a set with a non-zero span is decided once
        # the inputs that could still improve it have sent their next message
        assert len(rec.sets) == 29
        for k, s in enumerate(rec.sets):
            ts = stamps_of(s)
            assert max(ts) - min(ts) <= 0.02 + 1e-9
            assert all(abs(t - (10.0 + 0.1 * k)) < 0.01 for t in ts)
        assert sync.stats().dropped_total == 0

    def test_jitter_with_min_period_is_immediate(self):
        rng = random.Random(1)
        jitter = {(i, k): rng.uniform(-0.008, 0.008) for i in range(4) for k in range(30)}
        rec = Recorder()
        sync = ApproxTimeSync(4, 5, 0.02, rec, min_period=0.08)
        events = list(frames(4, 30, offset=jitter))
        for n, (i, t) in enumerate(events):
            sync.add(i, t, (i, t))
            assert len(rec.sets) == (n + 1) // 4  # decided as soon as complete
        assert sync.stats().dropped_total == 0

    def test_picks_closest_set_and_drops_older(self):
        rec = Recorder()
        sync = ApproxTimeSync(2, 5, 0.05, rec)
        feed(sync, [(0, 1.000), (1, 1.030), (0, 1.025)])
        assert rec.sets == []  # input 0 could still send a message at 1.030
        feed(sync, [(0, 1.100)])
        assert [stamps_of(s) for s in rec.sets] == [[1.025, 1.030]]
        st = sync.stats()
        assert st.dropped == [1, 0] and st.drop_reasons["superseded"] == 1

    def test_random_streams_keep_invariants(self):
        rng = random.Random(7)
        n, slop = 3, 0.015
        events = []
        for i in range(n):
            t = 5.0 + rng.uniform(0, 0.05)
            for _ in range(60):
                t += rng.uniform(0.02, 0.12)
                events.append((t, i))
        events.sort()
        rec = Recorder()
        sync = ApproxTimeSync(n, 4, slop, rec)
        for t, i in events:
            sync.add(i, t, (i, t))
        assert rec.sets, "expected some sets"
        used = set()
        prev = [float("-inf")] * n
        for s in rec.sets:
            ts = stamps_of(s)
            assert max(ts) - min(ts) <= slop + 1e-9
            for i, t in enumerate(ts):
                assert t > prev[i]  # per input, sets move forward in time
                prev[i] = t
                assert (i, t) not in used
                used.add((i, t))
        st = sync.stats()
        assert sum(st.received) == len(events)
        assert st.sets * n + st.dropped_total + sum(sync.queued()) == len(events)


class TestFailures:
    def test_delayed_camera_beyond_slop(self):
        rec = Recorder()
        sync = ApproxTimeSync(3, 5, 0.02, rec)
        offset = {(2, k): 0.05 for k in range(20)}
        feed(sync, frames(3, 20, offset=offset))
        assert rec.sets == []
        st = sync.stats()
        assert st.sets == 0
        assert all(d >= 19 for d in st.dropped)
        assert st.drop_reasons["beyond_slop"] == st.dropped_total
        assert max(sync.queued()) <= 1

    def test_out_of_order_and_duplicate_rejected(self, caplog):
        rec = Recorder()
        sync = ApproxTimeSync(2, 5, 0.01, rec)
        assert sync.add(0, 2.0)
        assert not sync.add(0, 1.5)
        assert "out-of-order" in sync.stats().last_reject_reason
        assert "input 0" in sync.stats().last_reject_reason
        assert not sync.add(0, 2.0)
        assert "duplicate" in sync.stats().last_reject_reason
        assert sync.add(1, 2.0)
        assert len(rec.sets) == 1
        assert not sync.add(1, 1.0)  # older than an emitted set
        st = sync.stats()
        assert st.rejected == [2, 1] and st.received == [1, 1]
        assert any("out-of-order" in r.getMessage() for r in caplog.records)

    def test_headerless(self):
        rec = Recorder()
        sync = ApproxTimeSync(2, 5, 0.01, rec)
        assert not sync.add(0, String(data="x"))
        assert "no header.stamp" in sync.stats().last_reject_reason
        sync = ApproxTimeSync(2, 5, 0.01, rec, allow_headerless=True, now=lambda: 3.0)
        assert sync.add(0, String(data="a")) and sync.add(1, String(data="b"))
        assert [m.data for m in rec.sets[-1]] == ["a", "b"]

    def test_queue_overflow(self):
        rec = Recorder()
        sync = ApproxTimeSync(3, 4, 0.01, rec)
        feed(sync, [(0, 1.0 + 0.1 * k) for k in range(10)])
        assert sync.queued() == [4, 0, 0]
        st = sync.stats()
        assert st.dropped == [6, 0, 0] and st.drop_reasons["queue_overflow"] == 6
        # the newest messages are the ones kept: a set forms with them
        feed(sync, [(1, 1.9), (2, 1.9)])
        assert [stamps_of(s) for s in rec.sets] == [[1.9, 1.9, 1.9]]
        assert sync.stats().drop_reasons["beyond_slop"] == 3

    def test_reset(self):
        sync = ApproxTimeSync(2, 5, 0.01, Recorder())
        feed(sync, [(0, 5.0)])
        sync.reset()
        assert sync.add(0, 1.0)  # an earlier stamp is fine after a reset
        assert sync.stats().received == [1, 0]


class TestPartialSets:
    def run(self, order=(0, 1, 2)):
        """cam2 silent for frames 10..19 of 30 (10 Hz), stale after 0.35 s."""
        rec = Recorder()
        sync = ApproxTimeSync(3, 5, 0.02, rec, min_period=0.08,
                              partial=PartialPolicy(min_inputs=2, stale_timeout=0.35))
        for k in range(30):
            for i in order:
                if i == 2 and 10 <= k < 20:
                    continue
                t = round(10.0 + 0.1 * k, 9)
                sync.add(i, t, (i, t))
        return rec, sync

    def test_partial_after_timeout_and_recovery(self):
        rec, sync = self.run()
        full = [s for s in rec.sets if None not in s]
        partial = [s for s in rec.sets if None in s]
        # frames 10..12 wait (cam2 not yet stale), are emitted as partial sets once it is
        # (frame 13), and so on until cam2 is back. Frame 20: cams 0 and 1 arrive before
        # cam2 returns, so it is still partial; from frame 21 the sets are complete again.
        assert [stamps_of(s)[0] for s in partial] == pytest.approx(
            [10.0 + 0.1 * k for k in range(10, 21)])
        assert all(s[2] is None and s[0] is not None and s[1] is not None for s in partial)
        assert [stamps_of(s)[0] for s in full] == pytest.approx(
            [10.0 + 0.1 * k for k in list(range(10)) + list(range(21, 30))])
        st = sync.stats()
        assert (st.sets, st.partial_sets) == (19, 11)
        assert st.stale == []
        assert st.dropped == [0, 0, 1]  # cam2's frame-20 message came after its set

    def test_recovery_when_camera_publishes_first(self):
        rec, sync = self.run(order=(2, 0, 1))
        full = [s for s in rec.sets if None not in s]
        assert len(full) == 20
        assert stamps_of(full[10]) == pytest.approx([12.0] * 3)

    def test_waits_while_within_timeout(self):
        rec = Recorder()
        sync = ApproxTimeSync(3, 10, 0.02, rec, partial=PartialPolicy(2, 0.35))
        feed(sync, frames(3, 4, skip=lambda i, k: i == 2))
        assert rec.sets == [] and sync.stats().stale == []
        feed(sync, frames(3, 1, t0=10.5, skip=lambda i, k: i == 2))
        assert sync.stats().stale == [2]
        assert len(rec.sets) >= 4 and all(s[2] is None for s in rec.sets)

    def test_not_enough_live_inputs(self):
        rec = Recorder()
        sync = ApproxTimeSync(3, 5, 0.02, rec, partial=PartialPolicy(3, 0.2))
        feed(sync, frames(3, 10, skip=lambda i, k: i == 2 and k > 0))
        assert len(rec.sets) == 1  # only frame 0 is complete
        assert sync.stats().stale == [2]


class FakeNode:
    def __init__(self):
        self.subs = []

    def create_subscription(self, msg_type, topic, callback, qos):
        self.subs.append((msg_type, topic, callback, qos))
        return len(self.subs) - 1


class TestFactory:
    def test_builtin_backend(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "message_filters", None)  # not importable
        node, rec = FakeNode(), Recorder()
        handle = make_synchronizer(node, Image, ["cam0/image", "cam1/image"], 5, 0.01, rec,
                                   partial=None)
        assert handle.backend == "selfpose3d" and len(node.subs) == 2
        assert [s[1] for s in node.subs] == ["cam0/image", "cam1/image"]
        for _, _, cb, _ in node.subs:
            m = Image()
            m.header.stamp = Time(sec=1, nanosec=0)
            cb(m)
        assert len(rec.sets) == 1 and isinstance(rec.sets[0][1], Image)

    def test_message_filters_backend_when_importable(self, monkeypatch):
        made = {}

        class Sub:
            def __init__(self, node, msg_type, topic, qos_profile=None):
                self.topic = topic

        class ATS:
            def __init__(self, subs, queue_size, slop, allow_headerless=False):
                made.update(subs=subs, queue_size=queue_size, slop=slop)

            def registerCallback(self, cb):  # noqa: N802 (message_filters' name)
                made["cb"] = cb

        fake = types.SimpleNamespace(Subscriber=Sub, ApproximateTimeSynchronizer=ATS)
        monkeypatch.setitem(sys.modules, "message_filters", fake)
        rec = Recorder()
        handle = make_synchronizer(FakeNode(), Image, ["a", "b"], 7, 0.03, rec)
        assert handle.backend == "message_filters"
        assert made["queue_size"] == 7 and made["cb"] is rec
        assert [s.topic for s in made["subs"]] == ["a", "b"]
        # a partial-set policy needs the built-in backend
        handle = make_synchronizer(FakeNode(), Image, ["a", "b"], 7, 0.03, rec,
                                   partial=PartialPolicy(1, 0.5))
        assert handle.backend == "selfpose3d"

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="topics is empty"):
            make_synchronizer(FakeNode(), Image, [], 5, 0.01, Recorder())
        with pytest.raises(ValueError, match="1 msg_types for 2 topics"):
            make_synchronizer(FakeNode(), [Image], ["a", "b"], 5, 0.01, Recorder())


def test_small_queues_brute_force_optimal():
    """The emitted set has the smallest span among sets that contain the pivot."""
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(2, 4)
        stamps = [sorted(rng.sample(range(0, 60), rng.randint(1, 4))) for _ in range(n)]
        rec = Recorder()
        sync = ApproxTimeSync(n, 10, 1.0, rec)  # slop 1 s: never binding here (ms stamps)
        for i, ts in enumerate(stamps):
            for t in ts:
                sync.add(i, t * 1_000_000, t)
        # flush: a far-future message on every input decides the pending set
        for i in range(n):
            sync.add(i, 10**9 * 10, None)
        if not rec.sets:
            continue
        first = list(rec.sets[0])
        heads = [ts[0] for ts in stamps]
        pivot_input = max(range(n), key=lambda i: (heads[i], -i))
        pivot = heads[pivot_input]
        choices = [ts if i != pivot_input else [pivot] for i, ts in enumerate(stamps)]
        best = min(max(c) - min(c) for c in itertools.product(*choices))
        assert first[pivot_input] == pivot
        assert max(first) - min(first) == best
