"""Joint sets and conversions."""

import numpy as np
import pytest
import torch

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
