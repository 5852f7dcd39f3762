"""Detections mode: refine pose_net's joints by triangulating the 2D detections they explain.

pose_net's soft-argmax works on a cube of ``cube.size / cube.shape`` voxels (6.25 cm in
the small config) fed by heatmaps at 1/4 of the input resolution; the 2D detections it was
trained from are sub-pixel. Once a proposal has been matched to one detection per view
(:func:`selfpose3d_core.person_heatmaps.assign_detections`, the same assignment that feeds
its cube), each of its joints is re-estimated by robust weighted DLT
(:func:`selfpose3d_core.geometry.triangulation.triangulate_robust`) from that detection's
joint in every view where

- the joint's confidence is at least ``min_conf``, and
- it lies within ``gate`` × the detection's box diagonal of the projection of pose_net's
  joint (so a flipped or misplaced 2D joint is not taken; pose_net decides which 2D joints
  belong to the person, the detections only sharpen where they are).

With ``reassign`` (``ModelConfig.refine_reassign``) the proposal first re-picks, per view,
the detection its whole skeleton explains best (:func:`reassign_by_pose`): the assignment
that fed its cube looked only at the root, and where two people overlap in a view the
detection nearest the projected root can be the other person's.

Joints seen that way in fewer than two views keep pose_net's estimate — or, with ``fill``,
are triangulated by a DLT over every view of the proposal's detections weighted by their
raw confidences however low, as the triangulation baseline fills its invalid joints: one
confident view fixes the ray, the low-confidence guesses of the others its depth. Such
joints (one confident view, often a false positive or another person's detection) are
where pose_net is worst; the weighted DLT is less wrong there. With a ``prior`` (the
body prior the model learnt from its training recording's triangulated detections;
:mod:`selfpose3d_core.body_prior`) such joints of a proposal with enough placed joints are
placed first by the prior given those, fused with every view of the joint weighted by
its confidence: the body says where a hidden knee can be, a confident view pins its ray.
With ``midpoints``,
a joint that the detections define as the midpoint of two others (COCO-17 has no neck or
mid-hip: :data:`~selfpose3d_core.skeleton.PANOPTIC15_MIDPOINTS`) becomes the midpoint of
those two where both were triangulated: each is then measured directly, while the
detections' midpoint is off by half the error of a hidden source. Nothing here reads
ground truth: the inputs are the network's output, the detections and the calibration.

Shapes: B batch, K proposals, V views, P detections per view, J joints.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .body_prior import BodyPrior, complete_joints, sharpen_joints
from .geometry.camera import Camera, CameraTensors
from .geometry.projection import project
from .geometry.triangulation import triangulate_dlt, triangulate_robust
from .person_heatmaps import MIN_JOINTS, box_diagonals
from .skeleton import PANOPTIC15, PANOPTIC15_MIDPOINTS

__all__ = ["refine_with_detections", "reassign_by_pose", "panoptic15_midpoints"]


def panoptic15_midpoints(num_joints: int) -> list[tuple[int, int, int]]:
    """``(j, a, b)`` for :data:`PANOPTIC15_MIDPOINTS` when the model predicts Panoptic-15
    (``num_joints`` 15), none otherwise."""
    if num_joints != PANOPTIC15.num_joints:
        return []
    i = PANOPTIC15.index
    return [(i(j), i(a), i(b)) for j, (a, b) in PANOPTIC15_MIDPOINTS.items()]


def refine_with_detections(joints: torch.Tensor, sel: torch.Tensor, uv: torch.Tensor,
                           conf: torch.Tensor, cams: CameraTensors, cameras: Sequence[Camera],
                           min_conf: float, gate: float,
                           view_mask: torch.Tensor | None = None,
                           outlier_px: float = 15.0,
                           reassign: float | None = None,
                           wide_gate: float | None = None,
                           midpoints: Sequence[tuple[int, int, int]] = (),
                           fill: bool = False, prior: BodyPrior | None = None,
                           prior_sigma_px: float = 4.0, prior_reg: float = 0.03,
                           prior_two_view_sigma_px: float | None = None) -> np.ndarray:
    """pose_net's joints, re-triangulated from the detections each proposal explains.

    Args:
        joints: (B, K, J, 3) pose_net joints (world, m).
        sel: (B, K, V, P) one-hot detection of each view per proposal (all zeros = none).
        uv: (B, V, P, J, 2) detections in full-image pixels (NaN = none).
        conf: (B, V, P, J) joint confidences.
        cams: the V cameras as tensors; cameras: the same V cameras (for the DLT).
        min_conf: 2D joints below this confidence are not used.
        gate: a view's joint is used when it lies within ``gate`` × its detection's box
            diagonal of the projection of pose_net's joint.
        view_mask: optional (B, V), 0 = camera missing.
        outlier_px: the DLT drops its worst view when it reprojects farther than this.
        reassign: when given, ``sel`` is replaced by :func:`reassign_by_pose` with this
            ``max_cost`` before triangulating (the root-based assignment picks, per view,
            the detection nearest the proposal's root; pose_net's whole skeleton tells
            people apart better where two of them overlap in a view).
        wide_gate: when given and > ``gate``, a joint with fewer than two views within
            ``gate`` is triangulated from the views within ``wide_gate`` instead (pose_net's
            worst joints — wrists, ankles — are the ones the narrow gate rejects).
        midpoints: ``(j, a, b)`` joint indices: where joints a and b were both
            triangulated, joint j becomes their midpoint.
        fill: joints with fewer than two qualifying views are triangulated from every view
            of the proposal's detections, weighted by their confidences (≥ 1e-3), whatever
            their confidence or distance to pose_net's joint.
        prior: a learnt body prior (:mod:`selfpose3d_core.body_prior`): joints that fewer
            than two views place, of a proposal with at least
            :data:`~selfpose3d_core.body_prior.MIN_KNOWN_JOINTS` placed ones, become the
            prior's estimate given those, fused with every view of the joint weighted by
            its confidence (before ``fill``, which then only takes the other proposals).
        prior_sigma_px, prior_reg: the prior's pixel noise and covariance regulariser
            (:func:`~selfpose3d_core.body_prior.complete_joints`).
        prior_two_view_sigma_px: with a ``prior``, joints triangulated from exactly two
            views (depth poorly fixed on a sparse rig) are re-estimated from those views
            at this pixel noise and the prior given the proposal's other placed joints
            (:func:`~selfpose3d_core.body_prior.sharpen_joints`); None = off.
    Returns:
        (B, K, J, 3) float32 numpy joints: triangulated where ≥ 2 views qualify, placed by
        the ``prior`` where it applies (with ``fill``: triangulated where ≥ 2 views have
        the joint at all), pose_net's elsewhere.
    """
    B, K, J = joints.shape[:3]
    V = uv.shape[1]
    if tuple(sel.shape) != (B, K, V, uv.shape[2]) or tuple(conf.shape) != tuple(uv.shape[:-1]):
        raise ValueError(f"refine_with_detections: need sel (B, K, V, P) = ({B}, {K}, {V}, "
                         f"{uv.shape[2]}) and conf {tuple(uv.shape[:-1])}; got "
                         f"{tuple(sel.shape)} and {tuple(conf.shape)}")
    out = joints.float().cpu().numpy()
    if B * K == 0:
        return out
    sel = sel.float()
    if reassign is not None:
        sel = reassign_by_pose(joints, uv, conf, cams, min_conf, reassign)
    uv_k = torch.einsum("bkvp,bvpjc->bkvjc", sel, uv.nan_to_num(0.0))  # (B, K, V, J, 2)
    conf_k = torch.einsum("bkvp,bvpj->bkvj", sel, conf.nan_to_num(0.0))  # (B, K, V, J)
    finite = torch.isfinite(uv).all(-1).float()  # (B, V, P, J)
    seen = torch.einsum("bkvp,bvpj->bkvj", sel, finite) > 0  # (B, K, V, J)
    diag = torch.einsum("bkvp,bvp->bkv", sel, box_diagonals(uv, conf, min_conf))  # (B, K, V)
    proj = project(joints.float().reshape(B, 1, K * J, 3), cams)  # uv (B, V, K·J, 2)
    p_uv = proj.uv.reshape(B, V, K, J, 2).permute(0, 2, 1, 3, 4)  # → (B, K, V, J, 2)
    p_ok = proj.valid.reshape(B, V, K, J).permute(0, 2, 1, 3)  # (B, V, K·J) → (B, K, V, J)
    dist = (uv_k - p_uv).norm(dim=-1)  # (B, K, V, J) pixels
    present = seen & p_ok & (conf_k > 0)  # (B, K, V, J)
    if view_mask is not None:
        present = present & (view_mask[:, None, :, None] > 0)
    ok = present & (conf_k >= min_conf)
    use = ok & (dist <= gate * diag[..., None])
    if wide_gate is not None and wide_gate > gate:
        wide = ok & (dist <= wide_gate * diag[..., None])
        use = torch.where(use.sum(2, keepdim=True) >= 2, use, wide)  # (B, K, V, J)
    w = torch.where(use, conf_k, torch.zeros_like(conf_k))  # (B, K, V, J)
    # one triangulation batch over every (frame, proposal, joint): N = B·K·J points
    uv_n = uv_k.permute(2, 0, 1, 3, 4).reshape(V, B * K * J, 2)  # (V, N, 2)
    w_n = w.permute(2, 0, 1, 3).reshape(V, B * K * J)  # (V, N)
    uv_np = uv_n.cpu().numpy()
    w_np = w_n.cpu().numpy()
    tri = triangulate_robust(uv_np, cameras, w_np, outlier_px=outlier_px)
    pts = tri.points.reshape(B, K, J, 3)  # (N, 3) → (B, K, J, 3)
    done = np.isfinite(pts).all(-1)  # (B, K, J)
    known = done.copy()
    for j, a, b in midpoints:  # a few named joints
        both = done[..., a] & done[..., b]  # (B, K)
        pts[..., j, :] = np.where(both[..., None], 0.5 * (pts[..., a, :] + pts[..., b, :]),
                                  pts[..., j, :])
        known[..., j] |= both
    if (prior is not None or fill) and not known.all():
        w_all = torch.where(present, conf_k.clamp(min=1e-3), torch.zeros_like(conf_k))
        w_all = w_all.permute(2, 0, 1, 3).cpu().numpy()  # (B, K, V, J) → (V, B, K, J)
        if prior is not None:  # people with enough known joints: the body prior
            pts, placed = complete_joints(
                prior, pts.reshape(B * K, J, 3), known.reshape(B * K, J),
                uv_np.reshape(V, B * K, J, 2), w_all.reshape(V, B * K, J), cameras,
                prior_sigma_px,
                prior_reg)  # (B, K, J, 3) → (N', J, 3) with N' = B·K people
            pts = pts.reshape(B, K, J, 3)  # (N', J, 3) → (B, K, J, 3)
            known |= placed.reshape(B, K, J)
        todo = ~known.reshape(-1)  # (N,)
        if fill and todo.any():
            pts = pts.reshape(B * K * J, 3)  # (B, K, J, 3) → (N, 3)
            pts[todo] = triangulate_dlt(uv_np[:, todo], cameras,
                                        w_all.reshape(V, -1)[:, todo]).points
            pts = pts.reshape(B, K, J, 3)  # (N, 3) → (B, K, J, 3)
    if prior is not None and prior_two_view_sigma_px is not None:  # given every placed joint
        two = done & (use.sum(2) == 2).cpu().numpy()  # (B, K, J)
        for j, _, _ in midpoints:
            two[..., j] = False  # made from two joints, not seen
        pts = sharpen_joints(
            prior, pts.reshape(B * K, J, 3), known.reshape(B * K, J),
            two.reshape(B * K, J), uv_np.reshape(V, B * K, J, 2),
            w_np.reshape(V, B * K, J),  # the views that triangulated each joint
            cameras, prior_two_view_sigma_px,
            prior_reg).reshape(B, K, J, 3)  # (B, K, J, 3) → (N', J, 3) and back
    return np.where(np.isfinite(pts), pts, out).astype(np.float32)



def reassign_by_pose(joints: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor,
                     cams: CameraTensors, min_conf: float, max_cost: float) -> torch.Tensor:
    """Which detection of each view each proposal's whole skeleton explains.

    The cost of a (proposal, detection) pair in a view is the median, over the detection's
    joints of confidence ≥ ``min_conf``, of the pixel distance between that 2D joint and
    the projection of pose_net's same joint, divided by the detection's box diagonal.
    Each proposal takes per view its cheapest detection with ≥ 3 such joints when the cost
    is at most ``max_cost``, none otherwise (two proposals may take the same detection).

    Args:
        joints: (B, K, J, 3) pose_net joints (world, m).
        uv: (B, V, P, J, 2) detections in full-image pixels (NaN = none).
        conf: (B, V, P, J) joint confidences.
        cams: the V cameras as tensors.
    Returns:
        (B, K, V, P) float one-hot (all zeros where no detection qualifies).
    """
    if joints.dim() != 4 or uv.dim() != 5 or conf.shape != uv.shape[:-1] \
            or uv.shape[0] != joints.shape[0] or uv.shape[3] != joints.shape[2]:
        raise ValueError(f"reassign_by_pose: need joints (B, K, J, 3), uv (B, V, P, J, 2), "
                         f"conf (B, V, P, J); got {tuple(joints.shape)}, {tuple(uv.shape)}, "
                         f"{tuple(conf.shape)}")
    if not max_cost > 0:
        raise ValueError(f"reassign_by_pose: max_cost must be > 0, got {max_cost}")
    B, K, J = joints.shape[:3]
    V, P = uv.shape[1:3]
    if K == 0 or P == 0:
        return uv.new_zeros(B, K, V, P)
    joints = joints.to(uv.dtype)
    proj = project(joints.reshape(B, 1, K * J, 3), cams)  # uv (B, V, K·J, 2)
    p_uv = proj.uv.reshape(B, V, K, J, 2)  # (B, V, K·J, 2) → (B, V, K, J, 2)
    ok = (conf >= min_conf) & (conf > 0) & torch.isfinite(uv).all(-1)  # (B, V, P, J)
    d = (p_uv[:, :, :, None] - uv.nan_to_num(0.0)[:, :, None]).norm(dim=-1)  # (B, V, K, P, J)
    d = torch.where(ok[:, :, None], d, torch.full_like(d, float("nan")))
    med = d.nanmedian(-1).values  # (B, V, K, P)
    usable = ok.sum(-1) >= MIN_JOINTS  # (B, V, P)
    cost = med / box_diagonals(uv, conf, min_conf).clamp(min=1.0)[:, :, None]  # (B, V, K, P)
    cost = torch.where(usable[:, :, None] & torch.isfinite(cost), cost,
                       torch.full_like(cost, float("inf")))
    best, idx = cost.min(-1)  # (B, V, K)
    onehot = torch.nn.functional.one_hot(idx, P).to(uv.dtype) * (best <= max_cost)[..., None]
    return onehot.permute(0, 2, 1, 3)  # (B, V, K, P) → (B, K, V, P)
