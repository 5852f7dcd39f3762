"""A Gaussian body prior learnt without ground truth, and what it does for unseen joints.

Where a joint is confidently seen in fewer than two views (legs behind the table, a wrist
behind the body, the nose of someone facing away), neither pose_net nor a triangulation
knows where it is: pose_net was trained on exactly those pseudo labels, and one view only
fixes a ray. The rest of the body does: an ankle sits below its hip near the floor, a
nose in front of the neck. :class:`BodyPrior` is a Gaussian over whole Panoptic-15
skeletons in a body frame — yaw about z and the horizontal position removed, heights
kept (z up, the floor at 0) — fitted to the people that the triangulation baseline
(:mod:`selfpose3d_core.baselines`) reconstructs with every joint valid from the
*training recording's 2D detections*. Nothing here reads 3D ground truth.

At inference (:func:`complete_joints`) the prior is conditioned on a person's known
joints — aligned to the prior's mean by a yaw + horizontal shift (2D Procrustes) — which
gives each unknown joint a Gaussian (mean and 3×3 covariance); that Gaussian is then fused
with every 2D detection of the joint, however unconfident, weighted by its confidence
(the maximum a posteriori point under a pixel noise ``sigma_px / √conf``, found by
Gauss-Newton on the distorted projection). A confident view pins the joint to its ray,
the prior its depth; with no usable view the conditional mean stands.

Shapes: N people, J joints (15), V views, M unknown joints.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from .geometry.camera import Camera, stack_cameras
from .geometry.projection import project
from .skeleton import PANOPTIC15

__all__ = ["BodyPrior", "fit_body_prior", "body_prior_from_detections", "condition",
           "map_joints", "complete_joints", "sharpen_joints", "MIN_KNOWN_JOINTS",
           "MIN_PRIOR_PEOPLE"]

#: :func:`body_prior_from_detections` fits no prior to fewer complete people than this.
MIN_PRIOR_PEOPLE = 30
#: A person needs this many known joints for the prior to place the others (fewer
#: constrain neither its yaw nor its posture).
MIN_KNOWN_JOINTS = 4
_I = PANOPTIC15.index
_L_HIP, _R_HIP, _L_SH, _R_SH = _I("l_hip"), _I("r_hip"), _I("l_shoulder"), _I("r_shoulder")


class BodyPrior(NamedTuple):
    """A Gaussian over Panoptic-15 skeletons in the body frame (metres, z up).

    Fields:
        mean: (J, 3) mean skeleton, hips centred at x = y = 0, facing −y (left towards +x).
        cov: (3J, 3J) covariance of the flattened body-frame skeletons (joint-major).
        count: skeletons it was fitted to.
    """

    mean: np.ndarray
    cov: np.ndarray
    count: int

    def to_payload(self) -> dict[str, Any]:
        """Checkpoint form (tensors and plain Python: loads with ``weights_only``)."""
        return {"mean": torch.as_tensor(self.mean, dtype=torch.float64),
                "cov": torch.as_tensor(self.cov, dtype=torch.float64), "count": int(self.count)}

    @staticmethod
    def from_checkpoint(checkpoint: dict[str, Any]) -> BodyPrior | None:
        """The prior a checkpoint carries in ``extra["body_prior"]``, or None."""
        d = checkpoint.get("extra", {}).get("body_prior")
        return None if d is None else BodyPrior.from_payload(d)

    @staticmethod
    def from_payload(d: dict[str, Any]) -> BodyPrior:
        mean = np.asarray(d["mean"], np.float64)
        cov = np.asarray(d["cov"], np.float64)
        J = mean.shape[0]
        if mean.shape != (J, 3) or cov.shape != (3 * J, 3 * J):
            raise ValueError(f"BodyPrior: need mean (J, 3) and cov (3J, 3J), got "
                             f"{mean.shape} and {cov.shape}")
        return BodyPrior(mean, cov, int(d["count"]))


def _yaw_align(x: np.ndarray, ref: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation about z and horizontal shift taking ``x`` onto ``ref`` in the weighted
    least-squares sense (2D Procrustes on x, y).

    Args:
        x: (N, J, 3) skeletons; ref: (J, 3) or (N, J, 3); w: (N, J) weights (0 = ignore).
    Returns:
        ``(R (N, 2, 2), t (N, 2))`` with ``R x_xy + t ≈ ref_xy``.
    """
    ref = np.broadcast_to(ref, x.shape)
    ws = w / np.maximum(w.sum(1, keepdims=True), 1e-12)  # (N, J)
    cx = (ws[..., None] * x[..., :2]).sum(1)  # (N, 2)
    cr = (ws[..., None] * ref[..., :2]).sum(1)
    a = x[..., :2] - cx[:, None]  # (N, J, 2)
    b = ref[..., :2] - cr[:, None]
    dot = (ws * (a * b).sum(-1)).sum(1)  # (N,)
    cross = (ws * (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])).sum(1)
    th = np.arctan2(cross, dot)
    c, s = np.cos(th), np.sin(th)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    t = cr - np.einsum("nij,nj->ni", R, cx)
    return R, t


