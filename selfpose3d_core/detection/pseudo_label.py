"""Run a 2D detector over a dataset's images and store the poses as its keypoints.

The dataset keeps **COCO-17 keypoints with confidences** (``keypoints/<view>.json``,
``joint_set: coco17``) and nothing else: the 15-joint pseudo poses the training uses are
derived at load time (``training/data.py`` converts to Panoptic-15, neck and mid-hip from
the shoulder and hip midpoints with the lower of the two confidences), and the "soft"
(confidence ≥ ``min_conf``, 0.2) and "hard" (≥ ``hard_conf``, 0.7) sets are the same
poses under two thresholds of the training config. Storing them again would only let them
drift apart; :func:`pseudo_pose_stats` reports how many joints each set keeps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.dataset import MultiViewDataset, ViewKeypoints, replace_keypoints
from ..skeleton import COCO17, JOINT_SETS, PANOPTIC15, convert_joints
from .base import Detections2D, Detector

__all__ = ["PseudoLabelSummary", "detections_to_keypoints", "pseudo_label_dataset",
           "pseudo_pose_stats"]

log = logging.getLogger(__name__)


def detections_to_keypoints(det: Detections2D, min_score: float = 0.0) -> ViewKeypoints:
    """:class:`Detections2D` → COCO-17 :class:`ViewKeypoints`, people below ``min_score``
    (person score) dropped. Shapes: (P, 17, 2), (P, 17), (P,)."""
    keep = np.asarray(det.person_scores) >= float(min_score)
    return ViewKeypoints(keypoints=np.asarray(det.keypoints, np.float64)[keep],
                         conf=np.asarray(det.scores, np.float64)[keep],
                         scores=np.asarray(det.person_scores, np.float64)[keep])


def pseudo_pose_stats(poses: Sequence[ViewKeypoints], joint_set: str = "coco17",
                      min_conf: float = 0.2, hard_conf: float = 0.7) -> dict[str, float]:
    """How many 15-joint pseudo-pose joints the soft and hard sets keep.

    Args:
        poses: any number of :class:`ViewKeypoints` in ``joint_set``.
        joint_set: their joint set.
        min_conf, hard_conf: the training's soft and hard thresholds.
    Returns:
        ``{"people", "soft_fraction", "hard_fraction"}``: people, and the fractions of
        their Panoptic-15 joints with confidence ≥ ``min_conf`` / ≥ ``hard_conf``.
    """
    confs = []
    for p in poses:
        if p.num_people:
            _, c = convert_joints(p.keypoints, JOINT_SETS[joint_set], PANOPTIC15, p.conf)
            confs.append(c)
    if not confs:
        return {"people": 0, "soft_fraction": float("nan"), "hard_fraction": float("nan")}
    c = np.concatenate(confs)  # (N, 15)
    return {"people": int(c.shape[0]), "soft_fraction": float(np.mean(c >= min_conf)),
            "hard_fraction": float(np.mean(c >= hard_conf))}


@dataclass(frozen=True)
class PseudoLabelSummary:
    """What :func:`pseudo_label_dataset` did.

    Attributes:
        frames: frames processed.
        images: images run through the detector.
        people_per_view: view name → mean people per processed frame.
        seconds_per_image: mean detector time per image (the first frame, the model's
            warm-up, excluded when there are several).
        stats: :func:`pseudo_pose_stats` of the new poses.
    """

    frames: int
    images: int
    people_per_view: dict[str, float]
    seconds_per_image: float
    stats: dict[str, float]


def pseudo_label_dataset(root: str | Path, detector: Detector, min_score: float = 0.3,
                         frames: Sequence[int] | None = None,
                         provenance: dict[str, Any] | None = None) -> PseudoLabelSummary:
    """Detect the people of every image of a dataset and store them as its keypoints.

    Args:
        root: a dataset with images.
        detector: a :class:`Detector` (COCO-17).
        min_score: people with a lower person score are not stored, [0, 1].
        frames: the frames to process (default all). With a subset, the other frames keep
            their poses when the dataset is already COCO-17, and get none otherwise.
        provenance: extra plain data for ``dataset.yaml``'s ``source.keypoints``.
    Returns:
        :class:`PseudoLabelSummary`.
    Raises:
        ValueError: a dataset without images, a frame out of range, a bad ``min_score``.
    """
    if not 0.0 <= float(min_score) <= 1.0:
        raise ValueError(f"pseudo_label_dataset: min_score must be in [0, 1], got {min_score}")
    ds = MultiViewDataset(root)
    if not ds.has_images:
        raise ValueError(f"{ds.root}: the dataset has no images (dataset.yaml images: false); "
                         f"import detections made elsewhere with `selfpose3d "
                         f"import-detections` instead")
    todo = list(range(ds.num_frames)) if frames is None else [int(f) for f in frames]
    bad = [f for f in todo if not 0 <= f < ds.num_frames]
    if bad:
        raise ValueError(f"pseudo_label_dataset: frames {bad[:5]} out of range "
                         f"[0, {ds.num_frames})")
    out: dict[str, dict[int, ViewKeypoints]] = {v: {} for v in ds.view_names}
    if frames is not None:
        if ds.joint_set == COCO17.name:
            for f in set(range(ds.num_frames)) - set(todo):
                for v, kp in zip(ds.view_names, ds.keypoints(f)):
                    out[v][f] = kp
        else:
            log.warning("%s: keypoints are %s, not coco17: frames outside the %d processed "
                        "ones get no poses", ds.root, ds.joint_set, len(todo))
    batch = getattr(detector, "detect_batch", None)
    times: list[tuple[float, int]] = []  # (seconds, images) per frame
    n_img, t_log = 0, time.perf_counter()
    for k, f in enumerate(todo):
        views = [(v, ds.image(f, v)) for v in ds.view_names]
        views = [(v, im) for v, im in views if im is not None]
        t0 = time.perf_counter()
        if batch is not None:
            dets = batch([im for _, im in views])
        else:
            dets = [detector.detect(im) for _, im in views]
        times.append((time.perf_counter() - t0, len(views)))
        n_img += len(views)
        for (v, _), d in zip(views, dets):
            out[v][f] = detections_to_keypoints(d, min_score)
        if time.perf_counter() - t_log > 10 or k == len(todo) - 1:
            log.info("pseudo-label: frame %d/%d (%.0f ms per image)", k + 1, len(todo),
                     1000 * times[-1][0] / max(times[-1][1], 1))
            t_log = time.perf_counter()
    if n_img == 0:
        raise ValueError(f"{ds.root}: no image found for the {len(todo)} frames")
    new = [out[v][f] for v in ds.view_names for f in todo if f in out[v]]
    stats = pseudo_pose_stats(new)
    info = {"detector": getattr(detector, "name", type(detector).__name__),
            "joint_set": COCO17.name, "min_score": float(min_score),
            "frames": len(todo), "images": n_img, **(provenance or {})}
    replace_keypoints(ds.root, out, COCO17.name, provenance=info)
    per_view = {v: float(np.mean([out[v][f].num_people for f in todo if f in out[v]] or [0]))
                for v in ds.view_names}
    timed = times[1:] if len(times) > 1 else times  # the first frame warms the model up
    spi = sum(t for t, _ in timed) / max(sum(n for _, n in timed), 1)
    return PseudoLabelSummary(frames=len(todo), images=n_img, people_per_view=per_view,
                              seconds_per_image=spi, stats=stats)
