"""Detections mode's refinement: pose_net's joints re-triangulated from the 2D joints of
the detections each proposal was assigned (selfpose3d_core.refine)."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import ring_rig

from selfpose3d_core.geometry import stack_cameras
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.models import build_model, model_preset
from selfpose3d_core.models.estimator import Estimator
from selfpose3d_core.person_heatmaps import assign_detections, box_diagonals
from selfpose3d_core.refine import (
    panoptic15_midpoints,
    reassign_by_pose,
    refine_with_detections,
)
from selfpose3d_core.skeleton import PANOPTIC15

torch.set_num_threads(2)
J = 15


def _scene(distortion=True):
    """Two people 1.2 m apart seen by 4 cameras: cameras, tensors, detections
    (1, V, 2, J, 2), conf (1, V, 2, J), people (2, J, 3)."""
    cams = ring_rig(4, distortion=distortion)
    rng = np.random.default_rng(0)
    body = rng.uniform(-0.3, 0.3, (J, 3)) * [1, 1, 2.5] + [0, 0, 1.0]
    body[2] = [0, 0, 1.0]
    people = np.stack([body + [-0.6, 0, 0], body + [0.6, 0.1, 0]])  # (2, J, 3)
    uv = np.stack([c.project(people.reshape(-1, 3)).reshape(2, J, 2) for c in cams])
    conf = np.full(uv.shape[:-1], 0.9)
    return (cams, stack_cameras(cams), torch.tensor(uv[None], dtype=torch.float32),
            torch.tensor(conf[None], dtype=torch.float32), people)


def _assign(ct, uv, conf, people):
    centers = torch.tensor(people[None, :, 2], dtype=torch.float32)  # (1, 2, 3)
    return assign_detections(centers, uv, conf, ct, root_joint=2, min_conf=0.2, gate=0.3)


def _assigned_scene():
    """:func:`_scene` plus each person's root-based detections sel (1, 2, V, 2) and the true
    joints as pose_net's output (1, 2, J, 3)."""
    cams, ct, uv, conf, people = _scene()
    sel = _assign(ct, uv, conf, people)
    return cams, ct, uv, conf, people, sel, torch.tensor(people[None], dtype=torch.float32)


def test_box_diagonals():
    uv = torch.tensor([[[[[0.0, 0.0], [3.0, 4.0], [100.0, 100.0]]]]])  # (1, 1, 1, 3, 2)
    conf = torch.tensor([[[[0.9, 0.9, 0.1]]]])
    assert box_diagonals(uv, conf, 0.2).item() == pytest.approx(5.0)
    assert box_diagonals(uv, conf * 0, 0.2).item() == 0.0


def test_noisy_joints_snap_to_the_detections():
    cams, ct, uv, conf, people = _scene()
    sel = _assign(ct, uv, conf, people)
    rng = np.random.default_rng(1)
    noisy = people + rng.normal(0, 0.03, people.shape)  # pose_net 3 cm off
    out = refine_with_detections(torch.tensor(noisy[None], dtype=torch.float32), sel, uv,
                                 conf, ct, cams, min_conf=0.2, gate=0.2)
    assert out.shape == (1, 2, J, 3) and out.dtype == np.float32
    err = np.linalg.norm(out[0] - people, axis=-1)
    assert err.max() < 2e-3, err  # exact detections: the triangulation is exact
    assert np.linalg.norm(noisy - people, axis=-1).mean() > 0.03


def test_gate_keeps_wrong_2d_joints_out_and_two_views_are_needed():
    cams, ct, uv, conf, people, sel, joints = _assigned_scene()
    bad = uv.clone()
    bad[0, 0, 0, 5] += 200.0  # view 0: person 0's joint 5 detected far from the body
    out = refine_with_detections(joints, sel, bad, conf, ct, cams, 0.2, gate=0.1)
    assert np.linalg.norm(out[0, 0, 5] - people[0, 5]) < 2e-3  # the other 3 views
    # joint 7 confident in one view only: pose_net's estimate is kept exactly
    low = conf.clone()
    low[0, 1:, 0, 7] = 0.05
    shifted = joints.clone()
    shifted[0, 0, 7] += 0.01
    out = refine_with_detections(shifted, sel, uv, low, ct, cams, 0.2, gate=0.1)
    np.testing.assert_array_equal(out[0, 0, 7], shifted[0, 0, 7].numpy())
    # a missing camera is not used: with 3 of 4 views masked nothing is refined
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    out = refine_with_detections(shifted, sel, uv, conf, ct, cams, 0.2, 0.1, view_mask=mask)
    np.testing.assert_array_equal(out, shifted.numpy())
    # a proposal with no detection assigned keeps its joints
    out = refine_with_detections(shifted, torch.zeros_like(sel), uv, conf, ct, cams, 0.2, 0.1)
    np.testing.assert_array_equal(out, shifted.numpy())
    with pytest.raises(ValueError, match="refine_with_detections"):
        refine_with_detections(joints, sel[:, :1, :2], uv, conf, ct, cams, 0.2, 0.1)


