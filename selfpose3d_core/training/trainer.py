"""The staged SelfPose3d trainer (self-supervised) and its supervised upper bound.

Stages (:data:`~selfpose3d_core.training.config.STAGES`) run in order; each builds its own
Adam optimiser over the networks it trains, and the others are frozen (``eval`` mode,
no gradients). Every random draw of a step — frame order, affines, photometric
augmentation, synthetic roots — comes from generators seeded by ``(seed, stage, step)``
(and the epoch for the frame order), so a run resumed from a checkpoint after a kill
continues exactly as the uninterrupted run would have (model, optimiser and step are in
the checkpoint; the learning rate is a function of the step).

Self-supervised mode never reads 3D ground truth: the data object is built from
:class:`MultiViewDataset`, which does not open ``gt/``; only ``mode: supervised``
constructs a :class:`GroundTruth3D`.

Under ``torchrun`` each rank takes its share of every step's frames and the trained
network is wrapped in :class:`torch.nn.parallel.DistributedDataParallel`; only rank 0
writes checkpoints and logs.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..body_prior import MIN_PRIOR_PEOPLE, BodyPrior, body_prior_from_detections
from ..data.dataset import GroundTruth3D, MultiViewDataset
from ..geometry.camera import stack_cameras
from ..geometry.projection import in_image, project
from ..geometry.unproject import SamplingGridCache
from ..models.config import ModelConfig
from ..models.model import SelfPose3dModel, build_model
from ..models.pipeline import estimate_poses, room_input
from ..models.root_net import root_proposals
from ..person_heatmaps import assign_detections, render_person_heatmaps
from .checkpoint import CheckpointManager, checkpoint_lineage, load_checkpoint, make_payload
from .config import STAGES, TrainConfig
from .data import TrainBatch, TrainData
from .distributed import DistInfo, all_reduce_mean, init_distributed, wrap_ddp
from .losses import (
    attention_regulariser,
    gaussian_root_volume,
    heatmap_loss,
    hungarian_l1,
    l2,
    pseudo_heatmap_targets,
    render_poses,
    synthetic_root_batch,
)
from .metrics_log import MetricsLogger, plot_curves
from .progress import Progress

__all__ = ["Trainer", "TrainResult", "stage_networks"]

log = logging.getLogger(__name__)

#: Which networks each stage trains.
_TRAINS = {"backbone": ("backbone",), "root": ("root_net",),
           "pose_l2": ("pose_net", "attn_net"), "pose_l1": ("pose_net", "attn_net"),
           "pose_hard": ("pose_net", "attn_net")}


def stage_networks(stage: str, cfg: TrainConfig, has_images: bool = True
                   ) -> tuple[str, ...]:
    """Names of the networks ``stage`` trains under ``cfg`` (``has_images``: the dataset
    has images, which the attention net needs also in detections mode)."""
    nets = _TRAINS[stage]
    if stage == "backbone" and cfg.heatmap_source != "images":
        return ()
    if not cfg.use_attention or not has_images or cfg.mode == "supervised":
        nets = tuple(n for n in nets if n != "attn_net")
    return nets


class TrainResult(NamedTuple):
    """Fields: checkpoint (final ``last.pt``), steps (optimizer steps of this process's
    run), seconds (wall time), losses (last logged losses per stage)."""

    checkpoint: Path
    steps: int
    seconds: float
    losses: dict


class Trainer:
    """Runs the staged schedule on one dataset.

    Args:
        model_cfg: the networks to build (a resumed run uses the checkpoint's).
        train_cfg: schedule, losses, augmentation, mode.
        dataset_dir: a dataset in the selfpose3d format (images needed in image mode).
        out_dir: checkpoints, ``metrics.jsonl``, ``loss_curves.png``.
        resume: continue from ``out_dir/checkpoints/last.pt`` when it exists.
        show_progress: progress bar with ETA and losses.
        init_weights: a checkpoint whose weights start a fresh run (fine-tuning, or later
            stages on top of an earlier run's networks; e.g. a schedule with the root stage
            at 0 epochs on a trained root_net). Only tensors whose names and shapes match
            are loaded; ignored when resuming.
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, dataset_dir,
                 out_dir, resume: bool = True, show_progress: bool = True,
                 init_weights: str | Path | None = None) -> None:
        self.cfg = train_cfg
        self.out = Path(out_dir)
        self.dist: DistInfo = init_distributed(device=train_cfg.device)
        self.device = self.dist.device
        self.ckpts = CheckpointManager(self.out / "checkpoints", keep_last=2)
        self.state = {"stage_index": 0, "stage_step": 0, "global_step": 0}
        resume_from = self.ckpts.latest() if resume else None
        ckpt = load_checkpoint(resume_from) if resume_from is not None else None
        if ckpt is not None:
            model_cfg = ModelConfig.from_dict(ckpt["model_config"])
        self.model_cfg = model_cfg
        torch.manual_seed(train_cfg.seed)
        self.model: SelfPose3dModel = build_model(model_cfg).to(self.device)
        self.dataset = MultiViewDataset(dataset_dir)
        if self.dataset.num_views < 2:
            raise ValueError(f"{dataset_dir}: need ≥ 2 views, got {self.dataset.num_views}")
        self.data = TrainData(self.dataset, model_cfg, train_cfg)
        self.gt = GroundTruth3D(dataset_dir) if train_cfg.mode == "supervised" else None
        self.cams = stack_cameras(self.dataset.cameras, device=self.device)
        self.room_cache = SamplingGridCache()
        self._target_memo: dict = {}
        self.show_progress = show_progress and self.dist.is_main
        self.metrics = MetricsLogger(self.out) if self.dist.is_main else None
        self._ckpt = ckpt
        # earlier runs this one builds on (--init), oldest first: checkpoint, stage, config
        self.lineage: list[dict] = checkpoint_lineage(ckpt) if ckpt is not None else []
        if ckpt is None and init_weights is not None:
            self._load_init(init_weights)
        if ckpt is not None:
            self.model.load_state_dict(ckpt["state_dict"])
            self.state = dict(ckpt["extra"]["trainer_state"])
            self.model.body_prior = BodyPrior.from_checkpoint(ckpt)
            if self.metrics is not None:
                self.metrics.truncate_after(self.state["global_step"])
            log.info("resuming %s at stage %s step %d", resume_from,
                     STAGES[min(self.state["stage_index"], len(STAGES) - 1)],
                     self.state["stage_step"])

    def _load_init(self, path: str | Path) -> None:
        ck = load_checkpoint(path)
        src = ck["state_dict"]
        self.lineage = checkpoint_lineage(ck) + [{
            "checkpoint": str(path), "stage": ck.get("stage", ""), "step": ck.get("step", 0),
            "model_config": ck.get("model_config", {}),
            "train_config": ck.get("train_config", {})}]
        own = self.model.state_dict()
        take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        if not take:
            raise ValueError(f"init_weights {path}: no tensor matches this model")
        self.model.load_state_dict(take, strict=False)
        log.info("initialised %d of %d tensors from %s", len(take), len(own), path)

    # ------------------------------------------------------------------ schedule
    def stage_steps(self, stage: str) -> int:
        st = self.cfg.stages[stage]
        per_step = st.batch_size * self.dist.world_size
        return int(math.ceil(st.epochs * len(self.data) / per_step)) if st.epochs > 0 else 0

    def step_frames(self, stage_index: int, step: int) -> list[int]:
        """This rank's frames of a step: a per-epoch permutation seeded by (seed, stage,
        epoch), walked in order."""
        st = self.cfg.stages[STAGES[stage_index]]
        n = len(self.data)
        per_step = st.batch_size * self.dist.world_size
        start = step * per_step
        frames = []
        for k in range(start, start + per_step):
            epoch, pos = divmod(k, n)
            perm = np.random.default_rng([self.cfg.seed, stage_index, epoch, 7]).permutation(n)
            frames.append(int(perm[pos]))
        r = self.dist.rank
        return frames[r * st.batch_size:(r + 1) * st.batch_size]

    def _generators(self, stage_index: int, step: int):
        seq = [self.cfg.seed, stage_index, step, self.dist.rank]
        rng = np.random.default_rng(seq)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.SeedSequence(seq + [1]).generate_state(1)[0]))
        return rng, gen

    # ------------------------------------------------------------------ run
    def run(self, max_seconds: float | None = None) -> TrainResult:
        """Train every remaining stage (or until ``max_seconds`` of wall time)."""
        t0 = time.perf_counter()
        steps_run = 0
        last_losses: dict = {}
        while self.state["stage_index"] < len(STAGES):
            si = self.state["stage_index"]
            stage = STAGES[si]
            total = self.stage_steps(stage)
            nets = stage_networks(stage, self.cfg, self.dataset.has_images)
            if total == 0 or not nets:
                self._next_stage()
                continue
            opt, modules = self._setup_stage(stage, nets, total)
            bar = Progress(total, desc=f"{stage}", enabled=self.show_progress)
            bar.update(self.state["stage_step"])
            while self.state["stage_step"] < total:
                step = self.state["stage_step"]
                lr = self.stage_lr(stage, step, total)
                for group in opt.param_groups:
                    group["lr"] = lr
                rng, gen = self._generators(si, step)
                frames = self.step_frames(si, step)
                losses = self._train_step(stage, modules, frames, rng, gen)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                opt.step()
                self.state["stage_step"] += 1
                self.state["global_step"] += 1
                steps_run += 1
                vals = {k: float(all_reduce_mean(v.detach(), self.dist))
                        for k, v in losses.items()}
                last_losses[stage] = vals
                bar.update(1, **{k: v for k, v in vals.items() if k != "total"})
                if self.metrics is not None and (step % self.cfg.log_every == 0
                                                 or self.state["stage_step"] == total):
                    self.metrics.log(self.state["global_step"],
                                     {"lr": lr, **vals},
                                     epoch=self._epoch(si), stage=stage)
                done = self.state["stage_step"] == total
                timeout = max_seconds is not None and time.perf_counter() - t0 > max_seconds
                if done or timeout or (self.cfg.checkpoint_every
                                       and self.state["stage_step"]
                                       % self.cfg.checkpoint_every == 0):
                    if done:
                        self._next_stage()
                    self._save(opt if not done else None, stage)
                if done:
                    break
                if timeout:
                    bar.close()
                    log.warning("stopping after %.0f s (max_seconds); resume to continue",
                                time.perf_counter() - t0)
                    return self._result(steps_run, t0, last_losses)
            bar.close()
        if self.cfg.body_prior and self.model.body_prior is None:
            self._fit_body_prior()
        if self.metrics is not None and self.metrics.path.is_file() \
                and self.metrics.path.stat().st_size > 0:  # (a schedule of no steps has none)
            plot_curves(self.metrics.path, self.out / "loss_curves.png")
        return self._result(steps_run, t0, last_losses)

    def _fit_body_prior(self) -> None:
        """The last step of training: the body prior from the training recording's
        triangulated detections (never its ground truth), saved with the final weights."""
        t0 = time.perf_counter()
        prior = body_prior_from_detections(self.dataset)
        if prior is None:
            log.warning("body prior: fewer than %d people triangulated completely from the "
                        "training detections; the model has none", MIN_PRIOR_PEOPLE)
            return
        self.model.body_prior = prior
        log.info("body prior: fitted to %d skeletons triangulated from the training "
                 "detections in %.1f s", prior.count, time.perf_counter() - t0)
        self._save(None, STAGES[-1])

    def _result(self, steps: int, t0: float, losses: dict) -> TrainResult:
        return TrainResult(checkpoint=self.ckpts.last_path, steps=steps,
                           seconds=time.perf_counter() - t0, losses=losses)

    def _epoch(self, si: int) -> int:
        st = self.cfg.stages[STAGES[si]]
        return self.state["stage_step"] * st.batch_size * self.dist.world_size // len(self.data)

    def _next_stage(self) -> None:
        self.state["stage_index"] += 1
        self.state["stage_step"] = 0

    def _setup_stage(self, stage: str, nets: tuple[str, ...], total: int):
        for name, module in self.model.named_children():
            train = name in nets
            module.train(train)
            module.requires_grad_(train)
        modules = {name: getattr(self.model, name) for name in
                   ("backbone", "root_net", "pose_net", "attn_net")}
        for name in nets:
            modules[name] = wrap_ddp(getattr(self.model, name), self.dist)
        params = [p for n in nets for p in getattr(self.model, n).parameters()]
        opt = torch.optim.Adam(params, lr=self.cfg.stages[stage].lr)
        ck = self._ckpt
        if ck is not None and ck.get("optimizer") is not None and ck["stage"] == stage:
            opt.load_state_dict(ck["optimizer"])
        self._ckpt = None
        return opt, modules

    def stage_lr(self, stage: str, step: int, total: int) -> float:
        """Learning rate at ``step`` of ``total``: the stage's rate × 0.1 per passed drop."""
        st = self.cfg.stages[stage]
        drops = sum(step >= max(1, int(round(f * total))) for f in st.lr_drops)
        return st.lr * 0.1 ** drops

    def _save(self, opt, stage: str) -> None:
        if not self.dist.is_main:
            return
        payload = make_payload(
            self.model_cfg.to_dict(), self.model.state_dict(),
            train_config=self.cfg.to_dict(),
            optimizer=opt.state_dict() if opt is not None else None,
            stage=stage, epoch=self._epoch(min(self.state["stage_index"], len(STAGES) - 1))
            if self.state["stage_index"] < len(STAGES) else 0,
            step=self.state["global_step"],
            extra={"trainer_state": dict(self.state), "lineage": self.lineage,
                   **({} if self.model.body_prior is None else
                      {"body_prior": self.model.body_prior.to_payload()})})
        self.ckpts.save(payload)

    # ------------------------------------------------------------------ steps
    def _train_step(self, stage: str, modules: dict, frames: list[int],
                    rng: np.random.Generator, gen: torch.Generator) -> dict:
        if stage == "backbone":
            return self._step_backbone(modules, frames, rng)
        if stage == "root":
            return self._step_root(modules, frames, rng, gen)
        return self._step_pose(stage, modules, frames, rng)

    def _batch(self, frames, rng, copies, images: bool | None = None) -> TrainBatch:
        return self.data.batch(frames, rng, copies, device=self.device, images=images)

    def _gt_2d(self, frames: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Supervised mode: GT joints projected into every view → (B, V, G, J, 2) full-image
        pixels and (B, V, G, J) confidences (1 = annotated and inside the image)."""
        roots, joints, valid = self._gt_3d(frames)
        B, G, J = joints.shape[:3]
        proj = project(joints.reshape(B, 1, G * J, 3), self.cams)  # (B, V, G·J, 2)
        ok = proj.valid & in_image(proj.uv, self.cams.size)
        V = ok.shape[1]
        conf = (ok.reshape(B, V, G, J) & valid[:, None]).float()
        return proj.uv.reshape(B, V, G, J, 2), conf

    def _gt_3d(self, frames: list[int]):
        """Supervised mode: (roots (B, G, 3), joints (B, G, J, 3), valid (B, G, J))."""
        J = self.model_cfg.num_joints
        gts = [self.gt.frame(f) for f in frames]
        G = max(1, max(g.num_people for g in gts))
        joints = np.zeros((len(frames), G, J, 3), np.float32)
        valid = np.zeros((len(frames), G, J), bool)
        for i, g in enumerate(gts):
            joints[i, :g.num_people] = g.joints[:, :J]
            valid[i, :g.num_people] = g.valid[:, :J]
        joints_t = torch.from_numpy(joints).to(self.device)
        valid_t = torch.from_numpy(valid).to(self.device)
        root = self.model_cfg.root_joint
        return joints_t[:, :, root], joints_t, valid_t

    def _targets(self, batch: TrainBatch, copy: int, min_conf: float):
        """Pseudo-pose (or, supervised, projected-GT) heatmap targets of one copy.

        Memoised per batch: in detections mode the same maps are the input heatmaps too.
        """
        if self._target_memo.get("batch") is not batch:  # (holds the batch: no id reuse)
            self._target_memo = {"batch": batch, "values": {}}
        values = self._target_memo["values"]
        if (copy, min_conf) not in values:
            values[(copy, min_conf)] = self._render_targets(batch, copy, min_conf)
        return values[(copy, min_conf)]

    def _render_targets(self, batch: TrainBatch, copy: int, min_conf: float,
                        detections: bool = False):
        if self.cfg.mode == "supervised" and not detections:
            uv, conf = self._gt_2d(batch.frames.tolist())
        else:
            uv, conf = batch.pseudo_uv, batch.pseudo_conf
        return pseudo_heatmap_targets(uv, conf, batch.affines[:, copy], self.model_cfg,
                                      self.cfg.heatmap_sigma, min_conf)

    def _heatmaps(self, modules: dict, batch: TrainBatch, copies: list[int]) -> torch.Tensor:
        """Input heatmaps (B, C', V, J, h, w) in [0, 1] of the given copies (no grad)."""
        with torch.no_grad():
            if self.cfg.heatmap_source == "images":
                hm = modules["backbone"](batch.images[:, copies])  # (B, C', V, J, h, w)
                return hm.clamp(0.0, 1.0)
            # the detections, in both modes (supervised mode reads the 3D ground truth for
            # its losses only: a model that meets detections at test time trains on them)
            if self.cfg.mode == "supervised":
                out = [self._render_targets(batch, c, self.cfg.min_conf, detections=True)[0]
                       .heatmaps for c in copies]
            else:
                out = [self._targets(batch, c, self.cfg.min_conf)[0].heatmaps for c in copies]
            return torch.stack(out, dim=1)

    def _person_heatmaps(self, batch: TrainBatch, centers: torch.Tensor, copies: list[int]
                         ) -> torch.Tensor | None:
        """Detections mode with ``detection_gate`` > 0: per-proposal heatmaps of the given
        copies, concatenated over copies, (C'·B, K, V, J, h, w); else None."""
        if self.cfg.heatmap_source != "detections" or self.model_cfg.detection_gate <= 0:
            return None
        uv, conf, cfg = batch.pseudo_uv, batch.pseudo_conf, self.model_cfg
        with torch.no_grad():  # the assignment is in image pixels: once for all copies
            sel = assign_detections(centers, uv, conf, self.cams, cfg.root_joint,
                                    self.cfg.min_conf, cfg.detection_gate)  # (B, K, V, P)
            return torch.cat([render_person_heatmaps(
                sel, uv, conf, batch.affines[:, c], cfg, self.cfg.heatmap_sigma,
                self.cfg.min_conf) for c in copies])

    def _step_backbone(self, modules, frames, rng) -> dict:
        batch = self._batch(frames, rng, (True,))
        target, _ = self._targets(batch, 0, self.cfg.min_conf)
        pred = modules["backbone"](batch.images[:, 0])  # (B, V, J, h, w)
        lw = self.cfg.loss
        loss = lw.heatmap_2d * heatmap_loss(pred, target,
                                            foreground_weight=lw.heatmap_2d_foreground) * 1e3
        return {"total": loss, "hm2d": loss}

    def _step_root(self, modules, frames, rng, gen) -> dict:
        cfg, lw = self.model_cfg, self.cfg.loss
        batch = self._batch(frames, rng, (False, True, True))
        B = batch.affines.shape[0]
        hm = self._heatmaps(modules, batch, [0, 1, 2])  # (B, 3, V, J, h, w)
        vols = [room_input(cfg, hm[:, c], self.cams, batch.affines[:, c],
                           self.room_cache if c == 0 else None) for c in range(3)]
        if self.cfg.mode == "supervised":
            roots, _, valid = self._gt_3d(frames)
            target = gaussian_root_volume(roots, valid.any(-1), cfg.room,
                                          self.cfg.root_synth.target_sigma)
            g0, g1 = modules["root_net"](torch.cat(vols[:2])).split(B)  # one call: (2B, ...)
            sup = l2(g0, target) + l2(g1, target)
            return {"total": lw.root_synthetic * sup, "root_gt": sup}
        syn = synthetic_root_batch(cfg, self.cfg.root_synth, self.cams, batch.affines[:, 1],
                                   gen, self.cfg.floor_z)
        vols.insert(0, room_input(cfg, syn.heatmaps, self.cams, batch.affines[:, 1]))
        o_syn, g0, g1, g2 = modules["root_net"](torch.cat(vols)).split(B)  # one call: (4B, ...)
        l_syn = l2(o_syn, syn.target)
        g0 = g0.detach()
        l_con = l2(g1, g0) + l2(g2, g0)
        total = lw.root_synthetic * l_syn + lw.root_consistency * l_con
        return {"total": total, "root_syn": l_syn, "root_con": l_con}

    def _proposals(self, modules, hm: torch.Tensor, affines: torch.Tensor):
        """Root proposals (centres (B, K', 3), valid (B, K')) from root_net (frozen)."""
        cfg = self.model_cfg
        with torch.no_grad():
            vol = room_input(cfg, hm, self.cams, affines,
                             self.room_cache if self.cfg.proposal_copy == 0 else None)
            props = root_proposals(modules["root_net"](vol), cfg.room, cfg.max_people,
                                   self.cfg.proposal_threshold, nms_kernel=cfg.nms_kernel)
        k = max(1, int(props.valid.sum(1).max()))
        return props.centers[:, :k], props.valid[:, :k]

    def _step_pose(self, stage: str, modules, frames, rng) -> dict:
        cfg, lw, tc = self.model_cfg, self.cfg.loss, self.cfg
        if tc.mode == "supervised":
            return self._step_pose_supervised(modules, frames, rng)
        use_attn = "attn_net" in stage_networks(stage, tc, self.dataset.has_images)
        batch = self._batch(frames, rng, (False, True, True),
                            images=self.data.use_images or use_attn)
        B = batch.affines.shape[0]
        hm = self._heatmaps(modules, batch, [0, 1, 2])  # (B, 3, V, J, h, w)
        pc = tc.proposal_copy
        centers, valid = self._proposals(modules, hm[:, pc], batch.affines[:, pc])
        if not valid.any():
            zero = sum(p.sum() for p in self.model.pose_net.parameters()) * 0.0
            return {"total": zero, "hm": zero.detach()}
        # pose_net on x1 and x2 with the same proposals, in one call
        A1, A2 = batch.affines[:, 1], batch.affines[:, 2]
        out = estimate_poses(cfg, modules["pose_net"], torch.cat([hm[:, 1], hm[:, 2]]),
                             self.cams, torch.cat([A1, A2]), torch.cat([centers, centers]),
                             person_heatmaps=self._person_heatmaps(batch, centers, [1, 2]))
        Y1, Y2 = out.joints.split(B)  # (B, K, J, 3) each
        min_conf = tc.hard_conf if stage == "pose_hard" else tc.min_conf
        T1, uv1 = self._targets(batch, 1, min_conf)
        T2, uv2 = self._targets(batch, 2, min_conf)
        # cross-affine-view: Y1 rendered in copy 2's image space, Y2 in copy 1's
        pairs = [(Y1, A2, T2, uv2), (Y2, A1, T1, uv1)] if tc.cross_view else \
            [(Y1, A1, T1, uv1), (Y2, A2, T2, uv2)]
        attn = None
        if use_attn:
            att = self._attention(modules, torch.cat([batch.images[:, 2], batch.images[:, 1]])
                                  if tc.cross_view else
                                  torch.cat([batch.images[:, 1], batch.images[:, 2]]))
            attn = att.split(B)  # (B, V, J, h, w) for each pair's target copy
        l_hm, l_reg, l_j = 0.0, 0.0, 0.0
        for i, (Y, A, T, uv) in enumerate(pairs):
            R = render_poses(Y, valid, self.cams, A, cfg, tc.heatmap_sigma)
            l_hm = l_hm + heatmap_loss(R.heatmaps, T, attn[i] if attn else None)
            if attn:
                l_reg = l_reg + attention_regulariser(attn[i])
            if stage in ("pose_l1", "pose_hard") and tc.use_l1:
                conf = batch.pseudo_conf
                w = conf * (conf >= min_conf)
                l_j = l_j + hungarian_l1(R.uv, R.visible, uv, w)
        # heatmap MSE values are ~1e-3: scale the whole pose loss to keep it near 1. Every
        # term is scaled alike, so the weights keep their reference meaning (σ_attn against
        # the attention-weighted MSE, λ = 0.01 for the L1 in pixels against the raw MSE —
        # the L1 is then the larger term, and the one whose gradient reaches joints far
        # from any pseudo joint, where the Gaussians' gradient is zero)
        scale = 1e3
        total = lw.pose_heatmap * l_hm * scale
        losses = {"hm": l_hm * scale}
        if attn:
            total = total + lw.attention_reg * l_reg * scale
            losses["attn_reg"] = l_reg
        if torch.is_tensor(l_j):
            total = total + lw.joints_l1 * l_j * scale
            losses["l1"] = l_j
        losses["total"] = total
        losses["people"] = valid.float().sum(1).mean()
        return losses

    def _attention(self, modules, images: torch.Tensor) -> torch.Tensor:
        """Soft attention maps (B', V, J, h, w) at the heatmap size for images (B', V, 3, H,
        W); the net sees them resized by ``attention_input_scale``."""
        scale = self.model_cfg.attention_input_scale
        x = images
        if scale != 1.0:  # H', W' ≈ scale · (H, W), divisible by the net's stride 32
            size = [max(32, int(round(n * scale / 32)) * 32) for n in images.shape[-2:]]
            flat = F.interpolate(images.flatten(0, 1), size=size, mode="bilinear",
                                 align_corners=False, antialias=True)  # (B'·V, 3, H', W')
            x = flat.unflatten(0, images.shape[:2])  # (B'·V, ..) → (B', V, 3, H', W')
        att = modules["attn_net"](x)  # (B', V, J, h', w')
        w, h = self.model_cfg.heatmap_size
        if tuple(att.shape[-2:]) != (h, w):
            up = F.interpolate(att.flatten(0, 1), size=(h, w), mode="bilinear",
                               align_corners=False)  # (B'·V, J, h, w)
            att = up.unflatten(0, att.shape[:2])  # (B'·V, ..) → (B', V, J, h, w)
        return att

    def _step_pose_supervised(self, modules, frames, rng) -> dict:
        cfg = self.model_cfg
        batch = self._batch(frames, rng, (False, True))
        hm = self._heatmaps(modules, batch, [1])[:, 0]  # (B, V, J, h, w)
        roots, joints, valid = self._gt_3d(frames)
        has = valid.any(-1)  # (B, G)
        pitch = torch.as_tensor(cfg.room.pitch, dtype=roots.dtype, device=roots.device)
        jitter = (torch.as_tensor(rng.uniform(-0.5, 0.5, roots.shape), dtype=roots.dtype,
                                  device=roots.device)) * pitch
        out = estimate_poses(cfg, modules["pose_net"], hm, self.cams, batch.affines[:, 1],
                             roots + jitter, person_heatmaps=self._person_heatmaps(
                                 batch, roots + jitter, [1]))
        err = (out.joints - joints).abs().sum(-1)  # (B, G, J)
        m = (valid & has[..., None]).float()
        loss = (err * m).sum() / m.sum().clamp(min=1)
        return {"total": self.cfg.loss.supervised_joints * loss, "l1_3d": loss}


