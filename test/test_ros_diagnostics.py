"""selfpose3d_ros.diagnostics: PipelineMonitor figures, levels and DiagnosticArray."""

from __future__ import annotations

import math

import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from selfpose3d_ros.diagnostics import ERROR, OK, WARN, MonitorConfig, PipelineMonitor

CAMS = ["cam0", "cam1", "cam2"]


def run(mon: PipelineMonitor, t0: float, t1: float, hz: float = 10.0, latency=0.05,
        cameras=(0, 1, 2), process=True, drop_every: int = 0):
    """Simulate the node from t0 to t1: camera messages, sets, outputs."""
    n = int(round((t1 - t0) * hz))
    for k in range(n):
        t = t0 + k / hz
        for c in cameras:
            mon.camera_message(c, now=t)
        if drop_every and k % drop_every == 0:
            mon.dropped(1, now=t)
            continue
        if process:
            mon.input_set(now=t)
            lat = latency(k) if callable(latency) else latency
            mon.output(lat, now=t + 0.001)
    return t0 + n / hz


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


class TestHealthy:
    def test_ok_rates_latency(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(window_s=5.0, expected_rate_hz=10.0), now=0.0)
        end = run(mon, 0.0, 8.0, latency=lambda k: 0.04 + 0.01 * (k % 3))
        snap = mon.snapshot(now=end)
        assert snap.level == OK and not snap.degraded and snap.message == "OK"
        assert snap.input_rate == pytest.approx(10.0, abs=0.3)
        assert snap.output_rate == pytest.approx(10.0, abs=0.3)
        assert snap.latency_median == pytest.approx(0.05)
        assert snap.latency_p95 == pytest.approx(0.06)
        assert snap.live_cameras == 3 and snap.dropped_total == 0
        assert all(r == pytest.approx(10.0, abs=0.3) for r in snap.camera_rates)

    def test_rate_right_after_start(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(window_s=5.0), now=100.0)
        end = run(mon, 100.0, 101.0)
        assert mon.snapshot(now=end).input_rate == pytest.approx(10.0, abs=0.5)

    def test_diagnostic_array(self):
        mon = PipelineMonitor(CAMS, now=0.0, name="pose", hardware_id="rig1")
        end = run(mon, 0.0, 6.0)
        arr = mon.diagnostic_array(stamp=Time(sec=5, nanosec=7), now=end)
        assert isinstance(arr, DiagnosticArray)
        assert (arr.header.stamp.sec, arr.header.stamp.nanosec) == (5, 7)
        assert [s.name for s in arr.status] == ["pose"] + [f"pose: camera {c}" for c in CAMS]
        assert all(s.level == DiagnosticStatus.OK and s.hardware_id == "rig1"
                   for s in arr.status)
        v = values(arr.status[0])
        assert float(v["input rate (sets/s)"]) == pytest.approx(10.0, abs=0.3)
        assert float(v["latency median (ms)"]) == pytest.approx(50.0)
        assert v["dropped sets (total)"] == "0" and v["cameras live"] == "3/3"
        assert v["degraded"] == "false" and v["degraded reason"] == ""
        assert float(values(arr.status[1])["staleness (s)"]) < 0.2

    def test_no_samples_yet(self):
        mon = PipelineMonitor(CAMS, now=0.0)
        snap = mon.snapshot(now=0.1)
        assert math.isnan(snap.latency_median) and snap.input_rate == 0.0
        assert values(mon.diagnostic_array(now=0.1).status[0])["latency p95 (ms)"] == "nan"


