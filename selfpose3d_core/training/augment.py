"""Photometric augmentation of the augmented copies: rand-augment and rand-cutout.

SelfPose3d (paper §3.6) applies, to the two augmented copies of every view only (never to
the un-augmented copy ``x0``), a rand-augment policy over six colour ops and a rand-cutout
of grey squares 20–40 px wide. Both act on the network-input image, i.e. *after* the
affine warp (:func:`selfpose3d_core.geometry.affine.warp_image`), so the cutout size is in
network-input pixels.

Images are ``(H, W, 3)`` uint8 RGB (``(V, H, W, 3)`` for a batch of views). Every op
returns a new array and never modifies its input.

The ops follow the PIL ``ImageEnhance`` / ``ImageOps`` definitions (re-implemented with
numpy/OpenCV lookup tables and filters):

* ``brightness(f)``: ``f · x`` (blend with black).
* ``contrast(f)``: ``m + f · (x − m)``, ``m`` the rounded mean luminance (blend with a flat
  grey image of the mean luminance).
* ``color(f)``: ``L + f · (x − L)``, ``L = 0.299 R + 0.587 G + 0.114 B`` (blend with the
  greyscale image; ``f = 0`` gives equal channels).
* ``sharpness(f)``: ``S + f · (x − S)``, ``S`` the image smoothed by PIL's ``SMOOTH`` kernel
  ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` with its one-pixel border left unfiltered
  (``f > 1`` sharpens, ``f < 1`` blurs).
* ``autocontrast``: per channel, stretch ``[min, max]`` linearly to ``[0, 255]`` (a flat
  channel is left as is).
* ``equalize``: per-channel histogram equalisation (PIL's lookup table).

Each factor op is identity at ``f = 1``; with a magnitude ``m`` in [0, 1] the factor is
``f = 1 ± m · max_delta`` (sign drawn at random, ``max_delta`` 0.9 as the reference code,
so ``f`` ∈ [0.1, 1.9]). ``autocontrast`` and ``equalize`` have no magnitude (as in PIL and
in the reference RandAugment): they act fully whenever they are chosen.

Randomness comes only from the ``np.random.Generator`` passed in, so every call is
reproducible from the generator's state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, NamedTuple

import cv2
import numpy as np

__all__ = [
    "OPS",
    "FACTOR_OPS",
    "PhotometricAugmentConfig",
    "OpSpec",
    "RandAugment",
    "brightness",
    "contrast",
    "color",
    "sharpness",
    "autocontrast",
    "equalize",
    "apply_op",
    "cutout_boxes",
    "apply_cutout",
    "augment_image",
    "augment_views",
]

#: All rand-augment op names, in a fixed order (indices drawn by the policy refer to it).
OPS: tuple[str, ...] = ("contrast", "autocontrast", "equalize", "color", "sharpness",
                        "brightness")
#: The ops that take an enhancement factor (the others ignore the magnitude).
FACTOR_OPS: frozenset[str] = frozenset({"contrast", "color", "sharpness", "brightness"})
CUTOUT_FILLS: tuple[str, ...] = ("grey", "noise")

_LEVELS = np.arange(256, dtype=np.float64)
# PIL ImageFilter.SMOOTH
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13.0
_LUMA = np.array([0.299, 0.587, 0.114])


# --------------------------------------------------------------------------- validation

def _check_image(image: Any, fn: str) -> np.ndarray:
    """(H, W, 3) uint8 → C-contiguous view; anything else → ValueError naming it."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{fn}: image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{fn}: image must be uint8, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{fn}: image must be (H, W, 3), got shape {image.shape}")
    return np.ascontiguousarray(image)


def _check_factor(factor: Any, fn: str) -> float:
    f = float(factor)
    if not np.isfinite(f) or f < 0:
        raise ValueError(f"{fn}: factor must be finite and >= 0, got {factor!r}")
    return f


