"""Run a trained model over a dataset, and score the result against ground truth.

``predict_dataset`` reads only :class:`MultiViewDataset` (images, or the 2D detections in
"detections" mode); ``evaluate_predictions`` reads :class:`GroundTruth3D` separately.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .data.dataset import GroundTruth3D, MultiViewDataset
from .evaluation import FramePoses, PanopticResult, evaluate_panoptic
from .models.estimator import Estimator
from .tracking import TrackerConfig, smooth_sequence
from .training.data import frame_pseudo_poses
from .training.losses import pseudo_heatmap_targets

__all__ = ["Prediction", "predict_dataset", "evaluate_predictions", "detection_heatmaps",
           "detection_settings"]

log = logging.getLogger(__name__)


class Prediction(NamedTuple):
    """Fields: frames (F,) frame indices; skeletons (one :class:`Skeletons` per frame, or
    :class:`~selfpose3d_core.tracking.TrackedSkeletons` with ``temporal``); seconds (wall
    time of the whole run); fps (frames per second)."""

    frames: np.ndarray
    skeletons: list
    seconds: float
    fps: float


def detection_settings(train_config: dict) -> tuple[float, float, str]:
    """``(sigma, min_conf, derived_conf)``: how a checkpoint's model was trained to read and
    render detections, from its ``train_config`` (checkpoints from before
    ``TrainConfig.derived_conf`` read theirs with "min")."""
    tc = train_config or {}
    return (float(tc.get("heatmap_sigma", 2.0)), float(tc.get("min_conf", 0.2)),
            str(tc.get("derived_conf", "min")))


def detection_heatmaps(dataset: MultiViewDataset, frame: int, est: Estimator, sigma: float,
                       min_conf: float, max_people: int = 10,
                       derived_conf: str = "mean") -> torch.Tensor:
    """"Detections mode" input: the frame's 2D detections rendered as confidence-weighted
    heatmaps in each view's letterboxed input, (1, V, J, h, w)."""
    pp = frame_pseudo_poses(dataset, frame, max_people, derived_conf)
    uv = torch.from_numpy(pp.uv)[None].to(est.device)  # (1, V, P, J, 2)
    conf = torch.from_numpy(pp.conf)[None].to(est.device)
    t, _ = pseudo_heatmap_targets(uv, conf, est.affines[None], est.config, sigma, min_conf)
    return t.heatmaps


def predict_dataset(est: Estimator, dataset: MultiViewDataset,
                    frames: Sequence[int] | None = None, heatmap_source: str = "images",
                    sigma: float = 2.0, min_conf: float = 0.2,
                    drop_views: Sequence[int] = (), derived_conf: str = "mean",
                    temporal: TrackerConfig | None = None) -> Prediction:
    """Estimate every frame (or ``frames``) of a dataset.

    Args:
        est: the estimator (its cameras must be the dataset's).
        heatmap_source: "images" (the 2D backbone) or "detections".
        sigma, min_conf, derived_conf: how the detections are read and rendered
            (detections mode; the training config's ``heatmap_sigma``, ``min_conf``,
            ``derived_conf``).
        drop_views: view indices to treat as missing (camera-dropout experiments).
        temporal: when given, the per-frame estimates are tracked and smoothed over the
            frames (:func:`~selfpose3d_core.tracking.smooth_sequence`, offline: each frame
            also uses the later ones); ``frames`` must then be increasing.
    """
    frames = list(range(dataset.num_frames)) if frames is None else list(frames)
    if temporal is not None and any(b <= a for a, b in zip(frames, frames[1:])):
        raise ValueError("predict_dataset: temporal smoothing needs increasing frames")
    out = []
    t0 = time.perf_counter()
    for f in frames:
        if heatmap_source == "images":
            imgs = [None if v in drop_views else dataset.image(f, v)
                    for v in range(dataset.num_views)]
            out.append(est.estimate(imgs))
        elif heatmap_source == "detections":
            pp = frame_pseudo_poses(dataset, f, 10, derived_conf)
            mask = torch.ones(1, dataset.num_views, device=est.device)
            mask[0, list(drop_views)] = 0.0
            out.append(est.estimate_from_detections(pp.uv[None], pp.conf[None], sigma,
                                                    min_conf, view_mask=mask)[0])
        else:
            raise ValueError(f"heatmap_source must be 'images' or 'detections', got "
                             f"{heatmap_source!r}")
    if temporal is not None:
        out = smooth_sequence(out, dataset.timestamps[frames], temporal)
    dt = time.perf_counter() - t0
    return Prediction(frames=np.asarray(frames), skeletons=out, seconds=dt,
                      fps=len(frames) / max(dt, 1e-9))


def evaluate_predictions(skeletons: Sequence, frames: Sequence[int],
                         gt: GroundTruth3D) -> PanopticResult:
    """Panoptic-protocol AP / Recall / MPJPE of predictions against the dataset's GT.

    ``skeletons``: per frame, anything with ``joints`` (P, J, 3) and ``scores`` (P,) that
    rank the people — :class:`Skeletons` (root score × mean joint confidence) or the
    triangulation baseline's ``Poses3D``.
    """
    preds, gts = [], []
    for s, f in zip(skeletons, frames):
        g = gt.frame(int(f))
        J = s.joints.shape[1] if len(s.joints) else 15
        preds.append(FramePoses.make(s.joints if len(s.joints) else np.zeros((0, J, 3)),
                                     scores=s.scores))
        gts.append(FramePoses.make(g.joints[:, :J] if g.num_people else np.zeros((0, J, 3)),
                                   visible=g.valid[:, :J] if g.num_people else None))
    return evaluate_panoptic(preds, gts)
