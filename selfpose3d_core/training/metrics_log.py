"""Training curves: an append-only JSON-lines log, its reader, and a PNG plot drawn with cv2.

:class:`MetricsLogger` appends one JSON object per line to ``<dir>/metrics.jsonl``::

    {"step": 1200, "epoch": 3, "stage": "root", "time": 1718000000.123, "loss/root": 0.41,
     "lr": 0.001}

``step`` is required; ``epoch`` and ``stage`` are null when not given; ``time`` is Unix
time in seconds; every other field is a float metric, and NaN/±inf are stored as null
(strict JSON). Each record is flushed as it is written. Reopening the file appends; a
line cut short by a crash is dropped when the file is reopened.

Resuming from a checkpoint at step ``S``: records with ``step > S`` were written after that
checkpoint by the run that crashed, and the resumed run will write those steps again. Pass
``resume_step=S`` (or call :meth:`MetricsLogger.truncate_after`) to drop them so the curves
stay consistent.

:func:`plot_curves` draws one panel per metric group: keys sharing a ``prefix/`` go in one
panel with a legend (``loss/root`` and ``loss/pose`` in panel ``loss``). Each panel shows
the raw values (faint) and a debiased exponential moving average (solid; not for ``lr``),
nice ticks with labels, a log-scale y axis when the values span two decades or more, and
stage changes as dashed vertical lines with the new stage's name.

Under DDP, only the main rank logs (reduce the values first with
``distributed.all_reduce_mean``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import cv2
import numpy as np

__all__ = ["RESERVED_FIELDS", "MetricsLogger", "read_metrics", "metric_keys", "plot_curves",
           "render_curves", "ema_smooth", "CURVES_HEADER_PX"]

log = logging.getLogger(__name__)

#: Fields every record has; metric names may not use them.
RESERVED_FIELDS = ("step", "epoch", "stage", "time")
#: Height of the title band on top of :func:`render_curves`' image, in pixels.
CURVES_HEADER_PX = 56


def _to_float(key: str, value: Any) -> float | None:
    """A metric value as a finite float, or None for None/NaN/±inf."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or isinstance(value, bool):
        raise ValueError(f"metric {key!r} must be a number, got {type(value).__name__} "
                         f"{value!r}")
    try:
        x = float(value)  # python/numpy numbers and one-element tensors
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metric {key!r} must be a number, got {type(value).__name__} "
                         f"{value!r}") from exc
    return x if math.isfinite(x) else None


def _parse_lines(text: str, where: str) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: skipping a malformed line", where, i)
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            log.warning("%s:%d: skipping a record without an integer step", where, i)
            continue
        rows.append(row)
    return rows


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file, in file order (malformed lines skipped).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    return _parse_lines(path.read_text(encoding="utf-8"), str(path))


def metric_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Metric names (not :data:`RESERVED_FIELDS`) in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            if k not in RESERVED_FIELDS:
                seen.setdefault(k)
    return list(seen)


