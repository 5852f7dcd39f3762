"""Pinhole "canvas" of a distorted camera, and drawing helpers.

The renderer draws with a pinhole model (straight 3D edges stay straight, so cv2's polygon
fills are exact for planar faces) onto a canvas large enough to hold everything the real,
distorted image sees, then warps the canvas into the image with ``cv2.remap`` through the
camera's exact OpenCV distortion. A 3D point projected by
:func:`selfpose3d_core.geometry.projection.project_numpy` lands on the pixel where the
canvas drew it (to the accuracy of the iterative undistortion, ~1e-4 px).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry.camera import Camera
from ..geometry.projection import undistort_points_numpy

__all__ = ["CanvasCamera", "SHIFT", "to_fixed", "clip_polygon_near"]

#: Fixed-point bits of the coordinates handed to cv2 drawing functions.
SHIFT = 2
_SCALE = float(1 << SHIFT)
NEAR = 0.05


def to_fixed(uv: np.ndarray) -> np.ndarray:
    """(..., 2) float pixels → int32 fixed-point coordinates for ``shift=SHIFT``."""
    return np.round(np.clip(uv, -1e5, 1e5) * _SCALE).astype(np.int32)


def clip_polygon_near(pts_cam: np.ndarray, near: float = NEAR) -> np.ndarray:
    """Clip a planar polygon (M, 3) in camera coordinates to ``z >= near``
    (Sutherland–Hodgman); returns (M', 3), possibly empty."""
    out = []
    n = len(pts_cam)
    for i in range(n):
        a, b = pts_cam[i], pts_cam[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            s = (near - a[2]) / (b[2] - a[2])
            out.append(a + s * (b - a))
    return np.asarray(out).reshape(-1, 3)


class CanvasCamera:
    """The pinhole canvas of one camera plus the remap into its distorted image.

    Attributes:
        camera: the real camera.
        K: (3, 3) intrinsics of the canvas (the camera's K, principal point shifted).
        size: canvas (width, height).
        offset: (2,) canvas pixel = undistorted image pixel − offset.
    """

    def __init__(self, camera: Camera, max_scale: float = 2.5):
        self.camera = camera
        w, h = camera.width, camera.height
        t = np.linspace(0.0, 1.0, 65)
        border = np.concatenate([
            np.stack([t * (w - 1), np.zeros_like(t)], -1),
            np.stack([t * (w - 1), np.full_like(t, h - 1)], -1),
            np.stack([np.zeros_like(t), t * (h - 1)], -1),
            np.stack([np.full_like(t, w - 1), t * (h - 1)], -1)])
        uv = self._pinhole_px(undistort_points_numpy(border, camera))
        lo = np.floor(uv.min(0)) - 3
        hi = np.ceil(uv.max(0)) + 3
        lo = np.maximum(lo, [-(max_scale - 1) / 2 * w, -(max_scale - 1) / 2 * h])
        hi = np.minimum(hi, [(max_scale + 1) / 2 * w, (max_scale + 1) / 2 * h])
        self.offset = lo
        self.size = (int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)
        K = camera.K.copy()
        K[0, 2] -= lo[0]
        K[1, 2] -= lo[1]
        self.K = K
        self.R, self.t = camera.R, camera.t
        self.centre = camera.center
        self.focal = float(np.sqrt(K[0, 0] * K[1, 1]))
        uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        xn = undistort_points_numpy(np.stack([uu, vv], -1), camera)
        canvas_uv = self._pinhole_px(xn) - lo
        self._map1, self._map2 = cv2.convertMaps(canvas_uv[..., 0].astype(np.float32),
                                                 canvas_uv[..., 1].astype(np.float32),
                                                 cv2.CV_16SC2)

    def _pinhole_px(self, xn: np.ndarray) -> np.ndarray:
        K = self.camera.K
        return np.stack([K[0, 0] * xn[..., 0] + K[0, 1] * xn[..., 1] + K[0, 2],
                         K[1, 1] * xn[..., 1] + K[1, 2]], -1)

    def to_cam(self, pts: np.ndarray) -> np.ndarray:
        """(..., 3) world → (..., 3) camera coordinates."""
        return pts @ self.R.T + self.t

    def project_cam(self, pc: np.ndarray) -> np.ndarray:
        """(..., 3) camera coordinates → (..., 2) canvas pixels (pinhole, z clamped)."""
        z = np.maximum(pc[..., 2], 1e-6)
        x, y = pc[..., 0] / z, pc[..., 1] / z
        K = self.K
        return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], -1)

    def project(self, pts: np.ndarray) -> np.ndarray:
        """(..., 3) world → (..., 2) canvas pixels."""
        return self.project_cam(self.to_cam(pts))

    def new_canvas(self, channels: int = 3, dtype=np.uint8) -> np.ndarray:
        w, h = self.size
        return np.zeros((h, w, channels) if channels > 1 else (h, w), dtype=dtype)

    def to_image(self, canvas: np.ndarray) -> np.ndarray:
        """Warp a canvas into the camera's (distorted) image, bilinear."""
        return cv2.remap(canvas, self._map1, self._map2, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    def fill_polygon_3d(self, img: np.ndarray, pts: np.ndarray, color, antialias=True) -> None:
        """Fill a planar 3D polygon (M, 3) (world), clipped at the near plane."""
        pc = clip_polygon_near(self.to_cam(np.asarray(pts, dtype=np.float64)))
        if len(pc) < 3:
            return
        uv = to_fixed(self.project_cam(pc))
        cv2.fillPoly(img, [uv], color, cv2.LINE_AA if antialias else cv2.LINE_8, SHIFT)

    def line_3d(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, color,
                thickness: int = 1) -> None:
        """Draw the 3D segment a–b (world), clipped at the near plane."""
        pc = self.to_cam(np.stack([a, b]).astype(np.float64))
        if pc[0, 2] < NEAR and pc[1, 2] < NEAR:
            return
        if pc[0, 2] < NEAR or pc[1, 2] < NEAR:
            i = 0 if pc[0, 2] < NEAR else 1
            s = (NEAR - pc[i, 2]) / (pc[1 - i, 2] - pc[i, 2])
            pc[i] = pc[i] + s * (pc[1 - i] - pc[i])
        uv = to_fixed(self.project_cam(pc))
        cv2.line(img, tuple(int(v) for v in uv[0]), tuple(int(v) for v in uv[1]), color,
                 thickness, cv2.LINE_AA, SHIFT)


def capsule_outlines(c0: np.ndarray, c1: np.ndarray, r0: np.ndarray, r1: np.ndarray,
                     k: int = 8) -> np.ndarray:
    """Outlines of 2D capsules (two half-discs joined by straight sides).

    c0, c1: (M, 2) end centres (px); r0, r1: (M,) radii (px) → (M, 2k, 2) polygons.
    """
    d = c1 - c0
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    u = np.where(n > 1e-6, d / np.maximum(n, 1e-9), np.array([1.0, 0.0]))
    v = np.stack([-u[:, 1], u[:, 0]], -1)
    th1 = np.linspace(-np.pi / 2, np.pi / 2, k)
    th0 = th1 + np.pi
    e1 = np.cos(th1)[None, :, None] * u[:, None] + np.sin(th1)[None, :, None] * v[:, None]
    e0 = np.cos(th0)[None, :, None] * u[:, None] + np.sin(th0)[None, :, None] * v[:, None]
    return np.concatenate([c1[:, None] + r1[:, None, None] * e1,
                           c0[:, None] + r0[:, None, None] * e0], axis=1)


def circle_outlines(c: np.ndarray, r: np.ndarray, k: int = 20) -> np.ndarray:
    """c: (M, 2), r: (M,) → (M, k, 2) polygons approximating circles."""
    th = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
    e = np.stack([np.cos(th), np.sin(th)], -1)
    return c[:, None] + r[:, None, None] * e[None]


__all__ += ["capsule_outlines", "circle_outlines"]
