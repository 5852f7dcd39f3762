"""A dependency-free progress bar for training loops, friendly to terminals and to logs.

On a TTY, :class:`Progress` redraws one line (carriage return) at most every
``min_interval_s``::

    train: 45%|=========>          | 450/1000 [00:12<00:15, 36.20 it/s] loss=0.1234 lr=2.00e-04

Elsewhere (CI, ``nohup``, files) it never writes carriage returns: it emits the same
information as a :mod:`logging` INFO record every ``log_interval_s`` and once on close.
An unknown total (``total=None``) shows the count, elapsed time and rate only.

Formatting helpers (:func:`format_eta`, :func:`format_rate`, :func:`format_value`,
:func:`format_metrics`) are pure and deterministic.

Under DDP, create it with ``enabled=info.is_main`` so only one rank reports.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from typing import Any, Callable, Mapping, TextIO

__all__ = ["Progress", "format_eta", "format_rate", "format_value", "format_metrics"]

log = logging.getLogger(__name__)


def format_eta(seconds: float | None) -> str:
    """A duration as ``MM:SS``, ``H:MM:SS`` or ``Dd HH:MM:SS`` (rounded to the second).

    None, NaN and infinity (an unknown duration) give ``"?"``.

    Example:
        >>> format_eta(75), format_eta(3725.4), format_eta(90061)
        ('01:15', '1:02:05', '1d 01:01:01')

    Raises:
        ValueError: for a negative duration.
    """
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "?"
    if seconds < 0:
        raise ValueError(f"format_eta: seconds must be ≥ 0, got {seconds!r}")
    total = int(round(seconds))
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def format_rate(rate: float | None, unit: str = "it") -> str:
    """``"36.20 it/s"``, or ``"2.50 s/it"`` below one unit per second; ``"? it/s"`` if unknown.

    Example:
        >>> format_rate(36.2), format_rate(0.4, "batch")
        ('36.20 it/s', '2.50 s/batch')
    """
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return f"? {unit}/s"
    if rate >= 1.0:
        return f"{rate:.2f} {unit}/s"
    return f"{1.0 / rate:.2f} s/{unit}"


def format_value(value: Any) -> str:
    """A compact number: integers as is, floats with 4 significant digits or ``1.00e-03``.

    Tensors and NumPy scalars are converted with ``float()``.

    Example:
        >>> format_value(0.123456), format_value(0.0001), format_value(12345.6), format_value(3)
        ('0.1235', '1.00e-04', '1.23e+04', '3')
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return str(x)  # 'nan', 'inf', '-inf'
    if x == 0.0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.4g}"


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """``"loss=0.1234 lr=2.00e-04"`` in insertion order.

    Example:
        >>> format_metrics({"loss": 0.5, "lr": 2e-4})
        'loss=0.5 lr=2.00e-04'
    """
    return " ".join(f"{k}={format_value(v)}" for k, v in metrics.items())


