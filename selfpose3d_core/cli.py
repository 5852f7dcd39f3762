"""`selfpose3d <command>`: the command-line interface of the core library.

Every command has ``--help``. Heavy modules are imported inside the command that needs
them, so ``selfpose3d --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import yaml

log = logging.getLogger("selfpose3d")

DEFAULT_DEMO_DIR = Path("out/demo")


# ---------------------------------------------------------------------------- synth
def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic operating-room rig dataset",
        description="Generate the synthetic operating-room rig (cameras, people, RGB images, "
                    "simulated 2D detections, separate 3D ground truth) in the dataset format "
                    "documented in the README. Deterministic by --seed.")
    p.add_argument("--out", required=True, type=Path, help="output dataset directory")
    p.add_argument("--config", type=Path,
                   help="YAML file of SynthConfig fields (command-line flags override it)")
    p.add_argument("--cameras", type=int, help="number of cameras, 3-8 (default 5)")
    p.add_argument("--people", type=int, help="people in the room at most at once, 1-6 "
                                               "(default 3)")
    p.add_argument("--frames", type=int, help="number of frames")
    p.add_argument("--fps", type=float, help="frame rate of the sequence (Hz)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--rig-seed", type=int,
                   help="seed of the rig alone (cameras, room): recordings that share it "
                        "share the rig (default: --seed)")
    p.add_argument("--width", type=int, help="image width in pixels")
    p.add_argument("--height", type=int, help="image height in pixels")
    p.add_argument("--no-images", action="store_true",
                   help="skip the RGB images (keypoints, cameras and GT only; much faster)")
    p.set_defaults(func=_cmd_synth)


def _synth_config(args):
    from .synthetic import SynthConfig

    fields = {}
    if args.config is not None:
        data = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{args.config}: expected a mapping of SynthConfig fields")
        fields.update(data)
    flags = {"num_cameras": args.cameras, "num_people": args.people,
             "num_frames": args.frames, "fps": args.fps, "seed": args.seed,
             "rig_seed": args.rig_seed,
             "image_width": args.width, "image_height": args.height}
    fields.update({k: v for k, v in flags.items() if v is not None})
    return SynthConfig.from_dict(fields)


def _cmd_synth(args) -> int:
    from .synthetic import synthesize

    cfg = _synth_config(args)
    t0 = time.perf_counter()
    out = synthesize(cfg, args.out, write_images=not args.no_images, progress=True)
    log.info("wrote %s (%d frames, %d cameras) in %.1f s", out, cfg.num_frames,
             cfg.num_cameras, time.perf_counter() - t0)
    return 0


# ---------------------------------------------------------------------------- show
def _add_show(sub) -> None:
    p = sub.add_parser(
        "show", help="draw one frame of a dataset as a PNG mosaic",
        description="Mosaic of every view with the 2D pseudo poses and the projected ground "
                    "truth (when the dataset has it), plus a top view of the room.")
    p.add_argument("dataset", type=Path, help="dataset directory")
    p.add_argument("--frame", type=int, default=0, help="frame index (default 0)")
    p.add_argument("--out", type=Path, help="output PNG (default <dataset>/show_<frame>.png)")
    p.add_argument("--no-gt", action="store_true", help="do not draw the ground truth")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args) -> int:
    from .synthetic import render_show

    out = args.out or args.dataset / f"show_{args.frame:06d}.png"
    render_show(args.dataset, args.frame, out, draw_gt=not args.no_gt)
    log.info("wrote %s", out)
    return 0


# ---------------------------------------------------------------------------- room
def _add_room(sub) -> None:
    p = sub.add_parser(
        "room", help="propose the room voxel grid for a rig",
        description="Propose the whole-room voxel grid (centre, size, voxel counts) from the "
                    "cameras' view frusta and the floor plane; prints YAML to paste into a "
                    "model config.")
    p.add_argument("cameras", type=Path,
                   help="rig YAML (cameras.yaml of a dataset, or the dataset directory)")
    p.add_argument("--floor-z", type=float, default=0.0, help="floor height in metres")
    p.add_argument("--height", type=float, default=2.0, help="grid height in metres")
    p.add_argument("--min-views", type=int, default=2,
                   help="cameras that must see a point for it to count (default 2)")
    p.add_argument("--pitch", type=float, default=0.1, help="target voxel pitch in metres")
    p.set_defaults(func=_cmd_room)


def _cmd_room(args) -> int:
    from .geometry import load_rig_yaml
    from .geometry.grid import propose_room

    path = args.cameras / "cameras.yaml" if args.cameras.is_dir() else args.cameras
    rig = load_rig_yaml(path)
    grid = propose_room(rig.cameras, floor_z=args.floor_z, height=args.height,
                        min_views=args.min_views, pitch=args.pitch)
    out = {"room_grid": {"center": [round(v, 3) for v in grid.center],
                         "size": [round(v, 3) for v in grid.size],
                         "shape": list(grid.shape)}}
    sys.stdout.write(yaml.safe_dump(out, default_flow_style=None, sort_keys=False))
    return 0


# ---------------------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="the main job: synthesise → self-supervised training → evaluation",
        description="On the embedded default (the synthetic operating-room rig): synthesise a "
                    "training recording and a held-back one of the same rig (other people and "
                    "motion), train the small model self-supervised on "
                    "the training recording (no ground truth read), evaluate on the held-back "
                    "ground truth next to the triangulation baseline, print the metrics table "
                    "and write overlay PNGs. Rerunning resumes / reuses what is done.")
    p.add_argument("--out", type=Path, default=DEFAULT_DEMO_DIR,
                   help=f"working directory (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--frames", type=int, default=200,
                   help="training frames to synthesise (default 200)")
    p.add_argument("--test-frames", type=int, default=100,
                   help="held-back frames (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--schedule", default="demo",
                   help="training preset (demo, small-cpu, paper) or YAML (default demo)")
    p.add_argument("--heatmap-source", choices=("images", "detections"),
                   default="detections",
                   help="train on the detections only (default: the fastest path on a CPU) "
                        "or on images (2D backbone from scratch; slower and, on 2 cores, "
                        "not yet as accurate)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.set_defaults(func=_cmd_demo)


#: The demo's second row: the inference settings the synthetic benchmark reports
#: (``--input-threshold 0.3 --refine-gate 0.2``; README, Benchmarks), detections mode only.
DEMO_INPUT_THRESHOLD = 0.3
DEMO_REFINE_GATE = 0.2


def _cmd_demo(args) -> int:
    from .baselines import TriangulationBaselineConfig, run_triangulation_baseline
    from .data.dataset import GroundTruth3D, MultiViewDataset, has_ground_truth
    from .evaluation import markdown_table, write_json
    from .inference import Prediction, evaluate_predictions, predict_dataset
    from .synthetic import SynthConfig, synthesize
    from .tracking import TrackerConfig, smooth_sequence

    out = args.out
    train_dir, test_dir = out / "train_data", out / "test_data"
    # the held-back recording: the same rig (cameras, room), other people and motion
    for d, n, cfg in ((train_dir, args.frames, {"seed": args.seed}),
                      (test_dir, args.test_frames, {"seed": args.seed + 1000,
                                                    "rig_seed": args.seed})):
        if (d / "dataset.yaml").is_file() and has_ground_truth(d) and \
                MultiViewDataset(d).num_frames == n:
            log.info("reusing %s", d)
            continue
        t0 = time.perf_counter()
        synthesize(SynthConfig.from_dict({"num_frames": n, **cfg}), d, progress=True)
        log.info("synthesised %s (%d frames) in %.1f s", d, n, time.perf_counter() - t0)
    run = out / "run"
    train_args = argparse.Namespace(
        dataset=train_dir, out=run, model="small", schedule=args.schedule, room="auto",
        mode="selfsup", heatmap_source=args.heatmap_source, device=args.device, seed=None,
        threads=args.threads, max_minutes=None, no_resume=False, no_progress=False)
    _cmd_train(train_args)
    ds = MultiViewDataset(test_dir)
    gt = GroundTruth3D(test_dir)
    results = {}  # key → (row name, Prediction or None, EvalResult)
    for key, name, overrides in (
            ("selfsup", "SelfPose3d (self-supervised, small)", {}),
            ("selfsup_refined", f"SelfPose3d + input fallback {DEMO_INPUT_THRESHOLD}, "
                                f"refinement {DEMO_REFINE_GATE}",
             {"input_threshold": DEMO_INPUT_THRESHOLD, "refine_gate": DEMO_REFINE_GATE})):
        eval_args = argparse.Namespace(checkpoint=run / "model.pt", heatmap_source=None,
                                       device=args.device, threshold=None, **overrides)
        est, source, sigma, min_conf, derived = _estimator(eval_args, ds)
        if overrides and source != "detections":  # both settings read the detections
            continue
        pred = predict_dataset(est, ds, None, source, sigma, min_conf, derived_conf=derived)
        results[key] = (name, pred, evaluate_predictions(pred.skeletons, pred.frames, gt))
    if "selfsup_refined" in results:  # the same estimates tracked and smoothed
        name, pred, _ = results["selfsup_refined"]
        t0 = time.perf_counter()
        smooth = smooth_sequence(pred.skeletons, ds.timestamps[pred.frames], TrackerConfig())
        dt = pred.seconds + time.perf_counter() - t0
        pred = Prediction(pred.frames, smooth, dt, len(pred.frames) / dt)
        results["selfsup_temporal"] = (f"{name} + temporal fusion", pred,
                                       evaluate_predictions(smooth, pred.frames, gt))
    base = run_triangulation_baseline(ds, TriangulationBaselineConfig())
    results["triangulation"] = ("triangulation baseline", None,
                                evaluate_predictions(base, range(ds.num_frames), gt))
    base = smooth_sequence(base, ds.timestamps, TrackerConfig())
    results["triangulation_temporal"] = ("triangulation baseline + temporal fusion", None,
                                         evaluate_predictions(base, range(ds.num_frames), gt))
    rows = [{"method": name, **{f"AP{k}": v for k, v in r.ap.items()},
             "Recall@500": r.recall_500, "MPJPE mm": r.mpjpe_mm,
             "frames/s": pred.fps if pred is not None else float("nan")}
            for name, pred, r in results.values()]
    table = markdown_table(rows)
    sys.stdout.write(f"\nheld-back synthetic sequence ({ds.num_frames} frames, "
                     f"{ds.num_views} cameras):\n{table}\n")
    write_json(out / "metrics.json", {**{k: r.as_dict() for k, (_, _, r) in results.items()},
                                      "fps": results["selfsup"][1].fps})
    (out / "metrics.md").write_text(table + "\n")
    from .visualize import render_overlay

    pred = results.get("selfsup_temporal", results["selfsup"])[1]
    pngs = []
    for k in sorted({0, ds.num_frames // 2, ds.num_frames - 1}):
        pngs.append(render_overlay(ds, k, out / f"overlay_{k:06d}.png",
                                   predictions=_as_skeletons(pred.skeletons[k])))
    log.info("overlays: %s", ", ".join(str(p) for p in pngs))
    return 0


# ---------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model on a dataset (self-supervised by default)",
        description="Staged SelfPose3d training on a dataset in the selfpose3d format: 2D "
                    "backbone on the pseudo poses, root_net from synthetic roots + root "
                    "consistency, pose_net from cross-affine-view rendering with attention "
                    "and Hungarian L1. No ground truth is read unless --mode supervised. "
                    "Resumes from OUT/checkpoints/last.pt. Multi-GPU/CPU: run under torchrun.")
    p.add_argument("dataset", type=Path, help="training dataset directory")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, "
                   "metrics.jsonl, loss_curves.png, model.pt)")
    p.add_argument("--model", default="small",
                   help="model preset (small, paper) or a ModelConfig YAML (default small)")
    p.add_argument("--schedule", default="small-cpu",
                   help="training preset (small-cpu, paper) or a TrainConfig YAML "
                        "(default small-cpu)")
    p.add_argument("--room", default="auto",
                   help="'auto': propose the room grid from the cameras (keeps the preset's "
                        "voxel pitch); 'model': use the model config's room")
    p.add_argument("--mode", choices=("selfsup", "supervised"),
                   help="override the schedule's mode")
    p.add_argument("--heatmap-source", choices=("images", "detections"),
                   help="override: image backbone or heatmaps rendered from the detections")
    p.add_argument("--device", choices=("cpu", "cuda"), help="override the device")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--max-minutes", type=float,
                   help="stop (with a checkpoint) after this much wall time; rerun to resume")
    p.add_argument("--no-resume", action="store_true", help="start from scratch")
    p.add_argument("--init", type=Path, help="start a fresh run from this checkpoint's "
                   "weights (fine-tuning; tensors with matching names and shapes)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _model_config(spec: str):
    from .config_utils import load_yaml_config
    from .models import PRESETS, ModelConfig

    if spec in PRESETS:
        return PRESETS[spec]
    return load_yaml_config(ModelConfig, spec)


def _train_config(spec: str):
    from .config_utils import load_yaml_config
    from .training.config import TRAIN_PRESETS, TrainConfig

    if spec in TRAIN_PRESETS:
        return TRAIN_PRESETS[spec]
    return load_yaml_config(TrainConfig, spec)


def auto_room(model_cfg, cameras):
    """The model config with its room grid proposed from the cameras (same pitch)."""
    import dataclasses

    from .geometry.grid import propose_room

    pitch = float(min(model_cfg.room.pitch[:2]))
    grid = propose_room(cameras, height=model_cfg.room.size[2], pitch=pitch)
    return dataclasses.replace(model_cfg, room=grid)


def _cmd_train(args) -> int:
    import dataclasses

    import torch

    from .data.dataset import MultiViewDataset
    from .training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = _model_config(args.model)
    train_cfg = _train_config(args.schedule)
    over = {k: v for k, v in (("mode", args.mode), ("heatmap_source", args.heatmap_source),
                              ("device", args.device), ("seed", args.seed)) if v is not None}
    train_cfg = dataclasses.replace(train_cfg, **over)
    if args.room == "auto":
        model_cfg = auto_room(model_cfg, MultiViewDataset(args.dataset).cameras)
        log.info("room grid (auto): centre %s size %s voxels %s",
                 [round(v, 2) for v in model_cfg.room.center],
                 [round(v, 2) for v in model_cfg.room.size], list(model_cfg.room.shape))
    elif args.room != "model":
        raise ValueError(f"--room must be 'auto' or 'model', got {args.room!r}")
    trainer = Trainer(model_cfg, train_cfg, args.dataset, args.out, resume=not args.no_resume,
                      show_progress=not args.no_progress,
                      init_weights=getattr(args, "init", None))
    from .training.distributed import barrier, cleanup

    try:
        res = trainer.run(max_seconds=None if args.max_minutes is None
                          else args.max_minutes * 60)
        if trainer.dist.is_main and trainer.state["stage_index"] >= 5:
            final = export_model(res.checkpoint, args.out / "model.pt")
            log.info("training done in %.1f min; model: %s", res.seconds / 60, final)
        # under torchrun: every rank leaves together, after rank 0 has written the model
        barrier(trainer.dist)
    finally:
        # leave the process group before exiting: a rank exiting with live gloo threads
        # could abort ("terminate called without an active exception")
        cleanup(trainer.dist)
    return 0


def export_model(checkpoint: Path, out: Path) -> Path:
    """A slim inference checkpoint (config + weights + training config, and the body prior
    when it has one) from a training one.

    ``extra["lineage"]`` (kept when present) lists the runs it was initialised from
    (``train --init``), oldest first, each with its checkpoint path, stage and configs.
    """
    from .training.checkpoint import (
        checkpoint_lineage,
        load_checkpoint,
        make_payload,
        save_checkpoint,
    )

    ck = load_checkpoint(checkpoint)
    # the attention net is only needed for training
    state = {k: v for k, v in ck["state_dict"].items() if not k.startswith("attn_net.")}
    extra = {"lineage": checkpoint_lineage(ck), "body_prior": ck["extra"].get("body_prior")}
    payload = make_payload(ck["model_config"], state, train_config=ck["train_config"],
                           stage="final", step=ck["step"], rng={},
                           extra={k: v for k, v in extra.items() if v})
    save_checkpoint(out, payload)
    return out


# ---------------------------------------------------------------------------- eval / infer
def _frames_arg(spec: str | None, n: int) -> list[int]:
    if spec is None:
        return list(range(n))
    parts = [int(x) if x else None for x in spec.split(":")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"--frames must be START:STOP[:STEP], got {spec!r}")
    if len(parts) == 1:
        return [parts[0]]
    return list(range(n))[slice(*parts)]


def _estimator(args, dataset):
    from .inference import detection_settings
    from .models.estimator import Estimator, load_checkpoint_file
    from .models.model import model_from_checkpoint

    ck = load_checkpoint_file(args.checkpoint)
    overrides = {k: v for k, v in (
        ("root_input_threshold", getattr(args, "input_threshold", None)),
        ("refine_gate", getattr(args, "refine_gate", None)),
        ("refine_wide_gate", getattr(args, "refine_wide_gate", None))) if v is not None}
    if overrides:  # inference-only settings: the weights do not depend on them
        import dataclasses

        from .config_utils import to_dict
        from .models import ModelConfig

        cfg = dataclasses.replace(ModelConfig.from_dict(ck["model_config"]), **overrides)
        ck = {**ck, "model_config": to_dict(cfg)}
    model = model_from_checkpoint(ck, strict=False).float()
    tc = ck.get("train_config", {}) or {}
    source = args.heatmap_source or tc.get("heatmap_source", "images")
    est = Estimator(model, dataset.cameras, device=args.device,
                    threshold=getattr(args, "threshold", None))
    return (est, source, *detection_settings(tc))


def _add_eval_args(p) -> None:
    p.add_argument("checkpoint", type=Path, help="model checkpoint (model.pt or last.pt)")
    p.add_argument("dataset", type=Path, help="dataset directory")
    p.add_argument("--frames", help="START:STOP[:STEP] frame range (default all)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--heatmap-source", choices=("images", "detections"),
                   help="default: what the model was trained with")
    p.add_argument("--threshold", type=float, help="root score threshold (default: model's)")
    p.add_argument("--input-threshold", type=float,
                   help="root_input_threshold: root_net's fused input as a recall safety net "
                        "(default: model's)")
    p.add_argument("--refine-gate", type=float,
                   help="refine_gate (detections mode): joints re-triangulated from the "
                        "detections each person was assigned (default: model's)")
    p.add_argument("--refine-wide-gate", type=float,
                   help="refine_wide_gate: joints with < 2 views within the refine gate use "
                        "the views within this wider one (default: model's)")
    p.add_argument("--drop-view", type=int, action="append", default=[],
                   help="treat this view index as a missing camera (repeatable)")
    p.add_argument("--temporal", action="store_true",
                   help="track the people over the frames and smooth their joints (offline "
                        "Kalman/RTS smoother, robust to single wrong joints; fills short "
                        "misses); the frames must be consecutive in time")
    p.add_argument("--temporal-config", type=Path,
                   help="YAML of TrackerConfig fields (implies --temporal; default: the "
                        "built-in settings, see config/tracking.yaml)")


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval", help="score a model against a dataset's 3D ground truth",
        description="Panoptic protocol: AP@25..150 mm, Recall@500, MPJPE; writes JSON and "
                    "markdown when --out is given.")
    _add_eval_args(p)
    p.add_argument("--out", type=Path, help="write metrics.json and metrics.md here")
    p.set_defaults(func=_cmd_eval)


def _predict(args):
    """The dataset of ``args`` and the model's predictions on the chosen frames."""
    from .data.dataset import MultiViewDataset
    from .inference import predict_dataset

    ds = MultiViewDataset(args.dataset)
    est, source, sigma, min_conf, derived = _estimator(args, ds)
    frames = _frames_arg(args.frames, ds.num_frames)
    return ds, predict_dataset(est, ds, frames, source, sigma, min_conf, args.drop_view,
                               derived_conf=derived, temporal=_temporal_arg(args))