def test_wide_gate_takes_joints_the_narrow_gate_rejects():
    cams, ct, uv, conf, people, sel, joints = _assigned_scene()
    off = joints.clone()
    off[0, 0, 5] += torch.tensor([0.15, 0.0, 0.0])  # pose_net's wrist 15 cm off
    narrow = refine_with_detections(off, sel, uv, conf, ct, cams, 0.2, gate=0.02)
    np.testing.assert_array_equal(narrow[0, 0, 5], off[0, 0, 5].numpy())  # kept as it was
    wide = refine_with_detections(off, sel, uv, conf, ct, cams, 0.2, gate=0.02, wide_gate=1.0)
    assert np.linalg.norm(wide[0, 0, 5] - people[0, 5]) < 2e-3  # triangulated
    # joints that pass the narrow gate are unchanged by the wide one
    np.testing.assert_allclose(np.delete(wide, 5, axis=2), np.delete(narrow, 5, axis=2))
    # a 2D joint outside the wide gate too is still not taken
    bad = uv.clone()
    bad[0, :, 0, 5] += 500.0
    kept = refine_with_detections(off, sel, bad, conf, ct, cams, 0.2, gate=0.02, wide_gate=0.3)
    np.testing.assert_array_equal(kept[0, 0, 5], off[0, 0, 5].numpy())
    # a wide gate not above the narrow one changes nothing
    same = refine_with_detections(off, sel, uv, conf, ct, cams, 0.2, gate=0.02, wide_gate=0.01)
    np.testing.assert_array_equal(same, narrow)
    with pytest.raises(ValueError, match="refine_wide_gate"):
        dataclasses.replace(model_preset("small"), detection_gate=0.3, refine_gate=0.2,
                            refine_wide_gate=0.0)


def test_midpoints_of_the_refined_shoulders_and_hips():
    cams, ct, uv, conf, people, sel, joints = _assigned_scene()
    mids = panoptic15_midpoints(J)
    i = PANOPTIC15.index
    assert sorted(mids) == sorted([(i("neck"), i("l_shoulder"), i("r_shoulder")),
                                   (i("mid_hip"), i("l_hip"), i("r_hip"))])
    assert panoptic15_midpoints(17) == []
    plain = refine_with_detections(joints, sel, uv, conf, ct, cams, 0.2, gate=0.2)
    out = refine_with_detections(joints, sel, uv, conf, ct, cams, 0.2, gate=0.2,
                                 midpoints=mids)
    for j, a, b in mids:  # (the scene's neck and mid-hip are not midpoints)
        np.testing.assert_allclose(out[0, :, j], 0.5 * (people[:, a] + people[:, b]), atol=2e-3)
        assert np.linalg.norm(plain[0, :, j] - people[:, j], axis=-1).max() < 2e-3
    others = [k for k in range(J) if k not in (i("neck"), i("mid_hip"))]
    np.testing.assert_array_equal(out[:, :, others], plain[:, :, others])
    # a hip seen in no view (below min_conf): the mid-hip keeps its own triangulation
    low = conf.clone()
    low[..., i("l_hip")] = 0.05
    kept = refine_with_detections(joints, sel, uv, low, ct, cams, 0.2, gate=0.2,
                                  midpoints=mids)
    np.testing.assert_allclose(kept[0, :, i("mid_hip")], plain[0, :, i("mid_hip")], atol=1e-6)
    with pytest.raises(ValueError, match="refine_midpoints"):
        dataclasses.replace(model_preset("small"), refine_midpoints="yes")


def test_fill_triangulates_joints_with_one_confident_view_from_every_view():
    cams, ct, uv, conf, people, sel, joints = _assigned_scene()
    off = joints.clone()
    off[0, 0, 7] += torch.tensor([0.0, 0.2, 0.0])  # pose_net's knee 20 cm off
    low = conf.clone()
    low[0, 1:, 0, 7] = 0.05  # confident in view 0 only; the others are guesses
    guess = uv.clone()
    guess[0, 1:, 0, 7] += 6.0  # ... a few pixels off
    kept = refine_with_detections(off, sel, guess, low, ct, cams, 0.2, gate=0.2)
    np.testing.assert_array_equal(kept[0, 0, 7], off[0, 0, 7].numpy())
    out = refine_with_detections(off, sel, guess, low, ct, cams, 0.2, gate=0.2, fill=True)
    err = np.linalg.norm(out[0, 0, 7] - people[0, 7])
    assert err < 0.05, err  # the confident view's ray, depth from the guesses
    assert err < 0.5 * np.linalg.norm(kept[0, 0, 7] - people[0, 7])
    # joints with two qualifying views are not touched by the fill
    np.testing.assert_array_equal(np.delete(out, 7, axis=2), np.delete(kept, 7, axis=2))
    # a joint present in one view only (the others' cameras missing) keeps pose_net's
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    alone = refine_with_detections(off, sel, guess, low, ct, cams, 0.2, 0.2, view_mask=mask,
                                   fill=True)
    np.testing.assert_array_equal(alone, off.numpy())
    assert model_preset("small").refine_fill is True
    with pytest.raises(ValueError, match="refine_fill"):
        dataclasses.replace(model_preset("small"), refine_fill=1)


