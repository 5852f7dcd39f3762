"""Group per-joint OpenPose candidates into people with part-affinity scores.

OpenPose's bottom-up assembly, from the candidates and the per-limb affinity matrices
(e.g. the 4D Association files, :mod:`.fourda_detection`):

1. The limbs are split into *tree* limbs (the skeleton's bones: each joint is reached from
   the root by exactly one of them) and *redundant* ones (BODY_25's shoulder → ear
   limbs). Tree limbs are processed parent first (breadth first from the root, the neck).
2. Per limb, every candidate pair whose affinity exceeds ``min_affinity`` is a possible
   connection; they are sorted by affinity (highest first) and accepted greedily, each
   candidate of either joint used at most once per limb.
3. Each accepted connection joins person sets: a new person when neither candidate has
   one yet; the free end joins the person of the other (if that person has no candidate
   of that joint yet); two people are merged when the connection links them and they
   have no joint in common. Redundant limbs only fill a joint a person still lacks.
4. People with fewer than ``min_parts`` joints, or whose mean joint score is below
   ``min_mean_score``, are dropped.

Everything is numpy on small arrays (a few candidates per joint): about 1 ms per image.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..skeleton import BODY25, BODY25_PAF_LIMBS
from .fourda_detection import CandidateFrame

__all__ = ["GroupingConfig", "GroupedPoses", "group_candidates", "group_candidate_frame",
           "BODY25_CORE_JOINTS"]

#: BODY_25 joints 0..14 (nose … l_ankle): the ones every 15-joint set is made of.
BODY25_CORE_JOINTS: tuple[int, ...] = tuple(range(15))


@dataclass(frozen=True)
class GroupingConfig:
    """Settings of :func:`group_candidates`.

    Attributes:
        min_affinity: a candidate pair is a possible connection when its affinity (the
            part-affinity line integral, ≈ 0..1.2 in OpenPose's output; 0 = rejected by
            OpenPose) is above this.
        min_parts: people with fewer joints are dropped (OpenPose: 3).
        min_mean_score: people whose mean candidate score is lower are dropped, [0, 1].
    """

    min_affinity: float = 0.05
    min_parts: int = 4
    min_mean_score: float = 0.3

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_affinity) and self.min_affinity >= 0):
            raise ValueError(f"GroupingConfig.min_affinity must be >= 0, "
                             f"got {self.min_affinity}")
        if int(self.min_parts) < 1:
            raise ValueError(f"GroupingConfig.min_parts must be >= 1, got {self.min_parts}")
        if not 0.0 <= self.min_mean_score <= 1.0:
            raise ValueError(f"GroupingConfig.min_mean_score must be in [0, 1], "
                             f"got {self.min_mean_score}")


class GroupedPoses(NamedTuple):
    """The people assembled in one image (P people, J joints).

    Fields:
        keypoints: (P, J, 2) float64 pixels; 0 where the joint was not found.
        conf: (P, J) float64 candidate scores; 0 where the joint was not found.
        scores: (P,) float64 person scores in [0, 1]: the mean score of the found joints
            times the fraction of ``core_joints`` found.
        candidate_index: (P, J) int64 index of the candidate used per joint, −1 = none.
    """

    keypoints: np.ndarray
    conf: np.ndarray
    scores: np.ndarray
    candidate_index: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])


def _limb_order(limbs: Sequence[tuple[int, int]], num_joints: int, root: int,
                redundant: set[int]) -> list[int]:
    """Indices of the tree limbs, breadth first from ``root`` (parents first)."""
    adj: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(limbs):
        if k in redundant:
            continue
        adj.setdefault(a, []).append(k)
        adj.setdefault(b, []).append(k)
    order, seen, queue = [], {root}, deque([root])
    while queue:
        j = queue.popleft()
        for k in adj.get(j, []):
            a, b = limbs[k]
            other = b if a == j else a
            if other not in seen:
                seen.add(other)
                order.append(k)
                queue.append(other)
    # limbs of parts the root does not reach (a forest): still processed, after the tree
    order += [k for k in range(len(limbs)) if k not in redundant and k not in order]
    return order


def _connections(paf: np.ndarray, min_affinity: float) -> list[tuple[int, int, float]]:
    """Greedy one-to-one connections of one limb: (i, j, affinity), highest first."""
    ii, jj = np.nonzero(paf > min_affinity)
    if ii.size == 0:
        return []
    s = paf[ii, jj]
    order = np.argsort(-s, kind="stable")
    used_a, used_b, out = set(), set(), []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, float(s[k])))
    return out


def group_candidates(candidates: Sequence[np.ndarray], pafs: Sequence[np.ndarray],
                     limbs: Sequence[tuple[int, int]] = BODY25_PAF_LIMBS,
                     redundant: Sequence[tuple[int, int]] = ((2, 17), (5, 18)),
                     root: int = 1, config: GroupingConfig | None = None,
                     core_joints: Sequence[int] = BODY25_CORE_JOINTS) -> GroupedPoses:
    """Assemble people from per-joint candidates and per-limb affinities (OpenPose-style).

    Args:
        candidates: J arrays, one per joint, each (n_j, 3): u, v (pixels), score.
        pafs: L arrays, one per limb of ``limbs`` (a, b), each (n_a, n_b) affinities.
        limbs: L (a, b) joint pairs (default: BODY_25's 26 PAF limbs).
        redundant: limbs (as pairs) that only fill joints a person still lacks.
        root: the joint the tree limbs are ordered from (BODY_25: the neck, 1).
        config: thresholds (:class:`GroupingConfig`).
        core_joints: joints counted by the person score.
    Returns:
        :class:`GroupedPoses` with P people (sorted by person score, highest first).
    Raises:
        ValueError: shapes that do not match the limbs or the candidate counts.

    Example:
        >>> c = [np.array([[0., 0., 1.]]), np.array([[0., 10., 1.]])]
        >>> g = group_candidates(c, [np.array([[0.9]])], limbs=[(0, 1)], redundant=(),
        ...                      root=0, config=GroupingConfig(min_parts=2),
        ...                      core_joints=(0, 1))
        >>> g.num_people, g.keypoints.shape
        (1, (1, 2, 2))
    """
    cfg = config or GroupingConfig()
    J, L = len(candidates), len(limbs)
    if len(pafs) != L:
        raise ValueError(f"group_candidates: {len(pafs)} affinity matrices for {L} limbs")
    cands = [np.asarray(c, dtype=np.float64).reshape(-1, 3) if np.size(c) else np.zeros((0, 3))
             for c in candidates]
    counts = [c.shape[0] for c in cands]
    for k, ((a, b), p) in enumerate(zip(limbs, pafs)):
        if not (0 <= a < J and 0 <= b < J):
            raise ValueError(f"group_candidates: limb {k} {(a, b)} names a joint outside "
                             f"[0, {J})")
        if np.shape(p) != (counts[a], counts[b]) and not (
                np.size(p) == 0 and counts[a] * counts[b] == 0):
            raise ValueError(f"group_candidates: limb {k} {(a, b)}: affinities "
                             f"{np.shape(p)}, expected ({counts[a]}, {counts[b]})")
    red = {k for k, ab in enumerate(limbs) if tuple(ab) in {tuple(r) for r in redundant}}
    people: list[np.ndarray] = []  # each (J,) candidate index, -1 = none
    owner: list[dict[int, int]] = [dict() for _ in range(J)]  # joint → {candidate: person}

    def assign(p: int, joint: int, cand: int) -> None:
        people[p][joint] = cand
        owner[joint][cand] = p

    for k in _limb_order(limbs, J, root, red) + sorted(red):
        a, b = limbs[k]
        if counts[a] == 0 or counts[b] == 0:
            continue
        for i, j, _ in _connections(np.asarray(pafs[k], np.float64), cfg.min_affinity):
            pa, pb = owner[a].get(i), owner[b].get(j)
            if k in red:
                if pa is not None and pb is None and people[pa][b] < 0:
                    assign(pa, b, j)
                elif pb is not None and pa is None and people[pb][a] < 0:
                    assign(pb, a, i)
                continue
            if pa is None and pb is None:
                people.append(np.full(J, -1, np.int64))
                assign(len(people) - 1, a, i)
                assign(len(people) - 1, b, j)
            elif pb is None:
                if people[pa][b] < 0:
                    assign(pa, b, j)
            elif pa is None:
                if people[pb][a] < 0:
                    assign(pb, a, i)
            elif pa != pb and not np.any((people[pa] >= 0) & (people[pb] >= 0)):
                for jj in np.nonzero(people[pb] >= 0)[0]:
                    assign(pa, int(jj), int(people[pb][jj]))
                people[pb][:] = -1  # merged away
    keep = []
    core = np.asarray(core_joints, np.int64)
    for idx in people:
        found = idx >= 0
        n = int(found.sum())
        if n < cfg.min_parts:
            continue
        sc = np.array([cands[j][idx[j], 2] for j in np.nonzero(found)[0]])
        if sc.mean() < cfg.min_mean_score:
            continue
        keep.append(idx)
    P = len(keep)
    kp, conf = np.zeros((P, J, 2)), np.zeros((P, J))
    index = np.stack(keep) if keep else np.zeros((0, J), np.int64)
    for p, idx in enumerate(keep):
        for j in np.nonzero(idx >= 0)[0]:
            kp[p, j] = cands[j][idx[j], :2]
            conf[p, j] = cands[j][idx[j], 2]
    found = index >= 0  # (P, J)
    mean = np.where(found, conf, 0).sum(1) / np.maximum(found.sum(1), 1)
    scores = np.clip(mean * found[:, core].mean(1), 0.0, 1.0) if P else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    return GroupedPoses(keypoints=kp[order], conf=np.clip(conf[order], 0.0, 1.0),
                        scores=scores[order], candidate_index=index[order])


def group_candidate_frame(frame: CandidateFrame,
                          config: GroupingConfig | None = None) -> GroupedPoses:
    """:func:`group_candidates` of one BODY_25 :class:`CandidateFrame` (4D Association)."""
    if len(frame.candidates) != BODY25.num_joints:
        raise ValueError(f"group_candidate_frame: {len(frame.candidates)} joints, expected "
                         f"BODY_25's {BODY25.num_joints}")
    return group_candidates(frame.candidates, frame.pafs, config=config)
