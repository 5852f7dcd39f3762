"""Panoptic AP/Recall/MPJPE and Shelf PCP on hand-made cases with known answers."""

import numpy as np
import pytest

from selfpose3d_core.evaluation import FramePoses, evaluate_panoptic, evaluate_pcp
from selfpose3d_core.evaluation.panoptic import average_precision


def _person(rng, center):
    return center + rng.normal(0, 0.3, size=(15, 3))


def test_perfect_predictions():
    rng = np.random.default_rng(0)
    gts, preds = [], []
    for _ in range(10):
        g = np.stack([_person(rng, [x, 0, 1]) for x in (-1.0, 1.0)])
        gts.append(FramePoses.make(g))
        preds.append(FramePoses.make(g + 0.01, scores=[0.9, 0.8]))
    r = evaluate_panoptic(preds, gts)
    assert all(v == pytest.approx(100.0) for v in r.ap.values())
    assert r.recall_500 == 100.0
    assert r.mpjpe_mm == pytest.approx(np.sqrt(3) * 10, rel=1e-6)


def test_duplicates_false_positives_and_misses():
    rng = np.random.default_rng(1)
    g = np.stack([_person(rng, [x, 0, 1]) for x in (-1.0, 1.0)])
    gt = FramePoses.make(g)
    # frame 1: person A found twice (dup has lower score), person B missed
    p1 = FramePoses.make(np.stack([g[0] + 0.01, g[0] + 0.02]), scores=[0.9, 0.5])
    r = evaluate_panoptic([p1], [gt])
    # sorted: TP (recall .5, prec 1), FP → AP = 0.5
    assert r.ap[50] == pytest.approx(50.0)
    assert r.recall_500 == 50.0
    # error between thresholds: 40 mm per joint → TP at 50, FP at 25
    p2 = FramePoses.make(g + np.array([0.04, 0, 0]), scores=[0.9, 0.8])
    r2 = evaluate_panoptic([p2], [gt])
    assert r2.ap[25] == 0.0 and r2.ap[50] == pytest.approx(100.0)
    assert r2.mpjpe_mm == pytest.approx(40.0)


def test_low_confidence_gt_dropped_and_visibility():
    rng = np.random.default_rng(2)
    g = np.stack([_person(rng, [0, 0, 1]), _person(rng, [2, 0, 1])])
    vis = np.ones((2, 15), bool)
    vis[0, :5] = False
    gt = FramePoses.make(g, visible=vis, scores=[1.0, 0.05])
    pred = g[0].copy()
    pred[:5] += 5.0  # invisible joints wildly off: must not count
    r = evaluate_panoptic([FramePoses.make(pred[None])], [gt])
    assert r.num_gt == 1 and r.ap[25] == pytest.approx(100.0) and r.mpjpe_mm < 1e-6


def test_average_precision_envelope():
    # TP, FP, TP with 2 GT: precision 1, .5, .667 → envelope .667 after first → AP = .5*1+.5*.667
    assert average_precision(np.array([1, 0, 1]), 2) == pytest.approx(0.5 + 0.5 * 2 / 3)


def _shelf_person(rng):
    j = rng.normal(0, 0.05, size=(14, 3))
    j[:, 2] += np.linspace(0.1, 1.8, 14)  # limbs of ~0.13 m
    return j


def test_pcp_perfect_and_missing_frames_count_as_wrong():
    rng = np.random.default_rng(3)
    gts, preds = [], []
    for k in range(10):
        a, b = _shelf_person(rng), _shelf_person(rng) + [2, 0, 0]
        gts.append({1: a, 2: b})
        preds.append(np.stack([a, b]) if k < 8 else np.zeros((0, 14, 3)))
    r = evaluate_pcp(preds, gts, actors=[1, 2, 3])
    assert r.per_actor[1] == pytest.approx(80.0) and r.per_actor[2] == pytest.approx(80.0)
    assert r.frames[3] == 0 and r.average == pytest.approx(80.0)
    # an actor never annotated has no score (it used to read 0 %, as if all limbs failed)
    assert np.isnan(r.per_actor[3]) and np.isnan(r.per_group[3]["head"])
    assert r.missing[1] == 2
    assert r.group_average["head"] == pytest.approx(80.0)


def test_pcp_limb_threshold():
    gt = np.zeros((14, 3))
    gt[:, 2] = np.arange(14) * 1.0  # limb lengths 1 m along z
    pred = gt.copy()
    pred[0] += [0.4, 0, 0]  # r_ankle off by .4 → lower leg err .2 ≤ .5: correct
    pred[6] += [1.2, 0, 0]  # r_wrist off by 1.2 → lower arm err .6 > .5: wrong
    r = evaluate_pcp([pred[None]], [{0: gt}], actors=[0])
    assert r.per_group[0]["lower_legs"] == 100.0
    assert r.per_group[0]["lower_arms"] == 50.0


def test_person_score_ranks_ghosts_with_weak_joint_evidence_last():
    """Skeletons.scores = root score × mean joint confidence, and evaluate_predictions ranks
    by it: a ghost with a high root score but little cross-view joint evidence no longer
    comes before a real person."""
    from types import SimpleNamespace

    from selfpose3d_core.inference import evaluate_predictions
    from selfpose3d_core.models.estimator import Skeletons

    rng = np.random.default_rng(3)
    g = _person(rng, np.array([0.0, 0.0, 1.0]))
    ghost = _person(rng, np.array([3.0, 0.0, 1.0]))
    conf = np.stack([np.full(15, 0.6), np.full(15, 0.1)])  # person, ghost
    sk = Skeletons(joints=np.stack([g + 0.01, ghost]), confidence=conf,
                   root_scores=np.array([0.5, 0.9]), roots=np.zeros((2, 3)))
    np.testing.assert_allclose(sk.scores, [0.3, 0.09], rtol=1e-6)
    empty = Skeletons(np.zeros((0, 15, 3)), np.zeros((0, 15)), np.zeros(0), np.zeros((0, 3)))
    assert empty.scores.shape == (0,)

    class OneFrameGT:
        def frame(self, f):
            return SimpleNamespace(joints=g[None], valid=np.ones((1, 15), bool), num_people=1)

    r = evaluate_predictions([sk], [0], OneFrameGT())
    assert r.ap[50] == pytest.approx(100.0)  # the person first: precision 1 at recall 1
    # ranked by the root score alone the ghost would come first: AP 50
    by_root = evaluate_panoptic([FramePoses.make(sk.joints, scores=sk.root_scores)],
                                [FramePoses.make(g[None])])
    assert by_root.ap[50] == pytest.approx(50.0)