def _lut_u8(values: np.ndarray) -> np.ndarray:
    """Float table(s) → rounded, saturated uint8 table(s)."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _apply_lut(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Apply a (256,) table to all channels or a (3, 256) table per channel."""
    if lut.ndim == 1:
        return cv2.LUT(image, lut)
    return cv2.LUT(image, np.ascontiguousarray(lut.T).reshape(1, 256, 3))


def _channel_histograms(image: np.ndarray) -> np.ndarray:
    """(3, 256) int64 histograms of the three channels."""
    hists = [cv2.calcHist([image], [c], None, [256], [0, 256]).ravel() for c in range(3)]
    return np.rint(np.stack(hists)).astype(np.int64)  # (3, 256)


# --------------------------------------------------------------------------- the ops

def brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Brightness``: ``factor · x``, saturated.

    Args:
        image: (H, W, 3) uint8 RGB.
        factor: ≥ 0; 1 = identity, 0 = black, > 1 brighter.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "brightness")
    f = _check_factor(factor, "brightness")
    return _apply_lut(img, _lut_u8(_LEVELS * f))


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Contrast``: ``m + factor · (x − m)``, m = rounded mean luminance.

    Args:
        image: (H, W, 3) uint8 RGB.
        factor: ≥ 0; 1 = identity, 0 = flat grey of the mean luminance.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "contrast")
    f = _check_factor(factor, "contrast")
    mean = float(np.floor(np.dot(cv2.mean(img)[:3], _LUMA) + 0.5))
    return _apply_lut(img, _lut_u8(mean + f * (_LEVELS - mean)))


def color(image: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Color`` (saturation): ``L + factor · (x − L)``, L the luminance.

    Args:
        image: (H, W, 3) uint8 RGB.
        factor: ≥ 0; 1 = identity, 0 = greyscale (equal channels), > 1 more saturated.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "color")
    f = _check_factor(factor, "color")
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, f, grey, 1.0 - f, 0.0)


