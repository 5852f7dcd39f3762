"""``sensor_msgs/Image`` and ``CompressedImage`` ↔ numpy, without cv_bridge.

Every reader returns an RGB ``uint8`` array of shape ``(H, W, 3)`` (what the estimator
takes), honouring the message's ``encoding``, its row ``step`` (padding bytes at the end of
each row are skipped) and ``is_bigendian`` for 16-bit encodings. 16-bit values are scaled
to 8 bits over their full range (``round(v / 257)``).

Supported ``Image`` encodings (:data:`SUPPORTED_ENCODINGS`): ``rgb8 bgr8 rgba8 bgra8 mono8
8UC1 mono16 rgb16 bgr16 rgba16 bgra16``, Bayer ``bayer_{rggb,bggr,gbrg,grbg}{8,16}``
(demosaiced by OpenCV) and YUV 4:2:2 ``yuv422``/``uyvy`` (U Y0 V Y1) and
``yuv422_yuy2``/``yuyv`` (Y0 U Y1 V).

Writers (for publishers): :func:`numpy_to_image` takes an array already laid out in the
requested encoding (like cv_bridge) and writes ``data`` with ``tobytes()``;
:func:`rgb_to_compressed` encodes RGB as JPEG or PNG.

Any malformed input raises :class:`ImageConversionError` (a ``ValueError``) that says what
was received.

Example:
    >>> import numpy as np
    >>> rgb = np.zeros((2, 3, 3), np.uint8); rgb[..., 0] = 255
    >>> msg = numpy_to_image(rgb[..., ::-1], "bgr8")
    >>> (msg.encoding, msg.step, len(msg.data))
    ('bgr8', 9, 18)
    >>> image_to_rgb(msg)[0, 0].tolist()
    [255, 0, 0]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

__all__ = [
    "ImageConversionError",
    "SUPPORTED_ENCODINGS",
    "image_to_rgb",
    "compressed_to_rgb",
    "msg_to_rgb",
    "numpy_to_image",
    "rgb_to_compressed",
]

class ImageConversionError(ValueError):
    """An image message could not be converted (bad encoding, sizes or data)."""


class _Layout(NamedTuple):
    channels: int  # samples per pixel in the buffer
    itemsize: int  # bytes per sample (1 or 2)
    kind: str  # how to reach RGB: "rgb", "bgr", "mono", "bayer", "yuv"
    cv_code: int | None = None  # OpenCV conversion code for bayer/yuv


def _bayer_code(pattern: str) -> int:
    """OpenCV code for a sensor pattern named by its top-left 2×2 block (e.g. ``RGGB``).

    OpenCV >= 5 names codes by that block (``COLOR_BayerRGGB2RGB``); older versions only
    have the legacy names, which are offset by one pixel (``BayerBG`` == sensor RGGB).
    """
    code = getattr(cv2, f"COLOR_Bayer{pattern}2RGB", None)
    if code is not None:
        return code
    legacy = {"RGGB": "BG", "BGGR": "RG", "GBRG": "GR", "GRBG": "GB"}[pattern]
    return getattr(cv2, f"COLOR_Bayer{legacy}2RGB")


_LAYOUTS: dict[str, _Layout] = {
    "rgb8": _Layout(3, 1, "rgb"),
    "bgr8": _Layout(3, 1, "bgr"),
    "rgba8": _Layout(4, 1, "rgb"),
    "bgra8": _Layout(4, 1, "bgr"),
    "mono8": _Layout(1, 1, "mono"),
    "8uc1": _Layout(1, 1, "mono"),
    "mono16": _Layout(1, 2, "mono"),
    "rgb16": _Layout(3, 2, "rgb"),
    "bgr16": _Layout(3, 2, "bgr"),
    "rgba16": _Layout(4, 2, "rgb"),
    "bgra16": _Layout(4, 2, "bgr"),
    "yuv422": _Layout(2, 1, "yuv", cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": _Layout(2, 1, "yuv", cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Layout(2, 1, "yuv", cv2.COLOR_YUV2RGB_YUYV),
    "yuyv": _Layout(2, 1, "yuv", cv2.COLOR_YUV2RGB_YUYV),
}
for _p in ("rggb", "bggr", "gbrg", "grbg"):
    _LAYOUTS[f"bayer_{_p}8"] = _Layout(1, 1, "bayer", _bayer_code(_p.upper()))
    _LAYOUTS[f"bayer_{_p}16"] = _Layout(1, 2, "bayer", _bayer_code(_p.upper()))

#: Encodings :func:`image_to_rgb` reads (lower case; ``8UC1`` is also accepted as written).
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(sorted(_LAYOUTS))

_YUV_NAMES = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")


def _layout(encoding: str) -> _Layout:
    lay = _LAYOUTS.get(str(encoding).strip().lower())
    if lay is None:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    return lay


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """uint16 → uint8 by ``round(v / 257)`` (full range); uint8 passes through."""
    if arr.dtype == np.uint8:
        return arr
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)


def image_to_rgb(msg: Image, *, copy: bool = False) -> np.ndarray:
    """``sensor_msgs/Image`` → RGB ``uint8`` array ``(H, W, 3)``.

    Args:
        msg: the image message (any of :data:`SUPPORTED_ENCODINGS`).
        copy: always return a new array. When False an ``rgb8`` image without row padding
            is returned as a zero-copy view of ``msg.data`` (it shares memory with the
            message and is read-only when ``data`` is ``bytes``).

    Returns:
        ``(H, W, 3)`` uint8, channel order R, G, B.

    Raises:
        ImageConversionError: unsupported encoding, zero or negative sizes, a ``step``
            shorter than a row, a data length other than ``height * step``, or an odd
            width for YUV 4:2:2.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    encoding = msg.encoding
    lay = _layout(encoding)
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            f"image has zero size: height={height} width={width} (encoding {encoding!r})")
    if lay.kind == "yuv":
        if width % 2:
            raise ImageConversionError(f"{encoding!r} needs an even width, got {width}")
        pixel_bytes = 2
    else:
        pixel_bytes = lay.channels * lay.itemsize
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is shorter than a row of {width} px × {pixel_bytes} B = {row_bytes} B "
            f"(encoding {encoding!r})")
    nbytes = len(msg.data)
    if nbytes != height * step:
        raise ImageConversionError(
            f"data has {nbytes} bytes, expected height × step = {height} × {step} = "
            f"{height * step} (encoding {encoding!r}, {width}×{height})")

    if lay.itemsize == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
    else:
        dtype = np.dtype(np.uint8)
    channels = 2 if lay.kind == "yuv" else lay.channels
    # (H, W, C) view over the buffer; the row stride skips the padding
    arr = np.ndarray((height, width, channels), dtype=dtype, buffer=memoryview(msg.data),
                     strides=(step, channels * lay.itemsize, lay.itemsize))

    src = _to_uint8(arr)  # 16-bit: a scaled contiguous copy; 8-bit: the view itself
    four = channels == 4
    if lay.kind == "rgb":
        out = cv2.cvtColor(src, cv2.COLOR_RGBA2RGB) if four else src
    elif lay.kind == "bgr":
        out = cv2.cvtColor(src, cv2.COLOR_BGRA2RGB if four else cv2.COLOR_BGR2RGB)
    elif lay.kind == "mono":
        out = cv2.cvtColor(src[..., 0], cv2.COLOR_GRAY2RGB)
    elif lay.kind == "bayer":
        out = cv2.cvtColor(src[..., 0], lay.cv_code)
    else:  # yuv
        out = cv2.cvtColor(src, lay.cv_code)
    if copy and np.shares_memory(out, arr):
        return out.copy()
    return np.ascontiguousarray(out)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """``sensor_msgs/CompressedImage`` (JPEG or PNG) → RGB ``uint8`` ``(H, W, 3)``.

    ``format`` is as image_transport writes it (``"jpeg"``, ``"png"``,
    ``"bgr8; jpeg compressed bgr8"``, ...). The encoded data holds BGR (OpenCV order) unless
    the format says ``compressed rgb8``. 16-bit PNGs are reduced to 8 bits by OpenCV.

    Raises:
        ImageConversionError: empty data, ``compressedDepth`` data, or bytes OpenCV cannot
            decode.
    """
    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower():
        raise ImageConversionError(
            f"compressedDepth images are not supported (format {fmt!r})")
    buf = np.frombuffer(memoryview(msg.data), np.uint8)
    if buf.size == 0:
        raise ImageConversionError(f"compressed image has no data (format {fmt!r})")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageConversionError(
            f"could not decode {buf.size} bytes as an image (format {fmt!r}, "
            f"first bytes {bytes(buf[:8]).hex()})")
    if "compressed rgb" in fmt.lower():
        return np.ascontiguousarray(decoded)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def msg_to_rgb(msg: Any) -> np.ndarray:
    """Either image message → RGB ``uint8`` ``(H, W, 3)`` (dispatch on the type)."""
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg)
    if isinstance(msg, Image):
        return image_to_rgb(msg)
    raise ImageConversionError(
        f"expected sensor_msgs/Image or CompressedImage, got {type(msg).__name__}")


