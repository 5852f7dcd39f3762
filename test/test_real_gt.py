"""Ground-truth and detection readers on the real data in ``../shared/data``."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from selfpose3d_core.data import (
    FOURDA_GT_JOINTS,
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
    load_voxelpose_calibration,
)
from selfpose3d_core.skeleton import BODY25, BODY25_PAF_LIMBS, COCO17, PANOPTIC15, SHELF14

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SHELF_SIZE = (1032, 776)
#: Shelf joints compared with OpenPose: ankles, knees, hips, wrists, elbows, shoulders.
SHELF_BODY_JOINTS = SHELF14.joints[:12]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real test data not found at {DATA.resolve()} (expected the shared "
                    f"data folder next to the repository)")
    return DATA


@pytest.fixture(scope="session")
def shelf_gt(data_dir):
    return load_4da_skeletons(data_dir / "shelf_4dassociation/gt.txt")


@pytest.fixture(scope="session")
def shelf_detections(data_dir):
    return [load_4da_detections(data_dir / f"shelf_4dassociation/detection/{v}.txt", SHELF_SIZE)
            for v in range(5)]


# ---------------------------------------------------------------------------- 4D Association
def test_4da_gt_parses(shelf_gt):
    assert len(shelf_gt) == 301
    joints, mask = stack_skeleton_frames(shelf_gt, 15)
    counts = [f.num_people for f in shelf_gt]
    log.info("4DA gt.txt: people per frame %d..%d, valid %.3f", min(counts), max(counts),
             mask[np.any(mask, -1)].mean())
    assert all(f.joints.shape[1:] == (15, 3) and f.valid.shape[1] == 15 for f in shelf_gt)
    assert max(counts) == 3 and sum(counts) == 510  # 0 people in 22 frames (196..217)
    # metres, z up: ankles near the floor, heads 1.4 - 2.0 m up
    people = np.concatenate([f.joints for f in shelf_gt])  # (N, 15, 3)
    assert np.all(np.abs(people[:, [0, 5], 2]) < 0.3)
    assert np.all((people[:, 13, 2] > 1.3) & (people[:, 13, 2] < 2.1))


def test_4da_gt_15th_joint_is_mid_hip(shelf_gt):
    assert FOURDA_GT_JOINTS[14] == "mid_hip" and FOURDA_GT_JOINTS[:14] == SHELF14.joints
    people = np.concatenate([f.joints for f in shelf_gt])  # (N, 15, 3)
    dev = np.linalg.norm(people[:, 14] - people[:, 2:4].mean(1), axis=-1)
    log.info("gt.txt joint 15 - hip midpoint: max %.2e m", dev.max())
    assert dev.max() < 1e-5  # measured 7e-6 m (the file's rounding)


def test_4da_skel_parses(data_dir):
    skel = load_4da_skeletons(data_dir / "shelf_4dassociation/skel.txt")
    assert len(skel) == 301 and all(f.joints.shape[1:] == (19, 3) for f in skel)


def test_4da_detections_parse(shelf_detections):
    for det in shelf_detections:  # the parser consumed every token, or it would raise
        assert det.skeleton_type == 4 and len(det.frames) == 301
        for fr in det.frames[::50]:
            assert len(fr.candidates) == 25 and len(fr.pafs) == 26
            for (a, b), paf in zip(BODY25_PAF_LIMBS, fr.pafs):
                assert paf.shape == (len(fr.candidates[a]), len(fr.candidates[b]))
    fr = shelf_detections[0].frames[0]
    neck = fr.candidates[BODY25.index("neck")]
    assert neck.shape == (2, 3)  # frame 0 of view 0: two necks
    assert np.all((neck[:, 0] >= 0) & (neck[:, 0] <= 1031) & (neck[:, 1] <= 775))
    assert np.all((neck[:, 2] > 0) & (neck[:, 2] <= 1))
    np.testing.assert_allclose(fr.candidates[0][0], [0.638639 * 1031, 0.209176 * 775, 0.912332])


def test_shelf_gt_projects_onto_openpose(data_dir, shelf_gt, shelf_detections):
    cams = load_4dassociation_calibration(data_dir / "shelf_4dassociation/calibration.json")
    joints, mask = stack_skeleton_frames(shelf_gt, 15)
    shelf_idx = [SHELF14.index(n) for n in SHELF_BODY_JOINTS]
    body_idx = [BODY25.index(n) for n in SHELF_BODY_JOINTS]
    e = nearest_candidate_errors(cams, shelf_detections, joints, mask, shelf_idx, body_idx)
    log.info("Shelf GT vs nearest OpenPose candidate: median %.1f px, p90 %.1f px, n = %d",
             np.median(e), np.percentile(e, 90), e.size)
    assert e.size > 25000 and np.median(e) < 20  # measured 14.1 px (p90 66 px)
    mid = nearest_candidate_errors(cams, shelf_detections, joints, mask, [14],
                                    [BODY25.index("mid_hip")])
    hips = nearest_candidate_errors(cams, shelf_detections, joints, mask, [2, 3],
                                     [BODY25.index("r_hip"), BODY25.index("l_hip")])
    log.info("joint 15 vs BODY25 mid_hip: median %.1f px (hips: %.1f px)", np.median(mid),
             np.median(hips))
    assert np.median(mid) < np.median(hips) + 5  # measured 22.2 px vs 23.1 px


def test_4da_parsers_reject_malformed(tmp_path, data_dir):
    gt = tmp_path / "gt.txt"
    gt.write_text("2 1\n1\n0\n" + "0 0\n" * 3 + "1 1\n")
    (f,) = load_4da_skeletons(gt)
    assert f.joints.shape == (1, 2, 3) and f.valid.all()
    gt.write_text("2 1\n1\n0\n" + "0 0\n" * 3)
    with pytest.raises(ValueError, match="ends inside frame 0") as e:
        load_4da_skeletons(gt)
    assert str(gt) in str(e.value)
    gt.write_text("2 1\n1\n0\n" + "0 0\n" * 4 + "7\n")
    with pytest.raises(ValueError, match="1 tokens left over"):
        load_4da_skeletons(gt)
    gt.write_text("2 1\n1.5\n")
    with pytest.raises(ValueError, match="non-negative integer"):
        load_4da_skeletons(gt)
    det = tmp_path / "0.txt"
    text = (data_dir / "shelf_4dassociation/detection/0.txt").read_text()
    det.write_text(text + " 0.5")
    with pytest.raises(ValueError, match="1 tokens left over"):
        load_4da_detections(det, SHELF_SIZE)
    det.write_text(text.rsplit(maxsplit=1)[0])
    with pytest.raises(ValueError, match="file ends inside frame 300"):
        load_4da_detections(det, SHELF_SIZE)
    det.write_text("4 1\nabc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        load_4da_detections(det, SHELF_SIZE)


# ---------------------------------------------------------------------------- Shelf / Campus
def test_shelf_actors_gt(data_dir, shelf_gt, shelf_detections):
    gt = load_actors_gt(data_dir / "shelf_mmpose_subset/actorsGT.mat")
    assert len(gt) == 3
    for f, fr in enumerate(gt):
        assert fr.ids.tolist() == [0, 2] and fr.joints.shape == (2, 14, 3)
        # the subset is Shelf frames 300..302 = the first frames of the 4DA gt.txt
        assert shelf_gt[f].ids.tolist() == [0, 2]
        dev = np.abs(fr.joints - shelf_gt[f].joints[:, :14]).max()
        assert dev < 0.15  # measured 0.135 m (gt.txt is a slightly revised annotation)
    cams = load_voxelpose_calibration(data_dir / "shelf_mmpose_subset/calibration_shelf.json")
    joints, mask = stack_skeleton_frames(gt, 14)
    idx = [SHELF14.index(n) for n in SHELF_BODY_JOINTS]
    e = nearest_candidate_errors(cams, shelf_detections, joints, mask, idx,
                                  [BODY25.index(n) for n in SHELF_BODY_JOINTS])
    log.info("actorsGT (VoxelPose calibration) vs OpenPose: median %.1f px", np.median(e))
    assert np.median(e) < 20  # measured 12.7 px


def test_shelf_coco_predictions(data_dir):
    preds = load_coco_predictions(data_dir / "shelf_mmpose_subset/pred_shelf_maskrcnn_hrnet_coco"
                                             ".pkl")
    assert sorted(preds) == [(v, f) for v in range(5) for f in range(3)]
    assert all(k.keypoints.shape[1:] == (17, 2) and k.scores.shape[1:] == (17,)
               for k in preds.values())
    assert preds[(2, 0)].num_people == 5
    cams = load_voxelpose_calibration(data_dir / "shelf_mmpose_subset/calibration_shelf.json")
    e = epipolar_match_errors(cams, preds, min_score=0.5)
    log.info("Shelf pkl predictions: epipolar distance to the best match in the other view: "
             "median %.1f px over %d person pairs", np.median(e), e.size)
    assert np.median(e) < 10  # measured 4.5 px: the calibration fits these detections
    # NB: the pkl's frames are not the actorsGT frames: GT projected vs the nearest predicted
    # person is ~100 px median, while vs the 4DA OpenPose candidates of frames 300..302 it
    # is 12.7 px (test_shelf_actors_gt).
    gt = load_actors_gt(data_dir / "shelf_mmpose_subset/actorsGT.mat")
    coco = [COCO17.index(n) for n in SHELF_BODY_JOINTS]
    uv = cams[0].project(gt[0].joints[:, :12])  # (P, 12, 2)
    d = np.linalg.norm(uv[:, None] - preds[(0, 0)].keypoints[None, :, coco], axis=-1)
    log.info("Shelf actorsGT frame 0 vs pkl view 0: %.1f px", np.median(d.mean(-1).min(1)))


def test_campus_gt_in_image(data_dir):
    cams = load_voxelpose_calibration(data_dir / "campus_mmpose_subset/calibration_campus.json")
    gt = load_actors_gt(data_dir / "campus_mmpose_subset/actorsGT.mat")
    assert len(gt) == 3 and all(f.ids.tolist() == [0] for f in gt)
    joints = np.stack([f.joints for f in gt])  # (3, 1, 14, 3)
    assert np.all((joints[..., 13, 2] > 1.5) & (joints[..., [0, 5], 2] < 0.3))
    inside = np.stack([c.in_image(c.project(joints)) for c in cams])  # (3 views, 3, 1, 14)
    near = np.stack([c.in_image(c.project(joints), margin=10) for c in cams])
    log.info("Campus GT inside the 360x288 images: %.3f (per view %s)", inside.mean(),
             inside.mean(axis=(1, 2, 3)).round(3))
    assert inside.mean() > 0.9 and near.all()  # measured 0.960; view 2 cuts a hand at x = -5
    preds = load_coco_predictions(data_dir / "campus_mmpose_subset/pred_campus_maskrcnn_hrnet"
                                             "_coco.pkl")
    assert len(preds) == 15 and all(k.num_people == 0 for k in preds.values())


def test_voxelpose_readers_reject_malformed(tmp_path):
    import scipy.io

    mat = tmp_path / "actorsGT.mat"
    scipy.io.savemat(mat, {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="no 'actor3D'") as e:
        load_actors_gt(mat)
    assert str(mat) in str(e.value)
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.zeros((13, 3))
    scipy.io.savemat(mat, {"actor3D": cells})
    with pytest.raises(ValueError, match=r"\(14, 3\)"):
        load_actors_gt(mat)
    pkl = tmp_path / "pred.pkl"
    pkl.write_bytes(pickle.dumps({"0_0": [{"pred": np.zeros((16, 3))}]}))
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        load_coco_predictions(pkl)
    pkl.write_bytes(pickle.dumps({"0_0": [{"pred": Path("x")}]}))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_coco_predictions(pkl)
    pkl.write_bytes(pickle.dumps({"view0": []}))
    with pytest.raises(ValueError, match="<view>_<frame>"):
        load_coco_predictions(pkl)


# ---------------------------------------------------------------------------- Panoptic
@pytest.mark.parametrize("seq", ["160906_band1", "160906_band2"])
def test_panoptic_gt(data_dir, seq):
    root = data_dir / "panoptic_mmpose_subset" / seq
    cams = load_panoptic_calibration(root / f"calibration_{seq}.json")
    files = sorted((root / "hdPose3d_stage1_coco19").glob("body3DScene_*.json"))
    assert len(files) == 2
    for path in files:
        b = load_panoptic_bodies(path)
        assert b.joints.shape == (len(b.ids), 15, 3) and b.conf.shape == (len(b.ids), 15)
        assert len(b.ids) == 3
        valid = b.conf > 0  # (P, 15); conf -1 = missing joint
        uv = np.stack([c.project(b.joints) for c in cams])  # (31, P, 15, 2)
        inside = np.stack([c.in_image(u) for c, u in zip(cams, uv)])[:, valid]  # (31, N)
        log.info("Panoptic %s %s: %.3f of valid joints inside the 31 HD images", seq,
                 path.name, inside.mean())
        assert inside.mean() > 0.8  # measured 0.844 .. 0.854
        # metres, z up: the (seated) musicians' noses 0.8 - 1.3 m up, necks above mid-hips,
        # ankles on the floor
        J = b.joints
        nose, neck, root_ = (J[:, PANOPTIC15.index(n)] for n in ("nose", "neck", "mid_hip"))
        ankles = J[:, [PANOPTIC15.index("l_ankle"), PANOPTIC15.index("r_ankle")], 2]
        assert np.all((nose[:, 2] > 0.7) & (nose[:, 2] < 2.0))
        assert np.all(neck[:, 2] > root_[:, 2] + 0.2)
        assert np.all(np.abs(ankles) < 0.3)
        assert np.all(nose[:, 2] - ankles.max(1) > 0.6)


def test_panoptic_reader_rejects_malformed(tmp_path):
    f = tmp_path / "body3DScene_00000001.json"
    f.write_text(json.dumps({"bodies": [{"id": 0, "joints19": [0.0] * 75}]}))
    with pytest.raises(ValueError, match="76 finite numbers") as e:
        load_panoptic_bodies(f)
    assert str(f) in str(e.value)
    f.write_text(json.dumps({"people": []}))
    with pytest.raises(ValueError, match="'bodies'"):
        load_panoptic_bodies(f)
    f.write_text(json.dumps({"bodies": []}))
    assert load_panoptic_bodies(f).joints.shape == (0, 15, 3)
