"""A simulated off-the-shelf 2D pose detector (COCO-17 keypoints in full-image pixels).

The model, per view (all parameters in :class:`~selfpose3d_core.synthetic.config.DetectorConfig`):

1. Ground-truth COCO-17 joints (PANOPTIC15 body plus eyes and ears from the head) are
   projected with the camera's distortion.
2. A person is *detectable* when at least ``min_visible_joints`` joints are in the image
   with occlusion < 0.5 and its projected height is at least ``min_height_px``; a
   detectable person is still dropped with probability ``person_miss_rate``.
3. Each joint with occlusion ``o``: noise ``N(0, σ² I₂)``, ``σ = base + gain·o``; missed
   with probability ``joint_miss_rate + occlusion_miss_gain·o`` (always when outside the
   image): then its confidence is in [0, 0.15] (< :data:`MISS_CONF`) and its position is a
   guess ``miss_sigma_px`` off (clamped into the image). Found joints get a confidence in
   [0.3, 0.98] that decreases with their error and occlusion.
4. With probability ``swap_rate`` the detection is mirrored (left ↔ right joints).
5. Poisson(``false_positive_rate``) phantom people per view: plausible random bodies at
   random places (also outside the walls, as if seen through the door), projected into
   this view only, with low joint confidences and scores in [0.08, 0.5].
6. Person score ≈ 0.25 + 0.7 · mean confidence of the found joints (0.05–0.99).

Detections are sorted by score. The simulation is a pure function of its random
generator, so a frame's detections depend only on (seed, frame).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..geometry.camera import Camera
from ..skeleton import COCO17
from .body import (
    COCO_FROM_POINTS,
    forward_kinematics,
    gait_pose,
    sample_activity_pose,
    sample_shape,
)
from .config import DetectorConfig

__all__ = ["MISS_CONF", "ViewDetections", "detect_view", "detectable_people",
           "empty_detections"]

#: Joints reported with a confidence below this are misses (the detector's guess).
MISS_CONF = 0.2
_FLIP = COCO17.flip_permutation()


class ViewDetections(NamedTuple):
    """The simulated detector's output for one view, plus what it was made from.

    Fields (D detections, sorted by score, highest first):
        keypoints: (D, 17, 2) COCO-17 keypoints, full-image pixels.
        conf: (D, 17) joint confidences (< :data:`MISS_CONF`: missed joint).
        scores: (D,) person scores.
        gt_index: (D,) row of the frame's ground-truth people, −1 for a false positive.
        swapped: (D,) the detection is mirrored left ↔ right.
        truth_uv: (D, 17, 2) the projected ground truth each keypoint was made from
            (for a swapped detection keypoint j comes from the mirrored joint).
        truth_occ: (D, 17) that joint's occlusion fraction.
    """

    keypoints: np.ndarray
    conf: np.ndarray
    scores: np.ndarray
    gt_index: np.ndarray
    swapped: np.ndarray
    truth_uv: np.ndarray
    truth_occ: np.ndarray

    @property
    def num_detections(self) -> int:
        return int(self.scores.shape[0])


def empty_detections() -> ViewDetections:
    return ViewDetections(np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros(0),
                          np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 17, 2)),
                          np.zeros((0, 17)))


def _noisy(rng: np.random.Generator, cfg: DetectorConfig, cam: Camera, uv: np.ndarray,
           occ: np.ndarray, in_img: np.ndarray):
    """Noise, misses and confidences for (N, 17) joints → (kp, conf)."""
    n = uv.shape[0]
    sigma = cfg.base_sigma_px + cfg.occlusion_sigma_gain_px * occ
    noise = rng.standard_normal((n, 17, 2)) * sigma[..., None]
    p_miss = np.clip(cfg.joint_miss_rate + cfg.occlusion_miss_gain * occ, 0.0, 0.98)
    missed = (rng.random((n, 17)) < p_miss) | ~in_img
    guess = uv + rng.standard_normal((n, 17, 2)) * cfg.miss_sigma_px
    guess[..., 0] = np.clip(guess[..., 0], 0, cam.width - 1)
    guess[..., 1] = np.clip(guess[..., 1], 0, cam.height - 1)
    err = np.linalg.norm(noise, axis=-1)
    s0 = 2.0 * cfg.base_sigma_px + 5.0
    conf = (0.3 + 0.68 * np.exp(-0.5 * (err / s0) ** 2) * (1.0 - 0.35 * occ)
            + rng.normal(0.0, 0.03, (n, 17)))
    conf = np.clip(conf, 0.3, 0.98)
    conf_miss = rng.uniform(0.0, 0.15, (n, 17))
    kp = np.where(missed[..., None], guess, uv + noise)
    conf = np.where(missed, conf_miss, conf)
    return kp, conf, missed


def _score(rng: np.random.Generator, conf: np.ndarray, missed: np.ndarray) -> np.ndarray:
    found = ~missed
    nf = found.sum(-1)
    mean = np.where(nf > 0, (conf * found).sum(-1) / np.maximum(nf, 1), 0.0)
    s = 0.25 + 0.7 * mean * (nf / 17.0) ** 0.25 + rng.normal(0.0, 0.02, conf.shape[0])
    return np.clip(s, 0.05, 0.99)


def _phantoms(rng: np.random.Generator, cfg: DetectorConfig, cam: Camera,
              room_half: tuple[float, float], count: int):
    """``count`` random person-shaped 2D poses visible in ``cam``: (uv (F, 17, 2))."""
    out = []
    for _ in range(count):
        for _attempt in range(30):
            shape = np.asarray(sample_shape(rng))
            if rng.random() < 0.4:
                ang = gait_pose(np.array([rng.random()]), 1.0)[0]
            else:
                ang = sample_activity_pose(rng, ("stand", "bend", "reach", "crouch")[
                    int(rng.integers(4))])
            xy = rng.uniform([-room_half[0] - 1.5, -room_half[1] - 1.5],
                             [room_half[0] + 1.5, room_half[1] + 1.5])
            body = forward_kinematics(shape[None], ang[None], xy[None],
                                      np.array([rng.uniform(-np.pi, np.pi)]))
            j3 = body.points[0, COCO_FROM_POINTS]
            if np.any(cam.world_to_camera(j3)[:, 2] < 0.3):
                continue
            uv = cam.project(j3)
            inside = cam.in_image(uv)
            if inside.sum() >= max(cfg.min_visible_joints, 6):
                out.append(uv)
                break
    return np.asarray(out).reshape(-1, 17, 2)


def detectable_people(cfg: DetectorConfig, cam: Camera, joints: np.ndarray,
                      occlusion: np.ndarray):
    """Which people the detector can find in a view (before the random person misses).

    Args:
        joints: (P, 17, 3) COCO-17 world joints; occlusion: (P, 17).
    Returns:
        ``(uv (P, 17, 2), in_image (P, 17), occlusion (P, 17) (1 behind the camera),
        detectable (P,))``.
    """
    uv = cam.project(joints)
    in_front = cam.world_to_camera(joints)[..., 2] > 0.05
    in_img = cam.in_image(uv) & in_front
    occ = np.where(in_front, occlusion, 1.0)
    visible = in_img & (occ < 0.5)
    v = uv[..., 1]
    height = np.where(in_img.any(1), np.where(in_img, v, -np.inf).max(1)
                      - np.where(in_img, v, np.inf).min(1), 0.0)
    detectable = (visible.sum(1) >= cfg.min_visible_joints) & (height >= cfg.min_height_px)
    return uv, in_img, occ, detectable


def detect_view(rng: np.random.Generator, cfg: DetectorConfig, cam: Camera,
                joints: np.ndarray, occlusion: np.ndarray,
                room_half: tuple[float, float] = (3.0, 3.0)) -> ViewDetections:
    """Simulate the detector on one view.

    Args:
        rng: the random generator (consumed).
        cfg: noise model.
        cam: the view's camera.
        joints: (P, 17, 3) ground-truth COCO-17 joints (world, m).
        occlusion: (P, 17) their occlusion fraction in this view.
        room_half: half extent (x, y) of the room, for placing phantoms.
    Returns:
        :class:`ViewDetections`.
    """
    P = joints.shape[0]
    if joints.shape != (P, 17, 3) or occlusion.shape != (P, 17):
        raise ValueError(f"detect_view: expected joints (P, 17, 3) and occlusion (P, 17), "
                         f"got {joints.shape} and {occlusion.shape}")
    uv, in_img, occ, detectable = detectable_people(cfg, cam, joints, occlusion)
    person_miss = rng.random(P) < cfg.person_miss_rate
    swap = rng.random(P) < cfg.swap_rate
    kp, conf, missed = _noisy(rng, cfg, cam, uv, occ, in_img)
    score = _score(rng, conf, missed)
    keep = detectable & ~person_miss

    # false positives
    n_fp = int(rng.poisson(cfg.false_positive_rate))
    fuv = _phantoms(rng, cfg, cam, room_half, n_fp)
    F = fuv.shape[0]
    focc = rng.uniform(0.0, 0.5, (F, 17))
    f_in = cam.in_image(fuv)
    fkp, fconf, fmissed = _noisy(rng, cfg, cam, fuv, focc, f_in)
    fconf = np.where(fmissed, fconf, rng.uniform(0.2, 0.65, (F, 17)))
    fscore = rng.uniform(0.08, 0.5, F)

    idx = np.nonzero(keep)[0]
    perm = np.where(swap[idx, None], _FLIP[None], np.arange(17)[None])  # (D, 17)
    rows = idx[:, None]
    keypoints = np.concatenate([kp[rows, perm], fkp])
    confs = np.concatenate([conf[rows, perm], fconf])
    scores = np.concatenate([score[idx], fscore])
    order = np.argsort(-scores, kind="stable")
    return ViewDetections(
        keypoints=keypoints[order], conf=confs[order], scores=scores[order],
        gt_index=np.concatenate([idx, -np.ones(F, np.int64)])[order],
        swapped=np.concatenate([swap[idx], np.zeros(F, bool)])[order],
        truth_uv=np.concatenate([uv[rows, perm], fuv])[order],
        truth_occ=np.concatenate([occ[rows, perm], focc])[order])
