"""Training samples from a :class:`MultiViewDataset`: augmented copies + pseudo poses.

This object is built from the dataset alone — the dataset reader never opens ``gt/`` — so
the self-supervised path cannot see 3D ground truth. (Supervised mode reads ground truth
through :class:`selfpose3d_core.data.dataset.GroundTruth3D`, separately, in the trainer.)

A sample of frame t holds C copies of all V views: copy 0 is the plain letterbox of every
image (x0), copies 1, 2 (x1, x2) add a random rotation/scale — one draw per copy, shared
by all its views — and photometric augmentation (rand-augment, cutout).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from ..data.dataset import MultiViewDataset
from ..geometry.affine import affine_matrix, warp_image
from ..models.config import ModelConfig
from ..skeleton import JOINT_SETS, PANOPTIC15, convert_joints
from .augment import augment_views
from .config import TrainConfig

__all__ = ["PseudoPoses", "frame_pseudo_poses", "TrainBatch", "TrainData"]


class PseudoPoses(NamedTuple):
    """Pseudo 2D poses of one frame in the internal joint set, padded to P per view.

    Fields:
        uv: (V, P, J, 2) float32 full-image pixels (NaN for padding).
        conf: (V, P, J) float32 joint confidences (0 for padding).
    """

    uv: np.ndarray
    conf: np.ndarray


def frame_pseudo_poses(dataset: MultiViewDataset, frame: int, max_people: int,
                       derived_conf: str = "mean") -> PseudoPoses:
    """The frame's 2D detections → Panoptic-15, the ``max_people`` best-scored per view; a
    joint the dataset's set lacks gets the ``derived_conf`` ("mean" or "min") of its
    sources' confidences (``TrainConfig.derived_conf``)."""
    src = JOINT_SETS[dataset.joint_set]
    J = PANOPTIC15.num_joints
    V = dataset.num_views
    uv = np.full((V, max_people, J, 2), np.nan, np.float32)
    conf = np.zeros((V, max_people, J), np.float32)
    for v, kp in enumerate(dataset.keypoints(frame)):
        if kp.num_people == 0:
            continue
        order = np.argsort(-kp.scores, kind="stable")[:max_people]
        k, c = convert_joints(kp.keypoints[order], src, PANOPTIC15, kp.conf[order],
                              conf_rule=derived_conf)
        n = len(order)
        uv[v, :n] = k
        conf[v, :n] = c
    return PseudoPoses(uv=uv, conf=conf)


class TrainBatch(NamedTuple):
    """A batch of B frames (torch, on the training device).

    Fields:
        frames: (B,) long frame indices.
        images: (B, C, V, 3, h, w) float in [0, 1], or None ("detections" mode).
        affines: (B, C, V, 2, 3) image → input affine of each copy and view.
        pseudo_uv: (B, V, P, J, 2) full-image pixels (NaN = none).
        pseudo_conf: (B, V, P, J).
    """

    frames: torch.Tensor
    images: torch.Tensor | None
    affines: torch.Tensor
    pseudo_uv: torch.Tensor
    pseudo_conf: torch.Tensor


