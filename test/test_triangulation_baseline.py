"""The triangulation baseline on small synthetic datasets with known answers.

Bounds measured on the default synthetic rig (5 views, 640 × 480, ≤ 3 people, default
detector noise), 30 frames, seeds 0–5: MPJPE 20–34 mm, AP@100 mm 97.7–100 %, people per
frame exactly right. The detector's σ = 2 px (up to 12 px for occluded joints) is
15–20 mm per view at f ≈ 380 px and 3–4 m; the COCO→PANOPTIC15 neck (shoulder midpoint)
sits 29 mm from the synthetic neck, 2 mm of MPJPE on its own. The test bound of 45 mm
leaves a third of margin over the worst seed.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import ring_rig

from selfpose3d_core.baselines import (
    Poses3D,
    TriangulationBaseline,
    TriangulationBaselineConfig,
    run_triangulation_baseline,
)
from selfpose3d_core.baselines.matching import (
    essential_matrices,
    greedy_cluster,
    orientation_consensus,
)
from selfpose3d_core.data.dataset import GroundTruth3D, MultiViewDataset, ViewKeypoints
from selfpose3d_core.evaluation import FramePoses, evaluate_panoptic
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.skeleton import COCO17, PANOPTIC15
from selfpose3d_core.synthetic import SynthConfig, synthesize

NOISE_FREE = {"base_sigma_px": 0.0, "occlusion_sigma_gain_px": 0.0, "joint_miss_rate": 0.0,
              "occlusion_miss_gain": 0.0, "person_miss_rate": 0.0, "swap_rate": 0.0,
              "false_positive_rate": 0.0}
NECK = PANOPTIC15.index("neck")


def _evaluate(ds_root, preds: list[Poses3D]):
    gt = GroundTruth3D(ds_root)
    gts = [FramePoses.make(gt.frame(f).joints, gt.frame(f).valid)
           for f in range(gt.num_frames)]
    res = evaluate_panoptic([FramePoses.make(p.joints, None, p.scores) for p in preds], gts)
    count_diff = np.mean([abs(p.num_people - len(g.joints)) for p, g in zip(preds, gts)])
    return res, count_diff, gt


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    root = synthesize(SynthConfig.from_dict({"num_frames": 30, "seed": 0}),
                      tmp_path_factory.mktemp("noisy"), write_images=False)
    return root, MultiViewDataset(root)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = synthesize(SynthConfig.from_dict({"num_frames": 20, "seed": 5,
                                             "detector": NOISE_FREE}),
                      tmp_path_factory.mktemp("clean"), write_images=False)
    return root, MultiViewDataset(root)


# --------------------------------------------------------------------------- config
class TestConfig:
    def test_defaults_round_trip(self):
        c = TriangulationBaselineConfig()
        assert TriangulationBaselineConfig.from_dict(c.to_dict()) == c
        assert TriangulationBaselineConfig.from_dict({}) == c

    def test_unknown_key(self):
        with pytest.raises(ValueError, match="unknown keys.*epipolar_px"):
            TriangulationBaselineConfig.from_dict({"epipolar_px": 10})

    @pytest.mark.parametrize("bad", [{"min_joint_conf": 1.5}, {"min_views": 1},
                                     {"epipolar_threshold": 0.0}, {"max_people": 2.5},
                                     {"fix_chirality": "yes"}, {"room_center": [0, 0, 1]},
                                     {"room_center": [0, 0, 1], "room_size": [1, 1]}])
    def test_bad_values(self, bad):
        with pytest.raises(ValueError, match="TriangulationBaselineConfig"):
            TriangulationBaselineConfig.from_dict(bad)

    def test_yaml_style_values(self):
        c = TriangulationBaselineConfig.from_dict({"min_views": 3.0, "room_center": [0, 0, 1],
                                                   "room_size": [6, 6, 2]})
        assert c.min_views == 3 and c.room_center == (0.0, 0.0, 1.0)


# --------------------------------------------------------------------------- matching
def test_essential_matrices_epipolar_constraint():
    cams = ring_rig(4, distortion=False)
    E = essential_matrices(cams)
    X = np.random.default_rng(0).uniform([-1, -1, 0], [1, 1, 2], (20, 3))
    xc = np.stack([c.world_to_camera(X) for c in cams])  # (V, 20, 3)
    xh = xc / xc[..., 2:]
    res = np.einsum("jnk,ijkl,inl->ijn", xh, E, xh)  # (V, V, 20): x_j^T E_ij x_i
    assert np.abs(res).max() < 1e-9
    assert np.abs(E[np.arange(4), np.arange(4)]).max() < 1e-12


def test_greedy_cluster_one_detection_per_view():
    # detections 0, 1 in view 0; 2 in view 1; 3 in view 2. 0 and 1 are both close to 2.
    view = np.array([0, 0, 1, 2])
    inf = np.inf
    d = np.array([[inf, inf, 0.1, 0.2],
                  [inf, inf, 0.15, 0.9],
                  [0.1, 0.15, inf, 0.2],
                  [0.2, 0.9, 0.2, inf]])
    labels = greedy_cluster(d, view, threshold=0.5)
    assert labels[0] == labels[2] == labels[3] != labels[1]


def test_orientation_consensus_single_swap():
    # 4 detections, #2 mirrored w.r.t. all others
    o_true = np.array([False, False, True, False])
    mirrored = o_true[:, None] ^ o_true[None]
    margin = np.ones((4, 4))
    np.testing.assert_array_equal(orientation_consensus(mirrored, margin), o_true)
    # one wrong, unsure pair decision (0–1 says "mirrored" with a small margin) is outvoted
    noisy = mirrored.copy()
    noisy[0, 1] = noisy[1, 0] = True
    margin[0, 1] = margin[1, 0] = 0.1
    np.testing.assert_array_equal(orientation_consensus(noisy, margin), o_true)


# --------------------------------------------------------------------------- noisy data
def test_default_noise_counts_and_accuracy(noisy):
    root, ds = noisy
    t0 = time.perf_counter()
    preds = run_triangulation_baseline(ds)
    fps = len(preds) / (time.perf_counter() - t0)
    res, count_diff, _ = _evaluate(root, preds)
    assert len(preds) == ds.num_frames
    assert count_diff <= 0.1, count_diff
    assert res.mpjpe_mm < 45.0, res.mpjpe_mm
    assert res.ap[100] >= 95.0 and res.recall_500 >= 98.0, res
    assert fps > 5.0  # ~60–80 frames/s measured; catch order-of-magnitude regressions
    for p in preds:
        assert p.joints.shape == (p.num_people, 15, 3) and np.isfinite(p.joints).all()
        assert p.joint_valid.shape == (p.num_people, 15) and p.joint_valid.dtype == bool
        assert np.all(np.diff(p.scores) <= 0) and np.all((p.scores > 0) & (p.scores <= 1))
        assert np.all(p.num_views >= 2)


def test_room_box_drops_people_outside(noisy):
    _, ds = noisy
    far = TriangulationBaselineConfig(room_center=(50.0, 50.0, 1.0), room_size=(2, 2, 2))
    assert all(p.num_people == 0 for p in run_triangulation_baseline(ds, far))
    inside = TriangulationBaselineConfig(room_center=(0.0, 0.0, 1.5), room_size=(8, 8, 3))
    a = run_triangulation_baseline(ds, inside)
    b = run_triangulation_baseline(ds)
    assert [p.num_people for p in a] == [p.num_people for p in b]
    grid = VoxelGrid(center=(50.0, 50.0, 1.0), size=(2, 2, 2), shape=(4, 4, 4))
    assert all(p.num_people == 0 for p in run_triangulation_baseline(ds, room=grid))


# --------------------------------------------------------------------------- clean data
def _check_exact(pred: Poses3D, gt_joints: np.ndarray, tol_m: float = 2e-3) -> None:
    """Every GT person found once; all joints but the neck (a COCO conversion: the
    shoulder midpoint, not the synthetic neck) within ``tol_m``."""
    assert pred.num_people == len(gt_joints)
    d = np.linalg.norm(pred.joints[:, None] - gt_joints[None], axis=-1)  # (P, G, J)
    match = d.mean(-1).argmin(1)
    assert len(set(match.tolist())) == len(gt_joints)
    err = d[np.arange(len(match)), match]  # (P, J)
    body = np.delete(err, NECK, axis=1)
    assert body.max() < tol_m, body.max()


def test_noise_free_exact_recovery(clean):
    root, ds = clean
    preds = run_triangulation_baseline(ds)
    res, count_diff, gt = _evaluate(root, preds)
    assert res.mpjpe_mm < 5.0 and res.ap[50] == pytest.approx(100.0), res
    assert count_diff == 0.0
    for f, p in enumerate(preds):
        _check_exact(p, gt.frame(f).joints)
        assert p.joint_valid.all()


def _frame_with_people(ds: MultiViewDataset, gt: GroundTruth3D, min_people: int = 2) -> int:
    for f in range(ds.num_frames):
        views = ds.keypoints(f)
        if len(gt.frame(f).ids) >= min_people and all(
                v.num_people == len(gt.frame(f).ids) for v in views):
            return f
    raise AssertionError("no frame where every view sees every person")


def test_one_swapped_view(clean):
    root, ds = clean
    gt = GroundTruth3D(root)
    f = _frame_with_people(ds, gt)
    views = list(ds.keypoints(f))
    flip = COCO17.flip_permutation()
    v = views[1]
    kp, conf = v.keypoints.copy(), v.conf.copy()
    kp[:] = kp[:, flip]  # every person of view 1 mirrored left ↔ right
    conf[:] = conf[:, flip]
    views[1] = ViewKeypoints(kp, conf, v.scores)
    pred = TriangulationBaseline(ds.cameras)(views)
    _check_exact(pred, gt.frame(f).joints)
    assert np.all(pred.num_views == ds.num_views)  # the swapped view re-oriented and used


def test_false_positives_and_duplicates(clean):
    root, ds = clean
    gt = GroundTruth3D(root)
    f = _frame_with_people(ds, gt)
    rng = np.random.default_rng(3)
    views = []
    for v in ds.keypoints(f):
        # a phantom: a real pose of this view shifted by 150 px (consistent in no other
        # view), with a high score; and a duplicate of the first person, 3 px off
        ghost = v.keypoints[:1] + np.array([150.0, 40.0])
        dup = v.keypoints[:1] + rng.normal(0, 3.0, v.keypoints[:1].shape)
        views.append(ViewKeypoints(np.concatenate([v.keypoints, ghost, dup]),
                                   np.concatenate([v.conf, v.conf[:1], v.conf[:1] * 0.9]),
                                   np.concatenate([v.scores, [0.95], [0.6]])))
    pred = TriangulationBaseline(ds.cameras)(views)
    _check_exact(pred, gt.frame(f).joints, tol_m=0.01)


def test_empty_and_bad_input(clean):
    _, ds = clean
    base = TriangulationBaseline(ds.cameras)
    empty = [ViewKeypoints.empty(17) for _ in ds.cameras]
    p = base(empty)
    assert p.num_people == 0 and p.joints.shape == (0, 15, 3)
    one_view = [ViewKeypoints.empty(17) for _ in ds.cameras]
    one_view[0] = ds.keypoints(0)[0]
    assert base(one_view).num_people == 0
    with pytest.raises(ValueError, match="expected keypoints of 5 views, got 4"):
        base(empty[:4])
    with pytest.raises(ValueError, match="joint_set"):
        TriangulationBaseline(ds.cameras, joint_set="coco18")
    bad = list(empty)
    bad[2] = ViewKeypoints(np.zeros((1, 15, 2)), np.zeros((1, 15)), np.zeros(1))
    with pytest.raises(ValueError, match=r"view 2: expected keypoints \(P, 17, 2\)"):
        base(bad)
