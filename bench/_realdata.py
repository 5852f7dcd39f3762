"""Helpers shared by the real-data benchmarks (``panoptic_gt_check.py``,
``real_images.py``): a trained model on another rig, and multi-view reprojection errors.

Not a benchmark itself; the scripts import it from their own folder.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from selfpose3d_core.geometry.camera import Camera
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.inference import detection_settings
from selfpose3d_core.skeleton import JOINT_SETS, PANOPTIC15, convert_joints

__all__ = ["LoadedModel", "load_estimator", "grid_at_pitch", "reprojection_errors"]

log = logging.getLogger("bench.realdata")


class LoadedModel(NamedTuple):
    """Fields: estimator (:class:`~selfpose3d_core.models.estimator.Estimator`); sigma,
    min_conf and derived_conf (how the model was trained to read and render detections);
    room (the grid used); trained_room (the grid in the checkpoint)."""

    estimator: object
    sigma: float
    min_conf: float
    room: VoxelGrid
    trained_room: VoxelGrid
    derived_conf: str = "min"


def load_estimator(checkpoint: Path, cameras: Sequence[Camera], device: str = "cpu",
                   room: str | VoxelGrid = "auto", threshold: float | None = None,
                   input_threshold: float | None = None,
                   refine_gate: float | None = None) -> LoadedModel:
    """A checkpoint's model on ``cameras``.

    ``room``: ``"auto"`` replaces the checkpoint's room grid by one proposed from
    ``cameras`` (:func:`selfpose3d_core.cli.auto_room`: the cameras' frusta and the floor,
    the checkpoint's voxel pitch and height — root_net is fully convolutional, so its
    weights apply to any grid of the same pitch); ``"model"`` keeps the checkpoint's grid
    (right only on the rig it was trained on); a :class:`VoxelGrid` is used as it is.
    ``input_threshold``: when given, replaces the checkpoint's ``root_input_threshold``
    (root_net's fused input as a recall safety net; see ``ModelConfig``);
    ``refine_gate``: when given, replaces its ``refine_gate`` (detections mode: joints
    re-triangulated from the assigned detections; :mod:`selfpose3d_core.refine`).
    """
    import dataclasses

    from selfpose3d_core.cli import auto_room
    from selfpose3d_core.config_utils import to_dict
    from selfpose3d_core.models import ModelConfig
    from selfpose3d_core.models.estimator import Estimator, load_checkpoint_file
    from selfpose3d_core.models.model import model_from_checkpoint

    ck = load_checkpoint_file(checkpoint)
    cfg = ModelConfig.from_dict(ck["model_config"])
    trained_room = cfg.room
    if isinstance(room, VoxelGrid):
        cfg = dataclasses.replace(cfg, room=room)
    elif room == "auto":
        cfg = auto_room(cfg, cameras)
    elif room != "model":
        raise ValueError(f"room must be 'auto', 'model' or a VoxelGrid, got {room!r}")
    if input_threshold is not None:
        cfg = dataclasses.replace(cfg, root_input_threshold=input_threshold)
    if refine_gate is not None:
        cfg = dataclasses.replace(cfg, refine_gate=refine_gate)
    model = model_from_checkpoint({**ck, "model_config": to_dict(cfg)}, strict=False).float()
    tc = ck.get("train_config", {}) or {}
    est = Estimator(model, cameras, device=device, threshold=threshold)
    log.info("model %s: room centre %s size %s voxels %s (trained with centre %s size %s); "
             "root threshold %.2f; input fallback %s; refine gate %s", checkpoint,
             [round(v, 2) for v in cfg.room.center],
             [round(v, 2) for v in cfg.room.size], list(cfg.room.shape),
             [round(v, 2) for v in trained_room.center],
             [round(v, 2) for v in trained_room.size], est.threshold, cfg.root_input_threshold,
             cfg.refine_gate)
    sigma, min_conf, derived_conf = detection_settings(tc)
    return LoadedModel(est, sigma, min_conf, cfg.room, trained_room, derived_conf)


def grid_at_pitch(center: Sequence[float], size: Sequence[float], like: VoxelGrid
                  ) -> VoxelGrid:
    """A grid of ``center`` and ``size`` with about ``like``'s voxel pitch (voxel counts
    rounded to multiples of 4, as the V2V poolings need)."""
    n = np.asarray(size, float) / like.pitch + 1.0
    shape = tuple(int(max(4, 4 * round(k / 4))) for k in n)
    return VoxelGrid(center=tuple(center), size=tuple(size), shape=shape)


def reprojection_errors(joints: np.ndarray, cameras: Sequence[Camera], views: Sequence,
                        joint_set: str, min_conf: float = 0.5, min_joints: int = 5,
                        scale: Sequence[float] | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Multi-view reprojection error of 3D people against 2D detections.

    For every person and view: project its 15 joints, take the view's detection (converted
    to Panoptic-15) with the smallest median pixel distance over the joints it has with
    confidence ≥ ``min_conf`` (at least ``min_joints`` of them), and keep that median.

    Args:
        joints: (P, 15, 3) Panoptic-15 people (m).
        cameras: V cameras.
        views: V :class:`~selfpose3d_core.data.dataset.ViewKeypoints` in ``joint_set``.
        scale: per view, pixels of the camera's image → pixels of the full-resolution
            image (e.g. the pizza demo's 960×512 crop of 1920×1080 frames: 1080 / 512);
            default 1.
    Returns:
        ``(errors, in_view)``: (P, V) median joint distance (full-resolution px), NaN where
        no detection of the view has enough confident joints in front of the camera; and
        (P, V) bool, at least ``min_joints`` of the person's joints project into the
        image (in front of the camera) — where a detection is expected.
    """
    joints = np.asarray(joints, np.float64).reshape(-1, PANOPTIC15.num_joints, 3)
    P, V = len(joints), len(cameras)
    out = np.full((P, V), np.nan)
    in_view = np.zeros((P, V), bool)
    src = JOINT_SETS[joint_set]
    for v, (cam, kp) in enumerate(zip(cameras, views)):
        if P == 0:
            break
        uv = cam.project(joints)  # (P, 15, 2)
        front = cam.world_to_camera(joints)[..., 2] > 0  # (P, 15)
        in_view[:, v] = (front & cam.in_image(uv)).sum(-1) >= min_joints
        if kp.num_people == 0:
            continue
        k15, c15 = convert_joints(kp.keypoints, src, PANOPTIC15, kp.conf)  # (D, 15, ·)
        d = np.linalg.norm(k15[None] - uv[:, None], axis=-1)  # (P, D, 15)
        use = (c15[None] >= min_conf) & front[:, None]  # (P, D, 15)
        enough = use.sum(-1) >= min_joints  # (P, D)
        with warnings.catch_warnings():  # all-NaN rows → NaN, as documented
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmedian(np.where(use & enough[..., None], d, np.nan), axis=-1)  # (P, D)
            best = np.nanmin(m, axis=1)  # (P,)
        out[:, v] = best * (1.0 if scale is None else float(scale[v]))
    return out, in_view
