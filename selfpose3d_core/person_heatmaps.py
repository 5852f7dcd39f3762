"""Detections mode: one set of heatmaps per root proposal, from the 2D detections that
belong to it.

Heatmaps rendered from all detections of a view hold every person's joints; in a person's
cube the fused left wrist is then the left wrist of whoever stands closest, and the
soft-argmax lands on a neighbour's joint or between two (measured on the synthetic rig with
ground-truth roots: 40.3 mm → 35.7 mm; Shelf PCP with ground-truth roots: 88.7 → 94.4).
2D detections do say which joints go together, so in detections mode each proposal's cube
is unprojected from heatmaps of only the detection (per view) that the proposal explains:
the one whose root joint (or, when the root is not confident, the mean of its confident
joints) lies nearest the proposal's projection, within ``gate`` × the detection's box
diagonal. A view where no detection qualifies contributes empty maps for that proposal
(it still counts in the mean, as a view that sees nothing there). The image path has no
identities and keeps the shared heatmaps; everything after the heatmaps (unprojection,
pose_net) is the same code.

Shapes: B batch, V views, P detections per view, J joints, K proposals, h w heatmap.
"""

from __future__ import annotations

import torch

from .geometry.camera import CameraTensors
from .geometry.projection import project
from .models.config import ModelConfig
from .training.losses import pseudo_heatmap_targets

__all__ = ["box_diagonals", "assign_detections", "render_person_heatmaps", "person_heatmaps"]

#: A detection needs at least this many confident joints to be assigned to a proposal.
MIN_JOINTS = 3


def box_diagonals(uv: torch.Tensor, conf: torch.Tensor, min_conf: float) -> torch.Tensor:
    """Diagonal (px) of the box around each detection's confident joints.

    Args:
        uv: (B, V, P, J, 2) pixels (NaN = none); conf (B, V, P, J).
    Returns:
        (B, V, P) diagonals (0 where no joint is confident).
    """
    ok = (conf >= min_conf) & (conf > 0) & torch.isfinite(uv).all(-1)  # (B, V, P, J)
    big = torch.finfo(uv.dtype).max
    lo = torch.where(ok[..., None], uv, torch.full_like(uv, big)).amin(-2)  # (B, V, P, 2)
    hi = torch.where(ok[..., None], uv, torch.full_like(uv, -big)).amax(-2)
    return torch.where(ok.any(-1), (hi - lo).norm(dim=-1), torch.zeros_like(lo[..., 0]))


def assign_detections(centers: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor,
                      cams: CameraTensors, root_joint: int, min_conf: float,
                      gate: float) -> torch.Tensor:
    """Which detection of each view each proposal explains.

    Args:
        centers: (B, K, 3) root proposals (world, m).
        uv: (B, V, P, J, 2) detections in full-image pixels (NaN = none).
        conf: (B, V, P, J) joint confidences.
        cams: the V cameras.
        root_joint: index of the root joint in J.
        min_conf: joints below this confidence do not count.
        gate: a detection is taken only when its anchor lies within ``gate`` × its box
            diagonal (of its confident joints) of the proposal's projection.
    Returns:
        (B, K, V, P) float one-hot (all zeros where no detection qualifies).
    """
    if centers.dim() != 3 or uv.dim() != 5 or conf.shape != uv.shape[:-1] \
            or uv.shape[0] != centers.shape[0]:
        raise ValueError(f"assign_detections: need centers (B, K, 3), uv (B, V, P, J, 2), "
                         f"conf (B, V, P, J); got {tuple(centers.shape)}, "
                         f"{tuple(uv.shape)}, {tuple(conf.shape)}")
    B, K = centers.shape[:2]
    V, P = uv.shape[1:3]
    if P == 0 or K == 0:
        return uv.new_zeros(B, K, V, P)
    ok = (conf >= min_conf) & (conf > 0) & torch.isfinite(uv).all(-1)  # (B, V, P, J)
    pts = torch.where(ok[..., None], uv, torch.zeros_like(uv))  # (B, V, P, J, 2)
    n = ok.sum(-1)  # (B, V, P)
    mean = pts.sum(-2) / n.clamp(min=1)[..., None]  # (B, V, P, 2)
    root_ok = ok[..., root_joint]  # (B, V, P)
    anchor = torch.where(root_ok[..., None], pts[..., root_joint, :], mean)  # (B, V, P, 2)
    big = torch.finfo(uv.dtype).max
    diag = box_diagonals(uv, conf, min_conf)  # (B, V, P)
    usable = n >= MIN_JOINTS  # (B, V, P)
    proj = project(centers[:, None], cams)  # uv (B, V, K, 2)
    d = (proj.uv[:, :, :, None] - anchor[:, :, None]).norm(dim=-1)  # (B, V, K, P)
    d = torch.where(usable[:, :, None] & proj.valid[..., None], d, torch.full_like(d, big))
    best, idx = d.min(-1)  # (B, V, K)
    within = best <= gate * diag.gather(-1, idx)  # (B, V, K)
    onehot = torch.nn.functional.one_hot(idx, P).to(uv.dtype) * within[..., None]
    return onehot.permute(0, 2, 1, 3)  # (B, V, K, P) → (B, K, V, P)


def render_person_heatmaps(sel: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor,
                           affines: torch.Tensor, cfg: ModelConfig, sigma: float,
                           min_conf: float) -> torch.Tensor:
    """Per-proposal heatmaps of an assignment (:func:`assign_detections`) in one copy's
    input space.

    Args:
        sel: (B, K, V, P) one-hot assignment; uv (B, V, P, J, 2) full-image pixels and conf
            (B, V, P, J) the detections; affines (B, V, 2, 3) image → input of the copy.
        cfg: sizes; sigma, min_conf: the detection rendering (as the shared heatmaps).
    Returns:
        (B, K, V, J, h, w) heatmaps in [0, 1].
    """
    B, K = sel.shape[:2]
    V, P, J = uv.shape[1:4]
    uv_k = uv[:, None].expand(B, K, V, P, J, 2).reshape(B * K, V, P, J, 2)
    conf_k = (conf[:, None] * sel[..., None]).reshape(B * K, V, P, J)  # (B, K, ..) → (B·K, ..)
    aff_k = affines[:, None].expand(B, K, V, 2, 3).reshape(B * K, V, 2, 3)
    t, _ = pseudo_heatmap_targets(uv_k, conf_k, aff_k, cfg, sigma, min_conf)
    return t.heatmaps.reshape(B, K, *t.heatmaps.shape[1:])  # (B·K, V, J, h, w) → (B, K, ...)


def person_heatmaps(centers: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor,
                    cams: CameraTensors, affines: torch.Tensor, cfg: ModelConfig,
                    sigma: float, min_conf: float) -> torch.Tensor:
    """Per-proposal heatmaps from the detections each proposal explains: the assignment
    (``cfg.detection_gate`` > 0) then :func:`render_person_heatmaps`.

    Args:
        centers: (B, K, 3) root proposals; the rest as :func:`render_person_heatmaps`.
    Returns:
        (B, K, V, J, h, w) heatmaps in [0, 1].
    """
    sel = assign_detections(centers, uv, conf, cams, cfg.root_joint, min_conf,
                            cfg.detection_gate)  # (B, K, V, P)
    return render_person_heatmaps(sel, uv, conf, affines, cfg, sigma, min_conf)
