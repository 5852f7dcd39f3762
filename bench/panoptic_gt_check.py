"""Benchmark: the Panoptic protocol end to end on real calibrations and ground truth (the
mmpose Panoptic subset: 2 sequences × 2 frames, HD cameras 3, 6, 12, 13, 23).

Proves the loaders and the metric code, not a method: the 2D "detections" are the ground
truth itself, projected.

1. **Ground truth → 2D.** Each sequence's ``calibration_<seq>.json``
   (:func:`~selfpose3d_core.geometry.calibration.load_panoptic_calibration`, cm → m, y down
   → z up, distortion kept) and ``body3DScene_<frame>.json`` (``joints19``) are read; every
   joint with Panoptic confidence > 0.1 is projected into the five 1920 × 1080 views
   (through the lens distortion), kept where it is in front of the camera and inside the
   image, and moved by Gaussian pixel noise of ``--sigma-px`` (per coordinate; seeded).
   Joint confidence 1 where kept, 0 elsewhere; a person with fewer than 4 joints in a view
   is not detected there; no occlusion between people is simulated. ``--joint-set``:
   ``panoptic15`` (the first 15 ``joints19``) or ``coco17`` (nose, eyes, ears, limbs from
   ``joints19``: then our 15 joints come back through the COCO mapping — neck = shoulder
   midpoint, mid-hip = hip midpoint — which differs from Panoptic's own neck and body
   centre, as with any COCO detector).
2. **Datasets.** One dataset per sequence in our format (``DatasetWriter``; keypoints,
   cameras, ``gt/``; no images), under ``--out`` or a temporary folder.
3. **Methods.** The triangulation baseline (default settings) and, with ``--checkpoint``,
   our model in "detections" mode (heatmaps rendered from these 2D poses; ``--room auto``
   proposes the room grid from these cameras at the checkpoint's voxel pitch).
4. **Metrics** (:func:`~selfpose3d_core.evaluation.evaluate_panoptic`, all 4 frames
   pooled): ground-truth people whose root confidence is ≤ 0.1 dropped, joints with
   confidence ≤ 0.1 not scored; AP@25…150 mm, Recall@500, MPJPE (mm) over the true
   positives at 500 mm.

With ``--sigma-px 0`` and ``panoptic15`` the baseline must find every person with an error
of the order of the calibration's reprojection accuracy; that is the check.

    .venv/bin/python bench/panoptic_gt_check.py [--sigma-px 0 2 5] \\
        [--joint-set panoptic15 coco17] [--checkpoint model.pt] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from selfpose3d_core.baselines import TriangulationBaselineConfig, run_triangulation_baseline
from selfpose3d_core.data.dataset import (
    DatasetMeta,
    DatasetWriter,
    MultiViewDataset,
    ViewKeypoints,
)
from selfpose3d_core.data.frames import SkeletonFrame
from selfpose3d_core.evaluation import (
    AP_THRESHOLDS_MM,
    FramePoses,
    evaluate_panoptic,
    markdown_table,
    write_json,
)
from selfpose3d_core.geometry.calibration import (
    load_panoptic_calibration,
    panoptic_world_to_ours,
)
from selfpose3d_core.geometry.camera import Camera
from selfpose3d_core.skeleton import JOINT_SETS, PANOPTIC15

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _realdata import load_estimator  # noqa: E402

log = logging.getLogger("bench.panoptic_gt_check")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "panoptic_mmpose_subset").resolve()
DEFAULT_CAMERAS = (3, 6, 12, 13, 23)
#: CMU Panoptic ``joints19`` order: the 15 of PANOPTIC15, then the eyes and ears.
JOINTS19 = PANOPTIC15.joints + ("l_eye", "l_ear", "r_eye", "r_ear")
MIN_JOINTS_2D = 4
COLUMNS = (["method", "2D joints", "σ px", "frames", "GT people"]
           + [f"AP{t}" for t in AP_THRESHOLDS_MM] + ["Recall@500", "MPJPE mm", "predicted"])


class GTFrame(NamedTuple):
    """One ground-truth frame: ids (P,), joints (P, 19, 3) m (our world), conf (P, 19)."""

    name: str
    ids: np.ndarray
    joints: np.ndarray
    conf: np.ndarray


class PanopticSequence(NamedTuple):
    """One sequence folder: its name, the chosen cameras and the ground-truth frames."""

    name: str
    cameras: list[Camera]
    frames: list[GTFrame]


def load_sequence(seq_dir: Path, camera_ids: Sequence[int]) -> PanopticSequence:
    """A sequence folder of the subset → cameras and ground-truth frames (19 joints)."""
    calib = seq_dir / f"calibration_{seq_dir.name}.json"
    cams = load_panoptic_calibration(calib, camera_names=[f"00_{c:02d}" for c in camera_ids])
    frames = []
    for path in sorted((seq_dir / "hdPose3d_stage1_coco19").glob("body3DScene_*.json")):
        try:
            bodies = json.loads(path.read_text())["bodies"]
            j = np.asarray([b["joints19"] for b in bodies], np.float64).reshape(
                len(bodies), len(JOINTS19), 4)  # (P, 19, 4) cm, Panoptic world
            ids = np.asarray([int(b["id"]) for b in bodies], np.int64)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a Panoptic body3DScene file ({e})") from None
        frames.append(GTFrame(path.stem.split("_")[-1], ids,
                              panoptic_world_to_ours(j[..., :3]), j[..., 3]))
    if not frames:
        raise ValueError(f"{seq_dir}: no hdPose3d_stage1_coco19/body3DScene_*.json")
    return PanopticSequence(seq_dir.name, cams, frames)


def project_people(cam: Camera, joints: np.ndarray, ok: np.ndarray, sigma_px: float,
                   rng: np.random.Generator) -> ViewKeypoints:
    """(P, J, 3) joints, (P, J) usable → the view's 2D poses (noisy, in-image joints)."""
    uv = cam.project(joints)  # (P, J, 2), lens distortion included
    seen = ok & (cam.world_to_camera(joints)[..., 2] > 0.05) & cam.in_image(uv)
    uv = uv + rng.normal(0.0, sigma_px, uv.shape) if sigma_px > 0 else uv
    seen &= cam.in_image(uv)
    keep = seen.sum(1) >= MIN_JOINTS_2D
    conf = seen[keep].astype(np.float64)
    kp = np.where(seen[keep][..., None], uv[keep], 0.0)
    return ViewKeypoints(kp, conf, np.ones(int(keep.sum())))


