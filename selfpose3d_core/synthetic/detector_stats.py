"""Measured statistics of the simulated 2D detector, to compare with its configuration.

:func:`measure_detector_noise` walks the frames of a :class:`SyntheticScene` and counts
what :mod:`selfpose3d_core.synthetic.detector` did: the pixel error of found joints, joint
and person misses, mirrored detections and false positives.
:data:`NOISE_CHECK_CONFIG` is the scene the test suite and ``bench/foundation_figures.py``
measure (rates raised so that every effect is frequent enough to measure).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from .config import DetectorConfig, SynthConfig
from .detector import MISS_CONF, detectable_people
from .scene import SceneFrame, SyntheticScene

__all__ = ["MEDIAN_RAYLEIGH", "NOISE_CHECK_CONFIG", "DetectorNoiseStats",
           "measure_detector_noise"]

#: Median of |N(0, I₂)|: the median error of a joint with noise σ is σ·MEDIAN_RAYLEIGH.
MEDIAN_RAYLEIGH = math.sqrt(2.0 * math.log(2.0))

#: 120 frames at 5 fps, 320 × 240, seed 3, with every detector effect made frequent.
NOISE_CHECK_CONFIG = SynthConfig(
    num_frames=120, fps=5.0, image_width=320, image_height=240, seed=3,
    detector=DetectorConfig(base_sigma_px=2.0, occlusion_sigma_gain_px=10.0,
                            joint_miss_rate=0.05, occlusion_miss_gain=0.5,
                            person_miss_rate=0.1, swap_rate=0.1, false_positive_rate=0.3))


class DetectorNoiseStats(NamedTuple):
    """What the simulated detector did over a set of frames (all views).

    "Real" detections are those of a ground-truth person (not false positives); a joint
    is *found* when its confidence is ≥ :data:`~selfpose3d_core.synthetic.detector.MISS_CONF`.

    Fields:
        errors_unoccluded: (n0,) px error of found joints with occlusion 0.
        errors_normalised: (n,) error / configured σ(o) = base + gain·o of found joints.
        errors: (n,) px error of found joints; confidences: (n,) their confidences.
        real_scores, fp_scores: person scores of real detections / false positives.
        n_joint_candidates: unoccluded joints inside the image of real detections.
        n_joint_misses: those of them that were missed.
        n_detectable: people the detector could find (before the random person misses).
        n_found: real detections; n_swapped: those mirrored left ↔ right.
        n_false_positives: phantom detections; n_view_frames: views × frames measured.
        n_found_not_detectable: real detections of a person that was not detectable (0
            for a correct detector).
        n_unsorted_views: views whose detections are not sorted by score (0).
        n_found_outside_image: found joints whose truth is outside the image (0).
    """

    errors_unoccluded: np.ndarray
    errors_normalised: np.ndarray
    errors: np.ndarray
    confidences: np.ndarray
    real_scores: np.ndarray
    fp_scores: np.ndarray
    n_joint_candidates: int
    n_joint_misses: int
    n_detectable: int
    n_found: int
    n_swapped: int
    n_false_positives: int
    n_view_frames: int
    n_found_not_detectable: int
    n_unsorted_views: int
    n_found_outside_image: int

    @property
    def median_error_unoccluded(self) -> float:
        """Median px error of unoccluded found joints (configured: base σ·MEDIAN_RAYLEIGH)."""
        return float(np.median(self.errors_unoccluded))

    @property
    def joint_miss_rate(self) -> float:
        """Missed fraction of unoccluded in-image joints (configured: joint_miss_rate)."""
        return self.n_joint_misses / self.n_joint_candidates

    @property
    def person_miss_rate(self) -> float:
        """Unreported fraction of detectable people (configured: person_miss_rate)."""
        return 1.0 - self.n_found / self.n_detectable

    @property
    def swap_rate(self) -> float:
        """Mirrored fraction of real detections (configured: swap_rate)."""
        return self.n_swapped / self.n_found

    @property
    def false_positive_rate(self) -> float:
        """False positives per view and frame (configured: false_positive_rate)."""
        return self.n_false_positives / self.n_view_frames


def measure_detector_noise(scene: SyntheticScene,
                           frames: Sequence[SceneFrame] | None = None) -> DetectorNoiseStats:
    """Measure the detector of ``scene`` over ``frames`` (default: every frame of the
    scene, generated without images)."""
    if frames is None:
        frames = [scene.frame(i, render_images=False) for i in range(len(scene))]
    det = scene.config.detector
    err0, norm, errs, confs, fp_scores, real_scores = [], [], [], [], [], []
    n_miss = n_cand = n_detectable = n_found = n_swap = n_fp = 0
    n_not_detectable = n_unsorted = n_outside = 0
    for fr in frames:
        for cam, vr, d in zip(scene.cameras, fr.views, fr.detections):
            _, _, _, detectable = detectable_people(det, cam, fr.coco_joints, vr.occlusion)
            n_detectable += int(detectable.sum())
            real = d.gt_index >= 0
            n_not_detectable += int((~detectable[d.gt_index[real]]).sum())
            n_found += int(real.sum())
            n_fp += int((~real).sum())
            n_swap += int(d.swapped[real].sum())
            fp_scores.append(d.scores[~real])
            real_scores.append(d.scores[real])
            n_unsorted += int(not np.all(np.diff(d.scores) <= 0))
            for k in np.nonzero(real)[0]:
                e = np.linalg.norm(d.keypoints[k] - d.truth_uv[k], axis=-1)  # (17,)
                o = d.truth_occ[k]
                inside = cam.in_image(d.truth_uv[k])
                found = d.conf[k] >= MISS_CONF
                n_outside += int((found & ~inside).sum())
                err0.append(e[found & (o == 0)])
                norm.append((e / (det.base_sigma_px + det.occlusion_sigma_gain_px * o))[found])
                errs.append(e[found])
                confs.append(d.conf[k][found])
                n_cand += int((inside & (o == 0)).sum())
                n_miss += int((inside & (o == 0) & ~found).sum())

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    return DetectorNoiseStats(
        errors_unoccluded=cat(err0), errors_normalised=cat(norm), errors=cat(errs),
        confidences=cat(confs), real_scores=cat(real_scores), fp_scores=cat(fp_scores),
        n_joint_candidates=n_cand, n_joint_misses=n_miss, n_detectable=n_detectable,
        n_found=n_found, n_swapped=n_swap, n_false_positives=n_fp,
        n_view_frames=len(frames) * len(scene.cameras), n_found_not_detectable=n_not_detectable,
        n_unsorted_views=n_unsorted, n_found_outside_image=n_outside)