def sharpness(image: np.ndarray, factor: float) -> np.ndarray:
    """PIL ``ImageEnhance.Sharpness``: ``S + factor · (x − S)``, S = PIL-``SMOOTH``-ed image.

    The one-pixel border of ``S`` is the original image (as PIL's 3×3 filter), so the
    border is never changed.

    Args:
        image: (H, W, 3) uint8 RGB.
        factor: ≥ 0; 1 = identity, 0 = smoothed, > 1 sharpened.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "sharpness")
    f = _check_factor(factor, "sharpness")
    smooth = cv2.filter2D(img, -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE)
    smooth[0], smooth[-1] = img[0], img[-1]
    smooth[:, 0], smooth[:, -1] = img[:, 0], img[:, -1]
    return cv2.addWeighted(img, f, smooth, 1.0 - f, 0.0)


def autocontrast(image: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.autocontrast`` (no cutoff): per channel ``[min, max]`` → ``[0, 255]``.

    A channel with ``min == max`` is left unchanged.

    Args:
        image: (H, W, 3) uint8 RGB.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "autocontrast")
    # per-channel extremes (cv2.minMaxLoc is ~30x faster than a numpy axis-0 reduction)
    lo_hi = np.array([cv2.minMaxLoc(ch)[:2] for ch in cv2.split(img)])  # (3, 2)
    lo, hi = lo_hi[:, :1], lo_hi[:, 1:]  # (3, 1) each
    span = hi - lo
    flat_ch = span <= 0
    scale = np.where(flat_ch, 1.0, 255.0 / np.where(flat_ch, 1.0, span))
    lut = np.where(flat_ch, _LEVELS, (_LEVELS - lo) * scale)  # (3, 256)
    return _apply_lut(img, _lut_u8(lut))


def equalize(image: np.ndarray) -> np.ndarray:
    """PIL ``ImageOps.equalize``: per-channel histogram equalisation.

    Per channel with histogram ``h``: ``step = (N − h[last occupied level]) // 255``;
    level ``i`` maps to ``min(255, (step // 2 + Σ_{j<i} h[j]) // step)``; a channel with
    ``step == 0`` (≈ one level) is left unchanged.

    Args:
        image: (H, W, 3) uint8 RGB.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "equalize")
    hist = _channel_histograms(img)  # (3, 256)
    last = 255 - np.argmax(hist[:, ::-1] > 0, axis=1)  # (3,) highest occupied level
    step = (hist.sum(axis=1) - hist[np.arange(3), last]) // 255  # (3,)
    before = np.cumsum(hist, axis=1) - hist  # (3, 256) pixels strictly below level i
    safe = np.maximum(step, 1)[:, None]
    lut = np.minimum((safe // 2 + before) // safe, 255)
    lut = np.where((step > 0)[:, None], lut, np.arange(256)[None])
    return _apply_lut(img, lut.astype(np.uint8))


_FACTOR_FN = {"brightness": brightness, "contrast": contrast, "color": color,
              "sharpness": sharpness}
_PLAIN_FN = {"autocontrast": autocontrast, "equalize": equalize}


def apply_op(image: np.ndarray, op: str, factor: float = 1.0) -> np.ndarray:
    """Apply one named op; ``factor`` is used by :data:`FACTOR_OPS` and ignored otherwise.

    Args:
        image: (H, W, 3) uint8 RGB.
        op: one of :data:`OPS`.
        factor: enhancement factor ≥ 0 (1 = identity).
    Returns:
        (H, W, 3) uint8.
    """
    if op in _FACTOR_FN:
        return _FACTOR_FN[op](image, factor)
    if op in _PLAIN_FN:
        return _PLAIN_FN[op](image)
    raise ValueError(f"apply_op: unknown op {op!r}; known {list(OPS)}")


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class PhotometricAugmentConfig:
    """Photometric augmentation of the augmented copies (defaults: SelfPose3d ref code).

    Attributes:
        enable_rand_augment: apply the rand-augment policy.
        ops: the op names the policy draws from (a non-empty subset of :data:`OPS`).
        num_ops: ops drawn per image (uniformly, with replacement), [0, 10].
        op_prob: probability that each drawn op is actually applied, [0, 1] (ref 0.5).
        max_magnitude: magnitudes are drawn uniformly in [0, max_magnitude], [0, 1].
        max_delta: factor change at magnitude 1: ``f = 1 ± magnitude · max_delta``,
            [0, 1] (ref 0.9, so f ∈ [0.1, 1.9]).
        enable_cutout: apply the rand-cutout.
        cutout_prob: probability that an image gets cutout squares at all, [0, 1].
        cutout_count: (min, max) number of squares per image, inclusive, in [0, 100]
            (ref 2–15).
        cutout_size: (min, max) square side in network-input pixels, inclusive, in
            [1, 4096] (paper: 20–40).
        cutout_fill: ``"grey"`` (constant ``cutout_grey``) or ``"noise"`` (uniform random
            uint8 per pixel and channel).
        cutout_grey: grey level of the ``"grey"`` fill, [0, 255].
    """

    enable_rand_augment: bool = True
    ops: tuple[str, ...] = OPS
    num_ops: int = 2
    op_prob: float = 0.5
    max_magnitude: float = 1.0
    max_delta: float = 0.9
    enable_cutout: bool = True
    cutout_prob: float = 1.0
    cutout_count: tuple[int, int] = (2, 15)
    cutout_size: tuple[int, int] = (20, 40)
    cutout_fill: str = "grey"
    cutout_grey: int = 128

    def __post_init__(self) -> None:
        o = "PhotometricAugmentConfig"
        ops = tuple(self.ops)
        if not ops or any(op not in OPS for op in ops):
            raise ValueError(f"{o}.ops must be a non-empty subset of {list(OPS)}, "
                             f"got {self.ops!r}")
        object.__setattr__(self, "ops", ops)
        _check_range(o, "num_ops", self.num_ops, 0, 10, integer=True)
        _check_range(o, "op_prob", self.op_prob, 0.0, 1.0)
        _check_range(o, "max_magnitude", self.max_magnitude, 0.0, 1.0)
        _check_range(o, "max_delta", self.max_delta, 0.0, 1.0)
        _check_range(o, "cutout_prob", self.cutout_prob, 0.0, 1.0)
        _check_int_pair(o, "cutout_count", self.cutout_count, 0, 100)
        _check_int_pair(o, "cutout_size", self.cutout_size, 1, 4096)
        object.__setattr__(self, "cutout_count", tuple(int(v) for v in self.cutout_count))
        object.__setattr__(self, "cutout_size", tuple(int(v) for v in self.cutout_size))
        if self.cutout_fill not in CUTOUT_FILLS:
            raise ValueError(f"{o}.cutout_fill must be one of {list(CUTOUT_FILLS)}, "
                             f"got {self.cutout_fill!r}")
        _check_range(o, "cutout_grey", self.cutout_grey, 0, 255, integer=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhotometricAugmentConfig:
        """Build from plain data (e.g. YAML); unknown keys or wrong types → ValueError."""
        o = "PhotometricAugmentConfig"
        if not isinstance(data, Mapping):
            raise ValueError(f"{o}: expected a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"{o}: unknown keys {sorted(unknown)}; allowed {sorted(known)}")
        defaults = cls()
        kw: dict[str, Any] = {}
        for key, value in data.items():
            default = getattr(defaults, key)
            try:
                kw[key] = _coerce_like(default, value)
            except (TypeError, ValueError):
                raise ValueError(f"{o}.{key}: expected {type(default).__name__} like "
                                 f"{default!r}, got {value!r}") from None
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) that :meth:`from_dict` reads back."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _check_range(owner: str, name: str, value: Any, lo: float, hi: float,
                 integer: bool = False) -> None:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not lo <= value <= hi:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{owner}.{name} must be {what} in [{lo}, {hi}], got {value!r}")


def _check_int_pair(owner: str, name: str, value: Any, lo: int, hi: int) -> None:
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
          and lo <= value[0] <= value[1] <= hi)
    if not ok:
        raise ValueError(f"{owner}.{name} must be an integer (min, max) pair with "
                         f"{lo} <= min <= max <= {hi}, got {value!r}")


def _coerce_like(default: Any, value: Any) -> Any:
    """Coerce plain data to the type of a field's default; TypeError when impossible."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or int(value) != value:
            raise TypeError
        return int(value)
    if isinstance(default, float):
        if isinstance(value, (bool, str)):
            raise TypeError
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError
        return value
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError
        return tuple(_coerce_like(default[0], v) for v in value) if default else tuple(value)
    return value


# --------------------------------------------------------------------------- policy

class OpSpec(NamedTuple):
    """One drawn op: its name and enhancement factor (1.0 for the magnitude-free ops)."""

    name: str
    factor: float


class RandAugment:
    """Rand-augment policy: ``num_ops`` ops drawn uniformly (with replacement) from ``ops``,
    each applied with probability ``op_prob`` at a magnitude ``m ~ U(0, max_magnitude)``
    and factor ``1 ± m · max_delta`` (random sign), in sequence.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> policy = RandAugment.from_config(PhotometricAugmentConfig())
        >>> img = np.full((64, 64, 3), 100, np.uint8)
        >>> policy(img, rng).shape
        (64, 64, 3)
    """

    def __init__(self, ops: tuple[str, ...] = OPS, num_ops: int = 2, op_prob: float = 0.5,
                 max_magnitude: float = 1.0, max_delta: float = 0.9):
        cfg = PhotometricAugmentConfig(ops=tuple(ops), num_ops=num_ops, op_prob=op_prob,
                                       max_magnitude=max_magnitude, max_delta=max_delta)
        self.ops = cfg.ops
        self.num_ops = cfg.num_ops
        self.op_prob = cfg.op_prob
        self.max_magnitude = cfg.max_magnitude
        self.max_delta = cfg.max_delta

    @classmethod
    def from_config(cls, config: PhotometricAugmentConfig) -> RandAugment:
        return cls(config.ops, config.num_ops, config.op_prob, config.max_magnitude,
                   config.max_delta)

    def sample(self, rng: np.random.Generator, count: int = 1) -> list[tuple[OpSpec, ...]]:
        """Draw ``count`` independent plans (each the ops applied to one image, in order).

        Always consumes the same number of variates from ``rng`` for a given
        ``(count, num_ops)``, whatever is drawn.
        """
        shape = (count, self.num_ops)
        which = rng.integers(0, len(self.ops), size=shape)
        applied = rng.random(shape) < self.op_prob
        magnitude = rng.uniform(0.0, self.max_magnitude, size=shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        factor = np.maximum(1.0 + sign * magnitude * self.max_delta, 0.0)
        plans = []
        for v in range(count):
            plan = []
            for k in range(self.num_ops):
                if not applied[v, k]:
                    continue
                name = self.ops[which[v, k]]
                plan.append(OpSpec(name, float(factor[v, k]) if name in FACTOR_OPS else 1.0))
            plans.append(tuple(plan))
        return plans

    @staticmethod
    def apply(image: np.ndarray, plan: tuple[OpSpec, ...]) -> np.ndarray:
        """Apply a drawn plan to a (H, W, 3) uint8 image (returns a new array)."""
        out = _check_image(image, "RandAugment.apply")
        if not plan:
            return out.copy()
        for spec in plan:
            out = apply_op(out, spec.name, spec.factor)
        return out

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random plan applied to a (H, W, 3) uint8 image."""
        return self.apply(image, self.sample(rng, 1)[0])


# --------------------------------------------------------------------------- cutout

def cutout_boxes(rng: np.random.Generator, image_size, count: int,
                 size_range: tuple[int, int]) -> np.ndarray:
    """Draw ``count`` squares whose centres are uniform over the image.

    Args:
        rng: random generator.
        image_size: (width, height) in pixels.
        count: number of squares ≥ 0.
        size_range: (min, max) side in pixels, inclusive.
    Returns:
        (count, 4) int64 ``[x0, y0, x1, y1)`` half-open, *not* clipped: ``x1 − x0 == y1 − y0``
        is the side; a square near the border may extend past it (then it is cut there).
    """
    w, h = (int(s) for s in image_size)
    lo, hi = (int(s) for s in size_range)
    if count < 0 or lo < 1 or hi < lo or w < 1 or h < 1:
        raise ValueError(f"cutout_boxes: need count >= 0, 1 <= min <= max and a positive "
                         f"image size, got count={count}, size_range={size_range}, "
                         f"image_size={image_size}")
    side = rng.integers(lo, hi + 1, size=count)
    cx = rng.integers(0, w, size=count)
    cy = rng.integers(0, h, size=count)
    x0, y0 = cx - side // 2, cy - side // 2
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1).astype(np.int64).reshape(-1, 4)


def apply_cutout(image: np.ndarray, boxes: np.ndarray, fill: str = "grey", grey: int = 128,
                 rng: np.random.Generator | None = None, inplace: bool = False) -> np.ndarray:
    """Fill squares of an image (clipped to it) with grey or uniform noise.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (K, 4) ``[x0, y0, x1, y1)`` as from :func:`cutout_boxes`.
        fill: ``"grey"`` or ``"noise"`` (needs ``rng``).
        grey: level of the grey fill, [0, 255].
        rng: random generator for the noise fill.
        inplace: write into ``image`` (must then be C-contiguous) instead of a copy.
    Returns:
        (H, W, 3) uint8.
    """
    img = _check_image(image, "apply_cutout")
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"apply_cutout: boxes must be (K, 4), got shape {boxes.shape}")
    if fill not in CUTOUT_FILLS:
        raise ValueError(f"apply_cutout: fill must be one of {list(CUTOUT_FILLS)}, "
                         f"got {fill!r}")
    if fill == "noise" and rng is None:
        raise ValueError("apply_cutout: fill='noise' needs an rng, got None")
    if inplace and img is not image:
        raise ValueError("apply_cutout: inplace=True needs a C-contiguous image, got strides "
                         f"{image.strides}")
    out = img if inplace else img.copy()
    h, w = out.shape[:2]
    clipped = np.clip(boxes, 0, [w, h, w, h])
    for x0, y0, x1, y1 in clipped.tolist():
        if x1 <= x0 or y1 <= y0:
            continue
        if fill == "grey":
            out[y0:y1, x0:x1] = grey
        else:
            out[y0:y1, x0:x1] = rng.integers(0, 256, size=(y1 - y0, x1 - x0, 3), dtype=np.uint8)
    return out


