"""Joint sets, limbs and conversions between them.

The internal joint set is :data:`PANOPTIC15` (the CMU Panoptic 15-joint order the method
uses; root = mid-hip, index 2). Detectors speak :data:`COCO17` or OpenPose
:data:`BODY25`; Shelf/Campus ground truth and PCP use :data:`SHELF14`.

Conversions are linear maps ``dst = W @ src`` over the joint axis (works for 2D or 3D
coordinates, numpy or torch, any leading dims); a derived joint's confidence is the
minimum of the confidences of the joints it is made from.

Head rule for :data:`SHELF14` from :data:`PANOPTIC15` (which has no head joints), with
``f = nose - neck`` (the face direction) and ``u = neck - mid_hip`` (the torso, pointing up
the spine)::

    bottom_head = neck + 0.20 f + 0.12 u
    top_head    = neck + 0.55 f + 0.38 u

(the constants :data:`HEAD_BOTTOM_ALPHA`, :data:`HEAD_BOTTOM_BETA`, :data:`HEAD_TOP_ALPHA`,
:data:`HEAD_TOP_BETA`). Shelf's head annotation runs from about the chin to the crown, up
the body axis (``gt.txt``: head length median 0.20 m, 0.19 m of it vertical; the bottom
0.12 m above the shoulder midpoint), while the nose sits in front of the face, 0.26 m from
OpenPose's neck: the former rule along ``nose - neck`` alone (``neck + 0.5 f``,
``nose + 0.7 f``) pointed the head forwards and scored head PCP ≈ 1 %. The four constants
were fitted by least squares to the ``gt.txt`` head joints of Shelf frames 300–449 only
(the training half of ``bench/shelf_pcp.py``'s held-out split), from OpenPose joints
triangulated per annotated actor, and rounded. On frames 450–600 (not used in the fit),
head PCP goes from 1.6 to 73.1 % for the triangulation baseline and from 1.2 to 71.1 %
for the 4D Association output (``skel.txt``); over all 301 frames 0.8 → 84.7 % and
1.0 → 83.2 %. No ground truth is used at test time. The rule is linear, so it is a row of
:func:`conversion_matrix` and can be inverted
(:func:`selfpose3d_core.data.shelf.shelf_gt_to_panoptic15`). Fitted and checked on Shelf
only; not checked on Campus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "JointSet",
    "PANOPTIC15",
    "COCO17",
    "BODY25",
    "SHELF14",
    "JOINT_SETS",
    "PANOPTIC15_MIDPOINTS",
    "SHELF_PCP_LIMBS",
    "conversion_matrix",
    "convert_joints",
    "HEAD_BOTTOM_ALPHA",
    "HEAD_BOTTOM_BETA",
    "HEAD_TOP_ALPHA",
    "HEAD_TOP_BETA",
]

#: Head rule (module docstring): ``X = neck + α (nose − neck) + β (neck − mid_hip)``.
HEAD_BOTTOM_ALPHA = 0.20
HEAD_BOTTOM_BETA = 0.12
HEAD_TOP_ALPHA = 0.55
HEAD_TOP_BETA = 0.38


@dataclass(frozen=True)
class JointSet:
    """A named list of joints with its bones.

    Attributes:
        name: registry key (``"panoptic15"``, ``"coco17"``, ...).
        joints: joint names in order.
        limbs: bones as (parent, child) index pairs, for drawing.
        root: index of the root joint (mid-hip), or -1 when the set has none.
        flip_pairs: (left, right) index pairs, for mirroring / left-right swaps.
    """

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    root: int
    flip_pairs: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise ValueError(f"joint {joint!r} is not in {self.name} ({self.joints})") from None

    def flip_permutation(self) -> np.ndarray:
        """(J,) index permutation that swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def _flip_pairs(joints: Sequence[str]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, n in enumerate(joints):
        if n.startswith("l_"):
            r = "r_" + n[2:]
            if r in joints:
                pairs.append((i, list(joints).index(r)))
    return tuple(pairs)


def _joint_set(name, joints, limb_names, root) -> JointSet:
    idx = {n: i for i, n in enumerate(joints)}
    limbs = tuple((idx[a], idx[b]) for a, b in limb_names)
    return JointSet(name=name, joints=tuple(joints), limbs=limbs,
                    root=idx[root] if root else -1, flip_pairs=_flip_pairs(joints))


PANOPTIC15 = _joint_set(
    "panoptic15",
    ["neck", "nose", "mid_hip", "l_shoulder", "l_elbow", "l_wrist", "l_hip", "l_knee",
     "l_ankle", "r_shoulder", "r_elbow", "r_wrist", "r_hip", "r_knee", "r_ankle"],
    [("neck", "nose"), ("neck", "mid_hip"),
     ("neck", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
     ("mid_hip", "l_hip"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
     ("neck", "r_shoulder"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
     ("mid_hip", "r_hip"), ("r_hip", "r_knee"), ("r_knee", "r_ankle")],
    "mid_hip",
)

COCO17 = _joint_set(
    "coco17",
    ["nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
     "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle",
     "r_ankle"],
    [("l_ankle", "l_knee"), ("l_knee", "l_hip"), ("r_ankle", "r_knee"), ("r_knee", "r_hip"),
     ("l_hip", "r_hip"), ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"),
     ("l_shoulder", "r_shoulder"), ("l_shoulder", "l_elbow"), ("r_shoulder", "r_elbow"),
     ("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"), ("l_eye", "r_eye"), ("nose", "l_eye"),
     ("nose", "r_eye"), ("l_eye", "l_ear"), ("r_eye", "r_ear"), ("l_ear", "l_shoulder"),
     ("r_ear", "r_shoulder")],
    None,
)

BODY25 = _joint_set(
    "body25",
    ["nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
     "mid_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye",
     "r_ear", "l_ear", "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe",
     "r_heel"],
    [("neck", "mid_hip"), ("mid_hip", "r_hip"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
     ("mid_hip", "l_hip"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
     ("neck", "r_shoulder"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
     ("neck", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
     ("neck", "nose"), ("nose", "r_eye"), ("r_eye", "r_ear"), ("nose", "l_eye"),
     ("l_eye", "l_ear"), ("l_ankle", "l_big_toe"), ("l_big_toe", "l_small_toe"),
     ("l_ankle", "l_heel"), ("r_ankle", "r_big_toe"), ("r_big_toe", "r_small_toe"),
     ("r_ankle", "r_heel")],
    "mid_hip",
)

#: OpenPose BODY_25 part-affinity limb order (joint index pairs), as in its output files.
BODY25_PAF_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 8), (9, 10), (10, 11), (8, 9), (8, 12), (12, 13), (13, 14), (1, 2), (2, 3), (3, 4),
    (2, 17), (1, 5), (5, 6), (6, 7), (5, 18), (1, 0), (0, 15), (0, 16), (15, 17), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24))
__all__.append("BODY25_PAF_LIMBS")

SHELF14 = _joint_set(
    "shelf14",
    ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
     "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "bottom_head", "top_head"],
    [("r_ankle", "r_knee"), ("r_knee", "r_hip"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
     ("r_wrist", "r_elbow"), ("r_elbow", "r_shoulder"), ("l_shoulder", "l_elbow"),
     ("l_elbow", "l_wrist"), ("bottom_head", "top_head"), ("r_hip", "l_hip"),
     ("r_shoulder", "bottom_head"), ("l_shoulder", "bottom_head")],
    None,
)

#: The 10 PCP limbs of the Shelf/Campus protocol, as (name, group, endpoint A, endpoint B);
#: an endpoint is a SHELF14 index, or the string "hip_mid" (mean of the two hips).
SHELF_PCP_LIMBS: tuple[tuple[str, str, int | str, int | str], ...] = (
    ("r_lower_leg", "lower_legs", 0, 1),
    ("r_upper_leg", "upper_legs", 1, 2),
    ("l_upper_leg", "upper_legs", 3, 4),
    ("l_lower_leg", "lower_legs", 4, 5),
    ("r_lower_arm", "lower_arms", 6, 7),
    ("r_upper_arm", "upper_arms", 7, 8),
    ("l_upper_arm", "upper_arms", 9, 10),
    ("l_lower_arm", "lower_arms", 10, 11),
    ("head", "head", 12, 13),
    ("torso", "torso", "hip_mid", 12),
)

JOINT_SETS: dict[str, JointSet] = {s.name: s for s in (PANOPTIC15, COCO17, BODY25, SHELF14)}


def _matrix(src: JointSet, dst: JointSet, rules: dict[str, dict[str, float]]) -> np.ndarray:
    W = np.zeros((dst.num_joints, src.num_joints))
    for j, name in enumerate(dst.joints):
        rule = rules.get(name, {name: 1.0})
        for s, w in rule.items():
            W[j, src.index(s)] += w
    return W


def _mid(a: str, b: str) -> dict[str, float]:
    return {a: 0.5, b: 0.5}


def _head(alpha: float, beta: float) -> dict[str, float]:
    """``neck + alpha (nose − neck) + beta (neck − mid_hip)`` as joint weights."""
    return {"neck": 1.0 - alpha + beta, "nose": alpha, "mid_hip": -beta}


#: Panoptic-15 joints that COCO-17 detections give as midpoints of two other Panoptic-15
#: joints: ``{joint: (a, b)}``.
PANOPTIC15_MIDPOINTS: dict[str, tuple[str, str]] = {"neck": ("l_shoulder", "r_shoulder"),
                                                    "mid_hip": ("l_hip", "r_hip")}

_RULES: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("coco17", "panoptic15"): {k: _mid(*ab) for k, ab in PANOPTIC15_MIDPOINTS.items()},
    ("body25", "panoptic15"): {},
    ("body25", "coco17"): {},
    ("panoptic15", "shelf14"): {
        "bottom_head": _head(HEAD_BOTTOM_ALPHA, HEAD_BOTTOM_BETA),
        "top_head": _head(HEAD_TOP_ALPHA, HEAD_TOP_BETA),
    },
}


def conversion_matrix(src: JointSet, dst: JointSet) -> np.ndarray:
    """(J_dst, J_src) linear map from ``src`` joints to ``dst`` joints."""
    if src.name == dst.name:
        return np.eye(src.num_joints)
    key = (src.name, dst.name)
    if key not in _RULES:
        chain = {("coco17", "shelf14"): PANOPTIC15, ("body25", "shelf14"): PANOPTIC15}
        if key in chain:
            mid = chain[key]
            return conversion_matrix(mid, dst) @ conversion_matrix(src, mid)
        raise ValueError(f"no conversion from {src.name} to {dst.name}; known: "
                         f"{sorted(_RULES) + [('coco17', 'shelf14'), ('body25', 'shelf14')]}")
    return _matrix(src, dst, _RULES[key])


def convert_joints(joints, src: JointSet, dst: JointSet, conf=None, conf_rule: str = "min"):
    """Convert joints between sets.

    Args:
        joints: (..., J_src, D) coordinates (numpy or torch; D = 2 or 3).
        src, dst: joint sets.
        conf: optional (..., J_src) confidences.
        conf_rule: a derived joint's confidence from those of the source joints it uses:
            ``"min"`` (as sure as its least sure source) or ``"mean"``. A midpoint whose one
            source is occluded is still placed within half that source's error — a mid-hip
            seen from the side, one hip hidden, is a usable root — which ``"min"`` throws
            away; ``"mean"`` keeps it at a lowered confidence.
    Returns:
        ``(joints (..., J_dst, D), conf (..., J_dst) or None)``.
    """
    if conf_rule not in ("min", "mean"):
        raise ValueError(f"convert_joints: conf_rule must be 'min' or 'mean', got "
                         f"{conf_rule!r}")
    if joints.shape[-2] != src.num_joints:
        raise ValueError(f"convert_joints: expected (..., {src.num_joints}, D) for "
                         f"{src.name}, got {tuple(joints.shape)}")
    W = conversion_matrix(src, dst)
    used = W != 0  # (J_dst, J_src)
    if isinstance(joints, torch.Tensor):
        Wt = torch.as_tensor(W, dtype=joints.dtype, device=joints.device)
        out = torch.einsum("ds,...sk->...dk", Wt, joints)
        if conf is None:
            return out, None
        mask = torch.as_tensor(used, device=conf.device)
        if conf_rule == "mean":
            m = mask.to(conf.dtype)
            return out, torch.einsum("ds,...s->...d", m, conf) / m.sum(-1)
        big = torch.full_like(conf[..., None, :].expand(*conf.shape[:-1], *used.shape), np.inf)
        c = torch.where(mask, conf[..., None, :].expand_as(big), big).amin(-1)
        return out, c
    joints = np.asarray(joints)
    out = np.einsum("ds,...sk->...dk", W, joints)
    if conf is None:
        return out, None
    conf = np.asarray(conf)
    if conf_rule == "mean":
        w = used.astype(np.float64)
        return out, np.einsum("ds,...s->...d", w, conf) / w.sum(-1)
    c = np.where(used, conf[..., None, :], np.inf).min(-1)
    return out, c