def _apply(x: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(N, J, 3) → the same skeletons with ``R x_xy + t`` (z unchanged)."""
    out = x.copy()
    out[..., :2] = np.einsum("nij,nkj->nki", R, x[..., :2]) + t[:, None]
    return out


def _invert(y: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_apply`."""
    out = y.copy()
    out[..., :2] = np.einsum("nji,nkj->nki", R, y[..., :2] - t[:, None])  # Rᵀ (y − t)
    return out


def fit_body_prior(skeletons: np.ndarray, iterations: int = 5) -> BodyPrior:
    """Fit the prior to complete skeletons (generalised Procrustes in yaw + xy, then the
    sample mean and covariance).

    Args:
        skeletons: (N, 15, 3) Panoptic-15 skeletons (m), every joint valid; N ≥ 2.
    """
    x = np.asarray(skeletons, np.float64)
    if x.ndim != 3 or x.shape[1:] != (PANOPTIC15.num_joints, 3) or x.shape[0] < 2:
        raise ValueError(f"fit_body_prior: need (N ≥ 2, 15, 3) skeletons, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("fit_body_prior: skeletons must be finite")
    N, J = x.shape[:2]
    # first guess: hips at the origin, the hips' and shoulders' left→right along −x
    side = (x[:, _L_HIP] - x[:, _R_HIP] + x[:, _L_SH] - x[:, _R_SH])[:, :2]  # (N, 2)
    th = -np.arctan2(side[:, 1], side[:, 0])
    c, s = np.cos(th), np.sin(th)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    hips = 0.5 * (x[:, _L_HIP, :2] + x[:, _R_HIP, :2])
    y = _apply(x, R, -np.einsum("nij,nj->ni", R, hips))
    ones = np.ones((N, J))
    for _ in range(iterations):
        mean = y.mean(0)
        mean[:, :2] -= 0.5 * (mean[_L_HIP, :2] + mean[_R_HIP, :2])
        y = _apply(y, *_yaw_align(y, mean, ones))
    mean = y.mean(0)
    y[..., :2] -= 0.5 * (mean[_L_HIP, :2] + mean[_R_HIP, :2])  # the mean's hips at x = y = 0
    flat = y.reshape(N, 3 * J)  # (N, J, 3) → (N, 3J)
    return BodyPrior(mean=y.mean(0), cov=np.cov(flat, rowvar=False), count=N)


def body_prior_from_detections(dataset, max_frames: int = 2000) -> BodyPrior | None:
    """Fit the prior to what the triangulation baseline reconstructs, with every joint
    valid, from a recording's 2D detections (at most ``max_frames`` evenly spaced frames).

    Args:
        dataset: a :class:`~selfpose3d_core.data.dataset.MultiViewDataset` (its ground
            truth, if any, is not read).
    Returns:
        The prior, or None when fewer than :data:`MIN_PRIOR_PEOPLE` complete people were
        found.
    """
    from .baselines import TriangulationBaseline, TriangulationBaselineConfig

    tri = TriangulationBaseline(dataset.cameras, TriangulationBaselineConfig(),
                                joint_set=dataset.joint_set)
    n = dataset.num_frames
    frames = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    found = [p.joints[p.joint_valid.all(1)] for p in (tri(dataset.keypoints(int(f)))
                                                      for f in frames)]
    complete = np.concatenate(found) if found else np.zeros((0, PANOPTIC15.num_joints, 3))
    if complete.shape[0] < MIN_PRIOR_PEOPLE:
        return None
    return fit_body_prior(complete)


def condition(prior: BodyPrior, joints: np.ndarray, known: np.ndarray, reg: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """The prior given each person's known joints.

    Args:
        joints: (N, J, 3) skeletons (world, m); only the known joints are read (the others
            may be NaN).
        known: (N, J) bool, at least :data:`MIN_KNOWN_JOINTS` per person.
        reg: standard deviation (m) added to every coordinate of the prior (its sample
            covariance is fitted to a few hundred skeletons).
    Returns:
        ``(mean (N, J, 3), cov (N, J, 3, 3))`` in world coordinates: the conditional mean
        and the per-joint conditional covariance of the unknown joints (the known joints'
        entries are theirs and zero).
    """
    N, J = known.shape
    if joints.shape != (N, J, 3) or prior.mean.shape != (J, 3):
        raise ValueError(f"condition: need joints (N, J, 3) = ({N}, {J}, 3) and a prior of "
                         f"{J} joints, got {joints.shape} and {prior.mean.shape}")
    joints = np.where(known[..., None], joints, 0.0)  # the unknown ones may be NaN
    R, t = _yaw_align(joints, prior.mean, known.astype(np.float64))
    y = _apply(joints, R, t).reshape(N, 3 * J)  # (N, J, 3) → (N, 3J)
    mu = prior.mean.reshape(3 * J)
    C = prior.cov + reg ** 2 * np.eye(3 * J)
    o = np.repeat(known, 3, axis=1).astype(np.float64)  # (N, 3J): observed coordinates
    # Σ_oo in the observed block, identity elsewhere: solving with it gives Σ_oo⁻¹ on the
    # observed rows and zeros on the others, for every person's own split at once
    M = C[None] * o[:, :, None] * o[:, None, :] + np.eye(3 * J)[None] * (1 - o)[:, None, :]
    rhs = np.concatenate([((y - mu) * o)[..., None], o[:, :, None] * C[None]], -1)
    z = np.linalg.solve(M, rhs)  # (N, 3J, 1 + 3J)
    mean = mu[None] + np.einsum("ij,nj->ni", C, z[..., 0])  # μ + Σ_·o Σ_oo⁻¹ (y_o − μ_o)
    cov = C[None] - np.einsum("ij,njk->nik", C, z[..., 1:])  # Σ − Σ_·o Σ_oo⁻¹ Σ_o·
    mean = np.where(o > 0, y, mean).reshape(N, J, 3)  # (N, 3J) → (N, J, 3)
    blocks = cov.reshape(N, J, 3, J, 3)[:, np.arange(J), :, np.arange(J)]  # (J, N, 3, 3)
    blocks = blocks.transpose(1, 0, 2, 3) * (~known)[..., None, None]  # (N, J, 3, 3)
    R3 = np.zeros((N, 3, 3))
    R3[:, :2, :2] = R.transpose(0, 2, 1)  # body → world rotation
    R3[:, 2, 2] = 1.0
    cov_w = np.einsum("nab,njbc,ndc->njad", R3, blocks, R3)  # R3 Σ R3ᵀ
    return np.where(known[..., None], joints, _invert(mean, R, t)), cov_w


def map_joints(mean: np.ndarray, cov: np.ndarray, uv: np.ndarray, weights: np.ndarray,
               cameras: Sequence[Camera], sigma_px: float, iterations: int = 8) -> np.ndarray:
    """The maximum a posteriori 3D points under a Gaussian prior and weighted 2D views.

    Minimises ``(x − m)ᵀ S⁻¹ (x − m) + Σ_v w_v ‖π_v(x) − uv_v‖² / σ²`` by Gauss-Newton
    (projections with distortion; numerical Jacobians, 1 mm steps). A view where the
    point falls behind the camera or outside its distortion model's range is skipped.

    Args:
        mean: (M, 3) prior means; cov: (M, 3, 3) prior covariances (positive definite).
        uv: (V, M, 2) 2D joints (pixels); weights: (V, M) ≥ 0 (0 = no view).
        cameras: the V cameras; sigma_px: pixel noise of a weight-1 view.
    Returns:
        (M, 3) points.
    """
    M = mean.shape[0]
    V = len(cameras)
    if (cov.shape != (M, 3, 3) or uv.shape != (V, M, 2) or weights.shape != (V, M)):
        raise ValueError(f"map_joints: need cov (M, 3, 3), uv (V, M, 2), weights (V, M) with "
                         f"M={M}, V={V}; got {cov.shape}, {uv.shape}, {weights.shape}")
    if M == 0:
        return mean.copy()
    cams = stack_cameras(cameras, dtype=torch.float64)
    P = torch.linalg.inv(torch.as_tensor(cov, dtype=torch.float64))  # (M, 3, 3)
    m = torch.as_tensor(mean, dtype=torch.float64)
    obs = torch.as_tensor(uv, dtype=torch.float64).nan_to_num(0.0)
    w = torch.as_tensor(weights, dtype=torch.float64).clamp(min=0) / float(sigma_px) ** 2
    step = 1e-3
    offsets = torch.cat([torch.zeros(1, 3), step * torch.eye(3)]).double()  # (4, 3)
    x = m.clone()
    for _ in range(iterations):
        pts = x[None] + offsets[:, None]  # (4, M, 3): x and x + h·e_i
        proj = project(pts.reshape(1, 1, 4 * M, 3), cams)  # uv (1, V, 4M, 2)
        p = proj.uv[0].reshape(V, 4, M, 2)  # (V, 4M, 2) → (V, 4, M, 2)
        ok = proj.valid[0].reshape(V, 4, M).all(1)  # (V, M)
        jac = ((p[:, 1:] - p[:, :1]) / step).permute(0, 2, 3, 1)  # (V, M, 2, 3)
        r = p[:, 0] - obs  # (V, M, 2)
        wv = torch.where(ok & torch.isfinite(r).all(-1), w, torch.zeros_like(w))  # (V, M)
        jac = jac.nan_to_num(0.0)
        r = r.nan_to_num(0.0)
        A = P + torch.einsum("vm,vmki,vmkj->mij", wv, jac, jac)  # (M, 3, 3)
        g = (torch.einsum("mij,mj->mi", P, x - m)
             + torch.einsum("vm,vmki,vmk->mi", wv, jac, r))  # (M, 3)
        x = x - torch.linalg.solve(A, g[..., None])[..., 0]
    return x.numpy()


def complete_joints(prior: BodyPrior, joints: np.ndarray, known: np.ndarray, uv: np.ndarray,
                    weights: np.ndarray, cameras: Sequence[Camera], sigma_px: float,
                    reg: float) -> tuple[np.ndarray, np.ndarray]:
    """Place every unknown joint of people with enough known ones (see the module doc).

    Args:
        joints: (N, J, 3) skeletons (world, m); known: (N, J) bool.
        uv: (V, N, J, 2) each person's 2D joints per view (pixels);
        weights: (V, N, J) their weights (the detections' confidences; 0 = no view).
        sigma_px, reg: see :func:`map_joints` and :func:`condition`.
    Returns:
        ``(joints (N, J, 3), placed (N, J) bool)``: the unknown joints of people with at
        least :data:`MIN_KNOWN_JOINTS` known ones replaced; the rest as given.
    """
    N, J = known.shape
    V = len(cameras)
    if uv.shape != (V, N, J, 2) or weights.shape != (V, N, J) or joints.shape != (N, J, 3):
        raise ValueError(f"complete_joints: need joints (N, J, 3), uv (V, N, J, 2), weights "
                         f"(V, N, J) with N={N}, J={J}, V={V}; got {joints.shape}, "
                         f"{uv.shape}, {weights.shape}")
    rows = (known.sum(1) >= MIN_KNOWN_JOINTS) & ~known.all(1)  # (N,)
    out = np.array(joints, np.float64)
    placed = np.zeros((N, J), bool)
    if not rows.any():
        return out, placed
    mean, cov = condition(prior, out[rows], known[rows], reg)
    todo = ~known[rows]  # (N', J)
    pts = map_joints(mean[todo], cov[todo], uv[:, rows][:, todo], weights[:, rows][:, todo],
                     cameras, sigma_px)  # (M, 3)
    sub = out[rows]
    sub[todo] = pts
    out[rows] = sub
    placed[rows] = todo
    return out, placed


def sharpen_joints(prior: BodyPrior, joints: np.ndarray, known: np.ndarray, which: np.ndarray,
                   uv: np.ndarray, weights: np.ndarray, cameras: Sequence[Camera],
                   sigma_px: float, reg: float) -> np.ndarray:
    """Re-estimate known joints (e.g. those only two views triangulated, whose depth is
    poorly fixed) from their views and the prior given the person's *other* known joints.

    Args:
        joints: (N, J, 3) skeletons (world, m); known: (N, J) bool.
        which: (N, J) bool, the joints to re-estimate (a subset of ``known``); a person
            needs :data:`MIN_KNOWN_JOINTS` other known joints.
        uv: (V, N, J, 2) 2D joints (pixels); weights: (V, N, J) their weights (the views
            that triangulated the joint, at their confidences).
        sigma_px, reg: see :func:`map_joints` and :func:`condition`.
    Returns:
        (N, J, 3) joints.
    """
    N, J = known.shape
    V = len(cameras)
    if (joints.shape != (N, J, 3) or which.shape != (N, J) or uv.shape != (V, N, J, 2)
            or weights.shape != (V, N, J)):
        raise ValueError(f"sharpen_joints: need joints (N, J, 3), which (N, J), uv "
                         f"(V, N, J, 2), weights (V, N, J) with N={N}, J={J}, V={V}; got "
                         f"{joints.shape}, {which.shape}, {uv.shape}, {weights.shape}")
    out = np.array(joints, np.float64)
    n, j = np.nonzero(which & known)  # (M,) person and joint of each
    others = known[n].copy()  # (M, J): one conditioning set per joint, itself left out
    others[np.arange(len(n)), j] = False
    keep = others.sum(1) >= MIN_KNOWN_JOINTS
    n, j, others = n[keep], j[keep], others[keep]
    if len(n) == 0:
        return out
    mean, cov = condition(prior, out[n], others, reg)
    m = np.arange(len(n))
    out[n, j] = map_joints(mean[m, j], cov[m, j], uv[:, n, j], weights[:, n, j], cameras,
                           sigma_px)
    return out
