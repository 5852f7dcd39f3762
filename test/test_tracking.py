"""Temporal fusion (selfpose3d_core.tracking): ids that persist, a Kalman filter / RTS
smoother that removes independent per-frame noise, robust weights, gap filling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfpose3d_core.baselines import Poses3D
from selfpose3d_core.config_utils import from_dict, load_yaml_config
from selfpose3d_core.models.estimator import Skeletons
from selfpose3d_core.tracking import (
    SkeletonTracker,
    TrackedSkeletons,
    TrackerConfig,
    frame_arrays,
    smooth_sequence,
)

J = 15
FPS = 10.0
REPO = Path(__file__).resolve().parents[1]


def _trajectories(frames: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two people 2 m apart, one walking a circle at 0.8 m/s and one a line at 0.5 m/s,
    with swinging limbs: (F, 2, J, 3) metres and (F,) stamps."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    body = rng.normal(scale=0.3, size=(2, J, 3))  # (2, J, 3) joint offsets from the root
    root0 = np.stack([np.cos(0.8 * t), np.sin(0.8 * t), np.ones_like(t)], -1)  # (F, 3)
    root1 = np.stack([2.5 + 0.5 * t - 2.0, -2.0 + 0 * t, np.ones_like(t)], -1)
    swing = 0.15 * np.sin(2 * np.pi * 0.8 * t)[:, None, None] * rng.normal(size=(1, J, 3))
    joints = np.stack([root0[:, None] + body[0] + swing, root1[:, None] + body[1] - swing],
                      1)  # (F, 2, J, 3)
    return joints, t


def _skeletons(joints: np.ndarray, scores: np.ndarray) -> Skeletons:
    P = joints.shape[0]
    return Skeletons(joints, np.ones((P, J)), scores, joints[:, 2])


def _noisy_frames(truth: np.ndarray, sigma: float, miss: float, seed: int = 1,
                  shuffle: bool = True) -> list[Skeletons]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(truth.shape[0]):
        keep = np.flatnonzero(rng.random(truth.shape[1]) >= miss)
        if shuffle:
            keep = rng.permutation(keep)
        j = truth[f, keep] + rng.normal(scale=sigma, size=(keep.size, J, 3))
        out.append(_skeletons(j, rng.uniform(0.5, 1.0, keep.size)))
    return out


def _error(truth: np.ndarray, frames: list) -> float:
    """Mean joint error (m) of every output person against the closest true person."""
    errs = []
    for f, fr in enumerate(frames):
        for p in range(len(fr.joints)):
            d = np.linalg.norm(truth[f][:, None] - fr.joints[p][None], axis=-1)  # (2, 1, J)
            errs.append(d.mean(-1).min())
    return float(np.mean(errs))


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ValueError, match="gate_m"):
        TrackerConfig(gate_m=0.0)
    with pytest.raises(ValueError, match="max_missed"):
        TrackerConfig(max_missed=-1)
    with pytest.raises(ValueError, match="robust_k"):
        TrackerConfig(robust_k=-1.0)
    with pytest.raises(ValueError, match="meas_std_m"):
        TrackerConfig(meas_std_m=float("nan"))
    with pytest.raises(ValueError, match="gate"):
        from_dict(TrackerConfig, {"gate": 0.3})
    assert from_dict(TrackerConfig, {"gate_m": 0.3, "accel_q": 5}).accel_q == 5.0
    shipped = REPO / "config" / "tracking.yaml"
    assert load_yaml_config(TrackerConfig, shipped) == TrackerConfig()  # documents defaults


def test_online_ids_persist_through_shuffles_and_misses():
    truth, t = _trajectories()
    frames = _noisy_frames(truth, 0.03, miss=0.1)
    tr = SkeletonTracker(TrackerConfig(max_missed=3))
    by_person: dict[int, set] = {0: set(), 1: set()}
    for f, fr in enumerate(frames):
        out = tr.update(fr.joints, fr.confidence, fr.scores, t[f])
        assert isinstance(out, TrackedSkeletons) and out.num_people == len(fr.joints)
        assert (np.diff(out.scores) <= 0).all()  # best first
        for p in range(out.num_people):
            who = np.linalg.norm(truth[f] - out.joints[p], axis=-1).mean(-1).argmin()
            by_person[int(who)].add(int(out.track_ids[p]))
    # with at most 3 misses in a row tolerated, each person keeps one id all along
    assert by_person[0] and by_person[1] and by_person[0].isdisjoint(by_person[1])
    assert len(by_person[0]) == 1 and len(by_person[1]) == 1
    assert tr.num_tracks == 2


def test_filter_and_smoother_reduce_independent_noise():
    truth, t = _trajectories()
    frames = _noisy_frames(truth, 0.05, miss=0.0)
    raw = _error(truth, frames)
    tr = SkeletonTracker(TrackerConfig(accel_q=5.0, meas_std_m=0.05))
    causal = [tr.update(fr.joints, fr.confidence, fr.scores, t[f]) for f, fr in
              enumerate(frames)]
    smooth = smooth_sequence(frames, t, TrackerConfig(accel_q=5.0, meas_std_m=0.05))
    e_causal, e_smooth = _error(truth, causal), _error(truth, smooth)
    # measured: raw 0.080, causal 0.070, smoothed 0.046 m (the causal filter lags the
    # swinging limbs; the smoother sees both sides)
    assert e_causal < 0.92 * raw
    assert e_smooth < 0.65 * raw and e_smooth < e_causal
    assert all(s.num_people == 2 for s in smooth)


def test_smoother_of_exact_constant_velocity_motion_is_exact():
    t = np.arange(20) / FPS
    v = np.array([0.7, -0.2, 0.05])
    base = np.random.default_rng(3).normal(size=(J, 3))
    truth = (base[None] + t[:, None, None] * v)[:, None]  # (F, 1, J, 3)
    frames = [_skeletons(truth[f], np.ones(1)) for f in range(len(t))]
    out = smooth_sequence(frames, t, TrackerConfig())
    # the model's prior mean for the unknown initial velocity is 0, so the first frames
    # lag a little; the rest follows the line
    assert _error(truth[5:], out[5:]) < 1e-3


def test_robust_weights_resist_a_wrong_joint():
    truth, t = _trajectories(frames=40)
    frames = _noisy_frames(truth, 0.02, miss=0.0, shuffle=False)
    f_bad = 20
    bad = frames[f_bad].joints.copy()
    bad[0, 9] += np.array([0.0, 0.6, 0.0])  # person 0's wrist jumps 60 cm in one frame
    frames[f_bad] = _skeletons(bad, frames[f_bad].root_scores)

    def wrist_error(cfg):
        out = smooth_sequence(frames, t, cfg)
        who = np.linalg.norm(out[f_bad].joints[:, 2] - truth[f_bad, 0, 2], axis=-1).argmin()
        return np.linalg.norm(out[f_bad].joints[who, 9] - truth[f_bad, 0, 9])

    plain = wrist_error(TrackerConfig(accel_q=20.0, meas_std_m=0.02, robust_k=0.0))
    robust = wrist_error(TrackerConfig(accel_q=20.0, meas_std_m=0.02, robust_k=2.0))
    # measured: 0.50 m without the re-weighting, 0.08 m with it
    assert robust < 0.3 * plain and robust < 0.12


def test_offline_fills_short_gaps_and_ends_tracks_after_long_ones():
    truth, t = _trajectories(frames=30)
    frames = _noisy_frames(truth, 0.02, miss=0.0, shuffle=False)
    # person 1 missing in frames 10-11 (a gap of 2) and from 20 on (gone)
    for f in list(range(10, 12)) + list(range(20, 30)):
        fr = frames[f]
        frames[f] = _skeletons(fr.joints[:1], fr.root_scores[:1])
    out = smooth_sequence(frames, t, TrackerConfig(max_missed=2))
    for f in (10, 11):
        assert out[f].num_people == 2 and out[f].filled.sum() == 1
        k = np.flatnonzero(out[f].filled)[0]
        assert np.linalg.norm(out[f].joints[k] - truth[f, 1], axis=-1).mean() < 0.05
        # filled frames are scored from the observations on either side
        assert 0.5 <= out[f].scores[k] <= 1.0
    assert all(out[f].num_people == 1 for f in range(20, 30))  # not extrapolated
    ids = {int(i) for o in out for i in o.track_ids}
    assert len(ids) == 2
    no_fill = smooth_sequence(frames, t, TrackerConfig(max_missed=2, fill_gaps=False))
    assert no_fill[10].num_people == 1
    # a gap longer than max_missed ends the track: the person comes back with a new id
    short = smooth_sequence(frames, t, TrackerConfig(max_missed=1))
    assert short[10].num_people == 1
    assert len({int(i) for o in short for i in o.track_ids}) == 3


def test_inputs_of_every_kind_and_boundaries():
    truth, t = _trajectories(frames=5)
    poses = [Poses3D(truth[f], np.ones((2, J), bool), np.array([0.9, 0.8]),
                     np.array([5, 5])) for f in range(5)]
    joints, conf, scores = frame_arrays(poses[0])
    assert joints.shape == (2, J, 3) and conf.shape == (2, J) and scores.shape == (2,)
    out = smooth_sequence(poses, t, TrackerConfig(accel_q=200.0))  # follows exact input
    assert _error(truth, out) < 0.01
    assert frame_arrays(out[0])[0].shape == (2, J, 3)  # tracked output reads back too
    empty = [_skeletons(np.zeros((0, J, 3)), np.zeros(0)) for _ in range(3)]
    assert all(o.num_people == 0 for o in smooth_sequence(empty, t[:3]))
    with pytest.raises(ValueError, match="stamps"):
        smooth_sequence(poses, t[::-1])
    with pytest.raises(ValueError, match="frames but"):
        smooth_sequence(poses, t[:3])
    tr = SkeletonTracker()
    tr.update(truth[0], np.ones((2, J)), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="decrease"):
        tr.update(truth[1], np.ones((2, J)), np.ones(2), 0.9)
    with pytest.raises(ValueError, match=r"\(P, J, 3\)"):
        tr.update(truth[1, :, :, :2], np.ones((2, J)), np.ones(2), 2.0)
    # a joint the estimate does not give (NaN) comes back from the track, never as NaN
    j = truth[1].copy()
    j[0, 4] = np.nan
    out = tr.update(j, np.ones((2, J)), np.ones(2), 1.1)
    assert np.isfinite(out.joints).all()


def test_low_confidence_joints_count_as_noisier():
    truth, t = _trajectories(frames=30)
    frames = _noisy_frames(truth, 0.01, miss=0.0, shuffle=False)
    for f in range(12, 17):  # person 0's left knee: 10 cm off for 0.5 s, confidence 0.1
        fr = frames[f]
        j, c = fr.joints.copy(), fr.confidence.copy()
        j[0, 7, 0] += 0.10
        c[0, 7] = 0.1
        frames[f] = Skeletons(j, c, fr.root_scores, fr.roots)

    def knee_error(cfg):
        out = smooth_sequence(frames, t, cfg)
        errs = []
        for f in range(12, 17):
            k = np.flatnonzero(out[f].track_ids == 0)[0]
            errs.append(np.linalg.norm(out[f].joints[k, 7] - truth[f, 0, 7]))
        return float(np.mean(errs))

    base = dict(accel_q=2.5, meas_std_m=0.04, robust_k=0.0)
    ignored = knee_error(TrackerConfig(**base, conf_ref=0.0))
    weighted = knee_error(TrackerConfig(**base, conf_ref=0.6))
    # measured: 0.088 m following the wrong knee, 0.017 m weighting it by its confidence
    assert weighted < 0.4 * ignored
    with pytest.raises(ValueError, match="conf_ref"):
        TrackerConfig(conf_ref=-0.5)
