"""Joint sets and conversions."""

import numpy as np
import pytest
import torch

from selfpose3d_core.data.dataset import (
    DatasetMeta,
    DatasetWriter,
    MultiViewDataset,
    ViewKeypoints,
)
from selfpose3d_core.geometry import Camera
from selfpose3d_core.skeleton import (
    BODY25,
    COCO17,
    JOINT_SETS,
    PANOPTIC15,
    SHELF14,
    SHELF_PCP_LIMBS,
    conversion_matrix,
    convert_joints,
)
from selfpose3d_core.training.config import TrainConfig
from selfpose3d_core.training.data import frame_pseudo_poses


def test_sets_are_consistent():
    assert PANOPTIC15.num_joints == 15 and PANOPTIC15.root == 2
    assert PANOPTIC15.joints[:3] == ("neck", "nose", "mid_hip")
    assert COCO17.num_joints == 17 and BODY25.num_joints == 25 and SHELF14.num_joints == 14
    for s in JOINT_SETS.values():
        for a, b in s.limbs:
            assert 0 <= a < s.num_joints and 0 <= b < s.num_joints
        perm = s.flip_permutation()
        assert sorted(perm.tolist()) == list(range(s.num_joints))
        assert (perm[perm] == np.arange(s.num_joints)).all()
    assert len(PANOPTIC15.flip_pairs) == 6 and len(COCO17.flip_pairs) == 8
    assert len(SHELF_PCP_LIMBS) == 10


def test_coco_to_panoptic_midpoints_and_min_conf():
    rng = np.random.default_rng(0)
    k = rng.uniform(0, 100, size=(3, 17, 2))
    c = rng.uniform(0, 1, size=(3, 17))
    out, oc = convert_joints(k, COCO17, PANOPTIC15, c)
    i = COCO17.index
    np.testing.assert_allclose(out[:, 0], (k[:, i("l_shoulder")] + k[:, i("r_shoulder")]) / 2)
    np.testing.assert_allclose(out[:, 2], (k[:, i("l_hip")] + k[:, i("r_hip")]) / 2)
    np.testing.assert_allclose(out[:, PANOPTIC15.index("r_knee")], k[:, i("r_knee")])
    np.testing.assert_allclose(oc[:, 0], np.minimum(c[:, i("l_shoulder")], c[:, i("r_shoulder")]))
    tout, tc = convert_joints(torch.as_tensor(k), COCO17, PANOPTIC15, torch.as_tensor(c))
    np.testing.assert_allclose(tout.numpy(), out)
    np.testing.assert_allclose(tc.numpy(), oc)


def test_coco_to_panoptic_mean_conf_rule():
    """``conf_rule="mean"``: a midpoint is as confident as its sources on average (a mid-hip
    with one hip hidden keeps half the other's confidence); native joints keep theirs."""
    rng = np.random.default_rng(2)
    k = rng.uniform(0, 100, size=(4, 17, 2))
    c = rng.uniform(0, 1, size=(4, 17))
    i = COCO17.index
    c[:, i("l_hip")] = 0.05  # one hip missed
    out_min, c_min = convert_joints(k, COCO17, PANOPTIC15, c)
    out, oc = convert_joints(k, COCO17, PANOPTIC15, c, conf_rule="mean")
    np.testing.assert_allclose(out, out_min)  # positions do not depend on the rule
    np.testing.assert_allclose(oc[:, 2], (0.05 + c[:, i("r_hip")]) / 2)
    np.testing.assert_allclose(c_min[:, 2], np.minimum(0.05, c[:, i("r_hip")]))
    np.testing.assert_allclose(oc[:, 0], (c[:, i("l_shoulder")] + c[:, i("r_shoulder")]) / 2)
    np.testing.assert_allclose(oc[:, PANOPTIC15.index("r_knee")], c[:, i("r_knee")])
    _, tc = convert_joints(torch.as_tensor(k), COCO17, PANOPTIC15, torch.as_tensor(c),
                           conf_rule="mean")
    np.testing.assert_allclose(tc.numpy(), oc)
    with pytest.raises(ValueError, match="conf_rule"):
        convert_joints(k, COCO17, PANOPTIC15, c, conf_rule="max")


