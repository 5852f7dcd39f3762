"""Benchmark: Shelf PCP (frames 300–600, 5 views) of self-supervised training on the
OpenPose detections, next to the triangulation baseline and the 4D Association result.

What it does, per ``--split``:

1. **Datasets** (built once, cached under ``OUT/data``; rebuilt when the joint set or
   frame count differ): ``eval`` — the 301 frames with ``gt/`` (read only to score);
   ``train_transductive`` (all 301 frames) and ``train_heldout`` (frames 300–449), both
   written *without* ``gt/``, so training cannot read ground truth. The 2D poses are the
   4D Association release's OpenPose BODY_25 candidates grouped into people with their
   part affinities (:func:`selfpose3d_core.data.shelf.build_shelf_dataset`), stored as
   ``--joint-set`` (default COCO-17: neck = shoulder midpoint, as from a COCO detector).
2. **Training** (skipped with ``--checkpoint``): the staged SelfPose3d trainer
   (:class:`~selfpose3d_core.training.trainer.Trainer`) in ``selfsup`` mode with
   ``heatmap_source: detections`` and the ``--schedule`` preset (default ``small-cpu``) on
   the split's training copy, into ``OUT/<split>/run``. Resumable: rerun to continue;
   ``--max-minutes`` bounds this call; a run refuses to resume under another
   ``--joint-set``, ``--schedule``, ``--model``, ``--room`` or ``--seed``. Room grid
   (``--room``): ``auto`` (default) proposes it from the five cameras' frusta and the
   floor, like ``selfpose3d train`` (6.8 × 5.3 × 2 m at (0.69, 0.27, 1.0) for Shelf,
   keeping the model preset's voxel pitch); ``reference`` uses method.md's Shelf room,
   8 × 8 × 2 m at (0.45, −0.32, 0.8), with the model preset's voxel counts. A run that
   stops before the last stage is evaluated as it stands (its ``last.pt``), and the table
   says which stage it reached. A ``--checkpoint`` trained elsewhere gets the ``--room``
   grid at its own voxel pitch.
3. **Evaluation** on the split's frames (``transductive``: all 301; ``heldout``:
   450–600): our model in "detections" mode (heatmaps rendered from the same 2D poses),
   the triangulation baseline (matching + robust triangulation, default settings) on the
   same 2D poses, and the 4D Association method's own output shipped with the data
   (``skel.txt``, 19 joints → Panoptic-15). Every method's Panoptic-15 poses become
   Shelf-14 through the same head rule (:mod:`selfpose3d_core.skeleton`; no ground truth
   at test time — its four constants were fitted once to the ground truth of frames
   300–449, so the held-out split's head figures are the clean ones) and are scored by
   the same code
   (:func:`~selfpose3d_core.evaluation.evaluate_pcp`) against ``gt.txt``: per ground-truth
   actor and frame the prediction with the lowest 14-joint MPJPE; a limb is correct when
   the mean of its endpoint errors is ≤ 0.5 × its length; a frame without any prediction
   counts all its limbs wrong. Actors 1–3 are ``gt.txt`` ids 0–2 (the ids of VoxelPose's
   ``actorsGT.mat``; id 3, the 4th person, is not scored, as is the custom).

``--temporal`` adds rows for our model's and the triangulation baseline's estimates tracked
and smoothed over the evaluated frames (:mod:`selfpose3d_core.tracking`, default
``TrackerConfig``, offline); 4D Association is temporal by design.

``--eval-on train`` (with ``--checkpoint``) scores the split's training frames instead
(held-out: 300–449, whose ground truth training never reads): a validation set on which to
choose inference settings (``--threshold``, ``--input-threshold``, ``--refine-gate``)
without looking at the test frames; it writes ``OUT/<split>_on_train/``.

Prints a markdown table (PCP per actor, average, per limb group) and writes
``OUT/<split>/pcp.json`` and ``pcp.md``. Numbers are measured on each run; none are
stored here.

    .venv/bin/python bench/shelf_pcp.py --out bench_out/shelf --split heldout \\
        [--schedule small-cpu] [--max-minutes 60] [--room auto|reference] [--device cpu]
    .venv/bin/python bench/shelf_pcp.py --out bench_out/shelf --split transductive ...
    .venv/bin/python bench/shelf_pcp.py --out DIR --split heldout --checkpoint model.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from selfpose3d_core.baselines import TriangulationBaselineConfig, run_triangulation_baseline
from selfpose3d_core.data.dataset import MultiViewDataset, has_ground_truth
from selfpose3d_core.data.fourda import load_4da_skeletons
from selfpose3d_core.data.shelf import (
    SHELF_FIRST_FRAME,
    SHELF_NUM_FRAMES,
    build_shelf_dataset,
    load_shelf_4da,
    skel19_to_panoptic15,
)
from selfpose3d_core.evaluation import LIMB_GROUPS, evaluate_pcp, markdown_table, write_json
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.skeleton import PANOPTIC15, SHELF14, convert_joints
from selfpose3d_core.tracking import TrackerConfig, smooth_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _realdata import grid_at_pitch, load_estimator  # noqa: E402

log = logging.getLogger("bench.shelf_pcp")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = (REPO / ".." / "shared" / "data" / "shelf_4dassociation").resolve()

#: split → (training frames, evaluation frames), dataset frame indices (0 = Shelf 300).
SPLITS = {
    "transductive": (range(0, SHELF_NUM_FRAMES), range(0, SHELF_NUM_FRAMES)),
    "heldout": (range(0, 150), range(150, SHELF_NUM_FRAMES)),
}
#: gt.txt ids of Shelf actors 1–3.
ACTORS = (0, 1, 2)
#: method.md's Shelf room (VoxelPose reference config), metres.
REFERENCE_ROOM = {"center": (0.45, -0.32, 0.8), "size": (8.0, 8.0, 2.0)}
GROUP_NAMES = {"upper_arms": "upper arms", "lower_arms": "lower arms",
               "upper_legs": "upper legs", "lower_legs": "lower legs", "head": "head",
               "torso": "torso"}
COLUMNS = (["method", "frames", "Actor 1", "Actor 2", "Actor 3", "Average"]
           + [GROUP_NAMES[g] for g in LIMB_GROUPS] + ["missed"])


# ---------------------------------------------------------------------------- data
def _dataset_ok(root: Path, frames: int, joint_set: str, with_gt: bool) -> bool:
    if not (root / "dataset.yaml").is_file():
        return False
    try:
        ds = MultiViewDataset(root)
    except ValueError:
        return False
    return (ds.num_frames == frames and ds.joint_set == joint_set
            and has_ground_truth(root) == with_gt)


def ensure_datasets(src: Path, work: Path, joint_set: str) -> dict[str, Path]:
    """The evaluation dataset (with gt/) and the two training copies (without), cached."""
    want = {"eval": (SPLITS["transductive"][1], True),
            "train_transductive": (SPLITS["transductive"][0], False),
            "train_heldout": (SPLITS["heldout"][0], False)}
    out = {name: work / name for name in want}
    todo = [n for n, (fr, gt) in want.items() if not _dataset_ok(out[n], len(fr), joint_set, gt)]
    if todo:
        t0 = time.perf_counter()
        data = load_shelf_4da(src)  # all 301 frames, grouped once
        log.info("read and grouped %s in %.1f s", src, time.perf_counter() - t0)
        for name in todo:
            frames, with_gt = want[name]
            sub = data if len(frames) == data.num_frames else dataclasses.replace(
                data, grouped=tuple(tuple(v[f] for f in frames) for v in data.grouped),
                gt=tuple(data.gt[f] for f in frames))
            build_shelf_dataset(src, out[name], joint_set=joint_set,
                                frames=None if sub is data else list(frames),
                                overwrite=True, data=sub, write_gt=with_gt)
    else:
        log.info("reusing the datasets in %s", work)
    return out


def shelf_ground_truth(src: Path, frames: Sequence[int]) -> list[dict]:
    """Per frame: gt.txt actor id → (14, 3) Shelf-14 joints (people with every joint)."""
    gt = load_4da_skeletons(src / "gt.txt")
    out = []
    for f in frames:
        g = gt[f]
        out.append({int(i): g.joints[p, :14] for p, i in enumerate(g.ids)
                    if g.valid[p, :14].all()})
    return out


def peer_predictions(src: Path, frames: Sequence[int]) -> list[np.ndarray]:
    """The 4D Association output (``skel.txt``) as Panoptic-15, (P, 15, 3) per frame."""
    skel = load_4da_skeletons(src / "skel.txt")
    if len(skel) != SHELF_NUM_FRAMES:
        raise ValueError(f"{src}/skel.txt: {len(skel)} frames, expected {SHELF_NUM_FRAMES}")
    return [skel19_to_panoptic15(skel[f]).joints for f in frames]


# ---------------------------------------------------------------------------- training
def model_and_schedule(args, cameras):
    """(ModelConfig with the chosen room, TrainConfig: selfsup on detections)."""
    from selfpose3d_core.cli import auto_room
    from selfpose3d_core.config_utils import load_yaml_config
    from selfpose3d_core.models import PRESETS, ModelConfig
    from selfpose3d_core.training.config import TRAIN_PRESETS, TrainConfig

    model_cfg = PRESETS[args.model] if args.model in PRESETS else load_yaml_config(
        ModelConfig, args.model)
    train_cfg = TRAIN_PRESETS[args.schedule] if args.schedule in TRAIN_PRESETS else \
        load_yaml_config(TrainConfig, args.schedule)
    over = {"mode": "selfsup", "heatmap_source": "detections", "device": args.device}
    if args.seed is not None:
        over["seed"] = args.seed
    train_cfg = dataclasses.replace(train_cfg, **over)
    if args.room == "auto":
        model_cfg = auto_room(model_cfg, cameras)
    else:
        model_cfg = dataclasses.replace(model_cfg, room=VoxelGrid(
            center=REFERENCE_ROOM["center"], size=REFERENCE_ROOM["size"],
            shape=model_cfg.room.shape))
    return model_cfg, train_cfg


def train(args, train_dir: Path, run_dir: Path) -> dict:
    """Train (or resume) on ``train_dir``; returns what to evaluate and how far it got."""
    import torch

    from selfpose3d_core.cli import export_model
    from selfpose3d_core.training.config import STAGES
    from selfpose3d_core.training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = {"joint_set": args.joint_set, "schedule": args.schedule, "model": args.model,
                "room": args.room, "seed": args.seed}
    stamp = run_dir / "bench_settings.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != settings:
        raise SystemExit(f"{run_dir} was trained with {stamp.read_text()}, not {settings}: "
                         f"use another --out (or delete the run) to change them")
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(settings))
    model_cfg, train_cfg = model_and_schedule(args, MultiViewDataset(train_dir).cameras)
    trainer = Trainer(model_cfg, train_cfg, train_dir, run_dir, resume=True,
                      show_progress=not args.no_progress)
    room = trainer.model_cfg.room  # a resumed run keeps its own
    log.info("training %s: room centre %s size %s voxels %s", run_dir,
             [round(v, 2) for v in room.center], [round(v, 2) for v in room.size],
             list(room.shape))
    max_s = None if args.max_minutes is None else 60.0 * args.max_minutes
    res = trainer.run(max_seconds=max_s)
    si = trainer.state["stage_index"]
    done = si >= len(STAGES)
    ckpt = export_model(res.checkpoint, run_dir / "model.pt") if done else res.checkpoint
    stage = "done" if done else f"{STAGES[si]} step {trainer.state['stage_step']}"
    log.info("training: %d steps in %.1f min this call; %s; evaluating %s", res.steps,
             res.seconds / 60, stage, ckpt)
    return {"checkpoint": str(ckpt), "finished": done, "stage": stage,
            "steps_this_call": res.steps, "minutes_this_call": res.seconds / 60,
            "global_step": trainer.state["global_step"], "schedule": args.schedule,
            "model": args.model, "room": {"center": list(room.center),
                                          "size": list(room.size),
                                          "shape": list(room.shape)}}


# ---------------------------------------------------------------------------- methods
def our_predictions(checkpoint: Path, ds: MultiViewDataset, frames: Sequence[int],
                    device: str, threshold: float | None, room: str,
                    input_threshold: float | None = None,
                    refine_gate: float | None = None) -> tuple[list, float]:
    """Our model in detections mode → the estimate of each frame (``Skeletons``: joints
    (P, 15, 3), ...), and frames/s.

    ``room``: ``"model"`` (the checkpoint's grid: a model trained here), ``"auto"`` (from
    the Shelf cameras at the checkpoint's pitch) or ``"reference"`` (method.md's room at the
    checkpoint's pitch) — the last two for a model trained elsewhere.
    """
    from selfpose3d_core.inference import predict_dataset
    from selfpose3d_core.models import ModelConfig
    from selfpose3d_core.models.estimator import load_checkpoint_file

    if room == "reference":
        trained = ModelConfig.from_dict(load_checkpoint_file(checkpoint)["model_config"]).room
        room = grid_at_pitch(REFERENCE_ROOM["center"], REFERENCE_ROOM["size"], trained)
    m = load_estimator(checkpoint, ds.cameras, device, room, threshold, input_threshold,
                       refine_gate)
    pred = predict_dataset(m.estimator, ds, frames, "detections", sigma=m.sigma,
                           min_conf=m.min_conf, derived_conf=m.derived_conf)
    return pred.skeletons, pred.fps


def triangulation_predictions(ds: MultiViewDataset, frames: Sequence[int]
                              ) -> tuple[list, float]:
    """The triangulation baseline (default settings) → ``Poses3D`` (joints (P, 15, 3), ...)
    per frame, frames/s."""
    t0 = time.perf_counter()
    poses = run_triangulation_baseline(ds, TriangulationBaselineConfig())
    fps = len(poses) / max(time.perf_counter() - t0, 1e-9)
    return [poses[f] for f in frames], fps


def pcp_row(name: str, preds15: Sequence[np.ndarray], gts: Sequence[dict]) -> tuple[dict,
                                                                                    dict]:
    """Panoptic-15 predictions → Shelf-14 (head rule) → PCP; (table row, full result)."""
    preds = [convert_joints(np.asarray(p, np.float64).reshape(-1, 15, 3), PANOPTIC15,
                            SHELF14)[0] for p in preds15]
    res = evaluate_pcp(preds, gts, ACTORS)
    row = {"method": name, "frames": len(gts),
           **{f"Actor {a + 1}": res.per_actor[a] for a in ACTORS}, "Average": res.average,
           **{GROUP_NAMES[g]: res.group_average[g] for g in LIMB_GROUPS},
           "missed": sum(res.missing.values())}
    return row, res.as_dict()


# ---------------------------------------------------------------------------- main
def run_split(args, split: str, data: dict[str, Path]) -> tuple[str, dict]:
    train_frames, eval_frames = SPLITS[split]
    validating = args.eval_on == "train"  # the training frames' GT, never the test frames
    frames = list(train_frames if validating else eval_frames)[::args.frame_step]
    out = args.out / (f"{split}_on_train" if validating else split)
    info: dict = {"split": split, "train_frames": [SHELF_FIRST_FRAME + train_frames[0],
                                                   SHELF_FIRST_FRAME + train_frames[-1]],
                  "eval_frames": [SHELF_FIRST_FRAME + frames[0],
                                  SHELF_FIRST_FRAME + frames[-1]],
                  "frame_step": args.frame_step, "joint_set": args.joint_set,
                  "eval_on": args.eval_on}
    if args.checkpoint is not None:
        ckpt, label = args.checkpoint, f"SelfPose3d ({args.checkpoint.name})"
        info["training"] = {"checkpoint": str(ckpt), "trained_here": False}
    else:
        tr = train(args, data[f"train_{split}"], out / "run")
        info["training"] = tr
        ckpt = Path(tr["checkpoint"])
        label = f"SelfPose3d self-sup. ({args.schedule}"
        label += ")" if tr["finished"] else f", stopped at {tr['stage']})"
    ds = MultiViewDataset(data["eval"])
    gts = shelf_ground_truth(args.src, frames)
    rows, results = [], {}
    ours, fps = our_predictions(ckpt, ds, frames, args.device, args.threshold,
                                "model" if args.checkpoint is None else args.room,
                                args.input_threshold, args.refine_gate)
    info["ours_fps"] = fps
    info["input_threshold"] = args.input_threshold
    info["refine_gate"] = args.refine_gate
    if args.input_threshold is not None:
        label = f"{label[:-1]}, input fallback {args.input_threshold:g})"
    if args.refine_gate is not None:
        label = f"{label[:-1]}, refine {args.refine_gate:g})"
    methods = [(label, ours),
               ("triangulation baseline", triangulation_predictions(ds, frames)[0])]
    if args.temporal:  # the same estimates tracked and smoothed over the evaluated frames
        stamps = ds.timestamps[frames]
        methods = [m for name, est in methods for m in (
            (name, est), (f"{name} + temporal", smooth_sequence(est, stamps, TrackerConfig())))]
        info["temporal"] = dataclasses.asdict(TrackerConfig())
    methods = [(name, [e.joints for e in est]) for name, est in methods]
    for name, preds in methods + [("4D Association (skel.txt)",
                                   peer_predictions(args.src, frames))]:
        row, res = pcp_row(name, preds, gts)
        rows.append(row)
        results[name] = res
    table = markdown_table(rows, COLUMNS)
    trained = (f"trained on frames {info['train_frames'][0]}–{info['train_frames'][1]}"
               if args.checkpoint is None else f"model {args.checkpoint} (trained elsewhere)")
    on = " (its training frames: validation)" if validating else ""
    head = (f"Shelf PCP %, {split} split: {trained}, evaluated on {len(frames)} frames "
            f"{info['eval_frames'][0]}–{info['eval_frames'][1]}"
            + (f" (every {args.frame_step})" if args.frame_step > 1 else "") + on
            + f"; our model {fps:.1f} frames/s; 'missed' = actor-frames without any "
              f"prediction (counted wrong)")
    write_json(out / "pcp.json", {**info, "pcp": results, "table": rows})
    (out / "pcp.md").write_text(f"{head}\n\n{table}\n")
    return f"{head}\n\n{table}\n", info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, required=True,
                    help="working directory (datasets, runs, pcp.json / pcp.md per split)")
    ap.add_argument("--split", choices=("transductive", "heldout", "both"), default="both",
                    help="transductive: train on all 301 frames, evaluate all; heldout: "
                         "train on 300-449, evaluate 450-600; both (default) one after "
                         "the other")
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC,
                    help=f"the shelf_4dassociation folder (default {DEFAULT_SRC})")
    ap.add_argument("--joint-set", default="coco17", choices=("coco17", "body25"),
                    help="2D poses stored in the datasets (default coco17: neck = shoulder "
                         "midpoint; body25 keeps OpenPose's neck)")
    ap.add_argument("--schedule", default="small-cpu",
                    help="training preset (small-cpu, demo, paper) or TrainConfig YAML "
                         "(default small-cpu); mode and heatmap source are forced to "
                         "selfsup / detections")
    ap.add_argument("--model", default="small", help="model preset or ModelConfig YAML "
                    "(default small)")
    ap.add_argument("--room", choices=("auto", "reference"), default="auto",
                    help="room grid: from the cameras (default) or method.md's Shelf room; "
                         "with --checkpoint, at that model's voxel pitch")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="training wall-time budget of this call, per split (rerun to "
                         "resume); default: the whole schedule")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="evaluate this model instead of training one")
    ap.add_argument("--threshold", type=float, default=None,
                    help="root score threshold of our model (default: the checkpoint's)")
    ap.add_argument("--input-threshold", type=float, default=None,
                    help="root_input_threshold of our model: root_net's fused input as a "
                         "recall safety net (default: the checkpoint's)")
    ap.add_argument("--eval-on", choices=("test", "train"), default="test",
                    help="test (default): the split's evaluation frames; train: its training "
                         "frames instead (heldout: 300-449), a validation set for choosing "
                         "inference settings (--threshold, --input-threshold, --refine-gate) "
                         "without looking at the test frames; needs --checkpoint")
    ap.add_argument("--frame-step", type=int, default=1,
                    help="evaluate every N-th frame of the split (quick checks; default 1)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--refine-gate", type=float, default=None,
                    help="refine_gate of our model: joints re-triangulated from the "
                         "detections each person was assigned (default: the checkpoint's)")
    ap.add_argument("--seed", type=int, default=None, help="override the schedule's seed")
    ap.add_argument("--temporal", action="store_true",
                    help="also score our model's and the triangulation baseline's estimates "
                         "tracked and smoothed over the evaluated frames (rows '+ temporal'; "
                         "4D Association is temporal by design)")
    ap.add_argument("--no-progress", action="store_true", help="no training progress bar")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if args.frame_step < 1:
        ap.error("--frame-step must be >= 1")
    if not (args.src / "gt.txt").is_file():
        ap.error(f"{args.src}: not the shelf_4dassociation folder (no gt.txt)")
    if args.eval_on == "train" and args.checkpoint is None:
        ap.error("--eval-on train scores a trained model: give --checkpoint")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        ap.error(f"checkpoint not found: {args.checkpoint}")
    data = ensure_datasets(args.src, args.out / "data", args.joint_set)
    splits = ("transductive", "heldout") if args.split == "both" else (args.split,)
    for split in splits:
        text, _ = run_split(args, split, data)
        sys.stdout.write(f"\n{text}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