def _temporal_arg(args):
    """The TrackerConfig that ``--temporal`` / ``--temporal-config`` ask for, or None."""
    from .config_utils import load_yaml_config
    from .tracking import TrackerConfig

    if args.temporal_config is not None:
        return load_yaml_config(TrackerConfig, args.temporal_config)
    return TrackerConfig() if args.temporal else None


def _cmd_eval(args) -> int:
    from .data.dataset import GroundTruth3D
    from .evaluation import markdown_table, write_json
    from .inference import evaluate_predictions

    ds, pred = _predict(args)
    frames = pred.frames
    res = evaluate_predictions(pred.skeletons, pred.frames, GroundTruth3D(args.dataset))
    row = {"dataset": args.dataset.name, "frames": len(frames), **{
        f"AP{k}": v for k, v in res.ap.items()}, "Recall@500": res.recall_500,
        "MPJPE mm": res.mpjpe_mm, "frames/s": pred.fps}
    table = markdown_table([row])
    sys.stdout.write(table + "\n")
    if args.out:
        write_json(args.out / "metrics.json", {**res.as_dict(), "fps": pred.fps,
                                               "checkpoint": str(args.checkpoint),
                                               "dataset": str(args.dataset)})
        (args.out / "metrics.md").write_text(table + "\n")
    return 0