def test_body25_and_shelf_head_rule():
    rng = np.random.default_rng(1)
    b = rng.normal(size=(25, 3))
    p, _ = convert_joints(b, BODY25, PANOPTIC15)
    for n in PANOPTIC15.joints:
        np.testing.assert_allclose(p[PANOPTIC15.index(n)], b[BODY25.index(n)])
    s, c = convert_joints(p, PANOPTIC15, SHELF14, np.linspace(0.1, 0.9, 15))
    neck, nose, hip = p[0], p[1], p[2]
    # the head rule: X = neck + α (nose − neck) + β (neck − mid_hip)
    np.testing.assert_allclose(s[12], neck + 0.20 * (nose - neck) + 0.12 * (neck - hip))
    np.testing.assert_allclose(s[13], neck + 0.55 * (nose - neck) + 0.38 * (neck - hip))
    np.testing.assert_allclose(s[SHELF14.index("l_wrist")], p[PANOPTIC15.index("l_wrist")])
    # a head joint is as confident as the least confident of neck, nose and mid-hip
    np.testing.assert_allclose(c[12:], [0.1, 0.1])
    # translation-invariant: the weights of every Shelf joint sum to 1
    np.testing.assert_allclose(conversion_matrix(PANOPTIC15, SHELF14).sum(1), 1.0)


def test_errors():
    with pytest.raises(ValueError, match="coco17"):
        convert_joints(np.zeros((15, 2)), COCO17, PANOPTIC15)
    with pytest.raises(ValueError, match="no conversion"):
        convert_joints(np.zeros((14, 2)), SHELF14, COCO17)


def test_pseudo_poses_take_the_mean_confidence_of_a_derived_joint(tmp_path):
    """The network's input (training and inference, ``TrainConfig.derived_conf``): by
    default a mid-hip with one hip missed keeps half the other hip's confidence instead of
    the missed one's (the minimum drops a person seen from the side below the rendering
    threshold); "min" is still there."""
    cams = [Camera.look_at([3.0 * (-1) ** i, 0.0, 2.6], [0, 0, 1], fx=80.0, width=96,
                           height=64, name=f"view_{i}") for i in range(2)]
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 90, (1, 17, 2))
    c = np.full((1, 17), 0.9)
    c[0, COCO17.index("l_hip")] = 0.1
    with DatasetWriter(tmp_path / "ds", cams, DatasetMeta(fps=10.0)) as w:
        w.add_frame(0.0, [ViewKeypoints(kp, c, np.ones(1))] * 2, None, None)
    pp = frame_pseudo_poses(MultiViewDataset(tmp_path / "ds"), 0, max_people=2)
    assert pp.conf.shape == (2, 2, 15)
    np.testing.assert_allclose(pp.conf[:, 0, PANOPTIC15.index("mid_hip")], 0.5, atol=1e-6)
    np.testing.assert_allclose(pp.conf[:, 0, PANOPTIC15.index("neck")], 0.9, atol=1e-6)
    np.testing.assert_allclose(pp.conf[:, 1], 0.0)  # padding
    assert np.isnan(pp.uv[:, 1]).all()
    pp_min = frame_pseudo_poses(MultiViewDataset(tmp_path / "ds"), 0, 2, derived_conf="min")
    np.testing.assert_allclose(pp_min.conf[:, 0, PANOPTIC15.index("mid_hip")], 0.1, atol=1e-6)
    np.testing.assert_allclose(pp_min.uv, pp.uv)
    assert TrainConfig().derived_conf == "mean"
    with pytest.raises(ValueError, match="derived_conf"):
        TrainConfig(derived_conf="max")