def write_dataset(seq: PanopticSequence, root: Path, joint_set: str, sigma_px: float,
                  seed: int) -> Path:
    """The sequence with ground-truth-projected 2D poses, as a dataset (no images)."""
    names = JOINT_SETS[joint_set].joints
    sel = [JOINTS19.index(n) for n in names]
    meta = DatasetMeta(fps=30.0, joint_set=joint_set,
                       description=f"CMU Panoptic {seq.name}: ground truth projected into "
                                   f"HD cameras, sigma {sigma_px} px",
                       source={"type": "panoptic_gt_projected", "sequence": seq.name,
                               "frames": [f.name for f in seq.frames],
                               "sigma_px": sigma_px, "seed": seed})
    with DatasetWriter(root, seq.cameras, meta, overwrite=True) as w:
        for k, fr in enumerate(seq.frames):
            ok = fr.conf[:, sel] > 0.1
            views = []
            for v, cam in enumerate(seq.cameras):
                rng = np.random.default_rng([seed, k, v, int(sigma_px * 1000)])
                views.append(project_people(cam, fr.joints[:, sel], ok, sigma_px, rng))
            gt = SkeletonFrame(ids=fr.ids, joints=fr.joints[:, :15],
                               valid=fr.conf[:, :15] > 0.1)
            w.add_frame(k / 30.0, keypoints=views, gt=gt)
    return root


def gt_poses(seq: PanopticSequence) -> list[FramePoses]:
    """Ground truth as the protocol scores it: root confidence as the score (≤ 0.1
    dropped by :func:`evaluate_panoptic`), joints with confidence > 0.1 visible."""
    return [FramePoses.make(fr.joints[:, :15], fr.conf[:, :15] > 0.1,
                            fr.conf[:, PANOPTIC15.root]) for fr in seq.frames]


