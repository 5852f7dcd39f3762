"""The real-data benchmark scripts' cheap paths: the Panoptic protocol end to end on the
real calibrations (ground truth projected, no noise → the baseline must be exact) and
the multi-view reprojection helper."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from helpers import REPO, SHARED_DATA

from selfpose3d_core.data.dataset import ViewKeypoints
from selfpose3d_core.geometry.calibration import load_panoptic_calibration
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.skeleton import COCO17, PANOPTIC15

PANOPTIC = SHARED_DATA / "panoptic_mmpose_subset"


def _bench(name: str):
    path = REPO / "bench" / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
    return mod


def test_panoptic_gt_check_is_exact_without_noise(tmp_path, capsys):
    if not PANOPTIC.is_dir():
        pytest.fail(f"real data folder missing: {PANOPTIC}")
    bench = _bench("panoptic_gt_check")
    assert bench.main(["--sigma-px", "0", "2", "--joint-set", "panoptic15", "coco17",
                       "--out", str(tmp_path)]) == 0
    assert "| triangulation baseline | panoptic15 | 0.0 |" in capsys.readouterr().out
    res = json.loads((tmp_path / "metrics.json").read_text())["results"]
    exact = res["triangulation baseline | panoptic15 | sigma 0"]
    assert exact["num_gt"] == 12 and exact["num_frames"] == 4  # 3 people × 2 frames × 2
    assert exact["AP25"] == 100.0 and exact["mpjpe_mm"] < 1.0  # measured 0.006 mm
    noisy = res["triangulation baseline | panoptic15 | sigma 2"]
    assert noisy["AP50"] == 100.0 and 0.5 < noisy["mpjpe_mm"] < 20.0
    # COCO-17 2D: neck and mid-hip come back as shoulder / hip midpoints, not Panoptic's
    coco = res["triangulation baseline | coco17 | sigma 0"]
    assert coco["AP50"] == 100.0 and coco["mpjpe_mm"] > exact["mpjpe_mm"]


def test_reprojection_errors_match_the_right_detection():
    realdata = _bench("_realdata")
    cams = load_panoptic_calibration(
        PANOPTIC / "160906_band1" / "calibration_160906_band1.json",
        camera_names=["00_03", "00_06"])
    rng = np.random.default_rng(0)
    people = np.stack([rng.normal(0, 0.2, (15, 3)) + [x, 0.0, 1.0] for x in (-0.5, 0.5)])
    views = []
    for cam in cams:  # the second person is detected 4 px off, first listed
        uv = cam.project(people) + np.array([[[0.0, 0.0]], [[4.0, 0.0]]])
        coco = np.zeros((2, 17, 2))
        for j, n in enumerate(COCO17.joints):
            if n in PANOPTIC15.joints:
                coco[:, j] = uv[:, PANOPTIC15.index(n)]
        views.append(ViewKeypoints(coco[::-1], np.ones((2, 17)), np.ones(2)))
    err, in_view = realdata.reprojection_errors(people, cams, views, "coco17", scale=[1, 2])
    assert in_view.all()
    # each person finds its own detection (listed in reverse order); the median over the
    # 15 joints is not moved by the neck and mid-hip, which COCO-17 gives as midpoints;
    # view 1's errors are scaled by 2 (to full resolution)
    np.testing.assert_allclose(err[0], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(err[1], [4.0, 8.0], atol=1e-6)
    grid = realdata.grid_at_pitch((0, 0, 1), (8, 8, 2), VoxelGrid((0, 0, 1), (6, 6, 2),
                                                                  (40, 40, 16)))
    assert all(n % 4 == 0 for n in grid.shape) and abs(grid.pitch[0] - 6 / 39) < 0.01


def test_shelf_validation_scores_the_training_frames_only(tmp_path, capsys):
    """``--eval-on train`` (validation for inference settings) scores frames 300–449 of
    the held-out split, never its test frames 450–600, and needs a checkpoint."""
    src = SHARED_DATA / "shelf_4dassociation"
    if not (src / "gt.txt").is_file():
        pytest.fail(f"real data folder missing: {src}")
    bench = _bench("shelf_pcp")
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path), "--split", "heldout", "--eval-on", "train"])
    ckpt = REPO / "checkpoints" / "selfpose3d_small_synthetic.pt"
    assert bench.main(["--out", str(tmp_path), "--split", "heldout", "--eval-on", "train",
                       "--checkpoint", str(ckpt), "--frame-step", "50"]) == 0
    assert "(its training frames: validation)" in capsys.readouterr().out
    info = json.loads((tmp_path / "heldout_on_train" / "pcp.json").read_text())
    assert info["eval_on"] == "train" and info["eval_frames"] == [300, 400]
    assert not (tmp_path / "heldout" / "pcp.json").exists()
    rows = {r["method"]: r for r in info["table"]}
    assert rows["triangulation baseline"]["frames"] == 3  # frames 300, 350, 400
