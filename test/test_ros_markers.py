"""selfpose3d_ros.markers: skeleton MarkerArrays with real visualization_msgs classes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from visualization_msgs.msg import Marker, MarkerArray

from selfpose3d_core.skeleton import PANOPTIC15
from selfpose3d_ros.markers import MAX_PERSON_KEY, person_rgb, skeleton_markers

LIMBS = PANOPTIC15.limbs
J = PANOPTIC15.num_joints
STAMP = Time(sec=42, nanosec=123)


def people(p: int, seed: int = 0) -> np.ndarray:
    """(P, 15, 3) joints spread over a room."""
    rng = np.random.default_rng(seed)
    return rng.uniform([0, 0, 0], [6, 6, 2], (p, J, 3))


def build(joints, conf=None, **kw):
    kw = dict(stamp=STAMP, frame_id="world") | kw
    return skeleton_markers(joints, conf, LIMBS, **kw)


def as_xyz(points) -> np.ndarray:
    return np.array([[q.x, q.y, q.z] for q in points]).reshape(-1, 3)


class TestStructure:
    def test_counts_types_ids(self):
        arr = build(people(3), np.ones((3, J)))
        assert isinstance(arr, MarkerArray)
        m = arr.markers
        assert len(m) == 1 + 2 * 3
        assert m[0].action == Marker.DELETEALL
        assert [x.type for x in m[1:]] == [Marker.LINE_LIST, Marker.SPHERE_LIST] * 3
        assert [x.id for x in m[1:]] == [0, 1, 2, 3, 4, 5]
        assert all(x.action == Marker.ADD for x in m[1:])
        assert len({(x.ns, x.id) for x in m[1:]}) == 6
        assert len({x.ns for x in m}) == 1  # DELETEALL clears the namespace we draw in

    def test_header_pose_lifetime_scale(self):
        arr = build(people(2), lifetime=0.3, bone_width=0.02, joint_diameter=0.05, ns="sk")
        for x in arr.markers:
            assert x.header.stamp == STAMP and x.header.frame_id == "world"
            assert x.ns == "sk" and x.pose.orientation.w == 1.0
        for x in arr.markers[1:]:
            assert (x.lifetime.sec, x.lifetime.nanosec) == (0, 300_000_000)
            assert x.color.a > 0 and len(x.colors) == 0
            if x.type == Marker.LINE_LIST:
                assert x.scale.x == pytest.approx(0.02)
            else:
                assert (x.scale.x, x.scale.y, x.scale.z) == pytest.approx((0.05,) * 3)

    def test_float_and_int_stamps(self):
        m = build(people(1), stamp=1.5).markers[1]
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (1, 500_000_000)
        m = build(people(1), stamp=2_000_000_001).markers[1]
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (2, 1)

    def test_bones_well_formed(self):
        joints = people(2)
        arr = build(joints)
        for p in range(2):
            bones, spheres = arr.markers[1 + 2 * p], arr.markers[2 + 2 * p]
            assert len(bones.points) % 2 == 0 and len(bones.points) == 2 * len(LIMBS)
            xyz = as_xyz(bones.points).reshape(-1, 2, 3)
            for (a, b), seg in zip(LIMBS, xyz):
                np.testing.assert_allclose(seg, joints[p, [a, b]])
            np.testing.assert_allclose(as_xyz(spheres.points), joints[p])

    def test_no_people(self):
        arr = build(np.zeros((0, J, 3)), np.zeros((0, J)))
        assert [x.action for x in arr.markers] == [Marker.DELETEALL]


class TestColours:
    def test_distinct(self):
        arr = build(people(8))
        rgb = [(x.color.r, x.color.g, x.color.b) for x in arr.markers[1::2]]
        for a, b in itertools.combinations(rgb, 2):
            assert np.abs(np.subtract(a, b)).max() > 0.1
        # bones and joints of one person share the colour
        for x, y in zip(arr.markers[1::2], arr.markers[2::2]):
            assert x.color == y.color

    def test_stable_by_tracking_id(self):
        joints = people(2)
        a = build(joints, ids=np.array([7, 3]))
        b = build(joints[::-1], ids=np.array([3, 7]))
        colour_a = {x.id // 2: x.color for x in a.markers[1:]}
        colour_b = {x.id // 2: x.color for x in b.markers[1:]}
        assert colour_a == colour_b and set(colour_a) == {3, 7}
        assert {x.id for x in a.markers[1:]} == {14, 15, 6, 7}
        r, g, bl = person_rgb(7)
        assert (colour_a[7].r, colour_a[7].g, colour_a[7].b) == pytest.approx((r, g, bl))


class TestMissingJoints:
    def test_nan_joint_drops_its_bones(self):
        joints = people(1)
        joints[0, PANOPTIC15.index("mid_hip")] = np.nan
        bones, spheres = build(joints).markers[1:]
        touching = sum(PANOPTIC15.index("mid_hip") in limb for limb in LIMBS)
        assert touching == 3
        assert len(bones.points) == 2 * (len(LIMBS) - touching)
        assert len(spheres.points) == J - 1
        assert np.isfinite(as_xyz(bones.points)).all()

    def test_partial_nan_coordinate_and_low_confidence(self):
        joints = people(1)
        joints[0, 5, 2] = np.nan  # one coordinate is enough to drop the joint
        conf = np.ones((1, J))
        conf[0, 14] = 0.05
        bones, spheres = build(joints, conf, min_confidence=0.1).markers[1:]
        assert len(spheres.points) == J - 2
        assert len(bones.points) == 2 * (len(LIMBS) - 2)  # wrist and ankle end one bone each

    def test_person_with_nothing_valid(self):
        joints = people(3)
        joints[1] = np.nan
        conf = np.ones((3, J))
        conf[2] = 0.0
        conf[2, 4] = 1.0  # a lone joint: spheres but no bones
        arr = build(joints, conf)
        types = [(x.type, x.id) for x in arr.markers[1:]]
        assert types == [(Marker.LINE_LIST, 0), (Marker.SPHERE_LIST, 1), (Marker.SPHERE_LIST, 5)]
        assert len(arr.markers[-1].points) == 1


class TestErrors:
    @pytest.mark.parametrize("joints,conf,match", [
        (np.zeros((2, J)), None, r"joints must be \(P, J, 3\)"),
        (np.zeros((2, J, 3)), np.ones((2, J - 1)), r"confidence must be \(P, J\)"),
    ])
    def test_shapes(self, joints, conf, match):
        with pytest.raises(ValueError, match=match):
            build(joints, conf)

    def test_limbs(self):
        with pytest.raises(ValueError, match=r"limb indices must be in \[0, 15\)"):
            skeleton_markers(people(1), None, [(0, 15)], stamp=STAMP, frame_id="w")
        with pytest.raises(ValueError, match=r"limbs must be \(L, 2\)"):
            skeleton_markers(people(1), None, [0, 1, 2], stamp=STAMP, frame_id="w")
        arr = skeleton_markers(people(1), None, [], stamp=STAMP, frame_id="w")
        assert [x.type for x in arr.markers[1:]] == [Marker.SPHERE_LIST]

    @pytest.mark.parametrize("ids,match", [
        ([1, 1], "unique"), ([-1, 2], "ids must be in"), ([0, MAX_PERSON_KEY + 1], "in"),
        ([0.0, 1.0], "integers"), ([1], r"\(2,\) integers"),
    ])
    def test_ids(self, ids, match):
        with pytest.raises(ValueError, match=match):
            build(people(2), ids=np.array(ids))

    @pytest.mark.parametrize("kw", [dict(alpha=0.0), dict(bone_width=0.0),
                                    dict(lifetime=-1.0)])
    def test_sizes(self, kw):
        with pytest.raises(ValueError):
            build(people(1), **kw)