def _add_infer(sub) -> None:
    p = sub.add_parser(
        "infer", help="estimate 3D poses for a dataset: JSON + overlay PNGs",
        description="Writes OUT/poses3d.json (per frame: people with joints in metres, "
                    "per-joint confidence, score and root score; with --temporal, track id "
                    "and whether the frame was filled instead of the root score) and "
                    "overlay PNGs of every view with "
                    "the projected skeletons plus a 3D view.")
    _add_eval_args(p)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--overlay-every", type=int, default=10,
                   help="write an overlay PNG every N frames (0 = none; default 10)")
    p.set_defaults(func=_cmd_infer)


def _cmd_infer(args) -> int:
    from .evaluation import write_json
    from .skeleton import PANOPTIC15

    ds, pred = _predict(args)
    frames = pred.frames
    out = {"format": "selfpose3d-poses3d/1", "joint_set": PANOPTIC15.name,
           "joints": list(PANOPTIC15.joints), "units": "m", "frames": []}
    for f, sk in zip(pred.frames, pred.skeletons):
        people = []
        for p in range(sk.num_people):
            person = {"joints": np.round(sk.joints[p], 4).tolist(),
                      "confidence": np.round(sk.confidence[p], 3).tolist(),
                      "score": round(float(sk.scores[p]), 4)}
            if hasattr(sk, "track_ids"):  # --temporal
                person.update(track_id=int(sk.track_ids[p]), filled=bool(sk.filled[p]))
            else:
                person["root_score"] = round(float(sk.root_scores[p]), 4)
            people.append(person)
        out["frames"].append({"frame": int(f), "timestamp": float(ds.timestamps[f]),
                              "people": people})
    write_json(args.out / "poses3d.json", out)
    n_png = 0
    if args.overlay_every > 0:
        from .visualize import render_overlay

        for k, (f, sk) in enumerate(zip(pred.frames, pred.skeletons)):
            if k % args.overlay_every == 0:
                render_overlay(ds, int(f), args.out / f"overlay_{int(f):06d}.png",
                               predictions=_as_skeletons(sk))
                n_png += 1
    log.info("%d frames at %.1f frames/s -> %s (%d overlays)", len(frames), pred.fps,
             args.out / "poses3d.json", n_png)
    return 0


