"""Typed per-frame results of the real-data readers (ground truth and detections).

All 3D coordinates are metres in this project's world (z up; see
:mod:`selfpose3d_core.geometry.camera`), all 2D coordinates pixels (OpenCV convention).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["SkeletonFrame", "Keypoints2D", "stack_skeleton_frames"]


class SkeletonFrame(NamedTuple):
    """The 3D skeletons of one frame.

    Fields:
        ids: (P,) int64 person / actor ids.
        joints: (P, J, 3) float64 joint positions (m, our world).
        valid: (P, J) bool, the joint is annotated / trusted.
    """

    ids: np.ndarray
    joints: np.ndarray
    valid: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.ids.shape[0])


def stack_skeleton_frames(frames: Sequence[SkeletonFrame],
                          num_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames of ragged people → padded arrays.

    Args:
        frames: F frames; each has at least ``num_joints`` joints (extra ones are dropped).
        num_joints: J, the joints to keep (the first J).
    Returns:
        ``(joints (F, Pmax, J, 3), valid (F, Pmax, J))``, Pmax = max(1, most people in a
        frame); padded rows are 0 and not valid.
    """
    P = max(max((f.num_people for f in frames), default=0), 1)
    joints = np.zeros((len(frames), P, num_joints, 3))
    valid = np.zeros((len(frames), P, num_joints), dtype=bool)
    for i, f in enumerate(frames):
        joints[i, :f.num_people] = f.joints[:, :num_joints]
        valid[i, :f.num_people] = f.valid[:, :num_joints]
    return joints, valid


class Keypoints2D(NamedTuple):
    """2D keypoints of the people one detector found in one image.

    Fields:
        keypoints: (P, J, 2) float64 pixel coordinates (u, v).
        scores: (P, J) float64 detector confidences.
    """

    keypoints: np.ndarray
    scores: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])