class MetricsLogger:
    """Appends metric records to ``<directory>/<filename>``.

    Args:
        directory: created if needed.
        filename: the JSON-lines file name.
        resume_step: when resuming from a checkpoint saved at this step, drop records with a
            larger step first (see :meth:`truncate_after`).
        enabled: False makes :meth:`log` a no-op and touches no file (non-main DDP ranks).
        clock: wall-clock time source for the ``time`` field.

    Example:
        >>> with MetricsLogger(run_dir, resume_step=ckpt["step"]) as mlog:  # doctest: +SKIP
        ...     mlog.log(step, {"loss": loss, "lr": lr}, epoch=epoch, stage="pose")
    """

    def __init__(self, directory: str | Path, filename: str = "metrics.jsonl",
                 resume_step: int | None = None, enabled: bool = True,
                 clock: Any = time.time) -> None:
        self.directory = Path(directory)
        self.path = self.directory / filename
        self.enabled = enabled
        self._clock = clock
        self._file = None
        if not enabled:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._drop_partial_last_line()
        if resume_step is not None:
            self.truncate_after(resume_step)
        self._open()

    def _open(self) -> None:
        self._file = open(self.path, "a", encoding="utf-8")

    def _drop_partial_last_line(self) -> None:
        """Cut a last line a crash left without its newline (it is incomplete JSON)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            cut = data.rfind(b"\n") + 1
            log.warning("%s: dropping an incomplete last line (%d bytes)", self.path,
                        len(data) - cut)
            f.truncate(cut)

    def log(self, step: int, metrics: Mapping[str, Any], epoch: int | None = None,
            stage: str | None = None) -> dict[str, Any] | None:
        """Append one record and flush it.

        Args:
            step: global optimizer step (x axis of the curves).
            metrics: name → number (float, int, NumPy scalar, one-element tensor, None).
            epoch: current epoch, or None.
            stage: training stage name, or None.
        Returns:
            The record written (None when disabled).
        Raises:
            ValueError: for a non-integer step, a reserved or non-string metric name, or a
                non-numeric value.
        """
        if not self.enabled:
            return None
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"MetricsLogger.log: step must be an integer, got {step!r}")
        bad = [k for k in metrics if not isinstance(k, str) or k in RESERVED_FIELDS]
        if bad:
            raise ValueError(f"MetricsLogger.log: metric names must be strings other than "
                             f"{list(RESERVED_FIELDS)}; got {bad}")
        record: dict[str, Any] = {
            "step": int(step),
            "epoch": None if epoch is None else int(epoch),
            "stage": None if stage is None else str(stage),
            "time": round(float(self._clock()), 3),
        }
        record.update((k, _to_float(k, v)) for k, v in metrics.items())
        if self._file is None:
            self._open()
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        return record

    def truncate_after(self, step: int) -> int:
        """Remove records with ``step`` greater than the given one (atomic rewrite).

        Returns:
            The number of records removed.
        """
        if not self.enabled or not self.path.is_file():
            return 0
        if self._file is not None:
            self._file.close()
            self._file = None
        rows = read_metrics(self.path)
        kept = [r for r in rows if r["step"] <= step]
        removed = len(rows) - len(kept)
        if removed or len(rows) != self._count_lines():
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                for r in kept:
                    f.write(json.dumps(r, allow_nan=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            log.info("%s: removed %d records after step %d", self.path, removed, step)
        self._open()
        return removed

    def _count_lines(self) -> int:
        with open(self.path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())

    def close(self) -> None:
        """Close the file (a later :meth:`log` reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# Plotting (cv2 only)
# ---------------------------------------------------------------------------------------

# Tableau-10 colours, BGR.
_PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
            (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (40, 40, 40)
_GRID = (228, 228, 228)
_SPARSE = 40  # series with at most this many points are drawn with markers, unsmoothed


class _Series(NamedTuple):
    name: str
    steps: np.ndarray  # (N,) int
    values: np.ndarray  # (N,) float


def ema_smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing); (N,) → (N,)."""
    out = np.empty(len(values), dtype=np.float64)
    acc = 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1.0 - weight) * v
        out[i] = acc / (1.0 - weight ** (i + 1)) if weight > 0 else v
    return out


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw * 0.999:
            return m * mag
    return 10.0 * mag


def _linear_ticks(lo: float, hi: float, target: int = 5,
                  margin: float = 0.0) -> tuple[float, float, list[float]]:
    """Axis range ([lo, hi] widened by ``margin`` of its span) and nice ticks inside it."""
    if not hi > lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    lo, hi = lo - margin * span, hi + margin * span
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9)
    n = int(math.floor(hi / step + 1e-9)) - first
    return lo, hi, [(first + i) * step for i in range(n + 1)]


def _log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """Range (in log10) and tick positions (log10 values) for positive data."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if b == a:
        b += 1
    ticks = [float(e) for e in range(a, b + 1)]
    if b - a <= 2:
        ticks += [e + math.log10(m) for e in range(a, b) for m in (2, 5)]
    return float(a), float(b), sorted(ticks)


def _tick_label(v: float, log_scale: bool = False) -> str:
    if log_scale:
        x = 10.0 ** v
        if 1e-2 <= x < 1e4:
            return f"{x:.4g}"
        e = math.floor(v + 1e-9)
        m = round(x / 10.0 ** e, 3)
        return f"1e{e}" if m == 1 else f"{m:g}e{e}"
    if abs(v) < 1e-12:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.4g}M"
    if a >= 1e4:
        return f"{v / 1e3:.4g}k"
    if a >= 1e-2:
        return f"{v:.4g}"
    return f"{v:.1e}".replace("e-0", "e-")


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float = 0.45,
          color: tuple[int, int, int] = _INK, thickness: int = 1, anchor: str = "left",
          valign: str = "baseline") -> None:
    """Draw text; ``anchor`` left/center/right, ``valign`` baseline/middle/top."""
    (w, h), _ = cv2.getTextSize(s, _FONT, scale, thickness)
    x, y = org
    if anchor == "center":
        x -= w // 2
    elif anchor == "right":
        x -= w
    if valign == "middle":
        y += h // 2
    elif valign == "top":
        y += h
    cv2.putText(img, s, (int(x), int(y)), _FONT, scale, color, thickness, cv2.LINE_AA)


