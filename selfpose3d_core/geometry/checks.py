"""Numerical self-checks of the geometry, shared by the tests and ``bench/foundation_figures.py``.

Random rigs (:func:`random_camera`, :func:`ring_rig`, :func:`points_in_front`) and the
measurements behind the reported accuracy figures:

* :func:`compare_projection_with_opencv` — our projection vs ``cv2.projectPoints``;
* :func:`triangulation_round_trip` — project → triangulate without noise;
* :func:`gradcheck_projection`, :func:`gradcheck_render`, :func:`gradcheck_unproject` —
  float64 ``torch.autograd.gradcheck`` of the differentiable pieces;
* :func:`point_to_voxel_peak` — a point rendered into every view and unprojected: where
  the volume peaks;
* :func:`fit_sphere` — least-squares sphere through points (a dome of cameras).

Every function is deterministic in its seed / generator, so a test and the bench that
call it with the same arguments see the same numbers.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch

from ..render import render_heatmaps
from .affine import input_to_heatmap, letterbox_affine, project_to_input, random_augment_affine
from .camera import Camera, stack_cameras
from .grid import VoxelGrid
from .projection import project, project_numpy, undistort_points_numpy
from .triangulation import triangulate_dlt, triangulate_robust
from .unproject import sampling_grid, unproject

__all__ = ["random_camera", "ring_rig", "points_in_front", "OpenCVAgreement",
           "compare_projection_with_opencv", "RoundTrip", "triangulation_round_trip",
           "gradcheck_projection", "gradcheck_render", "gradcheck_unproject",
           "render_point_heatmaps", "VoxelPeaks", "point_to_voxel_peak", "SphereFit",
           "fit_sphere"]


# ---------------------------------------------------------------------------- random rigs
def random_camera(rng: np.random.Generator, distortion: bool = True, name: str = "") -> Camera:
    """A camera 2.5–3.5 m from the origin, 2–3 m up, looking near (0, 0, 1), with a random
    image size (640–1280 × 480–720), focal length, off-centre principal point and (unless
    ``distortion`` is False) OpenCV distortion."""
    az = rng.uniform(0, 2 * np.pi)
    r = rng.uniform(2.5, 3.5)
    eye = [r * np.cos(az), r * np.sin(az), rng.uniform(2.0, 3.0)]
    target = [rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(0.8, 1.2)]
    w, h = int(rng.choice([640, 960, 1280])), int(rng.choice([480, 540, 720]))
    fx = rng.uniform(0.7, 1.1) * w
    dist = ([rng.uniform(-0.25, -0.05), rng.uniform(0.0, 0.08), rng.uniform(-2e-3, 2e-3),
             rng.uniform(-2e-3, 2e-3), rng.uniform(-0.02, 0.02)] if distortion else None)
    cam = Camera.look_at(eye, target, fx=fx, fy=fx * rng.uniform(0.98, 1.02), width=w,
                         height=h, dist=dist, name=name)
    K = cam.K.copy()
    K[0, 2] += rng.uniform(-10, 10)
    K[1, 2] += rng.uniform(-10, 10)
    return cam.replace(K=K)


def ring_rig(num: int = 5, seed: int = 0, distortion: bool = True) -> list[Camera]:
    """``num`` 640 × 480 cameras evenly around the origin, 3 m out, 2.6 m high, looking at
    (0, 0, 1), azimuths jittered by ±0.1 rad (from ``seed``)."""
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(num):
        a = 2 * np.pi * i / num + rng.uniform(-0.1, 0.1)
        eye = [3.0 * np.cos(a), 3.0 * np.sin(a), 2.6]
        dist = [-0.15, 0.03, 0.0005, -0.0005, 0.0] if distortion else None
        cams.append(Camera.look_at(eye, [0, 0, 1.0], fx=500, width=640, height=480, dist=dist,
                                   name=f"cam{i}"))
    return cams


def points_in_front(rng: np.random.Generator, cam: Camera, n: int) -> np.ndarray:
    """(n, 3) random world points 1–6 m deep that project into the central 80 % of the
    image of ``cam`` (drawn in the image, then undistorted and lifted)."""
    uv = rng.uniform([0.1 * cam.width, 0.1 * cam.height], [0.9 * cam.width, 0.9 * cam.height],
                     size=(n, 2))
    xn = undistort_points_numpy(uv, cam)
    depth = rng.uniform(1.0, 6.0, size=(n, 1))
    xc = np.concatenate([xn * depth, depth], axis=1)
    return (xc - cam.t) @ cam.R  # camera → world: R^T (x - t)


# ---------------------------------------------------------------------------- projection
class OpenCVAgreement(NamedTuple):
    """Our projection vs ``cv2.projectPoints`` (pixels).

    Fields:
        max_diff_numpy: max |project_numpy − cv2| over all coordinates (px).
        max_diff_torch: the same for the float64 torch :func:`project` (px).
        all_valid: every point was reported valid by the torch projection.
        num_cameras, num_points: cameras drawn, points per camera.
    """

    max_diff_numpy: float
    max_diff_torch: float
    all_valid: bool
    num_cameras: int
    num_points: int

    @property
    def max_diff(self) -> float:
        return max(self.max_diff_numpy, self.max_diff_torch)


def compare_projection_with_opencv(rng: np.random.Generator, num_cameras: int = 20,
                                   num_points: int = 200) -> OpenCVAgreement:
    """Project ``num_points`` points in front of each of ``num_cameras`` random distorted
    cameras (:func:`random_camera`, :func:`points_in_front`) with ours and with OpenCV."""
    worst_np = worst_t = 0.0
    all_valid = True
    for _ in range(num_cameras):
        cam = random_camera(rng)
        X = points_in_front(rng, cam, num_points)
        ref, _ = cv2.projectPoints(X, cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
        ours_np = project_numpy(X, cam)
        ours_t = project(torch.as_tensor(X), stack_cameras([cam], dtype=torch.float64))
        worst_np = max(worst_np, float(np.abs(ours_np - ref[:, 0]).max()))
        worst_t = max(worst_t, float(np.abs(ours_t.uv[0].numpy() - ref[:, 0]).max()))
        all_valid &= bool(ours_t.valid.all())
    return OpenCVAgreement(worst_np, worst_t, all_valid, num_cameras, num_points)


# ---------------------------------------------------------------------------- triangulation
class RoundTrip(NamedTuple):
    """Exact pixels → triangulated points.

    Fields:
        dlt_max_error_m: max |triangulate_dlt − truth| over all coordinates (m).
        dlt_max_reprojection_px: its largest reprojection error (px).
        robust_max_error_m: the same as ``dlt_max_error_m`` for triangulate_robust (m).
        robust_all_used: triangulate_robust kept every view of every point.
        num_views, num_points: the rig and the number of points.
    """

    dlt_max_error_m: float
    dlt_max_reprojection_px: float
    robust_max_error_m: float
    robust_all_used: bool
    num_views: int
    num_points: int


def triangulation_round_trip(num_views: int = 5, num_points: int = 50,
                             seed: int = 0) -> RoundTrip:
    """Points uniform in [−1.5, 1.5]² × [0.1, 1.9] m seen by :func:`ring_rig` (distorted),
    projected without noise and triangulated back."""
    rng = np.random.default_rng(seed)
    cams = ring_rig(num_views, seed=seed)
    X = rng.uniform([-1.5, -1.5, 0.1], [1.5, 1.5, 1.9], size=(num_points, 3))
    uv = np.stack([project_numpy(X, c) for c in cams])  # (V, N, 2)
    tri = triangulate_dlt(uv, cams)
    rob = triangulate_robust(uv, cams)
    return RoundTrip(dlt_max_error_m=float(np.abs(tri.points - X).max()),
                     dlt_max_reprojection_px=float(np.nanmax(tri.errors)),
                     robust_max_error_m=float(np.abs(rob.points - X).max()),
                     robust_all_used=bool(rob.used.all()), num_views=num_views,
                     num_points=num_points)


# ---------------------------------------------------------------------------- gradchecks
def gradcheck_projection(seed: int = 5, raise_exception: bool = True) -> bool:
    """float64 gradcheck of :func:`project` with distortion, w.r.t. the points, the
    distortion coefficients and K (a :func:`random_camera` from ``seed``, 5 points from
    ``seed + 1``). Returns True on success; on failure raises, or returns False when
    ``raise_exception`` is False."""
    cam = random_camera(np.random.default_rng(seed))
    ct = stack_cameras([cam], dtype=torch.float64)
    X = torch.as_tensor(points_in_front(np.random.default_rng(seed + 1), cam, 5),
                        dtype=torch.float64).requires_grad_(True)
    dist = ct.dist.clone().requires_grad_(True)
    K = ct.K.clone().requires_grad_(True)

    def f(X, dist, K):
        return project(X, ct._replace(dist=dist, K=K)).uv

    return torch.autograd.gradcheck(f, (X, dist, K), eps=1e-6, atol=1e-5,
                                    raise_exception=raise_exception)


def gradcheck_render(seed: int = 0, raise_exception: bool = True) -> bool:
    """float64 gradcheck of :func:`~selfpose3d_core.render.render_heatmaps` w.r.t. the
    joint positions and weights (2 people × 3 joints on a 9 × 11 map, σ = 2)."""
    g = torch.Generator().manual_seed(seed)
    uv = (torch.rand(2, 3, 2, generator=g, dtype=torch.float64) * 8).requires_grad_(True)
    w = (torch.rand(2, 3, generator=g, dtype=torch.float64) * 0.3).requires_grad_(True)
    return torch.autograd.gradcheck(lambda a, b: render_heatmaps(a, b, 9, 11, 2.0), (uv, w),
                                    eps=1e-6, atol=1e-6, raise_exception=raise_exception)


def gradcheck_unproject(seed: int = 0, raise_exception: bool = True) -> bool:
    """float64 gradcheck of :func:`~selfpose3d_core.geometry.unproject.unproject` (through
    :func:`~selfpose3d_core.geometry.unproject.sampling_grid`) w.r.t. the heatmaps and the
    voxel points (2 distorted views, 3 points, 2 joints, 16 × 12 heatmaps)."""
    ct = stack_cameras(ring_rig(2), dtype=torch.float64)
    A = torch.as_tensor(np.stack([letterbox_affine((640, 480), (64, 48))] * 2))[None]
    pts = torch.tensor([[[0.11, 0.07, 0.93], [0.31, -0.23, 1.37], [-0.4, 0.2, 0.5]]],
                       dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(seed)
    hm = (torch.rand(1, 2, 2, 12, 16, generator=g, dtype=torch.float64) * 0.5
          ).requires_grad_(True)

    def f(hm, pts):
        return unproject(hm, sampling_grid(pts, ct, A, (64, 48), (16, 12)))

    return torch.autograd.gradcheck(f, (hm, pts), eps=1e-6, atol=1e-5,
                                    raise_exception=raise_exception)


# ---------------------------------------------------------------------------- unprojection
def render_point_heatmaps(points: np.ndarray, cams: Sequence[Camera], affines: np.ndarray,
                          input_size: tuple[int, int], heatmap_size: tuple[int, int],
                          sigma: float = 2.0) -> torch.Tensor:
    """Heatmaps (1, V, 1, H, W) float64 of world points (P, 3) in every view.

    ``affines`` (V, 2, 3) map each image to the network input of ``input_size`` (w, h);
    the heatmaps have ``heatmap_size`` (w, h). A view that does not see a point draws
    nothing for it; the points are summed into one channel.
    """
    ct = stack_cameras(cams, dtype=torch.float64)
    proj = project_to_input(torch.as_tensor(points)[None], ct, torch.as_tensor(affines)[None])
    uv = input_to_heatmap(proj.uv, input_size, heatmap_size)  # (1, V, P, 2)
    w = proj.valid.to(torch.float64)
    hm = render_heatmaps(uv[..., None, :], w[..., None], heatmap_size[1], heatmap_size[0],
                         sigma=sigma)  # (1, V, P, 1, H, W): each point its own "person"
    return hm[:, :, None, 0]


class VoxelPeaks(NamedTuple):
    """Where the unprojected volume of a single point peaks (N points).

    Fields:
        points: (N, 3) the points (m).
        peak_xyz: (N, 3) centre of the voxel with the largest value (m).
        is_nearest: (N,) the peak voxel is the grid voxel nearest the point (L1).
        peak_value: (N,) the volume's maximum (≤ 1; < 1 as voxel centre ≠ point).
        pitch: (3,) the grid's voxel pitch (m).
    """

    points: np.ndarray
    peak_xyz: np.ndarray
    is_nearest: np.ndarray
    peak_value: np.ndarray
    pitch: np.ndarray

    @property
    def max_abs_error_m(self) -> np.ndarray:
        """(N,) largest per-axis distance peak − point (m)."""
        return np.abs(self.peak_xyz - self.points).max(1)

    @property
    def error_voxels(self) -> np.ndarray:
        """(N,) Euclidean distance peak − point in voxels (per-axis pitch)."""
        return np.linalg.norm((self.peak_xyz - self.points) / self.pitch, axis=1)


def point_to_voxel_peak(rng: np.random.Generator, num_points: int = 5, num_views: int = 5,
                        input_size: tuple[int, int] = (320, 256),
                        heatmap_size: tuple[int, int] = (80, 64),
                        grid: VoxelGrid | None = None, sigma: float = 2.0) -> VoxelPeaks:
    """Render each of ``num_points`` random points (one at a time) into every view of
    :func:`ring_rig` under a random augmentation affine per view, unproject into ``grid``
    (default: 4 × 4 × 2 m at 0.1 m, 41 × 41 × 21 voxels) and locate the peak."""
    cams = ring_rig(num_views)
    ct = stack_cameras(cams, dtype=torch.float64)
    grid = grid or VoxelGrid(center=(0, 0, 1), size=(4, 4, 2), shape=(41, 41, 21))
    gp = grid.points(dtype=torch.float64)  # (N_vox, 3)
    gp_np = gp.numpy()
    points, peaks, nearest, values = [], [], [], []
    for _ in range(num_points):
        X = rng.uniform([-1.2, -1.2, 0.3], [1.2, 1.2, 1.7], size=(1, 3))
        A = np.stack([random_augment_affine(rng, (640, 480), input_size) for _ in cams])
        hm = render_point_heatmaps(X, cams, A, input_size, heatmap_size, sigma)
        sg = sampling_grid(gp[None], ct, torch.as_tensor(A)[None], input_size, heatmap_size)
        vol = unproject(hm, sg)  # (1, 1, N_vox)
        peak = int(vol[0, 0].argmax())
        points.append(X[0])
        peaks.append(gp_np[peak])
        nearest.append(peak == int(np.abs(gp_np - X).sum(1).argmin()))
        values.append(float(vol.max()))
    return VoxelPeaks(points=np.array(points), peak_xyz=np.array(peaks),
                      is_nearest=np.array(nearest), peak_value=np.array(values),
                      pitch=grid.pitch)


# ---------------------------------------------------------------------------- rigs
class SphereFit(NamedTuple):
    """Fields: centre (3,), radius, max_residual = max | |p − centre| − radius | (units of
    the points)."""

    centre: np.ndarray
    radius: float
    max_residual: float


def fit_sphere(points: np.ndarray) -> SphereFit:
    """Least-squares sphere through points (N, 3), N ≥ 4 (algebraic fit of
    ``|p − c|² = r²``, linear in c and r² − |c|²)."""
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3 or P.shape[0] < 4:
        raise ValueError(f"fit_sphere: points must be (N >= 4, 3), got {P.shape}")
    A = np.concatenate([2 * P, np.ones((len(P), 1))], axis=1)  # (N, 4)
    x = np.linalg.lstsq(A, (P ** 2).sum(1), rcond=None)[0]
    centre, radius = x[:3], float(np.sqrt(x[3] + x[:3] @ x[:3]))
    resid = float(np.abs(np.linalg.norm(P - centre, axis=1) - radius).max())
    return SphereFit(centre=centre, radius=radius, max_residual=resid)