def _header(msg: Any, header: Any) -> None:
    if header is not None:
        msg.header.stamp = header.stamp
        msg.header.frame_id = header.frame_id


def numpy_to_image(array: np.ndarray, encoding: str = "rgb8", *, header: Any = None) -> Image:
    """numpy array → ``sensor_msgs/Image`` (no row padding; 16-bit written little-endian).

    Args:
        array: the pixels already in ``encoding``'s layout: ``(H, W, C)`` with C = 3 for
            rgb/bgr, 4 for rgba/bgra, ``(H, W)`` or ``(H, W, 1)`` for mono and Bayer,
            ``(H, W, 2)`` for YUV 4:2:2; dtype uint8 for ``*8`` and YUV, uint16 for ``*16``.
        encoding: one of :data:`SUPPORTED_ENCODINGS`.
        header: an optional ``std_msgs/Header`` whose stamp and frame_id are copied.

    Raises:
        ImageConversionError: unknown encoding, or a shape/dtype that does not match it.
    """
    lay = _layout(encoding)
    arr = np.asarray(array)
    want_dtype = np.uint16 if lay.itemsize == 2 else np.uint8
    channels = 2 if lay.kind == "yuv" else lay.channels
    if arr.ndim == 2 and channels == 1:
        arr = arr[..., None]
    if (arr.ndim != 3 or arr.shape[2] != channels or arr.dtype != want_dtype
            or arr.shape[0] == 0 or arr.shape[1] == 0):
        raise ImageConversionError(
            f"encoding {encoding!r} needs a non-empty (H, W, {channels}) "
            f"{np.dtype(want_dtype).name} array, got {arr.shape} {arr.dtype}")
    if lay.kind == "yuv" and arr.shape[1] % 2:
        raise ImageConversionError(f"{encoding!r} needs an even width, got {arr.shape[1]}")
    if lay.itemsize == 2:
        arr = arr.astype("<u2", copy=False)
    height, width = arr.shape[:2]
    msg = Image()
    _header(msg, header)
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = width * channels * lay.itemsize
    msg.data = np.ascontiguousarray(arr).tobytes()  # bytes: fast (an ndarray is not)
    return msg


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", *, quality: int = 90,
                      header: Any = None) -> CompressedImage:
    """RGB ``uint8`` ``(H, W, 3)`` → ``sensor_msgs/CompressedImage`` (JPEG or PNG).

    The ``format`` field is written as image_transport does: ``"rgb8; jpeg compressed
    bgr8"``.

    Args:
        rgb: ``(H, W, 3)`` uint8, R, G, B.
        fmt: ``"jpeg"`` (or ``"jpg"``) or ``"png"``.
        quality: JPEG quality 1–100 (ignored for PNG).
        header: an optional ``std_msgs/Header`` to copy.
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or 0 in arr.shape[:2]:
        raise ImageConversionError(
            f"rgb must be a non-empty (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    kind = fmt.lower()
    if kind in ("jpeg", "jpg"):
        ext, params, kind = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)], "jpeg"
    elif kind == "png":
        ext, params = ".png", []
    else:
        raise ImageConversionError(f"fmt must be 'jpeg' or 'png', got {fmt!r}")
    ok, enc = cv2.imencode(ext, cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover - OpenCV failure
        raise ImageConversionError(f"OpenCV could not encode a {arr.shape} image as {kind}")
    msg = CompressedImage()
    _header(msg, header)
    msg.format = f"rgb8; {kind} compressed bgr8"
    msg.data = enc.tobytes()
    return msg