def _as_skeletons(people):
    """A frame's estimate as :class:`Skeletons` (tracked people: their person score as
    the root score, their root joint as the root)."""
    from .models.estimator import Skeletons

    if isinstance(people, Skeletons):
        return people
    return Skeletons(people.joints, people.confidence, people.scores, people.joints[:, 2])


# ---------------------------------------------------------------------------- pseudo-label
def _add_pseudo_label(sub) -> None:
    p = sub.add_parser(
        "pseudo-label", help="run a 2D detector over a dataset's images → its 2D pseudo poses",
        description="Detect every person in every image of DATASET (COCO-17 keypoints with "
                    "confidences) and replace the dataset's keypoints/<view>.json with them "
                    "(joint_set: coco17; dataset.yaml source.keypoints records the detector). "
                    "The training derives the 15-joint soft (conf >= min_conf) and hard "
                    "(>= hard_conf) pseudo poses from them at load time. The 'yolo' backend "
                    "needs the optional extra [detect] (scripts/setup_detect.sh → "
                    ".venv-detect/bin/selfpose3d).")
    p.add_argument("dataset", type=Path, help="dataset directory (with images)")
    p.add_argument("--detector", default="yolo", help="detector backend (default yolo)")
    p.add_argument("--min-score", type=float, default=0.3,
                   help="drop people whose person score is below this (default 0.3)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--frames", help="START:STOP[:STEP] frames to process (default all; "
                   "other frames keep their COCO-17 poses)")
    p.add_argument("--image-size", type=int, default=640,
                   help="detector input size, longest side (default 640)")
    p.add_argument("--weights", type=Path,
                   help="detector weights (default: the ones packaged with the backend)")
    p.set_defaults(func=_cmd_pseudo_label)


