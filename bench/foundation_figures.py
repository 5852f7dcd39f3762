"""Every figure the Foundation work reports, measured and printed by one command.

Sections: 1 projection vs OpenCV, 2 triangulation round trip, 3 float64 gradchecks,
4 point → heatmaps → voxel peak, 5 real data (Shelf, Campus, Panoptic, pizza demo,
Pose2Sim), 6 synthetic detector noise (configured vs measured), 7 synthetic generation
speed. Each figure comes from the library function the tests assert on, with the tests'
seeds and configs (``selfpose3d_core.geometry.checks``, ``selfpose3d_core.data``,
``selfpose3d_core.synthetic.detector_stats``), so the printed numbers are the tested ones;
the "test" notes give the bound the suite checks. Real data: ``../shared/data`` next to the
repository (``--data`` to point elsewhere); the script stops with a message if it is absent.

    .venv/bin/python bench/foundation_figures.py [--data DIR] [--threads N] [--frames 20]

Speed figures depend on the machine (printed in the header). Runs in well under 2 minutes
on a laptop CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from selfpose3d_core.data import (
    epipolar_match_errors,
    load_4da_detections,
    load_4da_skeletons,
    load_actors_gt,
    load_coco_predictions,
    load_panoptic_bodies,
    nearest_candidate_errors,
    stack_skeleton_frames,
)
from selfpose3d_core.geometry.calibration import (
    load_4dassociation_calibration,
    load_panoptic_calibration,
    load_pizza_demo_calibration,
    load_qualisys_calibration,
    load_voxelpose_calibration,
)
from selfpose3d_core.geometry.checks import (
    compare_projection_with_opencv,
    fit_sphere,
    gradcheck_projection,
    gradcheck_render,
    gradcheck_unproject,
    point_to_voxel_peak,
    triangulation_round_trip,
)
from selfpose3d_core.skeleton import BODY25, SHELF14
from selfpose3d_core.synthetic import SynthConfig, SyntheticScene, synthesize
from selfpose3d_core.synthetic.detector_stats import (
    MEDIAN_RAYLEIGH,
    NOISE_CHECK_CONFIG,
    measure_detector_noise,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data"
SHELF_SIZE = (1032, 776)
#: Shelf joints compared with OpenPose: ankles, knees, hips, wrists, elbows, shoulders.
SHELF_BODY_JOINTS = SHELF14.joints[:12]
PANOPTIC_SEQS = ("160906_band1", "160906_band2")
#: Every file the real-data section reads (checked up front).
REAL_FILES = (
    "shelf_4dassociation/gt.txt", "shelf_4dassociation/calibration.json",
    *(f"shelf_4dassociation/detection/{v}.txt" for v in range(5)),
    "shelf_mmpose_subset/actorsGT.mat", "shelf_mmpose_subset/calibration_shelf.json",
    "shelf_mmpose_subset/pred_shelf_maskrcnn_hrnet_coco.pkl",
    "campus_mmpose_subset/actorsGT.mat", "campus_mmpose_subset/calibration_campus.json",
    *(f"panoptic_mmpose_subset/{s}/calibration_{s}.json" for s in PANOPTIC_SEQS),
    "panoptic_pizza1_demo/calibration.json", "pose2sim_demo_multiperson/Calib.qca.txt",
)

NAME_W, VALUE_W = 46, 16


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, NAME_W + VALUE_W + 24 - len(title)))


def row(name: str, value: str, note: str = "") -> None:
    """One line: name, value right-aligned at a fixed column (a long value eats into the
    name column), note."""
    w = max(VALUE_W, len(value) + 1)
    print(f"  {name:<{NAME_W + VALUE_W - w}}{value:>{w}}  {note}".rstrip())


def passfail(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def xyz(p: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:+.3f}" for v in p) + ")"


# ---------------------------------------------------------------------------- 1-4 geometry
def geometry_sections() -> None:
    section("1. Projection vs cv2.projectPoints (distortion on)")
    t0 = time.perf_counter()
    r = compare_projection_with_opencv(np.random.default_rng(0), num_cameras=20,
                                       num_points=200)
    what = f"{r.num_cameras} random cameras x {r.num_points} points"
    row("max |diff| numpy project_numpy (px)", f"{r.max_diff_numpy:.2e}", what)
    row("max |diff| torch float64 project (px)", f"{r.max_diff_torch:.2e}", "test: < 1e-3")
    row("all points valid (torch)", passfail(r.all_valid),
        f"{time.perf_counter() - t0:.2f} s")

    section("2. Project -> triangulate round trip, no noise")
    rt = triangulation_round_trip(num_views=5, num_points=50, seed=0)
    what = f"{rt.num_views} distorted views, {rt.num_points} points"
    row("triangulate_dlt max |error| (m)", f"{rt.dlt_max_error_m:.2e}", what)
    row("triangulate_dlt max reprojection error (px)", f"{rt.dlt_max_reprojection_px:.2e}",
        "test: < 1e-4")
    row("triangulate_robust max |error| (m)", f"{rt.robust_max_error_m:.2e}", "test: < 1e-6")
    row("triangulate_robust kept every view", passfail(rt.robust_all_used))

    section("3. float64 gradcheck")
    for name, fn in (("projection (with distortion; X, dist, K)", gradcheck_projection),
                     ("heatmap rendering render_heatmaps (uv, w)", gradcheck_render),
                     ("unprojection unproject (heatmaps, points)", gradcheck_unproject)):
        t0 = time.perf_counter()
        ok = fn(raise_exception=False)
        row(name, passfail(ok), f"{time.perf_counter() - t0:.2f} s")

    section("4. Point -> render into every view -> unproject: peak voxel vs point")
    t0 = time.perf_counter()
    pk = point_to_voxel_peak(np.random.default_rng(0), num_points=20, num_views=5)
    e = pk.error_voxels
    note = (f"{len(e)} points, 5 views, random affines, pitch "
            f"{pk.pitch.max() * 100:.0f} cm")
    row("max distance peak - point (voxels)", f"{e.max():.2f}", note)
    row("median distance peak - point (voxels)", f"{np.median(e):.2f}")
    row("max per-axis distance (voxels)", f"{(pk.max_abs_error_m / pk.pitch.max()).max():.2f}",
        "test: nearest voxel or <= 0.75")
    row("peak is the nearest voxel", f"{pk.is_nearest.mean() * 100:.0f} %")
    row("peak value min .. max", f"{pk.peak_value.min():.3f} .. {pk.peak_value.max():.3f}",
        f"test: in (0.5, 1]; {time.perf_counter() - t0:.2f} s")


# ---------------------------------------------------------------------------- 5 real data
def check_data(data: Path) -> None:
    missing = [f for f in REAL_FILES if not (data / f).is_file()]
    if not data.is_dir() or missing:
        sys.exit(f"foundation_figures: real data not found at {data} "
                 f"(missing {missing[:3]}{' ...' if len(missing) > 3 else ''}); expected the "
                 f"shared data folder next to the repository, or pass --data DIR")


def real_data_section(data: Path) -> None:
    section("5. Real data")
    t0 = time.perf_counter()
    # Shelf, 4D Association files
    shelf_gt = load_4da_skeletons(data / "shelf_4dassociation/gt.txt")
    dets = [load_4da_detections(data / f"shelf_4dassociation/detection/{v}.txt", SHELF_SIZE)
            for v in range(5)]
    cams = load_4dassociation_calibration(data / "shelf_4dassociation/calibration.json")
    joints, valid = stack_skeleton_frames(shelf_gt, 15)
    shelf_idx = [SHELF14.index(n) for n in SHELF_BODY_JOINTS]
    body_idx = [BODY25.index(n) for n in SHELF_BODY_JOINTS]
    e = nearest_candidate_errors(cams, dets, joints, valid, shelf_idx, body_idx)
    print("  Shelf (4D Association: gt.txt, calibration.json, OpenPose candidates)")
    row("GT vs nearest OpenPose candidate, median (px)", f"{np.median(e):.1f}",
        f"12 body joints, {len(cams)} views, {len(shelf_gt)} frames; test: < 20")
    row("  90th percentile (px)", f"{np.percentile(e, 90):.1f}")
    row("  count", f"{e.size}", "test: > 25000")
    mid = nearest_candidate_errors(cams, dets, joints, valid, [14], [BODY25.index("mid_hip")])
    hips = nearest_candidate_errors(cams, dets, joints, valid, [2, 3],
                                    [BODY25.index("r_hip"), BODY25.index("l_hip")])
    row("GT joint 15 vs BODY25 mid_hip, median (px)", f"{np.median(mid):.1f}",
        f"hips vs hips: {np.median(hips):.1f} px")

    # Shelf, VoxelPose / mmpose subset
    print("  Shelf (mmpose subset: actorsGT.mat, calibration_shelf.json, COCO pkl)")
    gt = load_actors_gt(data / "shelf_mmpose_subset/actorsGT.mat")
    vp = load_voxelpose_calibration(data / "shelf_mmpose_subset/calibration_shelf.json")
    dev = max(np.abs(fr.joints - shelf_gt[f].joints[:, :14]).max() for f, fr in enumerate(gt))
    row("actorsGT vs gt.txt, max |difference| (m)", f"{dev:.3f}",
        f"{len(gt)} frames; test: < 0.15")
    j14, v14 = stack_skeleton_frames(gt, 14)
    e = nearest_candidate_errors(vp, dets, j14, v14, shelf_idx, body_idx)
    row("actorsGT vs OpenPose candidates, median (px)", f"{np.median(e):.1f}",
        f"n = {e.size}; test: < 20")
    preds = load_coco_predictions(data / "shelf_mmpose_subset/pred_shelf_maskrcnn_hrnet_coco"
                                         ".pkl")
    ep = epipolar_match_errors(vp, preds, min_score=0.5)
    row("COCO pkl epipolar distance, median (px)", f"{np.median(ep):.1f}",
        f"{ep.size} person pairs; test: < 10")

    # Campus
    print("  Campus (mmpose subset)")
    ccams = load_voxelpose_calibration(data / "campus_mmpose_subset/calibration_campus.json")
    cgt = load_actors_gt(data / "campus_mmpose_subset/actorsGT.mat")
    cj = np.stack([f.joints for f in cgt])  # (F, P, 14, 3)
    inside = np.stack([c.in_image(c.project(cj)) for c in ccams])  # (V, F, P, 14)
    near = np.stack([c.in_image(c.project(cj), margin=10) for c in ccams])
    per_view = " ".join(f"{v * 100:.1f}" for v in inside.mean(axis=(1, 2, 3)))
    row("GT joints inside the 360x288 images (%)", f"{inside.mean() * 100:.1f}",
        f"per view {per_view}; test: > 90")
    row("  within 10 px of the image (%)", f"{near.mean() * 100:.1f}", "test: 100")

    # Panoptic
    print("  Panoptic HD (mmpose subset, 31 HD cameras)")
    calib_seen: dict[bytes, str] = {}
    for seq in PANOPTIC_SEQS:
        root = data / "panoptic_mmpose_subset" / seq
        calib = root / f"calibration_{seq}.json"
        pcams = load_panoptic_calibration(calib)
        same = calib_seen.setdefault(calib.read_bytes(), seq)
        hd = [c for c in pcams if c.name.startswith("00_")]
        files = sorted((root / "hdPose3d_stage1_coco19").glob("body3DScene_*.json"))
        if not files:
            sys.exit(f"foundation_figures: no body3DScene_*.json under {root}")
        per_file, pooled = [], []
        for path in files:
            b = load_panoptic_bodies(path)
            ok = b.conf > 0  # (P, 15); conf -1 = missing joint
            ins = np.stack([c.in_image(c.project(b.joints)) for c in hd])[:, ok]  # (31, N)
            per_file.append(ins.mean())
            pooled.append(ins.ravel())
        pooled = np.concatenate(pooled)
        row(f"{seq}: GT inside the HD images (%)", f"{pooled.mean() * 100:.1f}",
            f"{len(files)} frames: " + ", ".join(f"{v * 100:.1f}" for v in per_file)
            + "; test: > 80 each")
        sph = fit_sphere(np.array([c.center for c in hd]))
        row(f"{seq}: dome sphere fit radius (m)", f"{sph.radius:.3f}",
            f"centre {xyz(sph.centre)}; test: 2.5 .. 3.2"
            + (f" (same calibration file as {same})" if same != seq else ""))
        row(f"{seq}: dome sphere fit max residual (m)", f"{sph.max_residual:.3f}",
            "test: < 0.1")

    print("  pizza demo (panoptic_pizza1_demo) camera centres (m)")
    for c in load_pizza_demo_calibration(data / "panoptic_pizza1_demo/calibration.json"):
        row(f"camera {c.name}", xyz(c.center), f"{c.width}x{c.height}")
    print("  Pose2Sim (pose2sim_demo_multiperson, Qualisys) camera centres (m)")
    for c in load_qualisys_calibration(data / "pose2sim_demo_multiperson/Calib.qca.txt"):
        row(f"camera {c.name}", xyz(c.center), f"{c.width}x{c.height}")
    print(f"  ({time.perf_counter() - t0:.2f} s)")


# ---------------------------------------------------------------------------- 6-7 synthetic
def detector_section() -> None:
    cfg = NOISE_CHECK_CONFIG
    det = cfg.detector
    section("6. Synthetic detector noise: configured vs measured")
    t0 = time.perf_counter()
    sc = SyntheticScene(cfg)
    st = measure_detector_noise(sc)
    print(f"  scene: {len(sc)} frames, {len(sc.cameras)} views, "
          f"{cfg.image_width}x{cfg.image_height}, seed {cfg.seed} (the test's config)")
    print(f"  {'':<{NAME_W}}{'measured':>{VALUE_W}}  configured / count")
    row("median error, unoccluded found joints (px)", f"{st.median_error_unoccluded:.3f}",
        f"{det.base_sigma_px * MEDIAN_RAYLEIGH:.3f} (= {det.base_sigma_px} x 1.177); "
        f"n = {st.errors_unoccluded.size}")
    row("median error / configured sigma(o), found", f"{np.median(st.errors_normalised):.3f}",
        f"{MEDIAN_RAYLEIGH:.3f}; n = {st.errors_normalised.size}")
    row("joint miss rate (unoccluded, in image)", f"{st.joint_miss_rate:.4f}",
        f"{det.joint_miss_rate:.4f}; n = {st.n_joint_candidates}")
    row("person miss rate", f"{st.person_miss_rate:.4f}",
        f"{det.person_miss_rate:.4f}; n = {st.n_detectable}")
    row("swap rate (left/right mirrored)", f"{st.swap_rate:.4f}",
        f"{det.swap_rate:.4f}; n = {st.n_found}")
    row("false positives per view and frame", f"{st.false_positive_rate:.4f}",
        f"{det.false_positive_rate:.4f}; n = {st.n_view_frames} view-frames")
    row("median confidence of found joints", f"{np.median(st.confidences):.3f}",
        "test: 0.85 .. 0.98")
    row("median score: real / false positive",
        f"{np.median(st.real_scores):.2f} / {np.median(st.fp_scores):.2f}")
    print(f"  ({time.perf_counter() - t0:.2f} s)")


def timing_section(num_frames: int) -> None:
    section("7. Synthetic generation speed, default rig")
    cfg = SynthConfig()
    t0 = time.perf_counter()
    sc = SyntheticScene(cfg)
    t_scene = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = sc.renderer
    t_renderer = time.perf_counter() - t0
    print(f"  {cfg.num_cameras} cameras {cfg.image_width}x{cfg.image_height}, up to "
          f"{cfg.num_people} people, {cfg.num_frames} frames at {cfg.fps:g} fps")
    row("scene setup: rig + motion of all frames (s)", f"{t_scene:.3f}")
    row("renderer setup: backgrounds (s)", f"{t_renderer:.3f}")
    n = min(num_frames, len(sc))
    for images in (True, False):
        t0 = time.perf_counter()
        for i in range(n):
            sc.frame(i, render_images=images)
        per = (time.perf_counter() - t0) / n
        what = "with images" if images else "without images"
        row(f"frame in memory, {what} (s/frame)", f"{per:.4f}", f"{n} frames")
    small = SynthConfig(num_frames=n)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        synthesize(small, Path(tmp) / "ds", write_images=True)
        total = time.perf_counter() - t0
    row("synthesize() to disk with JPEGs (s/frame)", f"{total / n:.4f}",
        f"{n} frames, incl. setup ({total:.2f} s total)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="the shared real-data folder (default: ../shared/data)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--frames", type=int, default=20,
                    help="frames timed in the synthetic generation section")
    args = ap.parse_args()
    data = args.data.resolve()
    check_data(data)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    print("selfpose3d Foundation figures")
    print(f"python {platform.python_version()}  torch {torch.__version__}  numpy "
          f"{np.__version__}  opencv {cv2.__version__}")
    print(f"cpu {platform.processor() or platform.machine()}  cores {os.cpu_count()}  "
          f"torch threads {torch.get_num_threads()}  data {data}")
    geometry_sections()
    real_data_section(data)
    detector_section()
    timing_section(args.frames)
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
