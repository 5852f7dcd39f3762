"""Temporal fusion: per-frame 3D skeletons → tracks with persistent ids, smoothed over time.

A rig records video, but the estimator sees one frame at a time: what it gets wrong in a
frame — a joint taken from a false or another person's 2D detection, a person missed — is
close to independent from the next frame's error, while people move smoothly. Fusing the
frames of each person removes much of it.

Model, the same for every joint coordinate (isotropic, so x, y and z share one 2×2
covariance): state ``(p, v)`` (m, m/s), constant velocity with white-noise acceleration of
spectral density ``q`` (m²/s³), i.e. over a step ``dt``::

    F = [[1, dt], [0, 1]]        Q = q [[dt³/3, dt²/2], [dt²/2, dt]]

and a measurement ``z = p + e``, ``e ~ N(0, r²)`` per coordinate. Robust weights: a joint
measurement whose residual is ``e`` > ``robust_k`` standard deviations of its expected
spread (over the three coordinates) gets its variance inflated so that its share of the
estimate is ``(k / e)²`` of its share at full weight — its pull then falls as ``1 / e``
(a redescending influence, where Huber's would stay constant), so one wrong joint — a
false or another person's 2D detection — moves the track little. Online the residual is
the innovation (against the prediction); offline it is against the track as every *other*
frame places it (the leave-one-out smoothed estimate), iterated.

Uses:

- :class:`SkeletonTracker` (online, causal): frame by frame; predicts every live track,
  matches the frame's people to them (Hungarian on the mean joint distance to the
  prediction, gated by ``gate_m``), updates the matched ones with the Kalman filter, starts
  a track for every unmatched person and ends tracks missed for more than ``max_missed``
  frames. Each person gets the id of its track and the filtered joints.
- :func:`smooth_sequence` (offline, a recording): the same association, then the
  Rauch–Tung–Striebel smoother (the forward filter and a backward pass) over every track —
  each frame's estimate uses the frames before and after it. A frame inside a track where
  the person was missed (at most ``max_missed`` in a row) is filled from the smoother
  (``fill_gaps``), scored as the mean of the scores of the observations on either side.

Everything is vectorised over tracks × joints × coordinates; the only Python loop is over
time (and the Hungarian assignment per frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["TrackerConfig", "TrackedSkeletons", "SkeletonTracker", "smooth_sequence",
           "frame_arrays"]

#: re-weighting passes of the offline smoother when ``robust_k`` > 0
ROBUST_ITERATIONS = 2
#: smallest measurement weight from a joint's confidence (variance at most r² / MIN_WEIGHT)
MIN_WEIGHT = 1e-3
#: initial velocity standard deviation of a new track (m/s): people walk at ≲ 1.5 m/s
INITIAL_SPEED_STD = 1.0


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and temporal smoothing settings (from YAML:
    ``config_utils.load_yaml_config(TrackerConfig, path)``, unknown keys rejected). The
    defaults were chosen on the synthetic validation rigs (README, "Temporal fusion").

    Attributes:
        gate_m: a person joins a track when the mean distance over their joints to the
            track's predicted joints is below this (m), plus ``max_speed`` × the time the
            track has been coasting (missed) before this frame.
        max_speed: how fast a missed person may have moved away from the prediction
            (m/s; the gate's growth while a track coasts).
        max_missed: a track survives this many frames in a row without a match (and
            offline, gaps up to this long are filled).
        accel_q: white-noise acceleration spectral density q (m²/s³): how fast joints
            may change velocity. Larger follows fast motion, smaller smooths more.
        meas_std_m: measurement noise r of a joint coordinate (m).
        robust_k: residual length, in its standard deviations, beyond which a joint
            measurement is down-weighted (module docstring; 0 disables it).
        conf_ref: joint confidence at and above which a measurement has the noise
            ``meas_std_m``; below it the standard deviation grows as ``conf_ref / conf``
            (weight ``(conf / conf_ref)²``, at least ``MIN_WEIGHT``). 0 ignores the
            confidences.
        fill_gaps: offline, output smoothed skeletons for the frames inside a track where
            the person was missed.
    """

    gate_m: float = 0.4
    max_speed: float = 1.5
    max_missed: int = 2
    accel_q: float = 2.5
    meas_std_m: float = 0.04
    robust_k: float = 1.5
    conf_ref: float = 0.6
    fill_gaps: bool = True

    def __post_init__(self) -> None:
        for name in ("gate_m", "max_speed", "accel_q", "meas_std_m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v <= 0:
                raise ValueError(f"TrackerConfig.{name} must be a positive number, got {v!r}")
        for name in ("robust_k", "conf_ref"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"TrackerConfig.{name} must be a number >= 0 (0: off), got "
                                 f"{v!r}")
        if isinstance(self.max_missed, bool) or not isinstance(self.max_missed, int) \
                or self.max_missed < 0:
            raise ValueError(f"TrackerConfig.max_missed must be an int >= 0, got "
                             f"{self.max_missed!r}")
        if not isinstance(self.fill_gaps, bool):
            raise ValueError(f"TrackerConfig.fill_gaps must be a bool, got {self.fill_gaps!r}")


class TrackedSkeletons(NamedTuple):
    """The people of one frame after tracking (P may be 0), best score first.

    Fields:
        joints: (P, J, 3) world joints (m), filtered or smoothed.
        confidence: (P, J) per-joint confidence, as the per-frame estimate gave it (a
            filled frame: the mean of the observations on either side).
        scores: (P,) person scores (ranking), as the per-frame estimate gave them.
        track_ids: (P,) int, persistent id of each person's track.
        filled: (P,) bool, the person was not found in this frame: joints and scores come
            from the track (offline gap filling).
    """

    joints: np.ndarray
    confidence: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    filled: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.joints.shape[0])


