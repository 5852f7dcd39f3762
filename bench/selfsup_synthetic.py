"""Benchmark: self-supervised vs fully-supervised vs triangulation on the synthetic rig.

Trains each variant on one synthetic recording (default rig: 5 cameras, seed 0) with the
same schedule, then evaluates on held-out recordings with other seeds — other people,
motion and camera placement — one of them with 4 cameras. Prints AP25/50/100, MPJPE,
Recall@500, training wall time and the config of every row, plus inference frames/s
(5 views, 3 people) of the small and the paper-size model on this machine.

Variants: ``selfsup`` (the method), ``supervised`` (3D GT, the upper bound),
``no_cross_view``, ``no_attention``, ``no_l1`` (ablations: the paper's Tables 4–6 in
miniature). The triangulation baseline needs no training.

    .venv/bin/python bench/selfsup_synthetic.py --out bench_out/synthetic \\
        [--variants selfsup,supervised,no_cross_view,no_attention,no_l1] [--threads 2] \\
        [--input-threshold 0.3] [--refine-gate 0.2] [--temporal]

With ``--temporal`` every row also gets a ``+ temporal`` row: the same per-frame estimates
tracked and smoothed over the 10 s test recording (:mod:`selfpose3d_core.tracking`),
triangulation included.

Each variant trains in OUT/<variant>/ and resumes there if interrupted; a finished
variant is evaluated again from its checkpoint (the metrics are always recomputed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import torch

from selfpose3d_core.baselines import TriangulationBaselineConfig, run_triangulation_baseline
from selfpose3d_core.cli import auto_room, export_model
from selfpose3d_core.config_utils import load_yaml_config
from selfpose3d_core.data.dataset import GroundTruth3D, MultiViewDataset, has_ground_truth
from selfpose3d_core.evaluation import markdown_table, write_json
from selfpose3d_core.inference import evaluate_predictions, predict_dataset
from selfpose3d_core.models import build_model, model_preset
from selfpose3d_core.models.estimator import Estimator, load_checkpoint_file
from selfpose3d_core.synthetic import SynthConfig, synthesize
from selfpose3d_core.tracking import TrackerConfig, smooth_sequence
from selfpose3d_core.training.config import STAGES, TRAIN_PRESETS, TrainConfig, train_preset
from selfpose3d_core.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _realdata import load_estimator  # noqa: E402

log = logging.getLogger("bench")

VARIANTS = {
    "selfsup": {},
    "supervised": {"mode": "supervised"},
    "no_cross_view": {"cross_view": False},
    "no_attention": {"use_attention": False},
    "no_l1": {"use_l1": False},
}
TEST_SETS = {"test_4cam_seed101": {"num_cameras": 4, "seed": 101},
             "test_5cam_seed102": {"num_cameras": 5, "seed": 102}}


def _dataset(path: Path, frames: int, **cfg) -> Path:
    if (path / "dataset.yaml").is_file() and has_ground_truth(path) and \
            MultiViewDataset(path).num_frames == frames:
        return path
    synthesize(SynthConfig.from_dict({"num_frames": frames, **cfg}), path)
    return path


def _train(model_cfg, tc, train_dir: Path, run: Path, init: Path | None = None
           ) -> tuple[Path, float]:
    """Train (or resume / reuse) one run; returns its last checkpoint and the total wall time
    spent on it over all invocations."""
    timing = run / "train_time.json"
    trainer = Trainer(model_cfg, tc, train_dir, run, show_progress=True, init_weights=init)
    res = trainer.run()
    prev = json.loads(timing.read_text())["seconds"] if timing.is_file() else 0.0
    spent = prev + res.seconds  # a finished run reruns nothing (at most the body prior fit)
    write_json(timing, {"seconds": spent})
    return res.checkpoint, spent


def _evaluate(ckpt: Path, test_dir: Path, device: str = "cpu",
              input_threshold: float | None = None, refine_gate: float | None = None,
              temporal: TrackerConfig | None = None) -> tuple[dict, dict | None]:
    """Metrics of the per-frame estimates and, with ``temporal``, of the same estimates
    tracked and smoothed over the recording."""
    ds = MultiViewDataset(test_dir)
    tc = load_checkpoint_file(ckpt)["train_config"]
    m = load_estimator(ckpt, ds.cameras, device, "model", input_threshold=input_threshold,
                       refine_gate=refine_gate)
    pred = predict_dataset(m.estimator, ds, None, tc["heatmap_source"], m.sigma, m.min_conf,
                           derived_conf=m.derived_conf)
    gt = GroundTruth3D(test_dir)
    res = evaluate_predictions(pred.skeletons, pred.frames, gt)
    if temporal is None:
        return {**res.as_dict(), "fps": pred.fps}, None
    smooth = smooth_sequence(pred.skeletons, ds.timestamps[pred.frames], temporal)
    res_t = evaluate_predictions(smooth, pred.frames, gt)
    return {**res.as_dict(), "fps": pred.fps}, res_t.as_dict()


def _row(label: str, test: str, r: dict, minutes: float) -> dict:
    return {"method": label, "test set": test, "AP25": r["AP25"], "AP50": r["AP50"],
            "AP100": r["AP100"], "Recall@500": r["recall_500"], "MPJPE mm": r["mpjpe_mm"],
            "train min": minutes}


def _fps(model_cfg, cams, images, threads: int, repeats: int = 3) -> float:
    """Frames/s of the whole image → skeletons pipeline with exactly 3 proposals."""
    cfg = dataclasses.replace(model_cfg, max_people=3, root_threshold=-1e9)
    est = Estimator(build_model(cfg, load_pretrained=False), cams)
    est.estimate(images)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        est.estimate(images)
    return repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out/synthetic"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--schedule", default="small-cpu",
                    help="a training preset name or a TrainConfig YAML file")
    ap.add_argument("--heatmap-source", default="detections", choices=("images", "detections"),
                    help="detections (default): the 3D part on heatmaps rendered from the 2D "
                         "pseudo poses; images: the 2D backbone trained from scratch first")
    ap.add_argument("--train-frames", type=int, default=200)
    ap.add_argument("--test-frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-fps", action="store_true")
    ap.add_argument("--input-threshold", type=float, default=None,
                    help="evaluate with this root_input_threshold (root_net's fused input as "
                         "a recall safety net; default: the model's)")
    ap.add_argument("--refine-gate", type=float, default=None,
                    help="also evaluate every model with this refine_gate (detections "
                         "mode: joints re-triangulated from the detections each person was "
                         "assigned; rows '<method> + refine')")
    ap.add_argument("--temporal", action="store_true",
                    help="also track and smooth every row's estimates over each test "
                         "recording (selfpose3d_core.tracking, default TrackerConfig; rows "
                         "'<method> + temporal')")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="training and evaluation device (the frames/s table is of the CPU)")
    args = ap.parse_args()
    if args.refine_gate is not None and args.heatmap_source != "detections":
        ap.error("--refine-gate needs --heatmap-source detections (it triangulates them)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    out = args.out
    train_dir = _dataset(out / "train_5cam_seed0", args.train_frames, seed=0)
    tests = {k: _dataset(out / k, args.test_frames, **v) for k, v in TEST_SETS.items()}
    rows, results = [], {}
    temporal = TrackerConfig() if args.temporal else None
    schedule = train_preset(args.schedule) if args.schedule in TRAIN_PRESETS else \
        load_yaml_config(TrainConfig, args.schedule)
    base_cfg = dataclasses.replace(schedule,
                                   heatmap_source=args.heatmap_source, device=args.device)
    model_cfg = auto_room(model_preset("small"), MultiViewDataset(train_dir).cameras)
    names = [v for v in args.variants.split(",") if v]
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; variants: {sorted(VARIANTS)}")
    # the self-supervised variants differ only in the pose stages: their backbone and
    # root stages (identical configs and seeds) run once, and every variant's training
    # time includes them
    shared = out / "selfsup_backbone_root"
    early = {k: v for k, v in base_cfg.stages.items() if k in ("backbone", "root")}
    late = {k: (v if k not in early else dataclasses.replace(v, epochs=0))
            for k, v in base_cfg.stages.items()}
    shared_seconds = 0.0
    if any(VARIANTS[n].get("mode") != "supervised" for n in names):
        only = {k: (v if k in early else dataclasses.replace(v, epochs=0))
                for k, v in base_cfg.stages.items()}
        shared_ckpt, shared_seconds = _train(model_cfg, dataclasses.replace(
            base_cfg, stages=only), train_dir, shared)
    for name in names:
        tc = dataclasses.replace(base_cfg, **VARIANTS[name])
        if tc.mode == "supervised":
            ckpt, spent = _train(model_cfg, tc, train_dir, out / name)
        else:
            ckpt, own = _train(model_cfg, dataclasses.replace(tc, stages=late), train_dir,
                               out / name, init=shared_ckpt)
            spent = shared_seconds + own
        model = export_model(ckpt, out / name / "model.pt")
        refines = [(name, None)] + ([] if args.refine_gate is None else
                                    [(f"{name} + refine", args.refine_gate)])
        for label, gate in refines:
            for test, d in tests.items():
                r, rt = _evaluate(model, d, args.device, args.input_threshold, gate, temporal)
                results[f"{label}/{test}"] = {**r, "train_seconds": spent}
                rows.append(_row(label, test, r, spent / 60.0))
                if rt is not None:
                    results[f"{label} + temporal/{test}"] = {**rt, "train_seconds": spent}
                    rows.append(_row(f"{label} + temporal", test, rt, spent / 60.0))
    for test, d in tests.items():
        ds = MultiViewDataset(d)
        t0 = time.perf_counter()
        poses = run_triangulation_baseline(ds, TriangulationBaselineConfig())
        fps = ds.num_frames / (time.perf_counter() - t0)
        gt = GroundTruth3D(d)
        r = evaluate_predictions(poses, range(ds.num_frames), gt).as_dict()
        results[f"triangulation/{test}"] = {**r, "fps": fps}
        rows.append(_row("triangulation", test, r, 0.0))
        if temporal is not None:
            smooth = smooth_sequence(poses, ds.timestamps, temporal)
            rt = evaluate_predictions(smooth, range(ds.num_frames), gt).as_dict()
            results[f"triangulation + temporal/{test}"] = rt
            rows.append(_row("triangulation + temporal", test, rt, 0.0))
    print("\n## Synthetic OR rig: trained on train_5cam_seed0, evaluated on held-out rigs")
    print(f"model: small preset, room {model_cfg.room.shape} voxels over "
          f"{[round(s, 2) for s in model_cfg.room.size]} m; schedule {args.schedule}; "
          f"heatmaps from {args.heatmap_source}; training on {args.device}; torch threads "
          f"{torch.get_num_threads()}; evaluation input fallback {args.input_threshold}; "
          f"refine gate {args.refine_gate}; temporal "
          f"{temporal if temporal is None else dataclasses.asdict(temporal)}")
    stages = ", ".join(f"{k} {base_cfg.stages[k].epochs:g} ep × batch "
                       f"{base_cfg.stages[k].batch_size} @ lr {base_cfg.stages[k].lr:g}"
                       for k in STAGES if base_cfg.stages[k].epochs > 0)
    print(f"stages: {stages}; supervised: the same stages on 3D GT (L1 on 3D joints, GT "
          f"root volumes); ablations reuse the self-supervised backbone/root stages")
    print(markdown_table(rows))
    if not args.skip_fps:
        ds = MultiViewDataset(tests["test_5cam_seed102"])
        images = [ds.image(0, v) for v in range(ds.num_views)]
        fps_rows = []
        for preset in ("small", "paper"):
            cfg = auto_room(model_preset(preset), ds.cameras) if preset == "small" else \
                model_preset(preset)
            fps_rows.append({"model": preset, "views": ds.num_views, "people": 3,
                             "frames/s": _fps(cfg, ds.cameras, images, args.threads)})
        print("\n## Inference on this CPU (images → skeletons, 5 views, 3 proposals)")
        print(markdown_table(fps_rows))
        results["fps"] = fps_rows
    name = "results" + ("" if args.input_threshold is None else
                        f"_input{args.input_threshold:g}") + \
        ("" if args.refine_gate is None else f"_refine{args.refine_gate:g}") + \
        ("_temporal" if args.temporal else "") + ".json"
    write_json(out / name, results)


if __name__ == "__main__":
    main()