def _cmd_pseudo_label(args) -> int:
    from .data.dataset import MultiViewDataset
    from .detection import DetectorUnavailableError, create_detector
    from .detection.pseudo_label import pseudo_label_dataset

    ds = MultiViewDataset(args.dataset)
    frames = None if args.frames is None else _frames_arg(args.frames, ds.num_frames)
    kwargs = {"device": args.device, "image_size": args.image_size}
    if args.weights is not None:
        kwargs["weights"] = args.weights
    try:
        det = create_detector(args.detector, **kwargs)
    except DetectorUnavailableError as e:
        log.error("%s", e)
        return 2
    t0 = time.perf_counter()
    res = pseudo_label_dataset(args.dataset, det, min_score=args.min_score, frames=frames,
                               provenance={"device": args.device,
                                           "image_size": args.image_size,
                                           "weights": str(getattr(det, "weights", ""))})
    log.info("%d images in %.1f s (%.0f ms per image %s); people per view: %s",
             res.images, time.perf_counter() - t0, 1000 * res.seconds_per_image,
             "after warm-up" if res.frames > 1 else "with the model's warm-up",
             ", ".join(f"{v} {n:.2f}" for v, n in res.people_per_view.items()))
    log.info("15-joint pseudo poses: %d people, soft joints (conf >= 0.2) %.1f %%, hard "
             "joints (conf >= 0.7) %.1f %%", res.stats["people"],
             100 * res.stats["soft_fraction"], 100 * res.stats["hard_fraction"])
    return 0


