"""Shelf / Campus PCP (percentage of correct parts), strict about missing predictions.

For every ground-truth actor in every frame, take the prediction with the lowest 14-joint
MPJPE (Shelf-14 order). A limb is correct if the mean of its two endpoint errors is at most
``alpha`` (0.5) times the ground-truth limb length. The 10 limbs are those of
:data:`~selfpose3d_core.skeleton.SHELF_PCP_LIMBS` (the torso runs from the hip midpoint to
the bottom of the head). A frame in which an actor has no prediction at all counts all of
that actor's limbs as wrong (the reference implementation skips such frames, which inflates
PCP; we do not).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..skeleton import SHELF_PCP_LIMBS

__all__ = ["PCPResult", "evaluate_pcp", "LIMB_GROUPS"]

LIMB_GROUPS = ("upper_arms", "lower_arms", "upper_legs", "lower_legs", "head", "torso")


class PCPResult(NamedTuple):
    """Fields:
        per_actor: dict actor id → PCP % over its frames (all 10 limbs); NaN for an
            actor annotated in none of the frames.
        average: mean of ``per_actor`` over the evaluated actors (%).
        per_group: dict actor id → dict limb group → PCP % (NaN as ``per_actor``).
        group_average: dict limb group → PCP % averaged over actors.
        frames: dict actor id → number of frames the actor was annotated in.
        missing: dict actor id → frames in which no prediction existed.
    """

    per_actor: dict
    average: float
    per_group: dict
    group_average: dict
    frames: dict
    missing: dict

    def as_dict(self) -> dict:
        return self._asdict()


def _endpoint(joints: np.ndarray, e) -> np.ndarray:
    """joints (..., 14, 3); e an index or "hip_mid" → (..., 3)."""
    if e == "hip_mid":
        return 0.5 * (joints[..., 2, :] + joints[..., 3, :])
    return joints[..., e, :]


def _limb_correct(pred: np.ndarray, gt: np.ndarray, alpha: float) -> np.ndarray:
    """pred, gt (14, 3) → (10,) bool."""
    ok = []
    for _, _, a, b in SHELF_PCP_LIMBS:
        ga, gb = _endpoint(gt, a), _endpoint(gt, b)
        pa, pb = _endpoint(pred, a), _endpoint(pred, b)
        err = 0.5 * (np.linalg.norm(pa - ga) + np.linalg.norm(pb - gb))
        ok.append(err <= alpha * np.linalg.norm(ga - gb))
    return np.asarray(ok)


def evaluate_pcp(preds: Sequence[np.ndarray], gts: Sequence[dict], actors: Sequence[int],
                 alpha: float = 0.5) -> PCPResult:
    """PCP per actor, average and per limb group.

    Args:
        preds: per frame, (P, 14, 3) predicted joints in Shelf-14 order (metres); P may be 0.
        gts: per frame, dict actor id → (14, 3) ground truth (only annotated actors).
        actors: the actor ids to report (Shelf/Campus: 1-3 or 0-2 as the data names them).
        alpha: the limb tolerance factor.
    Returns:
        :class:`PCPResult`.
    """
    if len(preds) != len(gts):
        raise ValueError(f"evaluate_pcp: {len(preds)} prediction frames vs {len(gts)} GT")
    groups = [g for _, g, _, _ in SHELF_PCP_LIMBS]
    correct = {a: np.zeros(len(SHELF_PCP_LIMBS)) for a in actors}
    frames = {a: 0 for a in actors}
    missing = {a: 0 for a in actors}
    for pred, gt in zip(preds, gts):
        pred = np.asarray(pred, dtype=np.float64).reshape(-1, 14, 3)
        for a in actors:
            if a not in gt:
                continue
            g = np.asarray(gt[a], dtype=np.float64)
            frames[a] += 1
            if len(pred) == 0:
                missing[a] += 1
                continue
            mpjpe = np.linalg.norm(pred - g[None], axis=-1).mean(-1)  # (P,)
            correct[a] += _limb_correct(pred[int(mpjpe.argmin())], g, alpha)
    per_actor, per_group = {}, {}
    for a in actors:
        if frames[a] == 0:  # never annotated in these frames: no score (not 0 %)
            per_actor[a] = float("nan")
            per_group[a] = {grp: float("nan") for grp in LIMB_GROUPS}
            continue
        n = frames[a]
        per_actor[a] = 100.0 * correct[a].sum() / (n * len(SHELF_PCP_LIMBS))
        per_group[a] = {grp: 100.0 * correct[a][[g == grp for g in groups]].sum()
                        / (n * groups.count(grp)) for grp in LIMB_GROUPS}
    evaluated = [a for a in actors if frames[a] > 0]
    average = float(np.mean([per_actor[a] for a in evaluated])) if evaluated else float("nan")
    group_average = {grp: float(np.mean([per_group[a][grp] for a in evaluated]))
                     if evaluated else float("nan") for grp in LIMB_GROUPS}
    return PCPResult(per_actor=per_actor, average=average, per_group=per_group,
                     group_average=group_average, frames=frames, missing=missing)