def _dashed_vline(img: np.ndarray, x: int, y0: int, y1: int, color: tuple[int, int, int],
                  dash: int = 6, gap: int = 4) -> None:
    for y in range(y0, y1, dash + gap):
        cv2.line(img, (x, y), (x, min(y + dash, y1)), color, 1, cv2.LINE_AA)


def _lighten(color: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    return tuple(int(c + (255 - c) * amount) for c in color)


def _matches(key: str, patterns: Sequence[str]) -> bool:
    """``key`` equals a pattern or lies under it (``pattern/...``)."""
    return any(key == p or key.startswith(p + "/") for p in patterns)


def _group_keys(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Panels: keys with the same ``prefix/`` together, others alone (first-seen order)."""
    panels: dict[str, list[str]] = {}
    for k in keys:
        panels.setdefault(k.split("/", 1)[0] if "/" in k else k, []).append(k)
    return list(panels.items())


def _panels_from_spec(spec: Sequence[str | Sequence[str]] | None,
                      available: Sequence[str]) -> list[tuple[str, list[str]]]:
    if spec is None:
        return _group_keys(available)
    if isinstance(spec, str):
        raise ValueError(f"plot_curves: keys must be a list of names or of name lists, got "
                         f"the string {spec!r}")
    panels, unknown = [], []
    for item in spec:
        if isinstance(item, str):
            if item in available:
                panels.append((item, [item]))
            else:
                group = [k for k in available if k.startswith(item + "/")]
                if group:
                    panels.append((item, group))
                else:
                    unknown.append(item)
        else:
            names = list(item)
            unknown += [k for k in names if k not in available]
            panels.append((os.path.commonprefix(names).rstrip("/_") or names[0], names))
    if unknown:
        raise ValueError(f"plot_curves: unknown metrics {unknown}; available: "
                         f"{list(available)}")
    return panels


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> _Series:
    pts = [(r["step"], r[key]) for r in rows
           if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
           and math.isfinite(r[key])]
    if not pts:
        return _Series(key, np.zeros(0, np.int64), np.zeros(0))
    steps, values = zip(*pts)
    return _Series(key, np.asarray(steps, np.int64), np.asarray(values, np.float64))


def _stage_changes(rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(step, stage) where the stage differs from the previous record's (first included)."""
    out: list[tuple[int, str]] = []
    for r in rows:
        stage = r.get("stage")
        if stage is not None and (not out or out[-1][1] != stage):
            out.append((r["step"], str(stage)))
    return out


def _draw_panel(img: np.ndarray, box: tuple[int, int, int, int], title: str,
                series: list[_Series], colors: list[tuple[int, int, int]],
                stages: list[tuple[int, str]], x_range: tuple[float, float],
                smoothing: float, raw_only: Sequence[str]) -> None:
    x0, y0, w, h = box
    left, right, top, bottom = 72, 18, 46, 44  # the top strip holds title and stage names
    px0, py0, px1, py1 = x0 + left, y0 + top, x0 + w - right, y0 + h - bottom
    _text(img, title, (x0 + w // 2, y0 + 22), 0.6, _INK, 1, anchor="center")
    series = [s for s in series if len(s.steps)]
    if not series:
        _text(img, "no data", ((px0 + px1) // 2, (py0 + py1) // 2), 0.5, anchor="center")
        return
    # y range: log10 when all positive and spanning ≥ 2 decades
    vals = np.concatenate([s.values for s in series])
    lo, hi = float(vals.min()), float(vals.max())
    log_scale = lo > 0 and hi / lo >= 100.0
    if log_scale:
        ylo, yhi, yticks = _log_ticks(lo, hi)
    else:
        ylo, yhi, yticks = _linear_ticks(lo, hi, margin=0.05)
    xlo, xhi, xticks = _linear_ticks(*x_range, target=max(3, (px1 - px0) // 110))

    def to_px(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
        v = np.log10(values) if log_scale else values
        x = px0 + (steps - xlo) / (xhi - xlo) * (px1 - px0)
        y = py1 - (v - ylo) / (yhi - ylo) * (py1 - py0)
        return np.stack([x, y], -1)

    # stage bands (alternating tint), grid, ticks
    bounds = [s for s, _ in stages] + [xhi]
    for i, (start, _) in enumerate(stages):
        if i % 2 == 1:
            xa = int(round(px0 + (max(start, xlo) - xlo) / (xhi - xlo) * (px1 - px0)))
            xb = int(round(px0 + (min(bounds[i + 1], xhi) - xlo) / (xhi - xlo) * (px1 - px0)))
            cv2.rectangle(img, (xa, py0), (xb, py1), (247, 243, 240), -1)
    for t in yticks:
        y = int(round(py1 - (t - ylo) / (yhi - ylo) * (py1 - py0)))
        cv2.line(img, (px0, y), (px1, y), _GRID, 1)
        major = not log_scale or abs(t - round(t)) < 1e-9 or len(yticks) <= 12
        if major:
            _text(img, _tick_label(t, log_scale), (px0 - 6, y), 0.4, anchor="right",
                  valign="middle")
        cv2.line(img, (px0 - 4, y), (px0, y), _INK, 1)
    for t in xticks:
        x = int(round(px0 + (t - xlo) / (xhi - xlo) * (px1 - px0)))
        cv2.line(img, (x, py0), (x, py1), _GRID, 1)
        cv2.line(img, (x, py1), (x, py1 + 4), _INK, 1)
        _text(img, _tick_label(t), (x, py1 + 8), 0.4, anchor="center", valign="top")
    _text(img, "step", ((px0 + px1) // 2, y0 + h - 6), 0.42, (90, 90, 90), anchor="center")
    if log_scale:
        _text(img, "log y", (x0 + 6, y0 + 22), 0.38, (110, 110, 110))
    # stage boundaries
    for i, (start, name) in enumerate(stages):
        if not xlo <= start <= xhi:
            continue
        x = int(round(px0 + (start - xlo) / (xhi - xlo) * (px1 - px0)))
        if i > 0:
            _dashed_vline(img, x, py0, py1, (120, 120, 120))
        _text(img, name, (x + 3, py0 - 5), 0.38, (100, 100, 100))
    # curves: raw faint, smoothed solid; sparse series with markers
    cv2.rectangle(img, (px0, py0), (px1, py1), _INK, 1)
    clip = img[py0:py1 + 1, px0:px1 + 1]
    off = np.array([px0, py0], np.float64)
    last_values = []
    for s, color in zip(series, colors):
        pts = to_px(s.steps, s.values) - off
        last_values.append(float(s.values[-1]))
        if _matches(s.name, raw_only) or smoothing == 0.0:
            cv2.polylines(clip, [np.round(pts * 16).astype(np.int32)], False, color, 2,
                          cv2.LINE_AA, shift=4)
            continue
        if len(s.steps) <= _SPARSE:
            cv2.polylines(clip, [np.round(pts * 16).astype(np.int32)], False, color, 2,
                          cv2.LINE_AA, shift=4)
            for p in np.round(pts).astype(int):
                cv2.circle(clip, tuple(p), 3, color, -1, cv2.LINE_AA)
            continue
        cv2.polylines(clip, [np.round(pts * 16).astype(np.int32)], False,
                      _lighten(color, 0.65), 1, cv2.LINE_AA, shift=4)
        smooth = ema_smooth(np.log10(s.values) if log_scale else s.values, smoothing)
        if log_scale:
            smooth = 10.0 ** smooth
        last_values[-1] = float(smooth[-1])
        spts = to_px(s.steps, smooth) - off
        cv2.polylines(clip, [np.round(spts * 16).astype(np.int32)], False, color, 2,
                      cv2.LINE_AA, shift=4)
    # legend (top right inside the plot), with the last smoothed value
    names = [s.name.split("/", 1)[1] if s.name.startswith(title + "/") else s.name
             for s in series]
    labels = [f"{n}  {_tick_label(v)}" for n, v in zip(names, last_values)]
    lw = max(cv2.getTextSize(t, _FONT, 0.42, 1)[0][0] for t in labels) + 40
    lx, ly = px1 - lw - 8, py0 + 8
    cv2.rectangle(img, (lx, ly), (lx + lw, ly + 8 + 18 * len(labels)), (255, 255, 255), -1)
    cv2.rectangle(img, (lx, ly), (lx + lw, ly + 8 + 18 * len(labels)), (200, 200, 200), 1)
    for i, (t, color) in enumerate(zip(labels, colors)):
        yy = ly + 15 + 18 * i
        cv2.line(img, (lx + 8, yy - 4), (lx + 30, yy - 4), color, 2, cv2.LINE_AA)
        _text(img, t, (lx + 36, yy), 0.42)


def render_curves(rows: Sequence[Mapping[str, Any]],
                  keys: Sequence[str | Sequence[str]] | None = None, smoothing: float = 0.6,
                  width: int = 1400, panel_height: int = 340, columns: int | None = None,
                  title: str = "training curves",
                  raw_only: Sequence[str] = ("lr",)) -> np.ndarray:
    """Draw the curves of ``rows`` (records as :func:`read_metrics` returns).

    Args:
        rows: the records.
        keys: panels; None groups all metrics by ``prefix/``. An item is a metric name, a
            prefix (all ``prefix/*`` metrics) or a list of names sharing one panel.
        smoothing: EMA weight in [0, 1) for series with more than 40 points (0 = none).
        width: image width in pixels.
        panel_height: height of one row of panels in pixels.
        columns: panels per row (default: 1 for one panel, else 2).
        title: text of the header band.
        raw_only: metrics (names or ``prefix``es) drawn unsmoothed, e.g. the learning rate,
            whose steps an average would blur.
    Returns:
        (CURVES_HEADER_PX + rows_of_panels · panel_height, width, 3) uint8 BGR image.
    Raises:
        ValueError: for a smoothing outside [0, 1), unknown keys, or nothing to plot.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"plot_curves: smoothing must be in [0, 1), got {smoothing!r}")
    available = metric_keys(rows)
    panels = _panels_from_spec(keys, available)
    if not panels:
        raise ValueError("plot_curves: no metrics to plot")
    ncol = columns or (1 if len(panels) == 1 else 2)
    if ncol < 1 or width < 200 * ncol or panel_height < 150:
        raise ValueError(f"plot_curves: need columns ≥ 1, width ≥ 200 per column and "
                         f"panel_height ≥ 150; got columns={ncol}, width={width}, "
                         f"panel_height={panel_height}")
    nrow = math.ceil(len(panels) / ncol)
    img = np.full((CURVES_HEADER_PX + nrow * panel_height, width, 3), 255, np.uint8)
    steps = [r["step"] for r in rows]
    x_range = (float(min(steps)), float(max(steps)))
    stages = _stage_changes(rows)
    _text(img, title, (16, 30), 0.75, _INK, 2)
    sub = (f"{len(rows)} records, steps {int(x_range[0])}-{int(x_range[1])};  faint: raw, "
           f"solid: EMA smoothing {smoothing:g}")
    _text(img, sub, (16, 48), 0.42, (100, 100, 100))
    cv2.line(img, (0, CURVES_HEADER_PX - 1), (width, CURVES_HEADER_PX - 1), (210, 210, 210), 1)
    pw = width // ncol
    for i, (name, names) in enumerate(panels):
        r, c = divmod(i, ncol)
        box = (c * pw, CURVES_HEADER_PX + r * panel_height, pw, panel_height)
        series = [_series(rows, k) for k in names]
        colors = [_PALETTE[j % len(_PALETTE)] for j in range(len(series))]
        kept = [(s, col) for s, col in zip(series, colors) if len(s.steps)]
        _draw_panel(img, box, name, [s for s, _ in kept], [col for _, col in kept], stages,
                    x_range, smoothing, raw_only)
    return img


def plot_curves(jsonl_path: str | Path, png_path: str | Path,
                keys: Sequence[str | Sequence[str]] | None = None, smoothing: float = 0.6,
                width: int = 1400, panel_height: int = 340, columns: int | None = None,
                title: str | None = None, raw_only: Sequence[str] = ("lr",)) -> Path:
    """Plot a ``metrics.jsonl`` file to a PNG (see :func:`render_curves` for the options).

    The title defaults to ``<run dir>/<file name>``. The PNG is written atomically.

    Returns:
        ``png_path`` as a :class:`~pathlib.Path`.
    """
    jsonl_path, png_path = Path(jsonl_path), Path(png_path)
    rows = read_metrics(jsonl_path)
    if not rows:
        raise ValueError(f"plot_curves: {jsonl_path} holds no records")
    title = title or f"{jsonl_path.parent.name}/{jsonl_path.name}"
    img = render_curves(rows, keys, smoothing, width, panel_height, columns, title, raw_only)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"plot_curves: PNG encoding failed for an image of shape {img.shape}")
    tmp = png_path.with_name(f".{png_path.name}.tmp")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, png_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return png_path
