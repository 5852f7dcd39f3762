"""4D Association OpenPose candidate files (``detection/<view>.txt``).

Format (whitespace-separated numbers): a header ``<type> <frames>``; then per frame, for
each of the 25 BODY_25 joints, the candidate count n followed by 3 rows of n numbers
(x and y normalised to [0, 1] by (width − 1, height − 1), and the score); then, for each
of the 26 part-affinity limbs in :data:`~selfpose3d_core.skeleton.BODY25_PAF_LIMBS`
order, an n_a × n_b matrix (row-major, rows = candidates of the limb's first joint) of
affinity scores. Parsing only: grouping candidates into people happens elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..geometry.camera import Camera
from ..skeleton import BODY25, BODY25_PAF_LIMBS
from .fourda import _count, _tokens

__all__ = ["CandidateFrame", "OpenPoseCandidates", "load_4da_detections",
           "nearest_candidate_errors"]


class CandidateFrame(NamedTuple):
    """The OpenPose candidates of one image.

    Fields:
        candidates: 25 arrays, one per BODY_25 joint, each (n_j, 3): u, v (pixels), score.
        pafs: 26 arrays, one per limb of ``BODY25_PAF_LIMBS`` (a, b), each (n_a, n_b).
    """

    candidates: tuple[np.ndarray, ...]
    pafs: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class OpenPoseCandidates:
    """All frames of one view's candidate file.

    Attributes:
        skeleton_type: the header's type number (the 4D Association code's skeleton enum).
        image_size: (width, height) used to turn normalised coordinates into pixels.
        frames: one :class:`CandidateFrame` per frame.
    """

    skeleton_type: int
    image_size: tuple[int, int]
    frames: tuple[CandidateFrame, ...]


def load_4da_detections(path: str | Path, image_size: tuple[int, int]) -> OpenPoseCandidates:
    """Read a 4D Association ``detection/<view>.txt`` (every token, exactly).

    Args:
        path: the file.
        image_size: (width, height) of the view in pixels (Shelf: (1032, 776)); candidate
            pixels are ``x (width − 1)``, ``y (height − 1)``.
    Raises:
        ValueError: naming the file, if tokens run out, are left over, or a count is not a
            non-negative integer.
    """
    path = Path(path)
    w, h = (int(v) for v in image_size)
    if w <= 1 or h <= 1:
        raise ValueError(f"load_4da_detections: image_size must be > 1 pixel, got {image_size}")
    tok = _tokens(path)
    kind = _count(tok, 0, path, "the skeleton type")
    F = _count(tok, 1, path, "the frame count")
    scale = np.array([w - 1.0, h - 1.0, 1.0])
    J, pos, frames = BODY25.num_joints, 2, []
    for f in range(F):
        cands, counts = [], []
        for j in range(J):
            n = _count(tok, pos, path, f"the candidate count of frame {f}, joint {j}")
            pos += 1
            if pos + 3 * n > tok.size:
                raise ValueError(f"{path}: file ends inside frame {f}, joint {j} "
                                 f"({3 * n} numbers needed from token {pos})")
            cands.append(tok[pos:pos + 3 * n].reshape(3, n).T * scale)  # (n, 3)
            counts.append(n)
            pos += 3 * n
        pafs = []
        for li, (a, b) in enumerate(BODY25_PAF_LIMBS):
            size = counts[a] * counts[b]
            if pos + size > tok.size:
                raise ValueError(f"{path}: file ends inside frame {f}, limb {li} {(a, b)} "
                                 f"({size} numbers needed from token {pos})")
            pafs.append(tok[pos:pos + size].reshape(counts[a], counts[b]))
            pos += size
        frames.append(CandidateFrame(candidates=tuple(cands), pafs=tuple(pafs)))
    if pos != tok.size:
        raise ValueError(f"{path}: {tok.size - pos} tokens left over after {F} frames")
    return OpenPoseCandidates(skeleton_type=kind, image_size=(w, h), frames=tuple(frames))


def nearest_candidate_errors(cams: Sequence[Camera], detections: Sequence[OpenPoseCandidates],
                             joints: np.ndarray, valid: np.ndarray, gt_joints: Sequence[int],
                             body_joints: Sequence[int]) -> np.ndarray:
    """Pixel distance from each projected 3D joint to the nearest OpenPose candidate.

    Checks a calibration and a ground truth against independent 2D detections: joint
    ``gt_joints[m]`` of the ground truth is compared with the candidates of BODY_25 joint
    ``body_joints[m]`` of the same frame and view.

    Args:
        cams: V cameras; detections: their V candidate files (frame f ↔ joints[f]).
        joints: (F, P, J, 3) world joints (m); valid: (F, P, J) bool
            (e.g. from :func:`~selfpose3d_core.data.frames.stack_skeleton_frames`).
        gt_joints, body_joints: M matching joint indices into J and into BODY_25.
    Returns:
        1D errors (px) over (view, joint pair, frame, person) where the joint is valid,
        projects inside the image and the view has a candidate of it.
    """
    if len(gt_joints) != len(body_joints):
        raise ValueError(f"nearest_candidate_errors: {len(gt_joints)} gt_joints but "
                         f"{len(body_joints)} body_joints")
    if len(cams) != len(detections):
        raise ValueError(f"nearest_candidate_errors: {len(cams)} cameras but "
                         f"{len(detections)} detection files")
    F = joints.shape[0]
    gt_joints = list(gt_joints)
    errs = []
    for v, cam in enumerate(cams):
        uv = cam.project(joints[:, :, gt_joints])  # (F, P, M, 2)
        ok = valid[:, :, gt_joints] & cam.in_image(uv)
        for m, bj in enumerate(body_joints):
            cands = [detections[v].frames[f].candidates[bj][:, :2] for f in range(F)]
            N = max(max(len(c) for c in cands), 1)
            pad = np.full((F, N, 2), np.nan)  # (F, N, 2) candidates, NaN = none
            for f, c in enumerate(cands):
                pad[f, :len(c)] = c
            d = np.linalg.norm(uv[:, :, m, None] - pad[:, None], axis=-1)  # (F, P, N)
            d = np.where(np.isnan(d), np.inf, d).min(-1)  # (F, P)
            errs.append(d[ok[:, :, m] & np.isfinite(d)])
    return np.concatenate(errs) if errs else np.zeros(0)
