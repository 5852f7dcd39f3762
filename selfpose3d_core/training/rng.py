"""Capture and restore the state of every random number generator training touches.

Global generators (:func:`capture_rng_state` / :func:`restore_rng_state`):

- Python's :mod:`random`,
- NumPy's legacy global generator (``np.random.rand``, ``np.random.seed``, ...),
- torch's CPU generator,
- every CUDA device's generator, when CUDA is available.

Explicit generators are not global, so they are not captured here: save them next to the
global state yourself.

- ``np.random.Generator``: :func:`generator_state` / :func:`set_generator_state` (its
  ``bit_generator.state``, converted to plain Python so it survives a safe load).
- ``torch.Generator``: ``g.get_state()`` / ``g.set_state(state)`` (a uint8 tensor).

All states are plain Python (dicts, tuples, lists, ints, floats, strings) and CPU uint8
tensors, so they round-trip through ``torch.save`` and ``torch.load`` with
``weights_only=True`` as well as ``False``.

Example:
    >>> state = capture_rng_state()
    >>> a = torch.rand(3)
    >>> restore_rng_state(state)
    >>> bool(torch.equal(a, torch.rand(3)))
    True
"""

from __future__ import annotations

import copy
import logging
import random
from typing import Any, Mapping

import numpy as np
import torch

__all__ = ["RNG_STATE_KEYS", "capture_rng_state", "restore_rng_state", "seed_everything",
           "generator_state", "set_generator_state"]

log = logging.getLogger(__name__)

#: Keys of the dict :func:`capture_rng_state` returns.
RNG_STATE_KEYS = ("python", "numpy", "torch", "cuda")


def _plain_numpy_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a NumPy bit-generator state with arrays turned into lists of ints."""
    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        return copy.deepcopy(value)
    return convert(state)


def capture_rng_state() -> dict[str, Any]:
    """Snapshot the global generators.

    Returns:
        ``{"python": tuple, "numpy": dict, "torch": uint8 tensor,
        "cuda": list of uint8 tensors (one per device) or None}``; ``cuda`` is None when
        CUDA is not available.
    """
    cuda = None
    if torch.cuda.is_available():
        cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return {
        "python": random.getstate(),
        "numpy": _plain_numpy_state(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state().clone(),
        "cuda": cuda,
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Put the global generators back to a :func:`capture_rng_state` snapshot.

    A snapshot taken with CUDA restores on a machine without it (the CUDA part is skipped
    with a warning); with a different number of devices, the common ones are restored.

    Raises:
        ValueError: if ``state`` lacks one of :data:`RNG_STATE_KEYS` or a part is malformed.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"restore_rng_state: expected a mapping, got {type(state).__name__}")
    missing = [k for k in RNG_STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"restore_rng_state: state lacks keys {missing}; got keys "
                         f"{sorted(state)}")
    py = state["python"]
    if isinstance(py, list):  # a JSON/YAML round trip turns tuples into lists
        py = (py[0], tuple(py[1]), py[2])
    try:
        random.setstate(py)
        np.random.set_state(state["numpy"])
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"restore_rng_state: malformed state: {exc}") from exc
    cuda = state["cuda"]
    if cuda is None:
        return
    if not torch.cuda.is_available():
        log.warning("restore_rng_state: the snapshot has %d CUDA generator states but CUDA "
                    "is not available; skipping them", len(cuda))
        return
    n = torch.cuda.device_count()
    if len(cuda) != n:
        log.warning("restore_rng_state: the snapshot has %d CUDA generator states, this "
                    "machine has %d devices; restoring the first %d", len(cuda), n,
                    min(n, len(cuda)))
    for device, s in enumerate(cuda[:n]):
        torch.cuda.set_rng_state(torch.as_tensor(s, dtype=torch.uint8).cpu(), device)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA).

    Under DDP, seed every rank with the same value before building the model (DDP also
    broadcasts rank 0's parameters when wrapping), and draw per-rank randomness such as
    augmentations from explicit generators seeded with ``(seed, rank, ...)``.

    Raises:
        ValueError: if ``seed`` is not an integer in [0, 2**32).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed < 2 ** 32):
        raise ValueError(f"seed_everything: seed must be an integer in [0, 2**32), got "
                         f"{seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """The state of an explicit NumPy generator, as plain Python (safe to ``torch.save``).

    Example:
        >>> g = np.random.default_rng(0)
        >>> s = generator_state(g)
        >>> a = g.random(2)
        >>> set_generator_state(g, s)
        >>> bool((g.random(2) == a).all())
        True
    """
    if not isinstance(gen, np.random.Generator):
        raise ValueError(f"generator_state: expected a numpy.random.Generator, got "
                         f"{type(gen).__name__}")
    return _plain_numpy_state(gen.bit_generator.state)


def set_generator_state(gen: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore an explicit NumPy generator from :func:`generator_state`.

    Raises:
        ValueError: if ``state`` belongs to another bit generator (e.g. a PCG64 state given
            to an MT19937 generator) or is malformed.
    """
    if not isinstance(gen, np.random.Generator):
        raise ValueError(f"set_generator_state: expected a numpy.random.Generator, got "
                         f"{type(gen).__name__}")
    if not isinstance(state, Mapping):
        raise ValueError(f"set_generator_state: expected a mapping, got "
                         f"{type(state).__name__}")
    want = type(gen.bit_generator).__name__
    if state.get("bit_generator") != want:
        raise ValueError(f"set_generator_state: state is for bit generator "
                         f"{state.get('bit_generator')!r}, the generator uses {want!r}")
    try:
        gen.bit_generator.state = copy.deepcopy(dict(state))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"set_generator_state: malformed {want} state: {exc}") from exc