def test_reassign_by_pose_fixes_a_root_based_swap():
    cams, ct, uv, conf, people, sel, joints = _assigned_scene()  # sel (1, 2, V, 2)
    noisy = joints + 0.02 * torch.randn(joints.shape, generator=torch.Generator().manual_seed(0))
    new = reassign_by_pose(noisy, uv, conf, ct, min_conf=0.2, max_cost=0.1)
    torch.testing.assert_close(new, sel)  # each skeleton takes its own detections
    # the root-based assignment took the other person's detection in view 1: the
    # triangulation (no per-joint gate here) mixes two people unless the skeleton re-picks
    swapped = sel.clone()
    swapped[0, :, 1] = sel[0, :, 1].flip(0)
    mixed = refine_with_detections(noisy, swapped, uv, conf, ct, cams, 0.2, gate=10.0,
                                   outlier_px=1e9)
    fixed = refine_with_detections(noisy, swapped, uv, conf, ct, cams, 0.2, gate=10.0,
                                   outlier_px=1e9, reassign=0.1)
    assert np.linalg.norm(fixed[0] - people, axis=-1).max() < 2e-3
    assert np.linalg.norm(mixed[0] - people, axis=-1).mean() > 0.05
    # the order of the detections does not matter
    perm = reassign_by_pose(noisy, uv.flip(2), conf.flip(2), ct, 0.2, 0.1)
    torch.testing.assert_close(perm, sel.flip(3))
    # a skeleton that explains no detection well enough takes none; a view where no detection has
    # three confident joints offers none
    assert reassign_by_pose(noisy, uv, conf, ct, 0.2, 1e-4).sum() == 0
    low = conf.clone()
    low[0, 2, :, 2:] = 0.05  # two confident joints left
    assert reassign_by_pose(noisy, uv, low, ct, 0.2, 0.1)[0, :, 2].sum() == 0
    with pytest.raises(ValueError, match="reassign_by_pose"):
        reassign_by_pose(noisy[0], uv, conf, ct, 0.2, 0.1)
    with pytest.raises(ValueError, match="max_cost"):
        reassign_by_pose(noisy, uv, conf, ct, 0.2, 0.0)
    with pytest.raises(ValueError, match="refine_reassign"):
        dataclasses.replace(model_preset("small"), refine_reassign=0.0)


def test_config_and_estimator():
    assert model_preset("small").refine_gate is None
    with pytest.raises(ValueError, match="refine_gate"):
        dataclasses.replace(model_preset("small"), detection_gate=0.0, refine_gate=0.2)
    with pytest.raises(ValueError, match="refine_gate"):
        dataclasses.replace(model_preset("small"), detection_gate=0.3, refine_gate=-1.0)
    cams, ct, uv, conf, people = _scene(distortion=False)
    cfg = dataclasses.replace(model_preset("small"), room=VoxelGrid(
        center=(0, 0, 1), size=(4, 4, 2), shape=(24, 24, 12)), max_people=4,
        detection_gate=0.3, root_input_threshold=0.5)
    torch.manual_seed(0)
    model = build_model(cfg)
    torch.nn.init.zeros_(model.root_net.v2v.out.weight)  # people from the fused input
    torch.nn.init.zeros_(model.root_net.v2v.out.bias)
    raw = Estimator(model, cams, threshold=0.5).estimate_from_detections(uv, conf, 2.0, 0.2)[0]
    ref_model = build_model(dataclasses.replace(cfg, refine_gate=0.2))
    ref_model.load_state_dict(model.state_dict())
    ref = Estimator(ref_model, cams, threshold=0.5).estimate_from_detections(
        uv, conf, 2.0, 0.2)[0]
    assert len(raw.joints) == len(ref.joints) == 2
    np.testing.assert_array_equal(raw.root_scores, ref.root_scores)
    order = np.argsort(raw.roots[:, 0])  # left person first, as in `people`
    e_raw = np.linalg.norm(raw.joints[order] - people, axis=-1)  # (2, J)
    e_ref = np.linalg.norm(ref.joints[order] - people, axis=-1)
    assert np.median(e_ref) < 2e-3 < np.median(e_raw), (np.median(e_ref), np.median(e_raw))
    # 2D joints below refine_min_conf are not used: with it above every confidence the
    # refinement changes nothing
    assert float(conf.max()) < 0.99
    strict = build_model(dataclasses.replace(cfg, refine_gate=0.2, refine_min_conf=0.99))
    strict.load_state_dict(model.state_dict())
    same = Estimator(strict, cams, threshold=0.5).estimate_from_detections(
        uv, conf, 2.0, 0.2)[0]
    np.testing.assert_allclose(same.joints, raw.joints, atol=1e-6)
    with pytest.raises(ValueError, match="refine_min_conf"):
        dataclasses.replace(cfg, refine_min_conf=1.5)
