"""Benchmark: the triangulation baseline (no learning, no GT) on datasets with 3D GT.

Without ``--data``, synthesises (or reuses, from ``--work``) three synthetic datasets —
the default rig (5 views, seed 0), a held-out rig (4 views, seed 1) and a hard detector
(seed 3, up to 5 people, 15 % left/right swaps, 1 false positive per view and frame, 10 %
missed people) — with keypoints and ground truth only (no images), runs the baseline and
evaluates with the Panoptic protocol. ``--data DIR`` (repeatable) evaluates existing
datasets in the project format instead (they need ``gt/poses3d.json``).

Frames/s is the baseline alone (dataset loading excluded), on one CPU core: the BLAS
thread count is pinned to 1 before numpy loads.

    .venv/bin/python bench/triangulation_baseline.py [--frames 200] [--work DIR]
    .venv/bin/python bench/triangulation_baseline.py --data DIR [--data DIR2] [--config C.yaml]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from selfpose3d_core.baselines import (  # noqa: E402
    TriangulationBaselineConfig,
    run_triangulation_baseline,
)
from selfpose3d_core.data.dataset import (  # noqa: E402
    GroundTruth3D,
    MultiViewDataset,
    has_ground_truth,
)
from selfpose3d_core.evaluation import FramePoses, evaluate_panoptic, markdown_table  # noqa: E402
from selfpose3d_core.skeleton import PANOPTIC15  # noqa: E402
from selfpose3d_core.synthetic import SynthConfig, synthesize  # noqa: E402

log = logging.getLogger("bench.triangulation_baseline")

#: name → SynthConfig fields (num_frames is set from --frames).
SYNTHETIC = {
    "synthetic default rig (5 views, seed 0)": {"seed": 0},
    "synthetic held-out rig (4 views, seed 1)": {"num_cameras": 4, "seed": 1},
    "synthetic hard detector (5 views, seed 3)": {
        "seed": 3, "num_people": 5,
        "detector": {"swap_rate": 0.15, "false_positive_rate": 1.0, "person_miss_rate": 0.1}},
}
COLUMNS = ["dataset", "frames", "AP25", "AP50", "AP100", "AP150", "Recall@500", "MPJPE mm",
           "frames/s"]


def synthetic_dataset(work: Path, name: str, fields: dict, frames: int) -> Path:
    """The dataset of ``fields`` under ``work`` — reused when its config matches."""
    cfg = SynthConfig.from_dict({**fields, "num_frames": frames})
    key = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    root = work / f"synth_{key}"
    if (root / "dataset.yaml").is_file():
        try:
            source = MultiViewDataset(root).meta.source
            if SynthConfig.from_dict(source.get("config", {})) == cfg:
                log.info("reusing %s for %r", root, name)
                return root
        except ValueError:
            pass
    log.info("synthesising %r into %s", name, root)
    return synthesize(cfg, root, write_images=False)


def evaluate(root: Path, name: str, config: TriangulationBaselineConfig) -> dict:
    ds = MultiViewDataset(root)
    if not has_ground_truth(root):
        raise SystemExit(f"{root}: no gt/poses3d.json; the bench needs 3D ground truth")
    gt = GroundTruth3D(root)
    if gt.joint_set != PANOPTIC15.name:
        raise SystemExit(f"{root}: ground truth is {gt.joint_set}, the baseline predicts "
                         f"{PANOPTIC15.name}")
    t0 = time.perf_counter()
    preds = run_triangulation_baseline(ds, config)
    fps = len(preds) / max(time.perf_counter() - t0, 1e-9)
    gts = []
    for f in range(ds.num_frames):
        g = gt.frame(f)
        gts.append(FramePoses.make(g.joints, g.valid, np.ones(len(g.ids))))
    res = evaluate_panoptic([FramePoses.make(p.joints, None, p.scores) for p in preds], gts)
    return {"dataset": name, "frames": ds.num_frames, "AP25": res.ap[25], "AP50": res.ap[50],
            "AP100": res.ap[100], "AP150": res.ap[150], "Recall@500": res.recall_500,
            "MPJPE mm": res.mpjpe_mm, "frames/s": fps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", default=[],
                    help="evaluate this dataset (repeatable) instead of the synthetic ones")
    ap.add_argument("--work", type=Path, default=None,
                    help="where synthetic datasets are written and reused "
                         "(default: a temporary directory)")
    ap.add_argument("--frames", type=int, default=200, help="frames per synthetic dataset")
    ap.add_argument("--config", type=Path, default=None,
                    help="YAML mapping of TriangulationBaselineConfig fields")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    config = TriangulationBaselineConfig.from_dict(
        (yaml.safe_load(args.config.read_text()) or {}) if args.config else {})

    rows = []
    if args.data:
        for root in args.data:
            rows.append(evaluate(root, root.name, config))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            for name, fields in SYNTHETIC.items():
                root = synthetic_dataset(work, name, fields, args.frames)
                rows.append(evaluate(root, name, config))
    print(markdown_table(rows, COLUMNS))


if __name__ == "__main__":
    main()