def _stream_is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """Progress of a loop: count, percentage, elapsed time, rate, ETA and current metrics.

    Args:
        total: expected number of units, or None when unknown.
        desc: label in front of the line.
        unit: name of one unit (``"it"``, ``"batch"``, ``"img"``).
        stream: where a TTY bar is drawn (default ``sys.stderr`` at creation).
        min_interval_s: minimum time between TTY redraws.
        log_interval_s: time between log records when the stream is not a TTY.
        enabled: False makes every method a no-op (non-main DDP ranks).
        tty: force (True/False) or auto-detect (None) terminal mode.
        logger: the logger for non-TTY records (default: this module's).
        clock: monotonic time source in seconds (tests inject a fake one).
        smoothing: weight of the newest interval in the rate's moving average (0, 1].
        bar_width: characters in the TTY bar.

    Example:
        >>> with Progress(len(loader), desc="epoch 3") as bar:  # doctest: +SKIP
        ...     for batch in loader:
        ...         loss = step(batch)
        ...         bar.update(loss=loss, lr=sched.get_last_lr()[0])
    """

    def __init__(self, total: int | None, desc: str = "", unit: str = "it",
                 stream: TextIO | None = None, min_interval_s: float = 0.5,
                 log_interval_s: float = 30.0, enabled: bool = True,
                 tty: bool | None = None, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic, smoothing: float = 0.3,
                 bar_width: int = 20) -> None:
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)
                                  or total < 0):
            raise ValueError(f"Progress: total must be None or an integer ≥ 0, got {total!r}")
        if min_interval_s < 0 or log_interval_s < 0:
            raise ValueError(f"Progress: intervals must be ≥ 0, got min_interval_s="
                             f"{min_interval_s!r}, log_interval_s={log_interval_s!r}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"Progress: smoothing must be in (0, 1], got {smoothing!r}")
        self.total = total
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.min_interval_s = float(min_interval_s)
        self.log_interval_s = float(log_interval_s)
        self.enabled = enabled
        self.tty = _stream_is_tty(self.stream) if tty is None else bool(tty)
        self.logger = logger or log
        self.smoothing = float(smoothing)
        self.bar_width = int(bar_width)
        self._clock = clock
        self.n = 0
        self.metrics: dict[str, Any] = {}
        self.closed = False
        self._start = clock()
        self._last_emit = self._start
        self._last_sample = (self._start, 0)  # (time, n) at the last rate sample
        self._rate: float | None = None
        self._drawn_len = 0

    # -- state --------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds since creation."""
        return self._clock() - self._start

    @property
    def rate(self) -> float | None:
        """Units per second (moving average once sampled, else the overall mean)."""
        if self._rate is not None:
            return self._rate
        elapsed = self.elapsed
        return self.n / elapsed if elapsed > 0 and self.n > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left, or None when the total or the rate is unknown."""
        rate = self.rate
        if self.total is None or not rate:
            return None
        return max(self.total - self.n, 0) / rate

    def _sample_rate(self, now: float) -> None:
        t0, n0 = self._last_sample
        if now > t0 and self.n > n0:
            inst = (self.n - n0) / (now - t0)
            self._rate = inst if self._rate is None else (
                self.smoothing * inst + (1.0 - self.smoothing) * self._rate)
            self._last_sample = (now, self.n)

    # -- formatting ---------------------------------------------------------------------

    def format_line(self, bar: bool | None = None) -> str:
        """The current status line (no carriage return); ``bar`` defaults to TTY mode."""
        bar = self.tty if bar is None else bar
        head = f"{self.desc}: " if self.desc else ""
        elapsed = format_eta(self.elapsed)
        rate = format_rate(self.rate, self.unit)
        if self.total is not None:
            frac = min(self.n / self.total, 1.0) if self.total else 1.0
            count = f"{self.n}/{self.total}"
            timing = f"[{elapsed}<{format_eta(self.eta)}, {rate}]"
            if bar:
                filled = int(frac * self.bar_width)
                arrow = ">" if filled < self.bar_width else ""
                body = ("=" * filled + arrow).ljust(self.bar_width)
                line = f"{head}{frac * 100:3.0f}%|{body}| {count} {timing}"
            else:
                line = f"{head}{frac * 100:3.0f}% {count} {timing}"
        else:
            line = f"{head}{self.n} {self.unit} [{elapsed}, {rate}]"
        if self.metrics:
            line += " " + format_metrics(self.metrics)
        return line

    # -- output -------------------------------------------------------------------------

    def _emit(self, final: bool = False) -> None:
        line = self.format_line()
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns - 1
            line = line[:max(width, 20)]
            pad = " " * max(self._drawn_len - len(line), 0)
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self.stream.flush()
            self._drawn_len = 0 if final else len(line)
        else:
            self.logger.info("%s%s", line, " (done)" if final else "")

    def update(self, n: int = 1, **metrics: Any) -> None:
        """Advance by ``n`` units and set the shown metrics (latest value per name)."""
        if not self.enabled or self.closed:
            return
        if n < 0:
            raise ValueError(f"Progress.update: n must be ≥ 0, got {n!r}")
        self.n += n
        self.metrics.update(metrics)
        now = self._clock()
        interval = self.min_interval_s if self.tty else self.log_interval_s
        if now - self._last_emit >= interval:
            self._sample_rate(now)
            self._last_emit = now
            self._emit()

    def set_metrics(self, **metrics: Any) -> None:
        """Set shown metrics without advancing (drawn with the next update)."""
        if self.enabled and not self.closed:
            self.metrics.update(metrics)

    def close(self) -> None:
        """Draw the final state (newline on a TTY, one log record otherwise). Idempotent."""
        if not self.enabled or self.closed:
            return
        self._sample_rate(self._clock())
        self._emit(final=True)
        self.closed = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
