"""selfpose3d_ros.image_conv: Image/CompressedImage ↔ numpy with real message classes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from selfpose3d_ros.image_conv import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
    msg_to_rgb,
    numpy_to_image,
    rgb_to_compressed,
)

H, W = 6, 8
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def make_msg(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Hand-build an Image: ``pixels`` (H, W, C) in the buffer layout, ``pad`` junk bytes
    after each row, 16-bit samples in the requested byte order."""
    h, w = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2" if bigendian else "<u2")
    rows = pixels.reshape(h, -1).view(np.uint8).reshape(h, -1)
    junk = np.full((h, pad), 0xAB, np.uint8)
    msg = Image()
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = rows.shape[1] + pad
    msg.data = np.concatenate([rows, junk], axis=1).tobytes()
    return msg


def scale16(v: np.ndarray) -> np.ndarray:
    return np.round(v.astype(np.float64) / 257.0).astype(np.uint8)


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Bayer mosaic (H, W) of an RGB image; pattern = top-left 2×2 block, e.g. 'RGGB'."""
    ch = {"R": 0, "G": 1, "B": 2}
    out = np.zeros(rgb.shape[:2], rgb.dtype)
    for k, c in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, ch[c]]
    return out


class TestEightBit:
    @pytest.mark.parametrize("pad", [0, 5])
    @pytest.mark.parametrize("encoding,layout", [
        ("rgb8", lambda x: x),
        ("bgr8", lambda x: x[..., ::-1]),
        ("rgba8", lambda x: np.dstack([x, np.full(x.shape[:2], 7, np.uint8)])),
        ("bgra8", lambda x: np.dstack([x[..., ::-1], np.full(x.shape[:2], 7, np.uint8)])),
    ])
    def test_colour(self, encoding, layout, pad):
        out = image_to_rgb(make_msg(layout(RGB), encoding, pad))
        assert out.shape == (H, W, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, RGB)

    @pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
    @pytest.mark.parametrize("pad", [0, 3])
    def test_mono8(self, encoding, pad):
        gray = RGB[..., 0]
        out = image_to_rgb(make_msg(gray[..., None], encoding, pad))
        np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))

    def test_rgb8_zero_copy_and_copy(self):
        msg = make_msg(RGB, "rgb8")
        view = image_to_rgb(msg)
        assert np.shares_memory(view, np.frombuffer(memoryview(msg.data), np.uint8))
        assert not np.shares_memory(image_to_rgb(msg, copy=True), view)
        padded = image_to_rgb(make_msg(RGB, "rgb8", pad=4))
        assert padded.flags.c_contiguous


class TestSixteenBit:
    V16 = RNG.integers(0, 65536, (H, W, 4), dtype=np.uint16)

    @pytest.mark.parametrize("bigendian", [False, True])
    @pytest.mark.parametrize("pad", [0, 6])
    def test_mono16(self, bigendian, pad):
        v = self.V16[..., :1]
        out = image_to_rgb(make_msg(v, "mono16", pad, bigendian))
        np.testing.assert_array_equal(out, np.repeat(scale16(v), 3, axis=2))

    @pytest.mark.parametrize("bigendian", [False, True])
    @pytest.mark.parametrize("encoding,order,channels", [
        ("rgb16", [0, 1, 2], 3), ("bgr16", [2, 1, 0], 3),
        ("rgba16", [0, 1, 2], 4), ("bgra16", [2, 1, 0], 4),
    ])
    def test_colour16(self, encoding, order, channels, bigendian):
        v = self.V16[..., :channels]
        out = image_to_rgb(make_msg(v, encoding, 2, bigendian))
        np.testing.assert_array_equal(out, scale16(v[..., order]))

    def test_full_range_endpoints(self):
        v = np.array([[[0], [65535], [257], [128]]], np.uint16)
        assert image_to_rgb(make_msg(v, "mono16"))[0, :, 0].tolist() == [0, 255, 1, 0]

    def test_byte_order_matters(self):
        v = np.full((2, 2, 1), 0x0100, np.uint16)  # 256 -> 1
        msg = make_msg(v, "mono16", bigendian=True)
        assert image_to_rgb(msg)[0, 0, 0] == 1
        msg.is_bigendian = 0  # same bytes read little-endian: 1 -> 0
        assert image_to_rgb(msg)[0, 0, 0] == 0


class TestBayer:
    COLOUR = np.array([200, 90, 30], np.uint8)

    @pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG", "GRBG"])
    @pytest.mark.parametrize("pad", [0, 3])
    def test_uniform_colour_8(self, pattern, pad):
        img = np.broadcast_to(self.COLOUR, (H, W, 3)).copy()
        msg = make_msg(mosaic(img, pattern)[..., None], f"bayer_{pattern.lower()}8", pad)
        out = image_to_rgb(msg)
        assert out.shape == (H, W, 3)
        np.testing.assert_array_equal(out[1:-1, 1:-1], img[1:-1, 1:-1])

    @pytest.mark.parametrize("pattern", ["RGGB", "GRBG"])
    def test_uniform_colour_16(self, pattern):
        img = np.broadcast_to(self.COLOUR.astype(np.uint16) * 257, (H, W, 3)).copy()
        msg = make_msg(mosaic(img, pattern)[..., None], f"bayer_{pattern.lower()}16", 2,
                       bigendian=True)
        np.testing.assert_array_equal(image_to_rgb(msg)[1:-1, 1:-1],
                                      np.broadcast_to(self.COLOUR, (H - 2, W - 2, 3)))

    def test_smooth_image_close(self):
        yy, xx = np.mgrid[0:32, 0:32]
        img = np.stack([4 * xx + 40, 3 * yy + 60, 2 * (xx + yy) + 20], -1).astype(np.uint8)
        out = image_to_rgb(make_msg(mosaic(img, "RGGB")[..., None], "bayer_rggb8"))
        err = np.abs(out.astype(int) - img)[2:-2, 2:-2]
        assert err.max() <= 2


class TestYuv:
    @pytest.mark.parametrize("encoding,gray_layout", [
        ("yuv422", lambda y: np.stack([np.full_like(y, 128), y], -1)),  # U Y0 V Y1
        ("uyvy", lambda y: np.stack([np.full_like(y, 128), y], -1)),
        ("yuv422_yuy2", lambda y: np.stack([y, np.full_like(y, 128)], -1)),  # Y0 U Y1 V
        ("yuyv", lambda y: np.stack([y, np.full_like(y, 128)], -1)),
    ])
    @pytest.mark.parametrize("pad", [0, 4])
    def test_gray_byte_order(self, encoding, gray_layout, pad):
        y = RNG.integers(16, 236, (H, W), dtype=np.uint8)
        out = image_to_rgb(make_msg(gray_layout(y), encoding, pad))
        # neutral chroma: R = G = B, monotonic in Y (BT.601 video range)
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
        order = np.argsort(y.ravel(), kind="stable")
        assert (np.diff(out[..., 0].ravel()[order].astype(int)) >= 0).all()

    @pytest.mark.parametrize("encoding,code", [("uyvy", cv2.COLOR_RGB2YUV_UYVY),
                                               ("yuyv", cv2.COLOR_RGB2YUV_YUYV)])
    def test_colour_round_trip(self, encoding, code):
        img = np.broadcast_to(np.array([180, 60, 40], np.uint8), (H, W, 3)).copy()
        packed = cv2.cvtColor(img, code)  # (H, W, 2)
        out = image_to_rgb(make_msg(packed, encoding, 2))
        assert np.abs(out.astype(int) - img).max() <= 3

    def test_odd_width(self):
        msg = make_msg(np.zeros((2, 3, 2), np.uint8), "uyvy")
        with pytest.raises(ImageConversionError, match="even width, got 3"):
            image_to_rgb(msg)


class TestErrors:
    def test_unknown_encoding(self):
        msg = make_msg(RGB, "rgb8")
        msg.encoding = "32FC1"
        with pytest.raises(ImageConversionError, match="unsupported image encoding '32FC1'"):
            image_to_rgb(msg)

    def test_is_value_error(self):
        assert issubclass(ImageConversionError, ValueError)

    def test_data_length(self):
        msg = make_msg(RGB, "rgb8", pad=2)
        msg.data = bytes(len(msg.data) - 1)
        with pytest.raises(ImageConversionError,
                           match=r"data has 155 bytes, expected height × step = 6 × 26 = 156"):
            image_to_rgb(msg)

    def test_step_too_short(self):
        msg = make_msg(RGB, "rgb8")
        msg.step = 20
        msg.data = bytes(20 * H)
        with pytest.raises(ImageConversionError, match="step 20 is shorter than a row"):
            image_to_rgb(msg)

    @pytest.mark.parametrize("h,w", [(0, 4), (4, 0)])
    def test_zero_size(self, h, w):
        msg = Image(height=h, width=w, encoding="rgb8", step=3 * w)
        with pytest.raises(ImageConversionError, match="zero size"):
            image_to_rgb(msg)

    def test_wrong_message_type(self):
        with pytest.raises(ImageConversionError, match="got Header"):
            msg_to_rgb(Header())


class TestCompressed:
    def test_png_round_trip_exact(self):
        hdr = Header(frame_id="cam3")
        hdr.stamp.sec = 12
        msg = rgb_to_compressed(RGB, "png", header=hdr)
        assert msg.format == "rgb8; png compressed bgr8"
        assert msg.header.frame_id == "cam3" and msg.header.stamp.sec == 12
        np.testing.assert_array_equal(compressed_to_rgb(msg), RGB)
        np.testing.assert_array_equal(msg_to_rgb(msg), RGB)

    def test_jpeg_colour_order(self):
        img = np.zeros((16, 16, 3), np.uint8)
        img[..., 0] = 220  # red
        out = compressed_to_rgb(rgb_to_compressed(img, "jpeg", quality=95))
        assert abs(int(out[8, 8, 0]) - 220) <= 4 and out[8, 8, 2] <= 6

    def test_plain_format_strings(self):
        ok, enc = cv2.imencode(".png", RGB[..., ::-1].copy())
        for fmt in ["png", "jpeg", "bgr8; png compressed bgr8"]:
            msg = CompressedImage(format=fmt)
            msg.data = enc.tobytes()
            np.testing.assert_array_equal(compressed_to_rgb(msg), RGB)
        msg = CompressedImage(format="rgb8; png compressed rgb8")
        msg.data = cv2.imencode(".png", RGB)[1].tobytes()  # channels stored R, G, B
        np.testing.assert_array_equal(compressed_to_rgb(msg), RGB)

    def test_errors(self):
        with pytest.raises(ImageConversionError, match="no data"):
            compressed_to_rgb(CompressedImage(format="jpeg"))
        bad = CompressedImage(format="jpeg")
        bad.data = b"not an image at all"
        with pytest.raises(ImageConversionError, match="could not decode 19 bytes"):
            compressed_to_rgb(bad)
        depth = CompressedImage(format="16UC1; compressedDepth png")
        depth.data = b"\x00" * 20
        with pytest.raises(ImageConversionError, match="compressedDepth"):
            compressed_to_rgb(depth)
        with pytest.raises(ImageConversionError, match="fmt must be"):
            rgb_to_compressed(RGB, "webp")
        with pytest.raises(ImageConversionError, match=r"\(H, W, 3\) uint8"):
            rgb_to_compressed(RGB[..., 0], "png")


class TestNumpyToImage:
    @pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
    def test_round_trip_every_encoding(self, encoding):
        """numpy → Image → numpy agrees with reading a hand-built message."""
        lay_channels = {"rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4}
        base = encoding.rstrip("0123456789")
        if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
            shape = (H, W, 2)
        else:
            shape = (H, W, lay_channels.get(base, 1))
        dtype = np.uint16 if encoding.endswith("16") else np.uint8
        arr = RNG.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
        msg = numpy_to_image(arr, encoding)
        assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (H, W, encoding, 0)
        assert msg.step * msg.height == len(msg.data)
        np.testing.assert_array_equal(image_to_rgb(msg), image_to_rgb(make_msg(arr, encoding)))

    def test_mono_2d_and_header(self):
        hdr = Header(frame_id="world")
        msg = numpy_to_image(RGB[..., 1], "mono8", header=hdr)
        assert msg.step == W and msg.header.frame_id == "world"
        np.testing.assert_array_equal(image_to_rgb(msg)[..., 2], RGB[..., 1])

    @pytest.mark.parametrize("arr,encoding", [
        (RGB.astype(np.uint16), "rgb8"),
        (RGB, "rgba8"),
        (RGB[..., 0], "rgb8"),
        (np.zeros((0, 4, 3), np.uint8), "rgb8"),
        (np.zeros((2, 3, 2), np.uint8), "yuyv"),
    ])
    def test_bad_arrays(self, arr, encoding):
        with pytest.raises(ImageConversionError, match="needs"):
            numpy_to_image(arr, encoding)