# ---------------------------------------------------------------------------- import-detections
def _add_import_detections(sub) -> None:
    p = sub.add_parser(
        "import-detections", help="import 2D detections made elsewhere (COCO results, "
                                  "OpenPose JSON, Shelf 4D-Association candidates)",
        description="Convert detections to the dataset format. 'coco' and 'openpose' replace "
                    "the keypoints of an existing DATASET, or create DATASET (no images) "
                    "when --rig is given; 'shelf4da' builds the Shelf frames 300-600 "
                    "dataset with ground truth.")
    fsub = p.add_subparsers(dest="format", metavar="<format>", required=True)

    def common(q, joint_sets) -> None:
        q.add_argument("--joint-set", default="coco17", choices=joint_sets,
                       help="joint set to store (default coco17)")
        q.add_argument("--min-score", type=float, default=0.0,
                       help="drop people whose person score is below this (default 0)")
        q.add_argument("--frame-offset", type=int, default=0,
                       help="subtracted from the source frame numbers (default 0)")
        q.add_argument("--rig", type=Path, help="rig YAML: create DATASET (no images) "
                       "instead of replacing the keypoints of an existing one")
        q.add_argument("--fps", type=float, default=30.0,
                       help="with --rig: frame rate of the new dataset (default 30)")
        q.add_argument("--num-frames", type=int,
                       help="with --rig: frames (default: last detected frame + 1)")
        q.add_argument("--overwrite", action="store_true",
                       help="with --rig: replace an existing dataset")

    q = fsub.add_parser("coco", help="COCO keypoint results (COCO-17)",
                        description="RESULTS is either one COCO keypoint-results JSON of all "
                                    "images (give --image-map) or a folder of "
                                    "<view>.json files whose image_id is the frame index.")
    q.add_argument("dataset", type=Path, help="dataset directory")
    q.add_argument("results", type=Path, help="results JSON, or a folder of <view>.json")
    q.add_argument("--image-map", type=Path,
                   help="JSON: image id → frame and view ({\"<id>\": [frame, view]}, or "
                        "COCO 'images' with id + frame/view or file_name <view>/<frame>.jpg)")
    common(q, ("coco17", "panoptic15"))
    q.set_defaults(func=_cmd_import_detections)

    q = fsub.add_parser("openpose", help="OpenPose JSON (BODY_25 or COCO-18), one folder "
                                         "per view",
                        description="Per view a folder of OpenPose's per-image JSON files "
                                    "(<name>_<frame:012d>_keypoints.json).")
    q.add_argument("dataset", type=Path, help="dataset directory")
    q.add_argument("source", type=Path, nargs="?",
                   help="a folder with one sub-folder per view, named as the views")
    q.add_argument("--view", action="append", default=[], metavar="VIEW=DIR",
                   help="the folder of one view (repeatable; instead of SOURCE)")
    common(q, ("coco17", "panoptic15", "body25"))
    q.set_defaults(func=_cmd_import_detections)

    q = fsub.add_parser("shelf4da", help="Shelf frames 300-600 from the 4D Association "
                                         "release (grouped OpenPose candidates + GT)",
                        description="Groups the per-joint OpenPose candidates of "
                                    "detection/<view>.txt into people with their part "
                                    "affinities, writes a dataset without images "
                                    "(frames 0..300 = Shelf 300..600) with gt/ from gt.txt, "
                                    "and logs the grouping quality against the projected GT.")
    q.add_argument("source", type=Path, help="the shelf_4dassociation folder")
    q.add_argument("--out", type=Path, required=True, help="output dataset directory")
    q.add_argument("--joint-set", default="coco17", choices=("coco17", "body25", "panoptic15"),
                   help="joint set to store (default coco17)")
    q.add_argument("--frames", help="START:STOP[:STEP] of the 301 frames (default all)")
    q.add_argument("--min-affinity", type=float, default=0.05,
                   help="part-affinity threshold of a connection (default 0.05)")
    q.add_argument("--min-parts", type=int, default=4,
                   help="drop people with fewer joints (default 4)")
    q.add_argument("--min-mean-score", type=float, default=0.3,
                   help="drop people whose mean joint score is lower (default 0.3)")
    q.add_argument("--fps", type=float, default=25.0,
                   help="nominal frame rate for the timestamps (default 25)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    q.set_defaults(func=_cmd_import_shelf)


def _parse_views(specs: list[str]) -> dict[str, Path]:
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--view must be VIEW=DIR, got {spec!r}")
        out[name] = Path(path)
    return out


def _cmd_import_detections(args) -> int:
    from .data.dataset import MultiViewDataset, replace_keypoints
    from .data.importers import (
        create_dataset_from_detections,
        load_coco_results,
        load_coco_results_per_view,
        load_image_map,
        load_openpose_dir,
    )
    from .geometry import load_rig_yaml

    if args.rig is not None:
        rig = load_rig_yaml(args.rig)
        cameras, world_frame = rig.cameras, rig.world_frame
    else:
        ds = MultiViewDataset(args.dataset)
        cameras, world_frame = ds.cameras, ds.world_frame
    views = [c.name for c in cameras]
    if args.format == "coco":
        if args.results.is_dir():
            dets = load_coco_results_per_view(args.results, views, args.joint_set,
                                              args.min_score, args.frame_offset)
        else:
            if args.image_map is None:
                raise ValueError("coco: a single results file needs --image-map (image id → "
                                 "frame and view)")
            imap = load_image_map(args.image_map, views)
            dets = load_coco_results(args.results, imap, args.joint_set, args.min_score,
                                     args.frame_offset)
        origin = str(args.results.resolve())
    else:
        dirs = _parse_views(args.view)
        if args.source is not None:
            dirs = {**{v: args.source / v for v in views if (args.source / v).is_dir()},
                    **dirs}
        if not dirs:
            raise ValueError(f"openpose: give SOURCE (sub-folders named {views}) or --view "
                             f"VIEW=DIR")
        unknown = set(dirs) - set(views)
        if unknown:
            raise ValueError(f"openpose: views {sorted(unknown)} are not in {views}")
        dets = {v: load_openpose_dir(d, v, args.joint_set, args.frame_offset, args.min_score)
                for v, d in dirs.items()}
        origin = {v: str(d.resolve()) for v, d in dirs.items()}
    provenance = {"imported": args.format, "from": origin, "min_score": args.min_score,
                  "frame_offset": args.frame_offset}
    n = sum(k.num_people for d in dets.values() for k in d.values())
    if args.rig is not None:
        create_dataset_from_detections(
            args.dataset, cameras, dets, args.joint_set, args.fps, args.num_frames,
            description=f"2D detections imported from {args.format}",
            source={"type": "imported", "keypoints": provenance}, world_frame=world_frame,
            overwrite=args.overwrite)
        log.info("created %s: %d people in %d views (%s, no images)", args.dataset, n,
                 len(dets), args.joint_set)
    else:
        replace_keypoints(args.dataset, dets, args.joint_set, provenance)
    missing = [v for v in views if v not in dets]
    if missing:
        log.warning("no detections for views %s", missing)
    return 0


def _cmd_import_shelf(args) -> int:
    from .data.paf_grouping import GroupingConfig
    from .data.shelf import (
        SHELF_NUM_FRAMES,
        build_shelf_dataset,
        load_shelf_4da,
        shelf_grouping_quality,
    )

    cfg = GroupingConfig(min_affinity=args.min_affinity, min_parts=args.min_parts,
                         min_mean_score=args.min_mean_score)
    frames = None if args.frames is None else _frames_arg(args.frames, SHELF_NUM_FRAMES)
    data = load_shelf_4da(args.source, cfg, frames)
    build_shelf_dataset(args.source, args.out, joint_set=args.joint_set, config=cfg,
                        frames=frames, fps=args.fps, overwrite=args.overwrite, data=data)
    for q in shelf_grouping_quality(data):
        log.info("grouping %s: people found %.2f/frame, GT people in view %.2f, GT matched "
                 "%.1f %%, unmatched people %.2f/frame (Shelf's GT skips people), joints to "
                 "projected GT median %.1f px (p90 %.1f)", q.view, q.mean_found,
                 q.mean_gt_visible, 100 * q.recall, q.extra_per_frame, q.median_px, q.p90_px)
    return 0


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfpose3d",
        description="Self-supervised multi-view multi-person 3D human pose (SelfPose3d).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in (_add_demo, _add_synth, _add_show, _add_room, _add_train, _add_eval, _add_infer,
                _add_pseudo_label, _add_import_detections):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