class TestDegraded:
    def test_stale_camera_warn_then_camera_error(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(stale_warn_s=0.5, stale_error_s=2.0),
                              now=0.0)
        end = run(mon, 0.0, 3.0)
        end = run(mon, end, end + 1.0, cameras=(0, 1))
        snap = mon.snapshot(now=end)
        assert snap.level == WARN and snap.degraded
        assert "stale cameras: cam2" in snap.message
        assert snap.camera_staleness[2] == pytest.approx(1.1, abs=0.01)
        arr = mon.diagnostic_array(now=end)
        assert arr.status[0].level == DiagnosticStatus.WARN
        assert arr.status[3].level == DiagnosticStatus.WARN
        assert arr.status[1].level == DiagnosticStatus.OK
        assert values(arr.status[0])["degraded"] == "true"
        assert "cam2" in values(arr.status[0])["degraded reason"]
        end = run(mon, end, end + 2.0, cameras=(0, 1))
        assert mon.diagnostic_array(now=end).status[3].level == DiagnosticStatus.ERROR
        # the camera comes back
        end = run(mon, end, end + 1.0)
        assert mon.snapshot(now=end).level == OK

    def test_too_few_live_cameras_is_error(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(min_views=2), now=0.0)
        end = run(mon, 0.0, 3.0, cameras=(0,))
        snap = mon.snapshot(now=end)
        assert snap.level == ERROR and "1/3 cameras live, need 2" in snap.message

    def test_never_heard_camera_counts_from_start(self):
        mon = PipelineMonitor(CAMS, now=10.0)
        end = run(mon, 10.0, 11.0, cameras=("cam0", "cam1"))
        assert mon.snapshot(now=end).camera_staleness[2] == pytest.approx(1.0)

    @pytest.mark.parametrize("latency,level,text", [
        (0.4, WARN, "latency p95 400 ms > 250 ms"),
        (1.5, ERROR, "latency p95 1500 ms > 1000 ms"),
    ])
    def test_latency(self, latency, level, text):
        mon = PipelineMonitor(CAMS, now=0.0)
        end = run(mon, 0.0, 6.0, latency=latency)
        snap = mon.snapshot(now=end)
        assert snap.level == level and text in snap.message

    def test_old_latency_spike_forgotten(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(window_s=2.0), now=0.0)
        end = run(mon, 0.0, 1.0, latency=2.0)
        assert mon.snapshot(now=end).level == ERROR
        end = run(mon, end, end + 3.0)
        assert mon.snapshot(now=end).level == OK

    def test_drops(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(window_s=5.0), now=0.0)
        end = run(mon, 0.0, 6.0, drop_every=2)  # half the sets dropped
        snap = mon.snapshot(now=end)
        assert snap.dropped_total == 30 and snap.dropped_window == pytest.approx(25, abs=1)
        assert snap.level == WARN and "sets dropped" in snap.message
        mon.dropped(3, now=end)
        assert mon.snapshot(now=end).dropped_total == 33

    def test_low_output_rate(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(expected_rate_hz=30.0), now=0.0)
        end = run(mon, 0.0, 6.0, hz=10.0)
        snap = mon.snapshot(now=end)
        assert snap.level == WARN and "< 50% of 30.0 Hz" in snap.message

    def test_stuck_pipeline_is_error(self):
        mon = PipelineMonitor(CAMS, MonitorConfig(window_s=2.0), now=0.0)
        end = run(mon, 0.0, 1.0)
        end = run(mon, end, end + 3.0, process=False)
        for k in range(20):
            mon.input_set(now=end - 2.0 + 0.1 * k)
        snap = mon.snapshot(now=end)
        assert snap.level == ERROR and "no output for" in snap.message

    def test_external_reason(self):
        mon = PipelineMonitor(CAMS, now=0.0)
        end = run(mon, 0.0, 6.0)
        mon.set_degraded("partial sets: cam2 missing")
        snap = mon.snapshot(now=end)
        assert snap.level == WARN and snap.reasons == ["partial sets: cam2 missing"]
        mon.set_degraded(None)
        assert mon.snapshot(now=end).level == OK


class TestErrors:
    @pytest.mark.parametrize("kw", [
        dict(window_s=0.0), dict(expected_rate_hz=0.0), dict(latency_warn_s=2.0),
        dict(stale_warn_s=3.0), dict(min_views=0), dict(drop_warn_fraction=1.5),
    ])
    def test_config(self, kw):
        with pytest.raises(ValueError):
            MonitorConfig(**kw)

    def test_inputs(self):
        with pytest.raises(ValueError, match="empty"):
            PipelineMonitor([])
        with pytest.raises(ValueError, match="unique"):
            PipelineMonitor(["a", "a"])
        mon = PipelineMonitor(CAMS, now=0.0)
        with pytest.raises(ValueError, match="unknown camera 'cam9'"):
            mon.camera_message("cam9", now=1.0)
        with pytest.raises(ValueError, match="outside"):
            mon.camera_message(3, now=1.0)
        with pytest.raises(ValueError, match="non-negative"):
            mon.dropped(-1, now=1.0)
        with pytest.raises(ValueError, match="finite"):
            mon.output(float("nan"), now=1.0)
