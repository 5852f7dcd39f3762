"""The synthetic operating room: config, rig, people, renderer, simulated detector, show."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from selfpose3d_core.geometry import Camera, undistort_points_numpy
from selfpose3d_core.skeleton import COCO17, PANOPTIC15
from selfpose3d_core.synthetic import (
    DetectorConfig,
    SynthConfig,
    SyntheticScene,
    render_show,
    synthesize,
)
from selfpose3d_core.synthetic.body import (
    Appearance,
    empty_body,
    forward_kinematics,
    neutral_pose,
    sample_shape,
)
from selfpose3d_core.synthetic.detector_stats import (
    MEDIAN_RAYLEIGH,
    NOISE_CHECK_CONFIG,
    measure_detector_noise,
)
from selfpose3d_core.synthetic.motion import pose_frame, simulate_people
from selfpose3d_core.synthetic.renderer import ViewRenderer
from selfpose3d_core.synthetic.room import make_cameras, make_room


# --------------------------------------------------------------------------- config
class TestConfig:
    def test_defaults_are_the_default_rig(self):
        c = SynthConfig()
        assert (c.num_cameras, c.num_people, c.fps) == (5, 3, 10.0)
        assert c.image_size == (640, 480)
        assert c.room_size == (6.0, 6.0, 3.0)
        assert SynthConfig.from_dict({}) == c

    def test_round_trip(self):
        c = SynthConfig(num_cameras=7, num_people=5, seed=42, image_width=1280,
                        image_height=720, detector=DetectorConfig(base_sigma_px=3.5))
        assert SynthConfig.from_dict(c.to_dict()) == c

    @pytest.mark.parametrize("data, words", [
        ({"num_camera": 5}, ["num_camera"]),
        ({"num_cameras": 9}, ["num_cameras", "9"]),
        ({"num_people": 0}, ["num_people", "0"]),
        ({"fps": -1.0}, ["fps", "-1.0"]),
        ({"hfov_deg": [90, 70]}, ["hfov_deg"]),
        ({"num_frames": "many"}, ["num_frames", "many"]),
        ({"detector": {"base_sigma": 1.0}}, ["base_sigma"]),
        ({"detector": {"swap_rate": 1.5}}, ["swap_rate", "1.5"]),
    ])
    def test_rejects(self, data, words):
        with pytest.raises(ValueError) as e:
            SynthConfig.from_dict(data)
        for w in words:
            assert w in str(e.value)


# --------------------------------------------------------------------------- rig
@pytest.mark.parametrize("n", [3, 5, 8])
def test_cameras(n):
    cfg = SynthConfig(num_cameras=n, seed=n)
    cams = make_cameras(cfg, np.random.default_rng(n))
    assert [c.name for c in cams] == [f"cam{i}" for i in range(n)]
    hx, hy = cfg.room_size[0] / 2, cfg.room_size[1] / 2
    for c in cams:
        x, y, z = c.center
        assert 2.5 <= z <= 2.9 and abs(x) <= hx and abs(y) <= hy
        assert max(abs(x) / hx, abs(y) / hy) > 0.9  # on a wall
        assert -0.25 <= c.dist[0] <= -0.1 and 0 < c.dist[1] < 0.05
        # the room centre at 1 m is well inside the image
        u, v = c.project(np.array([0.0, 0.0, 1.0]))
        assert 0.2 * c.width < u < 0.8 * c.width and 0.2 * c.height < v < 0.8 * c.height
        # horizontal field of view through the lens
        edge = undistort_points_numpy(np.array([[0.0, c.K[1, 2]], [c.width - 1.0, c.K[1, 2]]]),
                                      c)
        fov = math.degrees(math.atan(-edge[0, 0]) + math.atan(edge[1, 0]))
        assert 68 <= fov <= 92
    assert len({tuple(np.round(c.center, 3)) for c in cams}) == n


# --------------------------------------------------------------------------- people
@pytest.fixture(scope="module")
def long_motion():
    cfg = SynthConfig(num_people=3, num_frames=300, fps=5.0, stay_s=(6.0, 14.0),
                      absent_s=(1.0, 3.0), seed=5)
    room = make_room(cfg)
    return cfg, room, simulate_people(cfg, room, np.random.default_rng(5))


def test_people_enter_and_leave(long_motion):
    cfg, _, motion = long_motion
    counts = np.array([f.num_people for f in motion.frames])
    assert counts.max() <= cfg.num_people and counts.max() == cfg.num_people
    assert len(motion.people) > cfg.num_people + 2  # people were replaced
    assert any(p.first_frame > 0 for p in motion.people)
    assert any(p.last_frame < cfg.num_frames - 1 for p in motion.people)
    for p in motion.people:  # ids present exactly in [first, last]
        present = [p.pid in f.ids for f in motion.frames]
        assert present == [p.first_frame <= i <= p.last_frame for i in range(cfg.num_frames)]
    acts = {a for f in motion.frames for a in f.activity}
    assert {"walk", "stand", "bend"} <= acts and len(acts) >= 4


def test_everybody_stays_without_enter_leave():
    cfg = SynthConfig(num_people=4, num_frames=60, enter_leave=False, seed=2)
    motion = simulate_people(cfg, make_room(cfg), np.random.default_rng(2))
    assert all(f.num_people == 4 for f in motion.frames)
    assert len(motion.people) == 4


def test_ground_truth_plausible(long_motion):
    cfg, room, motion = long_motion
    per_person: dict[int, list[np.ndarray]] = {}
    ranges = {("neck", "nose"): (0.14, 0.26), ("neck", "mid_hip"): (0.42, 0.62),
              ("neck", "l_shoulder"): (0.14, 0.24), ("l_shoulder", "l_elbow"): (0.26, 0.40),
              ("l_elbow", "l_wrist"): (0.20, 0.32), ("mid_hip", "l_hip"): (0.07, 0.15),
              ("l_hip", "l_knee"): (0.35, 0.52), ("l_knee", "l_ankle"): (0.35, 0.52)}
    hx, hy = room.half
    prev = {}
    for i, f in enumerate(motion.frames):
        body = pose_frame(f)
        J = body.points[:, :15]
        assert J.shape == (f.num_people, 15, 3)
        bones = np.linalg.norm(J[:, [a for a, _ in PANOPTIC15.limbs]]
                               - J[:, [b for _, b in PANOPTIC15.limbs]], axis=-1)
        for p, pid in enumerate(f.ids):
            per_person.setdefault(int(pid), []).append(bones[p])
        # nobody inside the table, everybody inside the room
        assert not room.inside_table(J, margin=-0.02).any(), f"frame {i}"
        assert np.all(np.abs(J[..., 0]) < hx) and np.all(np.abs(J[..., 1]) < hy)
        assert np.all(J[..., 2] > 0.0) and np.all(J[..., 2] < 2.3)
        # feet on the floor when standing; heads at about body height
        for p, act in enumerate(f.activity):
            if act in ("stand", "bend", "reach"):
                ank = J[p, [PANOPTIC15.index("l_ankle"), PANOPTIC15.index("r_ankle")], 2]
                assert 0.04 < ank.min() < 0.12, (i, act, ank)
            if act == "stand":
                h = motion.person(int(f.ids[p])).shape.height
                assert 0.78 * h < J[p, 1, 2] < 0.97 * h  # nose height (incl. blending)
        # smooth: no jumps between frames
        for p, pid in enumerate(f.ids):
            if int(pid) in prev:
                speed = np.linalg.norm(J[p] - prev[int(pid)], axis=-1).max() * cfg.fps
                assert speed < 6.0, (i, pid, speed)
        prev = {int(pid): J[p] for p, pid in enumerate(f.ids)}
    for pid, b in per_person.items():
        b = np.asarray(b)
        assert np.ptp(b, axis=0).max() < 1e-9, f"bone lengths of {pid} change"
        for (a, c), (lo, hi) in ranges.items():
            k = PANOPTIC15.limbs.index((PANOPTIC15.index(a), PANOPTIC15.index(c)))
            assert lo <= b[0, k] <= hi, (pid, a, c, b[0, k])
    heights = [p.shape.height for p in motion.people]
    assert min(heights) >= 1.55 and max(heights) <= 1.95


def test_people_avoid_each_other(long_motion):
    _, _, motion = long_motion
    d = [np.linalg.norm(f.root_xy[:, None] - f.root_xy[None], axis=-1)[
        np.triu_indices(f.num_people, 1)].min() for f in motion.frames if f.num_people > 1]
    assert np.min(d) > 0.35 and np.percentile(d, 5) > 0.5


# --------------------------------------------------------------------------- rendering
@pytest.fixture(scope="module")
def small_scene():
    return SyntheticScene(SynthConfig(num_frames=40, image_width=320, image_height=240,
                                      seed=7, enter_leave=False))


def test_people_are_visible_in_images(small_scene):
    sc = small_scene
    fr = sc.frame(10)
    assert fr.ids.size == 3
    changed, total = 0, 0
    for v, (cam, vr) in enumerate(zip(sc.cameras, fr.views)):
        img = vr.image
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        empty = sc.renderer.views[v].render(empty_body(), np.zeros((0, 14)),
                                            np.zeros((0, 7, 3))).image
        diff = np.abs(img.astype(int) - empty.astype(int)).sum(-1)
        uv = cam.project(fr.coco_joints)
        vis = cam.in_image(uv, margin=-3) & (vr.occlusion == 0)
        for u, w in np.round(uv[vis]).astype(int):
            total += 1
            changed += diff[w, u] > 30
    assert total > 50
    assert changed / total > 0.9
    assert len(np.unique(fr.views[0].image.reshape(-1, 3), axis=0)) > 500  # textured


def _person(shape, xy, heading):
    return forward_kinematics(np.asarray(shape)[None], neutral_pose()[None],
                              np.asarray(xy, float)[None], np.array([heading]))


def test_nearer_person_occludes():
    cfg = SynthConfig(image_width=320, image_height=240)
    room = make_room(cfg)
    cam = Camera.look_at(eye=[-2.8, -2.0, 1.2], target=[2.0, -2.0, 1.1], fx=260, width=320,
                         height=240, dist=[-0.15, 0.02, 0, 0, 0], name="test")
    vr = ViewRenderer(cam, room)
    shape = sample_shape(np.random.default_rng(0), (1.75, 1.75))
    near, far = _person(shape, [-1.3, -2.0], 0.0), _person(shape, [0.8, -2.0], np.pi)
    red = Appearance((220, 30, 30), (220, 30, 30), (220, 30, 30), (220, 30, 30),
                     (220, 30, 30), (220, 30, 30), (220, 30, 30))
    blue = Appearance(*[(30, 30, 220)] * 7)
    for order in ((near, far, red, blue), (far, near, blue, red)):
        a, b, ca, cb = order
        body = type(near)(*[np.concatenate([x, y]) for x, y in zip(a, b)])
        shapes = np.tile(np.asarray(shape), (2, 1))
        colors = np.asarray([ca, cb], dtype=np.float64)
        out = vr.render(body, shapes, colors)
        chest = 0.4 * near.points[0, 0] + 0.6 * near.points[0, 2]
        u, v = np.round(cam.project(chest)).astype(int)
        px = out.image[v, u].astype(int)
        assert px[0] > px[2] + 60, f"near (red) person should win, got {px}"
        i_near = 0 if a is near else 1
        torso = [COCO17.index(n) for n in ("l_shoulder", "r_shoulder", "l_hip", "r_hip")]
        assert out.occlusion[1 - i_near, torso].min() >= 0.5
        assert out.occlusion[i_near, torso].max() <= 0.25


# --------------------------------------------------------------------------- detector
@pytest.fixture(scope="module")
def detector_run():
    cfg = NOISE_CHECK_CONFIG
    sc = SyntheticScene(cfg)
    return cfg, sc, [sc.frame(i, render_images=False) for i in range(len(sc))]


def test_noise_check_config():
    det = NOISE_CHECK_CONFIG.detector
    assert (det.base_sigma_px, det.occlusion_sigma_gain_px, det.joint_miss_rate,
            det.occlusion_miss_gain, det.person_miss_rate, det.swap_rate,
            det.false_positive_rate) == (2.0, 10.0, 0.05, 0.5, 0.1, 0.1, 0.3)
    c = NOISE_CHECK_CONFIG
    assert (c.num_frames, c.fps, c.image_size, c.seed) == (120, 5.0, (320, 240), 3)


def test_detector_noise_matches_config(detector_run):
    """Measured noise vs configured (tolerances ≥ 4 standard errors, see comments)."""
    cfg, sc, frames = detector_run
    det = cfg.detector
    st = measure_detector_noise(sc, frames)
    assert st.n_found_not_detectable == 0  # only detectable people are detected
    assert st.n_unsorted_views == 0  # detections sorted by score
    assert st.n_found_outside_image == 0  # outside the image → missed
    err0, norm = st.errors_unoccluded, st.errors_normalised
    # median error of unoccluded joints = σ·sqrt(2 ln 2); with n > 10⁴ its standard error
    # is 0.85 σ / sqrt(n) < 1 % of the median: 5 % is > 5 standard errors
    assert len(err0) > 10000
    assert np.median(err0) == pytest.approx(det.base_sigma_px * MEDIAN_RAYLEIGH, rel=0.05)
    # all found joints, normalised by their configured σ(o) = base + gain·o
    assert np.median(norm) == pytest.approx(MEDIAN_RAYLEIGH, rel=0.05)
    # miss rate of unoccluded joints in the image: binomial s.e. sqrt(p(1-p)/n) ≈ 0.002
    assert st.n_joint_misses / st.n_joint_candidates == pytest.approx(det.joint_miss_rate,
                                                                      abs=0.01)
    # person misses (n ≈ 1600, s.e. ≈ 0.0075), swaps (s.e. ≈ 0.008)
    assert 1 - st.n_found / st.n_detectable == pytest.approx(det.person_miss_rate, abs=0.03)
    assert st.n_swapped / st.n_found == pytest.approx(det.swap_rate, abs=0.03)
    # false positives per view and frame: Poisson, 600 view-frames, s.e. ≈ 0.022
    assert st.n_view_frames == len(frames) * len(sc.cameras)
    assert st.n_false_positives / st.n_view_frames == pytest.approx(det.false_positive_rate,
                                                                    abs=0.09)
    assert np.median(st.fp_scores) < np.median(st.real_scores) - 0.2
    # confidences track the error
    assert spearmanr(st.errors, st.confidences).statistic < -0.5
    assert 0.85 < np.median(st.confidences) < 0.98


def test_swaps_are_mirrored(detector_run):
    _, sc, frames = detector_run
    flip = COCO17.flip_permutation()
    n = 0
    for fr in frames:
        for cam, d in zip(sc.cameras, fr.detections):
            for k in np.nonzero(d.swapped)[0]:
                true_uv = cam.project(fr.coco_joints[d.gt_index[k]])
                np.testing.assert_allclose(d.truth_uv[k], true_uv[flip])
                n += 1
    assert n > 50


def test_detections_deterministic_per_frame(detector_run):
    cfg, sc, frames = detector_run
    again = SyntheticScene(cfg).frame(17, render_images=False)
    for a, b in zip(frames[17].detections, again.detections):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.conf, b.conf)


# --------------------------------------------------------------------------- writing
def _small(seed=1, **kw) -> SynthConfig:
    return SynthConfig(num_frames=6, image_width=160, image_height=120, seed=seed, **kw)


def test_synthesize_deterministic(tmp_path: Path):
    a = synthesize(_small(), tmp_path / "a", write_images=False)
    b = synthesize(_small(), tmp_path / "b", write_images=True)
    c = synthesize(_small(seed=2), tmp_path / "c", write_images=False)
    files = [f"keypoints/cam{i}.json" for i in range(5)] + ["gt/poses3d.json", "cameras.yaml",
                                                           "frames.json"]
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "gt/poses3d.json").read_bytes() != (c / "gt/poses3d.json").read_bytes()
    assert not (a / "images").exists()
    assert len(list((b / "images" / "cam0").glob("*.jpg"))) == 6


def test_render_show(tmp_path: Path):
    root = synthesize(_small(num_people=2), tmp_path / "ds", write_images=True)
    out = render_show(root, 3, tmp_path / "show.png")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] >= 3 * 480 and img.shape[0] > 300
    out2 = render_show(root, 0, tmp_path / "nogt.png", draw_gt=False)
    assert cv2.imread(str(out2)) is not None


def test_render_show_without_images_or_gt(tmp_path: Path):
    root = synthesize(_small(num_cameras=3), tmp_path / "ds", write_images=False)
    for f in (root / "gt").iterdir():
        f.unlink()
    (root / "gt").rmdir()
    img = cv2.imread(str(render_show(root, 1, tmp_path / "show.png")))
    assert img is not None and img.shape[1] == 2 * 480


def test_detector_with_nobody(detector_run):
    from selfpose3d_core.synthetic.detector import detect_view

    _, sc, _ = detector_run
    d = detect_view(np.random.default_rng(0), DetectorConfig(false_positive_rate=2.0),
                    sc.cameras[0], np.zeros((0, 17, 3)), np.zeros((0, 17)))
    assert d.keypoints.shape[1:] == (17, 2) and np.all(d.gt_index == -1)
    assert d.num_detections > 0 and np.all(d.scores <= 0.5)


def test_rig_seed_shares_the_rig_not_the_people():
    a = SyntheticScene(SynthConfig.from_dict({"seed": 4}))
    b = SyntheticScene(SynthConfig.from_dict({"seed": 77, "rig_seed": 4}))
    c = SyntheticScene(SynthConfig.from_dict({"seed": 77}))
    for ca, cb in zip(a.cameras, b.cameras):
        np.testing.assert_array_equal(ca.K, cb.K)
        np.testing.assert_array_equal(ca.t, cb.t)
    assert not np.allclose(a.cameras[0].t, c.cameras[0].t)
    ja, jb = a.frame(0, render_images=False).joints, b.frame(0, render_images=False).joints
    assert ja.shape != jb.shape or not np.allclose(ja, jb)