def result_row(method: str, joint_set: str, sigma: float, preds: list[FramePoses],
               gts: list[FramePoses]) -> tuple[dict, dict]:
    r = evaluate_panoptic(preds, gts)
    row = {"method": method, "2D joints": joint_set, "σ px": float(sigma),
           "frames": r.num_frames, "GT people": r.num_gt,
           **{f"AP{t}": r.ap[t] for t in AP_THRESHOLDS_MM}, "Recall@500": r.recall_500,
           "MPJPE mm": r.mpjpe_mm, "predicted": r.num_pred}
    return row, r.as_dict()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"the panoptic_mmpose_subset folder (default {DEFAULT_DATA})")
    ap.add_argument("--cameras", type=int, nargs="+", default=list(DEFAULT_CAMERAS),
                    help="HD camera numbers (default 3 6 12 13 23, the paper's)")
    ap.add_argument("--sigma-px", type=float, nargs="+", default=[0.0, 3.0],
                    help="pixel noise σ of the projected 2D joints (default 0 3)")
    ap.add_argument("--joint-set", nargs="+", default=["panoptic15", "coco17"],
                    choices=("panoptic15", "coco17"),
                    help="2D joint sets to make (default both)")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="also evaluate this model in detections mode")
    ap.add_argument("--room", choices=("auto", "model"), default="auto",
                    help="our model's room grid: proposed from these cameras at the "
                         "checkpoint's pitch (default) or the checkpoint's own")
    ap.add_argument("--threshold", type=float, default=None,
                    help="root score threshold (default: the checkpoint's)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    ap.add_argument("--out", type=Path, default=None,
                    help="keep the datasets and write metrics.json / metrics.md here")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        ap.error(f"checkpoint not found: {args.checkpoint}")
    seq_dirs = sorted(d for d in args.data.iterdir() if d.is_dir()) if args.data.is_dir() \
        else []
    if not seq_dirs:
        ap.error(f"{args.data}: no sequence folders")
    seqs = [load_sequence(d, args.cameras) for d in seq_dirs]
    for s in seqs:
        log.info("%s: %d cameras %s, frames %s, people %s", s.name, len(s.cameras),
                 [c.name for c in s.cameras], [f.name for f in s.frames],
                 [len(f.ids) for f in s.frames])
    gts = [g for s in seqs for g in gt_poses(s)]

    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out / "datasets" if args.out else Path(tmp)
        models: dict[str, object] = {}
        for js in args.joint_set:
            for sigma in args.sigma_px:
                dss = [MultiViewDataset(write_dataset(
                    s, work / f"{s.name}_{js}_sigma{sigma:g}", js, sigma, args.seed))
                    for s in seqs]
                tri = [FramePoses.make(p.joints, None, p.scores) for ds in dss
                       for p in run_triangulation_baseline(ds, TriangulationBaselineConfig())]
                methods = [("triangulation baseline", tri)]
                if args.checkpoint is not None:
                    from selfpose3d_core.inference import predict_dataset

                    ours = []
                    for s, ds in zip(seqs, dss):
                        if s.name not in models:  # one estimator per rig
                            models[s.name] = load_estimator(args.checkpoint, ds.cameras,
                                                            args.device, args.room,
                                                            args.threshold)
                        m = models[s.name]
                        pred = predict_dataset(m.estimator, ds, None, "detections",
                                               m.sigma, m.min_conf,
                                               derived_conf=m.derived_conf)
                        ours += [FramePoses.make(k.joints, None, k.scores)
                                 for k in pred.skeletons]
                    methods.append((f"SelfPose3d ({args.checkpoint.name})", ours))
                for name, preds in methods:
                    row, res = result_row(name, js, sigma, preds, gts)
                    rows.append(row)
                    results[f"{name} | {js} | sigma {sigma:g}"] = res
    table = markdown_table(rows, COLUMNS)
    head = (f"Panoptic protocol on the mmpose subset ({', '.join(s.name for s in seqs)}; "
            f"{len(gts)} frames; HD cameras {', '.join(map(str, args.cameras))}); 2D = "
            f"ground truth projected + N(0, σ²) px:")
    sys.stdout.write(f"\n{head}\n\n{table}\n")
    if args.out:
        write_json(args.out / "metrics.json", {"cameras": args.cameras, "seed": args.seed,
                                               "checkpoint": str(args.checkpoint or ""),
                                               "results": results, "table": rows})
        (args.out / "metrics.md").write_text(f"{head}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