# --------------------------------------------------------------------------- entry points

def augment_image(image: np.ndarray, rng: np.random.Generator,
                  config: PhotometricAugmentConfig | None = None) -> np.ndarray:
    """Rand-augment then rand-cutout of one (H, W, 3) uint8 network-input image.

    Same as :func:`augment_views` on a single view (and with the same draws).
    """
    img = _check_image(image, "augment_image")
    return augment_views(img[None], rng, config)[0]


def augment_views(images: np.ndarray, rng: np.random.Generator,
                  config: PhotometricAugmentConfig | None = None) -> np.ndarray:
    """Photometric augmentation of a batch of network-input views (an augmented copy).

    Every view gets its own independent draw (ops, magnitudes, cutout squares), as in the
    SelfPose3d reference: the views of a copy are different cameras, so sharing one draw
    would add no useful correlation. Call it once per augmented copy; never on ``x0``.

    Draw order (fixed, so results depend only on the generator's state): the rand-augment
    plans of all views, then per view the cutout decision, count, squares and noise.

    Args:
        images: (V, H, W, 3) uint8 RGB network-input images (after the affine warp).
        rng: random generator (the only source of randomness).
        config: the settings; default :class:`PhotometricAugmentConfig`.
    Returns:
        (V, H, W, 3) uint8, a new array (the input is not modified).

    Example:
        >>> imgs = np.zeros((5, 256, 320, 3), np.uint8)
        >>> augment_views(imgs, np.random.default_rng(0)).shape
        (5, 256, 320, 3)
    """
    if config is None:
        config = PhotometricAugmentConfig()
    elif not isinstance(config, PhotometricAugmentConfig):
        raise ValueError(f"augment_views: config must be a PhotometricAugmentConfig, "
                         f"got {type(config).__name__}")
    if not isinstance(images, np.ndarray):
        raise ValueError(f"augment_views: images must be a numpy array, "
                         f"got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"augment_views: images must be uint8, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"augment_views: images must be (V, H, W, 3), got shape {images.shape}")
    V, H, W, _ = images.shape
    out = np.empty_like(images)  # (V, H, W, 3)

    if config.enable_rand_augment and config.num_ops > 0:
        plans = RandAugment.from_config(config).sample(rng, V)
    else:
        plans = [()] * V
    for v in range(V):
        out[v] = RandAugment.apply(images[v], plans[v])

    if config.enable_cutout:
        cmin, cmax = config.cutout_count
        for v in range(V):
            if rng.random() >= config.cutout_prob:
                continue
            count = int(rng.integers(cmin, cmax + 1))
            boxes = cutout_boxes(rng, (W, H), count, config.cutout_size)
            apply_cutout(out[v], boxes, config.cutout_fill, config.cutout_grey, rng,
                         inplace=True)
    return out