def frame_arrays(people) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(joints (P, J, 3), confidence (P, J), scores (P,))`` of one frame's estimate:
    :class:`~selfpose3d_core.models.estimator.Skeletons`, the triangulation baseline's
    ``Poses3D`` (joint confidence = ``joint_valid``) or :class:`TrackedSkeletons`."""
    joints = np.asarray(people.joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"frame_arrays: joints must be (P, J, 3), got {joints.shape}")
    if hasattr(people, "confidence"):
        conf = np.asarray(people.confidence, dtype=np.float64)
    elif hasattr(people, "joint_valid"):
        conf = np.asarray(people.joint_valid, dtype=np.float64)
    else:
        conf = np.ones(joints.shape[:2])
    scores = np.asarray(people.scores, dtype=np.float64).reshape(-1)
    if conf.shape != joints.shape[:2] or scores.shape != joints.shape[:1]:
        raise ValueError(f"frame_arrays: confidence must be (P, J) and scores (P,) for joints "
                         f"{joints.shape}, got {conf.shape}, {scores.shape}")
    return joints, conf, scores


# ---------------------------------------------------------------- Kalman primitives
def _transition(dt: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(F (2, 2), Q (2, 2)) of the constant-velocity model over ``dt`` seconds."""
    F = np.array([[1.0, dt], [0.0, 1.0]])
    Q = q * np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
    return F, Q


