"""Panoptic protocol: AP@{25..150} mm, Recall@500 mm and MPJPE over TPs at 500 mm.

Per frame, each prediction is assigned to the ground-truth person with the lowest MPJPE
over that person's visible joints. All predictions of the evaluated set are then sorted by
root score; a prediction is a true positive at threshold ``th`` if its error is below
``th`` and its ground-truth person has not been taken by a higher-scored prediction, else a
false positive. AP is the area under the monotone precision envelope (VOC all points).
MPJPE is the mean error of the true positives at 500 mm; Recall@500 is the fraction of
ground-truth people with any prediction under 500 mm. Ground-truth people whose root
confidence is ≤ 0.1 are dropped before anything else (they are not annotated reliably).

Inputs are metres; reported numbers are millimetres (errors) and percent (AP, recall).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["FramePoses", "PanopticResult", "AP_THRESHOLDS_MM", "evaluate_panoptic",
           "average_precision"]

AP_THRESHOLDS_MM = (25, 50, 75, 100, 125, 150)


class FramePoses(NamedTuple):
    """The poses of one frame (ground truth or predictions).

    Fields:
        joints: (P, J, 3) metres.
        visible: (P, J) bool — GT: the joints that count; predictions: unused (all True).
        scores: (P,) root scores (predictions) or root confidences (GT; ≤ 0.1 dropped).
    """

    joints: np.ndarray
    visible: np.ndarray
    scores: np.ndarray

    @classmethod
    def make(cls, joints, visible=None, scores=None) -> "FramePoses":
        joints = np.asarray(joints, dtype=np.float64).reshape(-1, *np.shape(joints)[-2:]) \
            if np.size(joints) else np.zeros((0, 15, 3))
        if joints.ndim != 3 or joints.shape[-1] != 3:
            raise ValueError(f"FramePoses: joints must be (P, J, 3), got {joints.shape}")
        P, J = joints.shape[:2]
        visible = np.ones((P, J), bool) if visible is None else np.asarray(visible, bool)
        scores = np.ones(P) if scores is None else np.asarray(scores, np.float64).reshape(P)
        if visible.shape != (P, J):
            raise ValueError(f"FramePoses: visible must be {(P, J)}, got {visible.shape}")
        return cls(joints, visible, scores)


class PanopticResult(NamedTuple):
    """Fields: ap (dict threshold mm → AP %), recall_500 (%), mpjpe_mm (mean over TPs at
    500 mm; NaN if none), num_gt, num_pred, num_frames."""

    ap: dict
    recall_500: float
    mpjpe_mm: float
    num_gt: int
    num_pred: int
    num_frames: int

    def as_dict(self) -> dict:
        d = {f"AP{k}": v for k, v in self.ap.items()}
        d.update(recall_500=self.recall_500, mpjpe_mm=self.mpjpe_mm, num_gt=self.num_gt,
                 num_pred=self.num_pred, num_frames=self.num_frames)
        return d


def average_precision(tp: np.ndarray, num_gt: int) -> float:
    """VOC all-points AP from TP flags (1/0) of score-sorted predictions, in [0, 1]."""
    if num_gt == 0:
        return float("nan")
    tp = np.asarray(tp, dtype=np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / num_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # monotone envelope
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _frame_errors(pred: FramePoses, gt: FramePoses) -> np.ndarray:
    """(P_pred, P_gt) MPJPE (m) over each GT person's visible joints."""
    d = np.linalg.norm(pred.joints[:, None] - gt.joints[None], axis=-1)  # (Pp, Pg, J)
    vis = gt.visible[None].astype(np.float64)  # (1, Pg, J)
    return (d * vis).sum(-1) / np.maximum(vis.sum(-1), 1.0)


def evaluate_panoptic(preds: Sequence[FramePoses], gts: Sequence[FramePoses],
                      thresholds_mm: Sequence[float] = AP_THRESHOLDS_MM,
                      min_gt_root_conf: float = 0.1) -> PanopticResult:
    """Evaluate predicted poses against ground truth, frame by frame (same order).

    Returns:
        :class:`PanopticResult`.
    """
    if len(preds) != len(gts):
        raise ValueError(f"evaluate_panoptic: {len(preds)} prediction frames vs "
                         f"{len(gts)} ground-truth frames")
    scores, errors, gt_ids, best_per_gt = [], [], [], []
    offset = 0
    num_pred = 0
    for pred, gt in zip(preds, gts):
        keep = gt.scores > min_gt_root_conf
        gt = FramePoses(gt.joints[keep], gt.visible[keep], gt.scores[keep])
        Pg = len(gt.joints)
        num_pred += len(pred.joints)
        if Pg == 0:
            # predictions in a frame without people: false positives at every threshold
            scores.extend(pred.scores.tolist())
            errors.extend([np.inf] * len(pred.joints))
            gt_ids.extend([-1] * len(pred.joints))
            continue
        if len(pred.joints):
            if pred.joints.shape[1] != gt.joints.shape[1]:
                raise ValueError(f"evaluate_panoptic: prediction has {pred.joints.shape[1]} "
                                 f"joints, ground truth {gt.joints.shape[1]}")
            err = _frame_errors(pred, gt)  # (Pp, Pg)
            j = err.argmin(1)
            scores.extend(pred.scores.tolist())
            errors.extend(err[np.arange(len(j)), j].tolist())
            gt_ids.extend((offset + j).tolist())
            best_per_gt.extend(err.min(0).tolist())
        else:
            best_per_gt.extend([np.inf] * Pg)
        offset += Pg
    num_gt = offset
    order = np.argsort(-np.asarray(scores), kind="stable")
    errors_mm = np.asarray(errors, dtype=np.float64)[order] * 1000.0
    ids = np.asarray(gt_ids, dtype=np.int64)[order]

    def tp_flags(th_mm: float) -> np.ndarray:
        taken = np.zeros(max(num_gt, 1), dtype=bool)
        tp = np.zeros(len(ids))
        for k, (e, g) in enumerate(zip(errors_mm, ids)):  # sequential by definition
            if g >= 0 and e < th_mm and not taken[g]:
                taken[g] = True
                tp[k] = 1.0
        return tp

    ap = {int(th): 100.0 * average_precision(tp_flags(th), num_gt) for th in thresholds_mm}
    tp500 = tp_flags(500.0).astype(bool)
    mpjpe = float(errors_mm[tp500].mean()) if tp500.any() else float("nan")
    best = np.asarray(best_per_gt, dtype=np.float64) * 1000.0
    recall = 100.0 * float((best < 500.0).mean()) if num_gt else float("nan")
    return PanopticResult(ap=ap, recall_500=recall, mpjpe_mm=mpjpe, num_gt=num_gt,
                          num_pred=num_pred, num_frames=len(gts))
