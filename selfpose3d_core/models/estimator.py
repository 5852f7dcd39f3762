"""The inference API: V images (or V heatmap stacks) + cameras → 3D skeletons.

>>> est = Estimator.from_checkpoint("model.pt", cameras, device="cpu")   # doctest: +SKIP
>>> people = est.estimate(images)      # images: V arrays (H, W, 3) uint8 RGB
>>> people.joints.shape                # (P, J, 3) metres, world z up

Root proposals come from 3D NMS + threshold on the root_net volume; pose_net runs on all
proposals at once; the room sampling grid is cached while the cameras stay the same.
On CUDA the networks run under autocast (bf16 by default). A camera that is missing in a
frame is passed as ``None`` (or masked with ``view_mask``) and the remaining views carry
the estimate.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from ..geometry.affine import letterbox_affine, warp_image
from ..geometry.camera import Camera, stack_cameras
from ..geometry.unproject import SamplingGridCache
from .model import SelfPose3dModel, model_from_checkpoint
from .pipeline import estimate_poses, room_volume
from .root_net import merge_proposals, root_proposals

__all__ = ["Skeletons", "Estimator", "load_checkpoint_file"]

log = logging.getLogger(__name__)


class Skeletons(NamedTuple):
    """The people found in one frame (P may be 0).

    Fields:
        joints: (P, J, 3) world joints (m), Panoptic-15 order.
        confidence: (P, J) per-joint confidence (pose_net volume peak, ≈ [0, 1]).
        root_scores: (P,) root_net score of each person (sorted, descending).
        roots: (P, 3) root proposals (cube centres, m).

    :attr:`scores` (P,) is the person score that ranks the people for evaluation: the root
    score times the mean joint confidence.
    """

    joints: np.ndarray
    confidence: np.ndarray
    root_scores: np.ndarray
    roots: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.joints.shape[0])

    @property
    def scores(self) -> np.ndarray:
        """(P,) person scores: ``root_scores`` × the mean over joints of ``confidence``.

        root_net scores where a person stands; the joint confidences say how strongly the
        views agree on a whole body there (pose_net's fused input under each joint). Ghosts
        — root-like blobs where a few views' rays of different people cross — score
        highly on the first and poorly on the second (synthetic held-out rig, 5 cameras:
        mean joint confidence 0.46–0.60 for people found within 50 mm, 10th–90th
        percentile, against 0.18–0.32 for ghosts), so this ranks them below the people.
        """
        conf = np.asarray(self.confidence, dtype=np.float32)  # (P, J)
        return np.asarray(self.root_scores, dtype=np.float32) * conf.mean(axis=1)


def duplicate_skeletons(joints: np.ndarray, scores: np.ndarray, valid: np.ndarray,
                        radius: float) -> np.ndarray:
    """Skeleton-level "fast NMS": which people repeat a higher-scored one.

    Args:
        joints: (B, K, J, 3) metres (NaN joints are ignored).
        scores: (B, K) person scores; valid: (B, K) bool.
        radius: metres; person i duplicates j when score_j > score_i (ties: j before i)
            and the mean distance over the joints both have is < radius.
    Returns:
        (B, K) bool: valid people that duplicate a valid higher-ranked one (compared with
        every such person, suppressed or not: no sequential loop).
    """
    if joints.ndim != 4 or joints.shape[-1] != 3 or scores.shape != joints.shape[:2] \
            or valid.shape != scores.shape:
        raise ValueError(f"duplicate_skeletons: joints must be (B, K, J, 3) with scores and "
                         f"valid (B, K), got {joints.shape}, {scores.shape}, {valid.shape}")
    K = joints.shape[1]
    d = np.linalg.norm(joints[:, :, None] - joints[:, None], axis=-1)  # (B, K, K, J)
    both = np.isfinite(d)
    mean = np.where(both, d, 0).sum(-1) / np.maximum(both.sum(-1), 1)  # (B, K, K)
    mean = np.where(both.any(-1), mean, np.inf)
    idx = np.arange(K)
    higher = (scores[:, None, :] > scores[:, :, None]) | (
        (scores[:, None, :] == scores[:, :, None]) & (idx[None, None, :] < idx[None, :, None])
    )  # (B, K, K): [b, i, j] = j ranks above i
    close = (mean < radius) & higher & valid[:, None, :]
    return valid & close.any(-1)


def load_checkpoint_file(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint on ``map_location`` (never needs the GPU; no code is unpickled)."""
    from ..training.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return load_checkpoint(path, map_location=map_location)


class Estimator:
    """Multi-view multi-person 3D pose estimation with a trained model.

    Args:
        model: the networks (eval mode is set here).
        cameras: the rig (V cameras); change with :meth:`set_cameras`.
        device: "cpu" or "cuda" (falls back to CPU with a warning when CUDA is absent).
        autocast: on CUDA, run the networks in this dtype ("bf16", "fp16" or None).
        threshold: root score threshold (default: the model config's).
    """

    def __init__(self, model: SelfPose3dModel, cameras: Sequence[Camera], device="cpu",
                 autocast: str | None = "bf16", threshold: float | None = None) -> None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            log.warning("CUDA requested but not available: running on CPU")
            device = torch.device("cpu")
        self.device = device
        self.model = model.to(device).eval()
        self.config = model.config
        self.threshold = self.config.root_threshold if threshold is None else float(threshold)
        self.autocast = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[autocast]
        self._room_cache = SamplingGridCache()
        self.set_cameras(cameras)

    @classmethod
    def from_checkpoint(cls, path: str | Path, cameras: Sequence[Camera], device="cpu",
                        **kwargs) -> "Estimator":
        """Rebuild the model from the config the checkpoint carries."""
        ckpt = load_checkpoint_file(path)
        return cls(model_from_checkpoint(ckpt), cameras, device=device, **kwargs)

    # ------------------------------------------------------------------ cameras
    def set_cameras(self, cameras: Sequence[Camera]) -> None:
        """Set the rig; the input affines and cached grids follow."""
        cameras = list(cameras)
        if not cameras:
            raise ValueError("Estimator: need at least one camera")
        self.cameras = cameras
        self.cams = stack_cameras(cameras, device=self.device)
        aff = np.stack([letterbox_affine(c.image_size, self.config.input_size)
                        for c in cameras])
        self._affines_np = aff  # (V, 2, 3) for the image warps
        self.affines = torch.as_tensor(aff, dtype=torch.float32, device=self.device)  # (V,2,3)

    @property
    def num_views(self) -> int:
        return len(self.cameras)

    # ------------------------------------------------------------------ inputs
    def preprocess(self, images: Sequence[np.ndarray | None]) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """V RGB uint8 images (or None for a missing view) → (1, V, 3, h, w) float in
        [0, 1] and a (1, V) view mask."""
        if len(images) != self.num_views:
            raise ValueError(f"Estimator: got {len(images)} images for {self.num_views} "
                             f"cameras")
        w, h = self.config.input_size
        batch = np.zeros((self.num_views, h, w, 3), np.uint8)
        mask = np.zeros(self.num_views, np.float32)
        for v, (img, cam) in enumerate(zip(images, self.cameras)):
            if img is None:
                continue
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"Estimator: view {v} must be (H, W, 3) uint8 RGB, got "
                                 f"{img.shape} {img.dtype}")
            if (img.shape[1], img.shape[0]) != cam.image_size:
                raise ValueError(f"Estimator: view {v} image is {img.shape[1]}x"
                                 f"{img.shape[0]}, camera {cam.name!r} expects "
                                 f"{cam.width}x{cam.height}")
            batch[v] = warp_image(img, self._affines_np[v], (w, h))
            mask[v] = 1.0
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)  # (V, 3, h, w)
        x = x.float().div_(255.0)[None]  # (1, V, 3, h, w)
        return x, torch.from_numpy(mask).to(self.device)[None]

    def _autocast(self):
        if self.device.type == "cuda" and self.autocast is not None:
            return torch.autocast("cuda", dtype=self.autocast)
        return torch.autocast("cpu", enabled=False)

    # ------------------------------------------------------------------ estimation
    @torch.no_grad()
    def heatmaps(self, images: Sequence[np.ndarray | None]) -> tuple[torch.Tensor,
                                                                        torch.Tensor]:
        """V images → heatmaps (1, V, J, h, w) in [0, 1] and the (1, V) view mask."""
        x, mask = self.preprocess(images)
        with self._autocast():
            hm = self.model.backbone(x)  # (1, V, J, h, w)
        return hm.float().clamp_(0.0, 1.0), mask

    @torch.no_grad()
    def estimate(self, images: Sequence[np.ndarray | None]) -> Skeletons:
        """One frame: V RGB uint8 images (None = camera missing) → :class:`Skeletons`."""
        hm, mask = self.heatmaps(images)
        return self.estimate_from_heatmaps(hm, view_mask=mask)[0]

    @torch.no_grad()
    def estimate_from_detections(self, uv: torch.Tensor, conf: torch.Tensor, sigma: float,
                                 min_conf: float, view_mask: torch.Tensor | None = None
                                 ) -> list[Skeletons]:
        """"Detections mode": 2D poses → one :class:`Skeletons` per frame.

        Args:
            uv: (B, V, P, J, 2) detections in full-image pixels (NaN = none), Panoptic-15.
            conf: (B, V, P, J) joint confidences.
            sigma, min_conf: the rendering the model was trained with (its train config's
                ``heatmap_sigma`` and ``min_conf``).
            view_mask: optional (B, V), 0 = camera missing.

        The detections are rendered as confidence-weighted heatmaps; with the model's
        ``detection_gate`` > 0 each proposal's cube sees only the detections it explains
        (:mod:`selfpose3d_core.person_heatmaps`).
        """
        from ..training.losses import pseudo_heatmap_targets

        uv = torch.as_tensor(uv, dtype=torch.float32, device=self.device)
        conf = torch.as_tensor(conf, dtype=torch.float32, device=self.device)
        if uv.dim() != 5 or uv.shape[1] != self.num_views or conf.shape != uv.shape[:-1]:
            raise ValueError(f"Estimator: detections must be uv (B, {self.num_views}, P, J, 2) "
                             f"and conf (B, {self.num_views}, P, J), got {tuple(uv.shape)} "
                             f"and {tuple(conf.shape)}")
        B = uv.shape[0]
        affines = self.affines[None].expand(B, -1, -1, -1)
        hm = pseudo_heatmap_targets(uv, conf, affines, self.config, sigma, min_conf)[0].heatmaps
        detections = (uv, conf, sigma, min_conf) if self.config.detection_gate > 0 else None
        return self.estimate_from_heatmaps(hm, affines, view_mask, _detections=detections)

    @torch.no_grad()
    def estimate_from_heatmaps(self, heatmaps: torch.Tensor,
                               affines: torch.Tensor | None = None,
                               view_mask: torch.Tensor | None = None,
                               _detections: tuple | None = None) -> list[Skeletons]:
        """Heatmaps (B, V, J, h, w) in [0, 1] → one :class:`Skeletons` per frame.

        ``affines`` (B, V, 2, 3) default to the letterbox of each camera.
        """
        if heatmaps.dim() != 5 or heatmaps.shape[1] != self.num_views:
            raise ValueError(f"Estimator: heatmaps must be (B, {self.num_views}, J, h, w), "
                             f"got {tuple(heatmaps.shape)}")
        heatmaps = heatmaps.to(self.device, torch.float32)
        B = heatmaps.shape[0]
        if affines is None:
            affines = self.affines[None].expand(B, -1, -1, -1)
        cfg = self.config
        with self._autocast():
            rv = room_volume(cfg, self.model.root_net, heatmaps, self.cams, affines,
                             self._room_cache, view_mask)
            props = root_proposals(rv.output.float(), cfg.room, cfg.max_people,
                                   self.threshold, nms_kernel=cfg.nms_kernel)
            if cfg.root_input_threshold is not None:  # recall safety net (see ModelConfig)
                extra = root_proposals(rv.input.float(), cfg.room, cfg.max_people,
                                       cfg.root_input_threshold,
                                       nms_kernel=cfg.input_nms_kernel)
                props = merge_proposals(props, extra, cfg.nms_radius, cfg.max_people)
            # valid proposals come first: run pose_net on the first K' ≤ K of every frame
            k = max(int(props.valid.sum(1).max()), 1)
            person = sel = None
            if _detections is not None:  # detections mode: each cube from its own people
                from ..person_heatmaps import assign_detections, render_person_heatmaps

                uv, conf, sigma, min_conf = _detections
                sel = assign_detections(props.centers[:, :k].float(), uv, conf, self.cams,
                                        cfg.root_joint, min_conf,
                                        cfg.detection_gate)  # (B, K', V, P)
                person = render_person_heatmaps(sel, uv, conf, affines, cfg, sigma,
                                                min_conf)  # (B, K', V, J, h, w)
            out = estimate_poses(cfg, self.model.pose_net, heatmaps, self.cams, affines,
                                 props.centers[:, :k], view_mask,
                                 person)  # joints (B, K', J, 3)
        if sel is not None and cfg.refine_gate is not None:
            from ..refine import panoptic15_midpoints, refine_with_detections

            joints = refine_with_detections(out.joints, sel, uv, conf, self.cams, self.cameras,
                                            max(min_conf, cfg.refine_min_conf),
                                            cfg.refine_gate, view_mask,
                                            reassign=cfg.refine_reassign,
                                            wide_gate=cfg.refine_wide_gate,
                                            midpoints=panoptic15_midpoints(cfg.num_joints)
                                            if cfg.refine_midpoints else (),
                                            fill=cfg.refine_fill,
                                            prior=self.model.body_prior
                                            if cfg.refine_prior else None,
                                            prior_sigma_px=cfg.refine_prior_sigma_px,
                                            prior_reg=cfg.refine_prior_reg,
                                            prior_two_view_sigma_px=cfg.
                                            refine_prior_two_view_sigma_px)
        else:
            joints = out.joints.float().cpu().numpy()
        conf = out.confidence.float().cpu().numpy()
        scores = props.scores[:, :k].float().cpu().numpy()
        centers = props.centers[:, :k].float().cpu().numpy()
        valid = props.valid[:, :k].cpu().numpy()
        if cfg.duplicate_radius is not None:
            valid = valid & ~duplicate_skeletons(joints, scores, valid, cfg.duplicate_radius)
        return [Skeletons(joints=joints[b][valid[b]], confidence=conf[b][valid[b]],
                          root_scores=scores[b][valid[b]], roots=centers[b][valid[b]])
                for b in range(B)]
