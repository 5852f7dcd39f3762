"""SelfPose3d losses: zero at a perfect prediction, positive otherwise; Hungarian L1
permutation invariance; synthetic roots at batch size > 1."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import ring_rig

from selfpose3d_core.geometry import stack_cameras
from selfpose3d_core.geometry.affine import letterbox_affine, random_augment_affine
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.models import model_preset
from selfpose3d_core.models.root_net import root_proposals
from selfpose3d_core.training.config import RootSynthConfig
from selfpose3d_core.training.losses import (
    attention_regulariser,
    gaussian_root_volume,
    heatmap_loss,
    hungarian_l1,
    l2,
    pseudo_heatmap_targets,
    render_poses,
    synthetic_root_batch,
)

CFG = dataclasses.replace(
    model_preset("small"),
    room=VoxelGrid(center=(0, 0, 1), size=(6, 6, 2), shape=(48, 48, 16)))
CAMS = ring_rig(4)
CT = stack_cameras(CAMS)


def _affines(B, seed=0, augment=True):
    rng = np.random.default_rng(seed)
    A = [[random_augment_affine(rng, (640, 480), CFG.input_size) if augment else
          letterbox_affine((640, 480), CFG.input_size) for _ in CAMS] for _ in range(B)]
    return torch.as_tensor(np.array(A), dtype=torch.float32)  # (B, V, 2, 3)


def _people(B=2, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    root = torch.rand(B, K, 1, 3, generator=g) * torch.tensor([2.0, 2.0, 0.0]) - \
        torch.tensor([1.0, 1.0, -1.0])
    return root + torch.randn(B, K, 15, 3, generator=g) * 0.25  # (B, K, J, 3)


def test_l2_and_attention_reg_zero_iff_equal():
    x = torch.rand(3, 4)
    assert l2(x, x) == 0 and l2(x, x + 0.1) > 0
    assert attention_regulariser(torch.ones(2, 3)) == 0
    assert attention_regulariser(torch.full((2, 3), 0.5)) > 0


def test_cross_view_heatmap_loss_zero_at_truth_positive_otherwise():
    Y = _people()
    valid = torch.ones(2, 3, dtype=torch.bool)
    A = _affines(2)
    R = render_poses(Y, valid, CT, A, CFG, sigma=2.0)
    # pseudo poses = the exact projections of Y in full-image pixels
    from selfpose3d_core.geometry.projection import project
    uv = project(Y.reshape(2, 1, 45, 3), CT).uv.reshape(2, 4, 3, 15, 2)
    conf = R.visible.float()
    T, _ = pseudo_heatmap_targets(uv, conf, A, CFG, sigma=2.0, min_conf=0.0)
    assert heatmap_loss(R.heatmaps, T) < 1e-10
    moved = render_poses(Y + 0.05, valid, CT, A, CFG, sigma=2.0)
    assert heatmap_loss(moved.heatmaps, T) > 1e-6
    attn = torch.rand(2, 4, 15, *CFG.heatmap_size[::-1])
    assert heatmap_loss(R.heatmaps, T, attn) < 1e-10
    assert heatmap_loss(moved.heatmaps, T, attn) > 0


def test_render_poses_gradient_reaches_joints():
    Y = _people().requires_grad_(True)
    R = render_poses(Y, torch.ones(2, 3, dtype=torch.bool), CT, _affines(2), CFG, 2.0)
    R.heatmaps.sum().backward()
    assert torch.isfinite(Y.grad).all() and Y.grad.abs().sum() > 0


def _pseudo_from(Y, A):
    R = render_poses(Y, torch.ones(Y.shape[:2], dtype=torch.bool), CT, A, CFG, 2.0)
    return R


def test_hungarian_l1_zero_at_truth_and_permutation_invariant():
    Y = _people(B=2, K=3)
    A = _affines(2)
    R = _pseudo_from(Y, A)
    w = R.visible.float()
    assert hungarian_l1(R.uv, R.visible, R.uv, w) == 0
    noisy = R.uv + torch.randn(R.uv.shape, generator=torch.Generator().manual_seed(1))
    base = hungarian_l1(noisy, R.visible, R.uv, w)
    assert base > 0
    perm = torch.tensor([2, 0, 1])
    permuted = hungarian_l1(noisy, R.visible, R.uv[:, :, perm], w[:, :, perm])
    assert torch.allclose(base, permuted)
    pred_perm = hungarian_l1(noisy[:, :, perm], R.visible[:, :, perm], R.uv, w)
    assert torch.allclose(base, pred_perm)


def test_hungarian_l1_drops_the_worst_view():
    Y = _people(B=1, K=2)
    A = _affines(1)
    R = _pseudo_from(Y, A)
    w = R.visible.float()
    bad = R.uv.clone()
    bad[:, 0] += 30.0  # view 0 is way off
    assert hungarian_l1(bad, R.visible, R.uv, w, drop_worst_view=True) < 1e-6
    assert hungarian_l1(bad, R.visible, R.uv, w, drop_worst_view=False) > 1.0


def test_hungarian_l1_has_gradient_and_handles_empty():
    Y = _people(B=1, K=2).requires_grad_(True)
    A = _affines(1)
    R = _pseudo_from(Y, A)
    target = R.uv.detach() + 1.0
    loss = hungarian_l1(R.uv, R.visible, target, R.visible.float())
    loss.backward()
    assert Y.grad.abs().sum() > 0
    empty = hungarian_l1(R.uv, R.visible, target, torch.zeros_like(R.visible.float()))
    assert empty == 0


def test_synthetic_roots_batched_and_consistent():
    rs = RootSynthConfig(noise_std=0.0, view_dropout=0.0, amplitude_range=(1.0, 1.0),
                         false_blobs=0.0)
    A = _affines(3, augment=True)
    syn = synthetic_root_batch(CFG, rs, CT, A, torch.Generator().manual_seed(0))
    assert syn.heatmaps.shape == (3, 4, 1, CFG.heatmap_size[1], CFG.heatmap_size[0])
    assert syn.target.shape == (3, *CFG.room.shape)
    counts = syn.valid.sum(1)
    assert (counts >= 1).all() and (counts <= rs.max_roots - 1).all() and len(set(
        counts.tolist())) >= 1
    # roots inside the shrunk room and at the configured heights
    r = syn.roots[syn.valid]
    lo = torch.tensor(CFG.room.lower)
    assert (r[:, :2] >= lo[:2] + rs.wall_margin - 1e-5).all()
    assert ((r[:, 2] >= 0.05 - 1e-6) & (r[:, 2] <= 1.5 + 1e-6)).all()
    # the target volume peaks at the roots: proposals recover them within a voxel
    props = root_proposals(syn.target, CFG.room, max_people=rs.max_roots, threshold=0.5)
    for b in range(3):
        found = props.centers[b][props.valid[b]]
        truth = syn.roots[b][syn.valid[b]]
        if len(truth) == len(found):
            d = torch.cdist(truth, found).min(1).values
            assert (d < CFG.room.pitch.max()).all()
    # and the per-view heatmaps have a peak ~1 at every visible root
    assert syn.heatmaps.amax() > 0.9


@pytest.mark.parametrize("min_views", [1, 2, 3])
def test_synthetic_roots_seen_by_too_few_views_are_no_target(min_views):
    """A root rendered in fewer than target_min_views views is a ray, not a 3D point: it
    stays in the heatmaps but leaves the target volume (and ``valid``)."""
    rs = RootSynthConfig(noise_std=0.0, view_dropout=0.6, amplitude_range=(1.0, 1.0),
                         false_blobs=0.0, target_min_views=min_views, jitter_px=0.0)
    A = _affines(16, augment=False)
    g = torch.Generator().manual_seed(1)
    syn = synthetic_root_batch(CFG, rs, CT, A, g)
    # count the views each root is drawn in: the rendered heatmap at its projection
    from selfpose3d_core.geometry.affine import input_to_heatmap, project_to_input

    proj = project_to_input(syn.roots, CT, A)  # uv (B, V, R, 2)
    uv = input_to_heatmap(proj.uv, CFG.input_size, CFG.heatmap_size).round().long()
    w, h = CFG.heatmap_size
    inside = proj.valid & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (
        uv[..., 1] < h)
    hm = syn.heatmaps[:, :, 0]  # (B, V, h, w)
    b, v, r = torch.meshgrid(*(torch.arange(n) for n in inside.shape), indexing="ij")
    peak = hm[b, v, uv[..., 1].clamp(0, h - 1), uv[..., 0].clamp(0, w - 1)]  # (B, V, R)
    drawn = (inside & (peak > 0.5)).sum(1)  # (B, R)
    assert syn.valid.any()
    assert (drawn[syn.valid] >= min_views).all()
    if min_views > 1:  # with 60 % dropout some roots are seen by too few views
        seen_once = (drawn < min_views) & (drawn > 0)
        assert seen_once.any()
        # ... and the target is ~0 there (unless a valid root is close by)
        d = torch.cdist(syn.roots, syn.roots)  # (B, R, R)
        lonely = seen_once & ~((d < 0.8) & syn.valid[:, None, :]).any(-1)
        for bi, ri in lonely.nonzero().tolist():
            c = CFG.room.points(torch.device("cpu"), torch.float32)
            near = torch.cdist(syn.roots[bi, ri][None], c)[0].argmin()
            assert syn.target[bi].reshape(-1)[near] < 1e-3


def test_gaussian_root_volume_zero_without_roots():
    vol = gaussian_root_volume(torch.zeros(2, 3, 3), torch.zeros(2, 3, dtype=torch.bool),
                               CFG.room, 0.2)
    assert vol.abs().max() == 0


@pytest.mark.parametrize("min_conf,second_drawn", [(0.0, True), (0.7, False)])
def test_pseudo_targets_soft_and_hard(min_conf, second_drawn):
    from selfpose3d_core.geometry.affine import apply_affine, input_to_heatmap

    uv = torch.tensor([[[[[320.0, 240.0]] * 15, [[100.0, 100.0]] * 15]]])  # (1,1,2,15,2)
    conf = torch.tensor([[[[0.9] * 15, [0.5] * 15]]])
    A = torch.as_tensor(letterbox_affine((640, 480), CFG.input_size),
                        dtype=torch.float32)[None, None]
    T, hm_uv = pseudo_heatmap_targets(uv, conf, A, CFG, 2.0, min_conf)
    expect = input_to_heatmap(apply_affine(uv[0, 0, :, 0], A[0, 0]), CFG.input_size,
                              CFG.heatmap_size)
    torch.testing.assert_close(hm_uv[0, 0, :, 0], expect)
    (x0, y0), (x1, y1) = expect.round().long().tolist()
    assert 0.8 < float(T.heatmaps[0, 0, 0, y0, x0]) <= 0.9  # confidence-weighted peak
    second = float(T.heatmaps[0, 0, 0, y1, x1])
    assert (second > 0.4) == second_drawn
    assert T.weights.tolist() == [[[1.0] * 15]]


def test_synthetic_root_jitter_moves_the_rendered_peaks():
    """``jitter_px`` displaces each root's blob per view (real detections of one root
    disagree across views); the target volume stays at the true roots."""
    A = _affines(8, augment=False)
    base = dict(noise_std=0.0, view_dropout=0.0, amplitude_range=(1.0, 1.0), false_blobs=0.0,
                max_roots=2)
    exact = synthetic_root_batch(CFG, RootSynthConfig(**base, jitter_px=0.0), CT, A,
                                 torch.Generator().manual_seed(3))
    moved = synthetic_root_batch(CFG, RootSynthConfig(**base, jitter_px=2.0), CT, A,
                                 torch.Generator().manual_seed(3))
    torch.testing.assert_close(moved.roots, exact.roots)
    torch.testing.assert_close(moved.target, exact.target)
    hm0, hm1 = exact.heatmaps[:, :, 0], moved.heatmaps[:, :, 0]  # (B, V, h, w), one root each
    has = hm0.flatten(2).amax(-1) > 0.9  # views that see the root
    w = hm0.shape[-1]

    def peak(hm):  # (B, V) → (B, V, 2) pixel of the maximum
        i = hm.flatten(2).argmax(-1)
        return torch.stack([i % w, i // w], -1).float()

    shift = (peak(hm1) - peak(hm0)).norm(dim=-1)[has]
    assert shift.mean() > 1.0 and shift.max() < 12.0  # ~2 px per axis, not a new place


def test_synthetic_root_neighbours_stand_beside_the_root_before():
    """``neighbour_prob`` = 1: every second root stands ``neighbour_distance`` beside the
    root before it (clamped into the room); 0: roots are placed independently."""
    A = _affines(16, augment=False)
    base = dict(noise_std=0.0, view_dropout=0.0, false_blobs=0.0, max_roots=9, wall_margin=0.0)
    beside = synthetic_root_batch(CFG, RootSynthConfig(**base, neighbour_prob=1.0,
                                                       neighbour_distance=(0.4, 0.8)),
                                  CT, A, torch.Generator().manual_seed(1))
    apart = synthetic_root_batch(CFG, RootSynthConfig(**base, neighbour_prob=0.0), CT, A,
                                 torch.Generator().manual_seed(1))
    lo = torch.tensor(CFG.room.lower)
    hi = lo + torch.tensor(CFG.room.size)

    def pair_gaps(syn):  # horizontal distance of root 2i+1 to root 2i where both exist
        r = syn.roots  # (B, R, 3)
        d = (r[:, 1::2, :2] - r[:, 0:-1:2, :2]).norm(dim=-1)  # (B, R // 2)
        both = syn.valid[:, 1::2] & syn.valid[:, 0:-1:2]
        return d[both]

    gaps = pair_gaps(beside)
    assert len(gaps) > 10
    inside = ((beside.roots[..., :2] >= lo[:2] - 1e-5) & (beside.roots[..., :2] <= hi[:2] + 1e-5))
    assert inside.all()
    # clamping at a wall can only shorten a gap
    assert (gaps <= 0.8 + 1e-5).all() and (gaps >= 0.4 - 1e-5).float().mean() > 0.8
    assert pair_gaps(apart).median() > 1.0  # independent roots in a 4 m+ room
    with pytest.raises(ValueError, match="neighbour_prob"):
        RootSynthConfig(neighbour_prob=1.5)
    with pytest.raises(ValueError, match="neighbour_distance"):
        RootSynthConfig(neighbour_distance=(0.9, 0.3))
