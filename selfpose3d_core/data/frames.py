"""Typed per-frame results of the real-data readers (ground truth and detections).

All 3D coordinates are metres in this project's world (z up; see
:mod:`selfpose3d_core.geometry.camera`), all 2D coordinates pixels (OpenCV convention).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SkeletonFrame", "Keypoints2D"]


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