class TrainData:
    """Builds :class:`TrainBatch` es from a dataset (see module docstring).

    Args:
        dataset: the training recording (no ground truth is read).
        model_cfg: input size etc.
        train_cfg: augmentation settings, max people, image caching.
    """

    def __init__(self, dataset: MultiViewDataset, model_cfg: ModelConfig,
                 train_cfg: TrainConfig) -> None:
        self.dataset = dataset
        self.model_cfg = model_cfg
        self.cfg = train_cfg
        self.use_images = train_cfg.heatmap_source == "images"
        if self.use_images and not dataset.has_images:
            raise ValueError(f"{dataset.root}: training from images, but the dataset has no "
                             f"images (use heatmap_source: detections)")
        #: the soft attention net looks at the images, also in detections mode when the
        #: dataset has them (a rig without images trains without attention)
        self.attention_images = (train_cfg.use_attention and train_cfg.mode == "selfsup"
                                 and dataset.has_images)
        self._images: dict[int, list[np.ndarray]] = {}
        self._pseudo: dict[int, PseudoPoses] = {}

    def __len__(self) -> int:
        return self.dataset.num_frames

    # ------------------------------------------------------------------ pieces
    def pseudo(self, frame: int) -> PseudoPoses:
        if frame not in self._pseudo:
            self._pseudo[frame] = frame_pseudo_poses(self.dataset, frame,
                                                     self.cfg.max_people_per_view,
                                                     self.cfg.derived_conf)
        return self._pseudo[frame]

    def images(self, frame: int) -> list[np.ndarray]:
        """The V RGB images of a frame (black where a view's image is missing)."""
        if frame in self._images:
            return self._images[frame]
        imgs = []
        for v, cam in enumerate(self.dataset.cameras):
            img = self.dataset.image(frame, v)
            imgs.append(img if img is not None else np.zeros((cam.height, cam.width, 3),
                                                              np.uint8))
        if self.cfg.cache_images:
            self._images[frame] = imgs
        return imgs

    def copy_affines(self, rng: np.random.Generator, augment: bool) -> np.ndarray:
        """(V, 2, 3) affines of one copy: letterbox, plus one shared random rotation and
        scale when ``augment``."""
        a = self.cfg.augment
        scale, rot = 1.0, 0.0
        if augment:
            if rng.random() < a.p_scale:
                scale = 1.0 + rng.uniform(-a.max_scale, a.max_scale)
            if rng.random() < a.p_rotation:
                rot = rng.uniform(-a.max_rotation_deg, a.max_rotation_deg)
        ow, oh = self.model_cfg.input_size
        out = []
        for cam in self.dataset.cameras:
            s = min(ow / cam.width, oh / cam.height)
            box = np.array([ow / s, oh / s]) * scale
            out.append(affine_matrix(((cam.width - 1) / 2, (cam.height - 1) / 2), box, rot,
                                     (ow, oh)))
        return np.stack(out)

    # ------------------------------------------------------------------ batches
    def batch(self, frames: Sequence[int], rng: np.random.Generator, copies: Sequence[bool],
              device: torch.device | str = "cpu", images: bool | None = None) -> TrainBatch:
        """Build a batch.

        Args:
            frames: B frame indices.
            rng: the generator all augmentation draws come from (deterministic).
            copies: one flag per copy: augment it (True) or plain letterbox (False); the
                pose stages use ``(False, True, True)`` (x0, x1, x2), the backbone stage
                ``(True,)``.
            images: warp the images too (default: in image mode only); the augmentation
                draws are the same either way.
        """
        use_images = self.use_images if images is None else images
        ow, oh = self.model_cfg.input_size
        B, C, V = len(frames), len(copies), self.dataset.num_views
        affines = np.zeros((B, C, V, 2, 3), np.float32)
        images = np.zeros((B, C, V, oh, ow, 3), np.uint8) if use_images else None
        for i in range(B):  # all affines first: the same draws with or without images
            for c, aug in enumerate(copies):
                affines[i, c] = self.copy_affines(rng, aug)
        for i, f in enumerate(frames):
            if not use_images:
                break
            imgs = self.images(f)
            for c, aug in enumerate(copies):
                warped = np.stack([warp_image(im, affines[i, c, v], (ow, oh))
                                   for v, im in enumerate(imgs)])  # (V, h, w, 3)
                if aug:
                    warped = augment_views(warped, rng, self.cfg.augment.photometric)
                images[i, c] = warped
        pseudo = [self.pseudo(f) for f in frames]
        dev = torch.device(device)
        img_t = None
        if images is not None:
            img_t = torch.from_numpy(images).to(dev).permute(0, 1, 2, 5, 3, 4)  # channels 1st
            img_t = img_t.float().div_(255.0)  # (B, C, V, 3, h, w)
        return TrainBatch(
            frames=torch.as_tensor(list(frames), dtype=torch.long, device=dev),
            images=img_t,
            affines=torch.from_numpy(affines).to(dev),
            pseudo_uv=torch.from_numpy(np.stack([p.uv for p in pseudo])).to(dev),
            pseudo_conf=torch.from_numpy(np.stack([p.conf for p in pseudo])).to(dev),
        )