def _predict(m: np.ndarray, P: np.ndarray, F: np.ndarray, Q: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """One prediction step. m: (*, 2, 3) (position, velocity) × xyz; P: (*, 2, 2)."""
    return F @ m, F @ P @ F.T + Q


def _update(m: np.ndarray, P: np.ndarray, z: np.ndarray, r2: float, robust_k: float,
            w: np.ndarray | None = None, conf_w: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update where ``z`` is finite (NaN rows: no measurement, state unchanged).

    m: (*, 2, 3); P: (*, 2, 2); z: (*, 3) measured positions; w: (*) given measurement
    weights (variance ``r2 / w``), else from the innovation when ``robust_k`` > 0, times
    ``conf_w`` (*) (weights from the joints' confidences) when given.
    """
    seen = np.isfinite(z).all(-1)  # (*)
    if conf_w is not None:
        r2 = r2 / np.maximum(conf_w, 1e-12)  # (*) the joint's own noise
    S0 = P[..., 0, 0] + r2  # (*) innovation variance per coordinate
    y = np.where(seen[..., None], z - m[..., 0, :], 0.0)  # (*, 3)
    if w is not None:
        w = np.maximum(w, 1e-12)
    elif robust_k > 0:
        e = np.linalg.norm(y, axis=-1) / np.sqrt(3.0 * S0)  # (*) innovation length in σ
        w = _robust_weight(e, robust_k, P[..., 0, 0], r2)
    else:
        w = np.ones_like(S0)
    S = P[..., 0, 0] + r2 / w  # (*)
    K = np.where(seen[..., None], P[..., :, 0] / S[..., None], 0.0)  # (*, 2) gain
    m = m + K[..., :, None] * y[..., None, :]
    P = P - K[..., :, None] * K[..., None, :] * S[..., None, None]
    return m, P


def _confidence_weight(conf: np.ndarray, conf_ref: float) -> np.ndarray:
    """Measurement weights (variance ``r² / w``) from joint confidences (*): 1 at and above
    ``conf_ref``, ``(conf / conf_ref)²`` below (the joint's error grows about as 1 / conf:
    README, "Temporal fusion"), at least :data:`MIN_WEIGHT`; all 1 when ``conf_ref`` is 0."""
    if conf_ref <= 0:
        return np.ones(np.shape(conf))
    c = np.nan_to_num(np.asarray(conf, dtype=np.float64), nan=0.0)
    return np.clip((c / conf_ref) ** 2, MIN_WEIGHT, 1.0)


def _robust_weight(e: np.ndarray, k: float, prior_var: np.ndarray, r2: float) -> np.ndarray:
    """Measurement weights (variance ``r2 / w``) for residuals ``e`` (in standard deviations
    of ``prior_var + r2``, the variance of the residual): 1 up to ``k``, beyond it the
    variance that makes the measurement's share of the estimate ``(k / e)²`` of its share
    at weight 1 — its pull on the track then falls as ``1 / e``. All shapes (*)."""
    s0 = prior_var + r2
    r_eff = np.maximum(s0 * (e / k) ** 2 - prior_var, r2)
    return np.where(e > k, r2 / r_eff, 1.0)


def _initial_state(z: np.ndarray, r2: float) -> tuple[np.ndarray, np.ndarray]:
    """State of new tracks from their first measurement z: (*, 3) (NaN joints start at 0
    with a huge variance, so their first real measurement sets them)."""
    seen = np.isfinite(z).all(-1)  # (*)
    m = np.zeros(z.shape[:-1] + (2, 3))
    m[..., 0, :] = np.where(seen[..., None], z, 0.0)
    P = np.zeros(z.shape[:-1] + (2, 2))
    P[..., 0, 0] = np.where(seen, r2, 1e6)
    P[..., 1, 1] = INITIAL_SPEED_STD ** 2
    return m, P


def _mean_joint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, P) mean distance over the joints both have between a: (K, J, 3), b: (P, J, 3)."""
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (K, P, J)
    both = np.isfinite(d)
    n = both.sum(-1)
    mean = np.where(both, d, 0.0).sum(-1) / np.maximum(n, 1)
    return np.where(n > 0, mean, np.inf)


def _sorted(out: TrackedSkeletons) -> TrackedSkeletons:
    order = np.argsort(-out.scores, kind="stable")
    return TrackedSkeletons(*(a[order] for a in out))


# ---------------------------------------------------------------- online tracker
class SkeletonTracker:
    """Online multi-person tracker with a per-joint Kalman filter (causal).

    >>> tr = SkeletonTracker(TrackerConfig())                  # doctest: +SKIP
    >>> out = tr.update(joints, confidence, scores, stamp)     # each frame, in order
    >>> out.track_ids, out.joints                              # ids and filtered joints
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track (e.g. after a jump back in time); new tracks keep getting new
        ids (an id is never reused by one tracker)."""
        self._ids = np.zeros(0, np.int64)  # (K,)
        self._m = np.zeros((0, 0, 2, 3))  # (K, J, 2, 3)
        self._P = np.zeros((0, 0, 2, 2))  # (K, J, 2, 2)
        self._missed = np.zeros(0, np.int64)  # (K,)
        self._seen = np.zeros(0)  # (K,) stamp of each track's last match
        self._stamp: float | None = None

    @property
    def num_tracks(self) -> int:
        """Live tracks."""
        return int(self._ids.shape[0])

    @property
    def num_ids(self) -> int:
        """Ids given so far (ids are 0 … num_ids − 1)."""
        return self._next_id

    def step(self, joints: np.ndarray, stamp: float, confidence: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Associate one frame and run the filter; returns ``(track_ids (P,) of the frame's
        people, their filtered joints (P, J, 3))``.

        joints: (P, J, 3) metres (NaN: joint not estimated); stamp: seconds, not
        decreasing; confidence: (P, J) per-joint confidence (weights the measurements
        when ``conf_ref`` > 0; None: all 1).
        """
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[-1] != 3:
            raise ValueError(f"SkeletonTracker: joints must be (P, J, 3), got {joints.shape}")
        if self._stamp is not None and not stamp >= self._stamp:
            raise ValueError(f"SkeletonTracker: stamps must not decrease, got {stamp} after "
                             f"{self._stamp}")
        cfg = self.config
        r2 = cfg.meas_std_m ** 2
        P_, J = joints.shape[:2]
        if self.num_tracks and self._m.shape[1] != J:
            raise ValueError(f"SkeletonTracker: {J} joints after {self._m.shape[1]}")
        gate = np.full(self.num_tracks, cfg.gate_m)  # (K,)
        if self.num_tracks:
            F, Q = _transition(stamp - self._stamp, cfg.accel_q)
            self._m, self._P = _predict(self._m, self._P, F, Q)
            gate = gate + cfg.max_speed * (self._stamp - self._seen)
        self._stamp = float(stamp)
        pred = self._m[:, :, 0, :]  # (K, J, 3)
        cost = _mean_joint_distance(pred, joints) if self.num_tracks and P_ else \
            np.zeros((self.num_tracks, P_))
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
        ok = cost[rows, cols] < gate[rows]
        rows, cols = rows[ok], cols[ok]
        ids = np.full(P_, -1, np.int64)
        # matched tracks: Kalman update
        if rows.size:
            w = None if confidence is None or cfg.conf_ref <= 0 else \
                _confidence_weight(np.asarray(confidence)[cols], cfg.conf_ref)
            m, P = _update(self._m[rows], self._P[rows], joints[cols], r2, cfg.robust_k,
                           conf_w=w)
            self._m[rows], self._P[rows] = m, P
            ids[cols] = self._ids[rows]
        matched = np.zeros(self.num_tracks, bool)
        matched[rows] = True
        self._missed = np.where(matched, 0, self._missed + 1)
        self._seen = np.where(matched, stamp, self._seen)
        # unmatched people: new tracks
        new = np.flatnonzero(ids < 0)
        if new.size:
            m, P = _initial_state(joints[new], r2)  # (N, J, 2, 3), (N, J, 2, 2)
            new_ids = self._next_id + np.arange(new.size)
            self._next_id += int(new.size)
            ids[new] = new_ids
            if not self.num_tracks:
                self._m, self._P = self._m.reshape(0, J, 2, 3), self._P.reshape(0, J, 2, 2)
            self._ids = np.concatenate([self._ids, new_ids])
            self._m = np.concatenate([self._m, m])
            self._P = np.concatenate([self._P, P])
            self._missed = np.concatenate([self._missed, np.zeros(new.size, np.int64)])
            self._seen = np.concatenate([self._seen, np.full(new.size, float(stamp))])
        # tracks missed too long end
        keep = self._missed <= cfg.max_missed
        self._ids, self._m, self._P, self._missed, self._seen = (
            self._ids[keep], self._m[keep], self._P[keep], self._missed[keep], self._seen[keep])
        where = np.searchsorted(self._ids, ids)  # ids are increasing: new ones appended
        filtered = self._m[where, :, 0, :] if P_ else np.zeros((0, J, 3))
        return ids, filtered

    def update(self, joints: np.ndarray, confidence: np.ndarray, scores: np.ndarray,
               stamp: float) -> TrackedSkeletons:
        """Track one frame: joints (P, J, 3), confidence (P, J), scores (P,), stamp (s).

        Returns the frame's people with their track ids and filtered joints.
        """
        joints = np.asarray(joints, dtype=np.float64)
        confidence = np.asarray(confidence, dtype=np.float64)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if confidence.shape != joints.shape[:2] or scores.shape != joints.shape[:1]:
            raise ValueError(f"SkeletonTracker.update: confidence must be (P, J) and scores "
                             f"(P,) for joints {joints.shape}, got {confidence.shape}, "
                             f"{scores.shape}")
        ids, filtered = self.step(joints, stamp, confidence)
        return _sorted(TrackedSkeletons(filtered, confidence, scores, ids,
                                        np.zeros(len(ids), bool)))


# ---------------------------------------------------------------- offline smoother
def _rts(Z: np.ndarray, stamps: np.ndarray, first: np.ndarray, last: np.ndarray,
         config: TrackerConfig, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward Kalman filter + Rauch–Tung–Striebel backward pass over every track at once.

    Z: (F, K, J, 3) measurements (NaN: none); first, last: (K,) a track's first and last
    observed frame; weights: (F, K, J) measurement weights (variance r² / w). Returns the
    smoothed positions (F, K, J, 3) and their variances (F, K, J) per coordinate.
    """
    Fn, K, J = Z.shape[:3]
    r2 = config.meas_std_m ** 2
    t_idx = np.arange(Fn)[:, None]
    alive = (t_idx >= first) & (t_idx <= last)  # (F, K)
    mf = np.zeros((Fn, K, J, 2, 3))
    Pf = np.zeros((Fn, K, J, 2, 2))
    mp, Pp = np.zeros_like(mf), np.zeros_like(Pf)
    m, P = _initial_state(np.full((K, J, 3), np.nan), r2)
    for f in range(Fn):
        if f:
            Fm, Q = _transition(stamps[f] - stamps[f - 1], config.accel_q)
            m, P = _predict(m, P, Fm, Q)
        mp[f], Pp[f] = m, P
        starts = first == f  # (K,) tracks that begin here: a broad prior on the position
        if starts.any():
            m[starts], P[starts] = _initial_state(np.full((int(starts.sum()), J, 3), np.nan),
                                                  r2)
        z = np.where(alive[f][:, None, None], Z[f], np.nan)  # (K, J, 3)
        m, P = _update(m, P, z, r2, 0.0, weights[f])
        mf[f], Pf[f] = m, P
    ms, Ps = mf.copy(), Pf.copy()
    for f in range(Fn - 2, -1, -1):
        go = alive[f] & (f < last)  # (K,) a track's last frame keeps its filtered state
        if not go.any():
            continue
        Fm, _ = _transition(stamps[f + 1] - stamps[f], config.accel_q)
        Pp1 = Pp[f + 1, go]  # (k, J, 2, 2)
        G = Pf[f, go] @ Fm.T @ np.linalg.inv(Pp1)  # (k, J, 2, 2) smoother gain
        ms[f, go] = mf[f, go] + G @ (ms[f + 1, go] - mp[f + 1, go])
        Ps[f, go] = Pf[f, go] + G @ (Ps[f + 1, go] - Pp1) @ np.swapaxes(G, -1, -2)
    return ms[..., 0, :], Ps[..., 0, 0]


def smooth_sequence(frames: Sequence, stamps: Sequence[float],
                    config: TrackerConfig = TrackerConfig()) -> list[TrackedSkeletons]:
    """Track and smooth a recording's per-frame estimates (offline).

    Association as :class:`SkeletonTracker`; then the RTS smoother over every track. With
    ``robust_k`` > 0 the smoother is iterated (``ROBUST_ITERATIONS`` times): each joint
    measurement is re-weighted by ``(k / e)²`` where it lies ``e`` > ``k`` standard
    deviations from the track as every *other* measurement places it (the leave-one-out
    estimate, from the smoother's mean and variance), so a wrong joint is judged against
    the frames before and after it.

    Args:
        frames: per frame, the estimate — anything :func:`frame_arrays` reads
            (:class:`Skeletons`, ``Poses3D``, ...), in time order.
        stamps: (F,) non-decreasing timestamps (s).
        config: the tracker settings.
    Returns:
        per frame, the tracked people with smoothed joints (and filled gaps).
    """
    stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
    if len(frames) != stamps.shape[0]:
        raise ValueError(f"smooth_sequence: {len(frames)} frames but {stamps.shape[0]} stamps")
    if not np.isfinite(stamps).all() or (np.diff(stamps) < 0).any():
        raise ValueError("smooth_sequence: stamps must be finite and non-decreasing")
    arrays = [frame_arrays(f) for f in frames]
    Fn = len(arrays)
    J = next((a[0].shape[1] for a in arrays if a[0].shape[0]), 15)
    tracker = SkeletonTracker(config)
    ids = [tracker.step(a[0], float(t))[0] for a, t in zip(arrays, stamps)]
    K = tracker.num_ids
    if K == 0:
        return [TrackedSkeletons(np.zeros((0, J, 3)), np.zeros((0, J)), np.zeros(0),
                                 np.zeros(0, np.int64), np.zeros(0, bool)) for _ in arrays]
    # the recording as a (F, K) grid of observations
    Z = np.full((Fn, K, J, 3), np.nan)
    C = np.zeros((Fn, K, J))
    S = np.full((Fn, K), np.nan)
    for f, ((jt, cf, sc), i) in enumerate(zip(arrays, ids)):
        Z[f, i], C[f, i], S[f, i] = jt, cf, sc
    obs = np.isfinite(S)  # (F, K) the track has the person in this frame
    first = obs.argmax(0)  # (K,)
    last = Fn - 1 - obs[::-1].argmax(0)
    t_idx = np.arange(Fn)[:, None]
    alive = (t_idx >= first) & (t_idx <= last)  # (F, K)
    has = np.isfinite(Z).all(-1)  # (F, K, J)
    w_conf = np.where(has, _confidence_weight(C, config.conf_ref), 0.0)  # (F, K, J)
    w = w_conf
    pos, var = _rts(Z, stamps, first, last, config, w)
    if config.robust_k > 0:
        r2 = config.meas_std_m ** 2
        for _ in range(ROBUST_ITERATIONS):
            # leave-one-out: the track at each frame from every other measurement
            # (information form: 1 / var = 1 / var_loo + w / r²)
            info = np.maximum(1.0 / var - w / r2, 1e-12)  # (F, K, J)
            loo = (pos / var[..., None] - (w / r2)[..., None] * np.nan_to_num(Z)) \
                / info[..., None]  # (F, K, J, 3)
            r2_own = r2 / np.maximum(w_conf, 1e-12)  # (F, K, J) each joint's own noise
            e = np.linalg.norm(Z - loo, axis=-1) / np.sqrt(3.0 * (1.0 / info + r2_own))
            w = w_conf * np.where(has, _robust_weight(e, config.robust_k, 1.0 / info, r2_own),
                                  0.0)
            pos, var = _rts(Z, stamps, first, last, config, w)
    # joints a track never measured stay NaN
    pos = np.where((var < 1e4)[..., None], pos, np.nan)  # (F, K, J, 3)
    # gap frames: scores / confidences from the observations on either side
    filled = alive & ~obs if config.fill_gaps else np.zeros_like(obs)
    prev_f = np.maximum.accumulate(np.where(obs, t_idx, -1), axis=0)  # (F, K)
    next_f = np.flip(np.minimum.accumulate(np.flip(np.where(obs, t_idx, Fn), 0), axis=0), 0)
    kk = np.broadcast_to(np.arange(K), (Fn, K))
    pi, ni = np.clip(prev_f, 0, Fn - 1), np.clip(next_f, 0, Fn - 1)
    S_fill = 0.5 * (S[pi, kk] + S[ni, kk])  # (F, K)
    C_fill = 0.5 * (C[pi, kk] + C[ni, kk])  # (F, K, J)
    out = []
    for f in range(Fn):
        k = np.flatnonzero(obs[f] | filled[f])
        fill = filled[f, k]
        out.append(_sorted(TrackedSkeletons(
            pos[f, k], np.where(fill[:, None], C_fill[f, k], C[f, k]),
            np.where(fill, S_fill[f, k], S[f, k]), k.astype(np.int64), fill)))
    return out
