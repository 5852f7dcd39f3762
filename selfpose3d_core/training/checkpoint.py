"""Self-describing training checkpoints, written atomically, and a rotating manager.

Payload convention (format ``"selfpose3d-ckpt/1"``, a plain dict)::

    {
        "format": "selfpose3d-ckpt/1",       # required: CHECKPOINT_FORMAT
        "model_config": dict,                # required: ModelConfig.to_dict()
        "state_dict": dict,                  # required: the *unwrapped* model's state dict
        "train_config": dict,                # training settings (plain Python)
        "optimizer": dict | None,            # optimizer.state_dict()
        "scheduler": dict | None,            # lr scheduler state_dict()
        "scaler": dict | None,               # optional: GradScaler state_dict() (AMP)
        "stage": str,                        # training stage name
        "epoch": int,                        # epochs completed
        "step": int,                         # optimizer steps completed
        "rng": dict,                         # rng.capture_rng_state()
        "extra": dict,                       # anything else: generator states, data position
    }

Only ``format``, ``model_config`` and ``state_dict`` are required; :func:`make_payload`
fills the rest with defaults. Values must be plain Python (dict, list, tuple, set, str,
int, float, complex, bool, None, bytes) or torch tensors/sizes/dtypes/devices: the saver
checks this and names the offending entry (e.g. a ``pathlib.Path`` or a ``numpy.float64``
inside ``train_config``), so every checkpoint loads with ``torch.load(weights_only=True)``
— no code from the file is executed on load.

Writes are atomic: the payload goes to a temporary file in the destination directory,
which is flushed, fsync'ed and renamed over the destination with :func:`os.replace`. A
crash mid-write leaves the previous file intact (plus a stray ``.<name>.*.tmp`` file that
:class:`CheckpointManager` removes when it starts).

Under DDP, only the main rank (``DistInfo.is_main``) saves.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Mapping

import torch

from .rng import capture_rng_state

__all__ = ["CHECKPOINT_FORMAT", "KNOWN_FORMATS", "REQUIRED_KEYS", "make_payload",
           "checkpoint_lineage", "validate_payload", "save_checkpoint", "load_checkpoint",
           "CheckpointManager"]

log = logging.getLogger(__name__)

#: The format string this module writes.
CHECKPOINT_FORMAT = "selfpose3d-ckpt/1"
#: Format strings :func:`load_checkpoint` accepts.
KNOWN_FORMATS = frozenset({CHECKPOINT_FORMAT})
#: Keys every payload must have.
REQUIRED_KEYS = ("format", "model_config", "state_dict")

# What torch.load(weights_only=True) accepts (checked against torch 2.13; not frozenset).
_LEAF_TYPES = (str, int, float, bool, complex, bytes, bytearray, type(None), torch.Size,
               torch.dtype, torch.device)
_CONTAINER_TYPES = (dict, collections.OrderedDict, list, tuple, set)
_TMP_SUFFIX = ".tmp"


def checkpoint_lineage(payload: Mapping[str, Any]) -> list[dict]:
    """The runs a checkpoint was initialised from (``train --init``), oldest first: a new
    list of ``{"checkpoint", "stage", "step", "model_config", "train_config"}`` entries
    (empty when it started from scratch)."""
    return list(payload.get("extra", {}).get("lineage", []))


def make_payload(model_config: Mapping[str, Any], state_dict: Mapping[str, Any], *,
                 train_config: Mapping[str, Any] | None = None,
                 optimizer: Mapping[str, Any] | None = None,
                 scheduler: Mapping[str, Any] | None = None,
                 scaler: Mapping[str, Any] | None = None, stage: str = "", epoch: int = 0,
                 step: int = 0, rng: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a payload in the module's convention.

    ``rng`` defaults to :func:`~selfpose3d_core.training.rng.capture_rng_state` taken now
    (call this at the point where training would resume).
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": dict(model_config),
        "train_config": dict(train_config or {}),
        "state_dict": state_dict,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
        "stage": str(stage),
        "epoch": int(epoch),
        "step": int(step),
        "rng": dict(rng) if rng is not None else capture_rng_state(),
        "extra": dict(extra or {}),
    }


def _first_unsafe(value: Any, where: str) -> str | None:
    """The path of the first entry ``torch.load(weights_only=True)`` would reject."""
    t = type(value)
    if isinstance(value, torch.Tensor):
        return None
    if t in _LEAF_TYPES:
        return None
    if t in _CONTAINER_TYPES:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(value, dict) and _first_unsafe(k, "key"):
                return f"{where} key {k!r} ({type(k).__module__}.{type(k).__qualname__})"
            bad = _first_unsafe(v, f"{where}[{k!r}]")
            if bad:
                return bad
        return None
    return f"{where} ({t.__module__}.{t.__qualname__})"


def validate_payload(payload: Mapping[str, Any], check_types: bool = True) -> None:
    """Check a payload before saving.

    Raises:
        ValueError: naming the missing required keys, an unknown ``format``, or (when
            ``check_types``) the first value that is not plain Python or a tensor.
    """
    if not isinstance(payload, Mapping):
        raise ValueError(f"checkpoint payload must be a dict, got {type(payload).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks required keys {missing}; got keys "
                         f"{sorted(payload)}")
    if payload["format"] not in KNOWN_FORMATS:
        raise ValueError(f"checkpoint payload has unknown format {payload['format']!r}; "
                         f"expected one of {sorted(KNOWN_FORMATS)}")
    if not isinstance(payload["model_config"], Mapping):
        raise ValueError(f"checkpoint model_config must be a dict, got "
                         f"{type(payload['model_config']).__name__}")
    if check_types:
        bad = _first_unsafe(dict(payload), "payload")
        if bad:
            raise ValueError(f"checkpoint payload holds a value that is not plain Python or a "
                             f"tensor: {bad}; convert it (str(path), float(x), "
                             f"array.tolist(), torch.from_numpy(array))")


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (best effort; not all platforms can open directories)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_path(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def save_checkpoint(path: str | Path, payload: Mapping[str, Any],
                    check_types: bool = True) -> Path:
    """Validate ``payload`` and write it to ``path`` atomically.

    Args:
        path: destination file (its directory is created).
        payload: a dict in the module's convention (see :func:`make_payload`).
        check_types: refuse values that a safe (``weights_only``) load would reject.
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        ValueError: see :func:`validate_payload`.
    """
    validate_payload(payload, check_types=check_types)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(dict(payload), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu",
                    weights_only: bool = True) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        map_location: where tensors go (``torch.load``'s argument); CPU by default.
        weights_only: safe unpickling (plain Python and tensors only); pass False only for
            files from a trusted source that hold other objects.
    Returns:
        The payload dict.
    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a dict, lacks required keys or has an unknown
            ``format``, or holds objects a safe load refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError variants
        if weights_only and (isinstance(exc, pickle.UnpicklingError)
                             or "weights_only" in str(exc)):
            reason = next((line.strip() for line in str(exc).splitlines()
                           if "Unsupported" in line), str(exc).splitlines()[0])
            raise ValueError(f"{path}: the checkpoint holds objects a safe load refuses "
                             f"({reason}); if you trust the file, pass "
                             f"weights_only=False") from exc
        raise
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path}: expected a checkpoint dict, got {type(payload).__name__}")
    fmt = payload.get("format")
    if fmt not in KNOWN_FORMATS:
        raise ValueError(f"{path}: unknown checkpoint format {fmt!r}; expected one of "
                         f"{sorted(KNOWN_FORMATS)}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks required keys {missing}")
    return dict(payload)


class CheckpointManager:
    """Writes ``last.pt`` plus numbered checkpoints into one directory and prunes old ones.

    Layout::

        <directory>/last.pt             always the most recent save
        <directory>/epoch_0003.pt       when saved with epoch=3
        <directory>/step_0012000.pt     when saved with step=12000

    ``keep_last`` numbered files of each kind (epoch, step) are kept, the highest numbers
    winning; None keeps all, 0 keeps none (only ``last.pt``). The payload is serialised
    once: ``last.pt`` is a hard link to (or, where links are unsupported, a copy of) the
    numbered file, swapped in atomically. Stale temporary files of crashed writes are
    removed when the manager is created. Use it on the main rank only.

    Example:
        >>> mgr = CheckpointManager(run_dir / "checkpoints", keep_last=3)  # doctest: +SKIP
        >>> mgr.save(payload, epoch=payload["epoch"])  # doctest: +SKIP
        >>> resume_from = mgr.latest()  # doctest: +SKIP
    """

    LAST = "last.pt"
    _NUMBERED = re.compile(r"^(epoch|step)_(\d+)\.pt$")

    def __init__(self, directory: str | Path, keep_last: int | None = 3) -> None:
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(
                keep_last, int) or keep_last < 0):
            raise ValueError(f"CheckpointManager: keep_last must be None or an integer ≥ 0, "
                             f"got {keep_last!r}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        for p in self.directory.glob(f".*.pt.*{_TMP_SUFFIX}"):
            log.warning("removing an incomplete checkpoint write: %s", p)
            with contextlib.suppress(OSError):
                p.unlink()

    @property
    def last_path(self) -> Path:
        """``<directory>/last.pt`` (it may not exist yet)."""
        return self.directory / self.LAST

    def numbered(self, kind: str | None = None) -> list[Path]:
        """Numbered checkpoints, sorted by (kind, number); ``kind`` is "epoch" or "step"."""
        if kind not in (None, "epoch", "step"):
            raise ValueError(f"CheckpointManager.numbered: kind must be None, 'epoch' or "
                             f"'step', got {kind!r}")
        found = []
        for p in self.directory.iterdir():
            m = self._NUMBERED.match(p.name)
            if m and (kind is None or m.group(1) == kind):
                found.append((m.group(1), int(m.group(2)), p))
        return [p for _, _, p in sorted(found)]

    def save(self, payload: Mapping[str, Any], epoch: int | None = None,
             step: int | None = None) -> Path:
        """Write ``last.pt`` and, when ``epoch``/``step`` is given, the numbered file(s).

        Returns:
            The path of ``last.pt``.
        """
        for name, value in (("epoch", epoch), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValueError(f"CheckpointManager.save: {name} must be None or an integer "
                                 f"≥ 0, got {value!r}")
        targets = []
        if epoch is not None:
            targets.append(self.directory / f"epoch_{epoch:04d}.pt")
        if step is not None:
            targets.append(self.directory / f"step_{step:07d}.pt")
        if not targets:
            save_checkpoint(self.last_path, payload)
        else:
            save_checkpoint(targets[0], payload)
            for other in [*targets[1:], self.last_path]:
                self._link_atomically(targets[0], other)
        _fsync_dir(self.directory)
        self.prune()
        return self.last_path

    def _link_atomically(self, source: Path, dest: Path) -> None:
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
        try:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def prune(self) -> list[Path]:
        """Delete all but the ``keep_last`` highest-numbered files of each kind.

        Returns:
            The deleted paths.
        """
        if self.keep_last is None:
            return []
        removed = []
        for kind in ("epoch", "step"):
            files = self.numbered(kind)
            old = files[:len(files) - self.keep_last] if self.keep_last else files
            for p in old:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                removed.append(p)
        if removed:
            log.debug("pruned checkpoints: %s", [p.name for p in removed])
        return removed

    def latest(self) -> Path | None:
        """The most recently written checkpoint, ``last.pt`` winning ties; None if none.

        Normally ``last.pt``; a numbered file is newer only when a crash came between
        writing it and swapping ``last.pt``.
        """
        files = [p for p in [self.last_path, *self.numbered()] if p.is_file()]
        if not files:
            return None
        return max(files, key=lambda p: (p.stat().st_mtime_ns, p == self.last_path))
