"""Health of the pose-estimation pipeline → ``diagnostic_msgs/DiagnosticArray``.

:class:`PipelineMonitor` is fed by the node (no ROS calls inside, every method takes an
explicit ``now`` in seconds of a monotonic clock so it is testable offline):

- :meth:`PipelineMonitor.camera_message` per camera message (staleness, per-camera rate),
- :meth:`PipelineMonitor.input_set` per synchronised set handed to the estimator,
- :meth:`PipelineMonitor.output` per published result with its latency
  (publish time − image stamp),
- :meth:`PipelineMonitor.dropped` per set not processed (estimator busy, sync drops),
- :meth:`PipelineMonitor.set_degraded` for a reason known to the node (e.g. partial sets).

Rates are counts over a sliding window of ``window_s`` seconds (shorter right after the
start); latency median/p95 over the same window. :meth:`PipelineMonitor.snapshot` returns
the figures and a level; :meth:`PipelineMonitor.diagnostic_array` the message: one status
for the pipeline and one per camera.

Levels (:class:`MonitorConfig` holds the thresholds):

- ERROR: fewer than ``min_views`` cameras live (a camera is live while its staleness is
  below ``stale_warn_s``); latency p95 above ``latency_error_s``; sets coming in but no
  output for a whole window.
- WARN (the pipeline is *degraded*): a camera stale; latency p95 above ``latency_warn_s``;
  output rate below ``min_rate_fraction`` × ``expected_rate_hz``; more than
  ``drop_warn_fraction`` of the window's sets dropped; a reason from the node.
- OK otherwise.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

__all__ = ["MonitorConfig", "MonitorSnapshot", "PipelineMonitor", "OK", "WARN", "ERROR"]

OK, WARN, ERROR = 0, 1, 2
_LEVEL_BYTES = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN,
                ERROR: DiagnosticStatus.ERROR}
_LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


@dataclass(frozen=True)
class MonitorConfig:
    """Thresholds of :class:`PipelineMonitor` (seconds, Hz, fractions).

    Attributes:
        window_s: sliding window for rates, latencies and drop fraction (s).
        expected_rate_hz: the camera frame rate; ``None`` disables the rate check.
        min_rate_fraction: WARN when output rate < this × ``expected_rate_hz``.
        latency_warn_s: WARN when the latency p95 exceeds it.
        latency_error_s: ERROR when the latency p95 exceeds it.
        stale_warn_s: a camera silent longer than this is stale (WARN).
        stale_error_s: a camera silent longer than this is reported ERROR in its own status.
        min_views: ERROR when fewer cameras are live.
        drop_warn_fraction: WARN when dropped / (processed + dropped) sets in the window
            exceeds it.
    """

    window_s: float = 5.0
    expected_rate_hz: float | None = None
    min_rate_fraction: float = 0.5
    latency_warn_s: float = 0.25
    latency_error_s: float = 1.0
    stale_warn_s: float = 0.5
    stale_error_s: float = 2.0
    min_views: int = 2
    drop_warn_fraction: float = 0.2

    def __post_init__(self):
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")
        if self.expected_rate_hz is not None and not self.expected_rate_hz > 0:
            raise ValueError(f"expected_rate_hz must be > 0 or None, got "
                             f"{self.expected_rate_hz}")
        if not 0 < self.latency_warn_s <= self.latency_error_s:
            raise ValueError("need 0 < latency_warn_s <= latency_error_s, got "
                             f"{self.latency_warn_s}, {self.latency_error_s}")
        if not 0 < self.stale_warn_s <= self.stale_error_s:
            raise ValueError("need 0 < stale_warn_s <= stale_error_s, got "
                             f"{self.stale_warn_s}, {self.stale_error_s}")
        if int(self.min_views) != self.min_views or self.min_views < 1:
            raise ValueError(f"min_views must be an integer >= 1, got {self.min_views}")
        for name in ("min_rate_fraction", "drop_warn_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class MonitorSnapshot:
    """Figures at one instant (rates in 1/s, times in s; NaN = no sample).

    Attributes:
        input_rate: synchronised sets per second.
        output_rate: results per second.
        latency_median, latency_p95: over the window.
        dropped_total: sets dropped since the start.
        dropped_window: sets dropped in the window.
        camera_staleness: seconds since each camera's last message, ``(C,)``; a camera
            never heard from counts from the monitor's start.
        camera_rates: messages per second per camera, ``(C,)``.
        live_cameras: how many cameras are not stale.
        level: ``OK``, ``WARN`` or ``ERROR`` (0, 1, 2).
        degraded: the level is not OK.
        reasons: why, readable (empty when OK).
    """

    input_rate: float
    output_rate: float
    latency_median: float
    latency_p95: float
    dropped_total: int
    dropped_window: int
    camera_staleness: list[float]
    camera_rates: list[float]
    live_cameras: int
    level: int
    degraded: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return "OK" if not self.reasons else "; ".join(self.reasons)


class PipelineMonitor:
    """Tracks rates, latency, drops and camera staleness of the pose estimator.

    Args:
        camera_names: names of the C cameras (in input order).
        config: thresholds.
        name: ``DiagnosticStatus.name`` of the pipeline status (cameras get
            ``"<name>: camera <cam>"``).
        hardware_id: ``DiagnosticStatus.hardware_id``.
        now: start time (s, monotonic); default ``time.monotonic()``.
    """

    def __init__(self, camera_names: Sequence[str], config: MonitorConfig | None = None, *,
                 name: str = "selfpose3d: pose_estimator", hardware_id: str = "selfpose3d",
                 now: float | None = None):
        names = [str(c) for c in camera_names]
        if not names:
            raise ValueError("camera_names is empty")
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        self.camera_names = names
        self.config = config or MonitorConfig()
        self.name = name
        self.hardware_id = hardware_id
        self._t0 = self._now(now)
        self._index = {c: i for i, c in enumerate(names)}
        self._inputs: deque[float] = deque()
        self._outputs: deque[tuple[float, float]] = deque()  # (time, latency)
        self._drops: deque[tuple[float, int]] = deque()
        self._cams: list[deque[float]] = [deque() for _ in names]
        self._cam_last: list[float | None] = [None] * len(names)
        self._dropped_total = 0
        self._last_output: float | None = None
        self._external: str | None = None

    # ----------------------------------------------------------------- feeding
    @staticmethod
    def _now(now: float | None) -> float:
        return time.monotonic() if now is None else float(now)

    def _camera_index(self, camera: int | str) -> int:
        if isinstance(camera, str):
            if camera not in self._index:
                raise ValueError(f"unknown camera {camera!r}; known: {self.camera_names}")
            return self._index[camera]
        if not 0 <= int(camera) < len(self.camera_names):
            raise ValueError(f"camera index {camera} outside [0, {len(self.camera_names)})")
        return int(camera)

    def camera_message(self, camera: int | str, now: float | None = None) -> None:
        """A message of ``camera`` (index or name) arrived."""
        t = self._now(now)
        i = self._camera_index(camera)
        self._cam_last[i] = t
        self._cams[i].append(t)
        self._trim(t)

    def input_set(self, now: float | None = None) -> None:
        """A synchronised set was handed to the estimator."""
        t = self._now(now)
        self._inputs.append(t)
        self._trim(t)

    def output(self, latency_s: float, now: float | None = None) -> None:
        """A result was published, ``latency_s`` after its image stamp."""
        t = self._now(now)
        if not np.isfinite(latency_s):
            raise ValueError(f"latency_s must be finite, got {latency_s}")
        self._outputs.append((t, float(latency_s)))
        self._last_output = t
        self._trim(t)

    def dropped(self, n: int = 1, now: float | None = None) -> None:
        """``n`` sets were not processed."""
        if int(n) != n or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n}")
        t = self._now(now)
        self._dropped_total += int(n)
        self._drops.append((t, int(n)))
        self._trim(t)

    def set_degraded(self, reason: str | None) -> None:
        """A degradation the node knows about (e.g. ``"partial sets: cam2 missing"``);
        ``None`` clears it."""
        self._external = reason or None

    def _trim(self, t: float) -> None:
        start = t - self.config.window_s
        for q in (self._inputs, *self._cams):
            while q and q[0] < start:
                q.popleft()
        for q in (self._outputs, self._drops):
            while q and q[0][0] < start:
                q.popleft()

    # ----------------------------------------------------------------- reading
    def snapshot(self, now: float | None = None) -> MonitorSnapshot:
        """Figures and level at ``now``."""
        t = self._now(now)
        self._trim(t)
        cfg = self.config
        span = min(cfg.window_s, t - self._t0)

        def rate(count: int) -> float:
            return count / span if span > 0 else 0.0

        lat = np.array([x for _, x in self._outputs])
        med = float(np.median(lat)) if lat.size else float("nan")
        p95 = float(np.percentile(lat, 95)) if lat.size else float("nan")
        stale = [t - (self._t0 if last is None else last) for last in self._cam_last]
        cam_rates = [rate(len(q)) for q in self._cams]
        live = sum(s <= cfg.stale_warn_s for s in stale)
        dropped_window = sum(n for _, n in self._drops)
        in_rate, out_rate = rate(len(self._inputs)), rate(len(self._outputs))

        errors, warnings = [], []
        if live < cfg.min_views:
            errors.append(f"{live}/{len(stale)} cameras live, need {cfg.min_views}")
        if lat.size and p95 > cfg.latency_error_s:
            errors.append(f"latency p95 {p95 * 1e3:.0f} ms > {cfg.latency_error_s * 1e3:.0f} ms")
        elif lat.size and p95 > cfg.latency_warn_s:
            warnings.append(f"latency p95 {p95 * 1e3:.0f} ms > {cfg.latency_warn_s * 1e3:.0f} ms")
        full_window = t - self._t0 >= cfg.window_s
        last_out_age = t - (self._t0 if self._last_output is None else self._last_output)
        if self._inputs and full_window and last_out_age >= cfg.window_s:
            errors.append(f"sets arriving but no output for {last_out_age:.1f} s")
        stale_names = [f"{c} ({s:.1f} s)" for c, s in zip(self.camera_names, stale)
                       if s > cfg.stale_warn_s]
        if stale_names:
            warnings.append("stale cameras: " + ", ".join(stale_names))
        if (cfg.expected_rate_hz is not None and full_window
                and out_rate < cfg.min_rate_fraction * cfg.expected_rate_hz):
            warnings.append(f"output {out_rate:.1f} Hz < {cfg.min_rate_fraction:.0%} of "
                            f"{cfg.expected_rate_hz:.1f} Hz")
        handled = len(self._inputs) + dropped_window
        if handled and dropped_window / handled > cfg.drop_warn_fraction:
            warnings.append(f"{dropped_window} of {handled} sets dropped in the last "
                            f"{cfg.window_s:.0f} s")
        if self._external:
            warnings.append(self._external)
        level = ERROR if errors else WARN if warnings else OK
        return MonitorSnapshot(
            input_rate=in_rate, output_rate=out_rate, latency_median=med, latency_p95=p95,
            dropped_total=self._dropped_total, dropped_window=dropped_window,
            camera_staleness=stale, camera_rates=cam_rates, live_cameras=live, level=level,
            degraded=level != OK, reasons=errors + warnings,
        )

    def diagnostic_array(self, stamp: Any = None, now: float | None = None) -> DiagnosticArray:
        """The ``DiagnosticArray`` at ``now``: the pipeline status, then one per camera.

        Args:
            stamp: ``builtin_interfaces/Time`` for the header (e.g. ``node.get_clock()
                .now().to_msg()``); ``None`` leaves it zero.
            now: monotonic seconds for the figures.
        """
        snap = self.snapshot(now)
        cfg = self.config

        def ms(x: float) -> str:
            return "nan" if np.isnan(x) else f"{x * 1e3:.1f}"

        def kv(pairs) -> list[KeyValue]:
            return [KeyValue(key=k, value=str(v)) for k, v in pairs]

        out = DiagnosticArray()
        if stamp is not None:
            out.header.stamp = stamp
        main = DiagnosticStatus(level=_LEVEL_BYTES[snap.level], name=self.name,
                                message=snap.message, hardware_id=self.hardware_id)
        main.values = kv([
            ("input rate (sets/s)", f"{snap.input_rate:.2f}"),
            ("output rate (results/s)", f"{snap.output_rate:.2f}"),
            ("latency median (ms)", ms(snap.latency_median)),
            ("latency p95 (ms)", ms(snap.latency_p95)),
            ("dropped sets (total)", snap.dropped_total),
            (f"dropped sets (last {cfg.window_s:g} s)", snap.dropped_window),
            ("cameras live", f"{snap.live_cameras}/{len(self.camera_names)}"),
            ("degraded", str(snap.degraded).lower()),
            ("degraded reason", snap.message if snap.degraded else ""),
            ("level", _LEVEL_NAMES[snap.level]),
        ])
        out.status.append(main)
        for cam, stale, rate in zip(self.camera_names, snap.camera_staleness,
                                    snap.camera_rates):
            if stale > cfg.stale_error_s:
                level, msg = ERROR, f"no message for {stale:.1f} s"
            elif stale > cfg.stale_warn_s:
                level, msg = WARN, f"stale for {stale:.1f} s"
            else:
                level, msg = OK, "OK"
            st = DiagnosticStatus(level=_LEVEL_BYTES[level], name=f"{self.name}: camera {cam}",
                                  message=msg, hardware_id=self.hardware_id)
            st.values = kv([("staleness (s)", f"{stale:.3f}"), ("rate (msgs/s)", f"{rate:.2f}")])
            out.status.append(st)
        return out
