"""Camera model: pinhole intrinsics, OpenCV lens distortion, world→camera pose.

Convention (stated once, used everywhere in the core):

* World frame: metres, z up.
* Camera frame: OpenCV — x right, y down, z forward (optical axis).
* Pose: ``x_cam = R @ x_world + t`` (R, t map world to camera). The camera centre in
  the world is ``C = -R.T @ t``.
* Pixels: OpenCV — u right, v down, the centre of the top-left pixel is (0, 0).
* Distortion: OpenCV's 5-parameter model ``(k1, k2, p1, p2, k3)``.

Converters from other conventions (VoxelPose ``T`` = camera centre in mm, Panoptic cm,
Qualisys sensor units, ROS CameraInfo) live in :mod:`selfpose3d_core.geometry.calibration`
and the rig YAML in :mod:`selfpose3d_core.geometry.rig_yaml`.

Two representations:

* :class:`Camera` — one camera, numpy, validated, immutable. The boundary type.
* :class:`CameraTensors` — V cameras stacked as torch tensors for batched, differentiable
  projection (:func:`selfpose3d_core.geometry.projection.project`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import torch

__all__ = ["Camera", "CameraTensors", "stack_cameras"]

_R_ORTHO_TOL = 1e-4


def _as_array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == int(np.prod(shape)) and arr.shape != shape:
        arr = arr.reshape(shape)  # e.g. (3, 1) t or flat K → canonical shape
    if arr.shape != shape:
        raise ValueError(f"Camera.{name} must have shape {shape}, got {np.shape(value)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Camera.{name} must be finite, got {arr.tolist()}")
    return arr


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera (OpenCV convention, metres; see module docstring).

    Attributes:
        K: (3, 3) intrinsic matrix in pixels (``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``).
        R: (3, 3) world→camera rotation.
        t: (3,) world→camera translation in metres.
        dist: (5,) OpenCV distortion ``(k1, k2, p1, p2, k3)``.
        width: image width in pixels.
        height: image height in pixels.
        name: a label (camera id / topic), free text.

    Example:
        >>> cam = Camera.look_at(eye=[3, 0, 2.5], target=[0, 0, 1], fx=800,
        ...                      width=1280, height=720)
        >>> cam.project(np.array([0.0, 0.0, 1.0])).round(1)
        array([639.5, 359.5])
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    width: int = 0
    height: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        K = _as_array("K", self.K, (3, 3))
        R = _as_array("R", self.R, (3, 3))
        t = _as_array("t", self.t, (3,))
        dist = np.asarray(self.dist, dtype=np.float64).ravel()
        if dist.size < 5:  # (k1, k2) or (k1, k2, p1, p2) → pad with zeros
            dist = np.concatenate([dist, np.zeros(5 - dist.size)])
        dist = _as_array("dist", dist, (5,))
        if K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[2, 2] - 1) > 1e-9 or np.any(K[1:, 0] != 0):
            raise ValueError(f"Camera.K must be an upper-triangular intrinsic matrix with "
                             f"fx, fy > 0 and K[2,2] = 1, got {K.tolist()}")
        err = np.abs(R @ R.T - np.eye(3)).max()
        if err > _R_ORTHO_TOL or np.linalg.det(R) < 0:
            raise ValueError(f"Camera.R must be a rotation (orthonormal, det +1); "
                             f"|R R^T - I| = {err:.2e}, det = {np.linalg.det(R):.4f}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"Camera image size must be positive, got "
                             f"{self.width}x{self.height}")
        for name, arr in (("K", K), ("R", R), ("t", t), ("dist", dist)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(cls, eye, target, fx: float, width: int, height: int, fy: float | None = None,
                up=(0.0, 0.0, 1.0), dist=None, name: str = "") -> "Camera":
        """A camera at ``eye`` (world, m) looking at ``target``, principal point centred.

        ``up`` is the world direction that appears up in the image (image v decreases).
        """
        eye = np.asarray(eye, dtype=np.float64)
        fwd = np.asarray(target, dtype=np.float64) - eye
        if np.linalg.norm(fwd) < 1e-9:
            raise ValueError(f"look_at: eye and target coincide ({eye.tolist()})")
        z = fwd / np.linalg.norm(fwd)
        x = np.cross(z, np.asarray(up, dtype=np.float64))
        if np.linalg.norm(x) < 1e-9:
            raise ValueError("look_at: viewing direction is parallel to 'up'")
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])  # rows: camera axes in world coordinates
        K = np.array([[fx, 0.0, (width - 1) / 2.0],
                      [0.0, fx if fy is None else fy, (height - 1) / 2.0],
                      [0.0, 0.0, 1.0]])
        return cls(K=K, R=R, t=-R @ eye, dist=np.zeros(5) if dist is None else dist,
                   width=width, height=height, name=name)

    # ------------------------------------------------------------------ properties
    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates (m)."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) pinhole projection matrix ``K [R | t]`` (ignores distortion)."""
        return self.K @ np.concatenate([self.R, self.t[:, None]], axis=1)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.dist != 0))

    # ------------------------------------------------------------------ numpy projection
    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """points: (..., 3) world → (..., 3) camera coordinates."""
        points = np.asarray(points, dtype=np.float64)
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """points: (..., 3) world (m) → (..., 2) pixels, with distortion (numpy, float64)."""
        from .projection import project_numpy

        return project_numpy(points, self)

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """uv: (..., 2) pixels → (...) bool, inside ``[-margin, size - 1 + margin]``."""
        uv = np.asarray(uv)
        return ((uv[..., 0] >= -margin) & (uv[..., 0] <= self.width - 1 + margin)
                & (uv[..., 1] >= -margin) & (uv[..., 1] <= self.height - 1 + margin))

    # ------------------------------------------------------------------ image-space edits
    def scaled(self, sx: float, sy: float | None = None) -> "Camera":
        """The same camera for an image resized by (sx, sy) (e.g. binning: 1/bin).

        Pixel-centre convention: u' = sx * (u + 0.5) - 0.5.
        """
        sy = sx if sy is None else sy
        A = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return self.replace(K=A @ self.K, width=int(round(self.width * sx)),
                            height=int(round(self.height * sy)))

    def cropped(self, x0: float, y0: float, width: int, height: int) -> "Camera":
        """The same camera for the sub-image starting at pixel (x0, y0) (e.g. a ROI)."""
        K = self.K.copy()
        K[0, 2] -= x0
        K[1, 2] -= y0
        return self.replace(K=K, width=width, height=height)

    def replace(self, **changes) -> "Camera":
        """A copy with some fields replaced (validated again)."""
        kw = dict(K=self.K, R=self.R, t=self.t, dist=self.dist, width=self.width,
                  height=self.height, name=self.name)
        kw.update(changes)
        return Camera(**kw)

    def __repr__(self) -> str:
        c = self.center
        return (f"Camera(name={self.name!r}, {self.width}x{self.height}, "
                f"f=({self.K[0, 0]:.1f}, {self.K[1, 1]:.1f}), "
                f"centre=({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}) m)")


class CameraTensors(NamedTuple):
    """V cameras as tensors (any leading dims ``*``, usually (V,)).

    Fields:
        K: (*, 3, 3) intrinsics.
        R: (*, 3, 3) world→camera rotation.
        t: (*, 3) world→camera translation (m).
        dist: (*, 5) distortion (k1, k2, p1, p2, k3).
        size: (*, 2) image (width, height) in pixels.
        r2_max: (*,) largest squared normalised radius for which the distortion model is
            trusted (beyond it the polynomial can fold back into the image); points past it
            project as invalid.
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    dist: torch.Tensor
    size: torch.Tensor
    r2_max: torch.Tensor

    def to(self, device=None, dtype=None) -> "CameraTensors":
        return CameraTensors(*(x.to(device=device, dtype=dtype) for x in self))

    @property
    def num_views(self) -> int:
        return int(self.K.shape[-3])


def _distortion_r2_max(cam: Camera) -> float:
    """Largest squared normalised radius r² the distortion model is trusted for.

    The squared radius of the image corners after undistortion, with a 20 % margin, capped
    where the radial polynomial ``r (1 + k1 r² + k2 r⁴ + k3 r⁶)`` stops increasing.
    """
    from .projection import undistort_points_numpy

    w, h = cam.width, cam.height
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1],
                        [(w - 1) / 2, 0], [(w - 1) / 2, h - 1], [0, (h - 1) / 2],
                        [w - 1, (h - 1) / 2]], dtype=np.float64)
    xn = undistort_points_numpy(corners, cam)
    r2_img = float((xn ** 2).sum(-1).max()) * 1.44
    k1, k2, _, _, k3 = cam.dist
    r2 = np.linspace(0.0, max(r2_img, 1e-6) * 4.0, 4001)
    # d/dr [r (1 + k1 r² + k2 r⁴ + k3 r⁶)] = 1 + 3 k1 r² + 5 k2 r⁴ + 7 k3 r⁶
    deriv = 1 + 3 * k1 * r2 + 5 * k2 * r2 ** 2 + 7 * k3 * r2 ** 3
    bad = np.nonzero(deriv <= 0.05)[0]
    r2_mono = float(r2[bad[0]]) if bad.size else np.inf
    return float(min(r2_img, r2_mono))


def stack_cameras(cameras: Sequence[Camera], device=None,
                  dtype: torch.dtype = torch.float32) -> CameraTensors:
    """Stack V :class:`Camera` into :class:`CameraTensors` with leading dim (V,)."""
    if len(cameras) == 0:
        raise ValueError("stack_cameras: need at least one camera, got 0")
    for c in cameras:
        if not isinstance(c, Camera):
            raise ValueError(f"stack_cameras: expected Camera, got {type(c).__name__}")

    def st(arrs):
        return torch.as_tensor(np.stack(arrs), dtype=dtype, device=device)

    return CameraTensors(
        K=st([c.K for c in cameras]),
        R=st([c.R for c in cameras]),
        t=st([c.t for c in cameras]),
        dist=st([c.dist for c in cameras]),
        size=st([np.array([c.width, c.height], dtype=np.float64) for c in cameras]),
        r2_max=st([np.array(_distortion_r2_max(c)) for c in cameras]),
    )
