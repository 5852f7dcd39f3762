"""Optimisation baseline: cross-view matching of pseudo 2D poses + robust triangulation.

No learning and no ground truth: the lower bound the self-supervised network must beat.
Letters: V views, J = 15 joints (PANOPTIC15), N detections of a frame pooled over the
views, C candidate people (clusters), P output people.

Per frame (:class:`TriangulationBaseline`):

1. **Detections.** Every view's 2D poses are converted to PANOPTIC15
   (:func:`~selfpose3d_core.skeleton.convert_joints`; a derived joint's confidence is the
   minimum of its sources — the network's input takes the mean, which scored worse here:
   validation rig seed 201 AP50 66.4 with the minimum, 63.8 with the mean). Detections
   with a person score below ``min_person_score`` or fewer than ``min_joints_2d`` joints
   of confidence ≥ ``min_joint_conf`` are ignored.
2. **Affinities.** Between every two detections of different views: the symmetric
   epipolar distance of their confident joints (undistorted normalised coordinates and
   the essential matrix of the calibrated pair, turned into pixels by the focal length,
   as a fraction of the image diagonal), averaged over the joints confident in both; also
   with one detection mirrored left↔right, keeping the better (:mod:`.matching`).
3. **Clustering.** Greedy average-linkage merging in increasing distance with at most one
   detection per view (:func:`~.matching.greedy_cluster`); each cluster's left/right
   orientations from a margin-weighted consensus of its pairs
   (:func:`~.matching.orientation_consensus`). Clusters of one detection are dropped.
4. **Refinement** (at most ``refine_iterations`` rounds, until nothing changes).
   Triangulate every cluster; project it into every view; re-assign *all* detections to
   the clusters by their median joint reprojection error (each in its better
   orientation), below ``reprojection_threshold``, one detection per view per cluster:
   clusters with more views are served first, each taking per view its best-fitting free
   detection (a two-view cluster fits its own detections whatever they are, so a ghost
   made of two people's detections must not keep them). This removes members that do
   not fit, adds detections the epipolar step missed, fixes each view's left/right
   orientation against the 3D consensus, and lets duplicate clusters (one person split
   in two) starve.
5. **Triangulation.** Each joint by :func:`~selfpose3d_core.geometry.triangulation.
   triangulate_robust` (weighted DLT, drops the single worst view when its error exceeds
   ``outlier_threshold``), weights = joint confidences, 0 below ``min_joint_conf``.
6. **Joint validity — fill, don't drop.** A joint is *valid* when ≥ 2 views were used
   and its largest reprojection error over them is ≤ ``joint_error_threshold``. Invalid
   joints are *filled* so every output is finite (evaluation needs all J joints): with a
   DLT over every member view weighted by the raw confidences, however low (one confident
   view fixes the ray, the detector's low-confidence guesses its depth; on the synthetic
   rigs: median error 13 cm against 17 cm for an unweighted DLT), or, where that lands
   more than ``max_joint_distance_m`` from the centroid of the valid joints, with that
   centroid.
   ``joint_valid`` says which joints are measurements.
7. **Left/right chirality** (``fix_chirality``). Geometry cannot tell a person from its
   mirror image when the views are swapped alike (detectors swap people seen from
   behind); the refinement keeps whichever orientation the views' majority gave. If the
   nose, neck and shoulders are valid and the nose lies more than ``chirality_margin_m``
   *behind* the neck along the facing direction ``(l_shoulder − r_shoulder) × up``, left
   and right are exchanged. The margin matters: the nose is the noisiest joint (occluded
   from behind); at 0.04 m the rule fixed 5 of 10 mirrored people of a synthetic set
   with 15 % swapped detections and broke 1 of 575 correct ones on another (at 0 m, 5).
8. **Scoring and filters.** ``score = mean confidence of the used observations ×
   (valid joints / J) × (views / V)^½`` — more views and confident joints rank higher,
   two-view ghosts lower. People with fewer than ``min_views`` views or
   ``min_valid_joints`` valid joints, or whose root (mid-hip) is outside the room box,
   are dropped; a person closer than ``merge_distance_m`` (mean joint distance) to a
   higher-scored one is suppressed; at most ``max_people`` are kept, by score.

Thresholds in image space are fractions of each view's image diagonal: 0.02 is 16 px on
640 × 480 and 26 px on 1032 × 776 (Shelf). The defaults were chosen on the synthetic rigs
(5 and 4 views, 640 × 480 and 1032 × 776); results barely move when the epipolar and
reprojection thresholds are halved or doubled. ``min_joint_conf`` = 0.5 matters most
(AP@25 mm 22 → 37 % on the default rig against 0.25): low-confidence joints are the
noisy ones, for the synthetic detector as for HRNet-style heatmap peaks.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..data.dataset import MultiViewDataset, ViewKeypoints
from ..geometry.camera import Camera
from ..geometry.grid import VoxelGrid
from ..geometry.projection import project_numpy, undistort_points_numpy
from ..geometry.triangulation import Triangulation, triangulate_dlt, triangulate_robust
from ..skeleton import JOINT_SETS, PANOPTIC15, convert_joints
from .matching import (
    essential_matrices,
    greedy_cluster,
    orientation_consensus,
    pairwise_epipolar_distances,
)

__all__ = ["TriangulationBaselineConfig", "Poses3D", "TriangulationBaseline",
           "run_triangulation_baseline"]

log = logging.getLogger(__name__)

J = PANOPTIC15.num_joints
_FLIP = PANOPTIC15.flip_permutation()
_IDX = PANOPTIC15.index
_ROOT, _NECK, _NOSE = PANOPTIC15.root, _IDX("neck"), _IDX("nose")
_LSH, _RSH = _IDX("l_shoulder"), _IDX("r_shoulder")


@dataclass(frozen=True)
class TriangulationBaselineConfig:
    """Settings of the triangulation baseline (image-space thresholds: fractions of each
    view's image diagonal; 0.01 ≈ 8 px at 640 × 480, 13 px at 1032 × 776).

    Attributes:
        min_joint_conf: joints below this confidence are not used, [0, 1].
        min_person_score: detections below this person score are ignored, [0, 1].
        min_joints_2d: detections with fewer confident joints are ignored, [2, 15].
        min_common_joints: detection pairs need this many joints confident in both to be
            compared, [1, 15].
        epipolar_threshold: largest mean epipolar distance to link detections, (0, 1].
        reprojection_threshold: largest median joint reprojection error for a detection
            to belong to a person during refinement, (0, 1].
        outlier_threshold: a joint's worst view is dropped when its error exceeds this
            (``triangulate_robust``'s ``outlier_px``, here relative), (0, 1].
        joint_error_threshold: a triangulated joint is valid when its largest error over
            the views used is at most this, (0, 1].
        refine_iterations: re-assignment rounds after the epipolar clustering, [0, 10].
        min_views: fewer views and a person is dropped, [2, 64].
        min_valid_joints: fewer valid joints and a person is dropped, [1, 15].
        max_joint_distance_m: filled joints farther than this from the valid joints'
            centroid are replaced by the centroid (m), > 0.
        merge_distance_m: people closer than this (mean joint distance, m) to a
            higher-scored one are suppressed, ≥ 0.
        max_people: keep at most this many people per frame (highest scores), [1, 100].
        fix_chirality: exchange left/right of people whose nose is behind the neck.
        chirality_margin_m: how far behind (m) before exchanging, [0, 1].
        room_center: (x, y, z) centre of the room box (m), or None: no room check.
        room_size: (x, y, z) size of the room box (m); given with ``room_center``.
    """

    min_joint_conf: float = 0.5
    min_person_score: float = 0.2
    min_joints_2d: int = 5
    min_common_joints: int = 4
    epipolar_threshold: float = 0.02
    reprojection_threshold: float = 0.03
    outlier_threshold: float = 0.03
    joint_error_threshold: float = 0.04
    refine_iterations: int = 3
    min_views: int = 2
    min_valid_joints: int = 6
    max_joint_distance_m: float = 1.2
    merge_distance_m: float = 0.25
    max_people: int = 20
    fix_chirality: bool = True
    chirality_margin_m: float = 0.04
    room_center: tuple[float, float, float] | None = None
    room_size: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        name = "TriangulationBaselineConfig"

        def check_range(field: str, lo: float, hi: float, open_lo: bool = False) -> None:
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or not (lo < v <= hi if open_lo else lo <= v <= hi):
                interval = f"({lo}, {hi}]" if open_lo else f"[{lo}, {hi}]"
                raise ValueError(f"{name}.{field} must be in {interval}, got {v!r}")

        for f in ("min_joint_conf", "min_person_score"):
            check_range(f, 0.0, 1.0)
        for f in ("epipolar_threshold", "reprojection_threshold", "outlier_threshold",
                  "joint_error_threshold"):
            check_range(f, 0.0, 1.0, open_lo=True)
        for f, lo, hi in (("min_joints_2d", 2, J), ("min_common_joints", 1, J),
                          ("refine_iterations", 0, 10), ("min_views", 2, 64),
                          ("min_valid_joints", 1, J), ("max_people", 1, 100)):
            if not isinstance(getattr(self, f), int) or isinstance(getattr(self, f), bool):
                raise ValueError(f"{name}.{f} must be an integer, got {getattr(self, f)!r}")
            check_range(f, lo, hi)
        check_range("max_joint_distance_m", 0.0, 1e3, open_lo=True)
        check_range("merge_distance_m", 0.0, 1e3)
        check_range("chirality_margin_m", 0.0, 1.0)
        if not isinstance(self.fix_chirality, bool):
            raise ValueError(f"{name}.fix_chirality must be a bool, got {self.fix_chirality!r}")
        if (self.room_center is None) != (self.room_size is None):
            raise ValueError(f"{name}: room_center and room_size go together, got "
                             f"{self.room_center!r} and {self.room_size!r}")
        for f in ("room_center", "room_size"):
            v = getattr(self, f)
            if v is None:
                continue
            try:
                t = tuple(float(x) for x in v)
            except (TypeError, ValueError):
                raise ValueError(f"{name}.{f} must be 3 numbers, got {v!r}") from None
            if len(t) != 3 or not all(map(math.isfinite, t)) or (
                    f == "room_size" and min(t) <= 0):
                raise ValueError(f"{name}.{f} must be 3 finite numbers (sizes > 0), got {v!r}")
            object.__setattr__(self, f, t)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriangulationBaselineConfig:
        """Build from plain data (e.g. YAML); unknown keys → ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"TriangulationBaselineConfig: expected a mapping, "
                             f"got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"TriangulationBaselineConfig: unknown keys {sorted(unknown)}; "
                             f"allowed {sorted(known)}")
        kw = dict(data)
        for f in fields(cls):  # YAML floats for int fields: accept 2.0, reject 2.5
            v = kw.get(f.name)
            if f.type == "int" and isinstance(v, float) and v.is_integer():
                kw[f.name] = int(v)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def with_room(self, room: VoxelGrid | None) -> TriangulationBaselineConfig:
        """A copy whose room box is ``room``'s extent (None: no room check)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["room_center"] = None if room is None else room.center
        d["room_size"] = None if room is None else room.size
        return TriangulationBaselineConfig(**d)


class Poses3D(NamedTuple):
    """The 3D people of one frame (PANOPTIC15, world metres, z up), best score first.

    Fields:
        joints: (P, 15, 3) joint positions (m); always finite (invalid joints filled).
        joint_valid: (P, 15) bool, the joint was triangulated within the error threshold.
        scores: (P,) confidence in [0, 1], for ranking (AP).
        num_views: (P,) int, views whose detection was assigned to the person.
    """

    joints: np.ndarray
    joint_valid: np.ndarray
    scores: np.ndarray
    num_views: np.ndarray

    @staticmethod
    def empty() -> Poses3D:
        return Poses3D(np.zeros((0, J, 3)), np.zeros((0, J), bool), np.zeros(0),
                       np.zeros(0, np.int64))

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])


class _Detections(NamedTuple):
    """One frame's usable detections pooled over views (N of them).

    kp (N, J, 2) pixels; conf (N, J); valid (N, J) conf ≥ min; xn (N, J, 2) undistorted
    normalised; view (N,) int; score (N,).
    """

    kp: np.ndarray
    conf: np.ndarray
    valid: np.ndarray
    xn: np.ndarray
    view: np.ndarray
    score: np.ndarray


class _Clusters(NamedTuple):
    """C candidate people: member (C, V) detection index or −1; mirror (C, V) bool."""

    member: np.ndarray
    mirror: np.ndarray


class TriangulationBaseline:
    """Per-frame multi-person 3D poses from multi-view 2D poses (see module docstring).

    Args:
        cameras: the V calibrated cameras (V ≥ 2).
        config: settings; default :class:`TriangulationBaselineConfig`.
        joint_set: the joint set of the 2D poses (a ``skeleton.JOINT_SETS`` name).

    Example:
        >>> ds = MultiViewDataset("/tmp/synth")                  # doctest: +SKIP
        >>> baseline = TriangulationBaseline(ds.cameras, joint_set=ds.joint_set)  # +SKIP
        >>> baseline(ds.keypoints(0)).joints.shape               # doctest: +SKIP
        (3, 15, 3)
    """

    def __init__(self, cameras: Sequence[Camera], config: TriangulationBaselineConfig | None
                 = None, joint_set: str = "coco17"):
        self.cameras = tuple(cameras)
        if len(self.cameras) < 2 or not all(isinstance(c, Camera) for c in self.cameras):
            raise ValueError(f"TriangulationBaseline: need at least 2 Camera objects, got "
                             f"{[type(c).__name__ for c in self.cameras]}")
        if joint_set not in JOINT_SETS:
            raise ValueError(f"TriangulationBaseline: joint_set must be one of "
                             f"{sorted(JOINT_SETS)}, got {joint_set!r}")
        self.config = config if config is not None else TriangulationBaselineConfig()
        if not isinstance(self.config, TriangulationBaselineConfig):
            raise ValueError(f"TriangulationBaseline: config must be a "
                             f"TriangulationBaselineConfig, got {type(config).__name__}")
        self.joint_set = JOINT_SETS[joint_set]
        self._E = essential_matrices(self.cameras)  # (V, V, 3, 3)
        diag = np.array([math.hypot(c.width, c.height) for c in self.cameras])
        self._diag = diag  # (V,) px
        focal = np.array([math.sqrt(c.K[0, 0] * c.K[1, 1]) for c in self.cameras])
        self._scale = focal / diag  # (V,) normalised units → fraction of the diagonal
        self._outlier_px = self.config.outlier_threshold * float(diag.mean())

    @property
    def num_views(self) -> int:
        return len(self.cameras)

    # ------------------------------------------------------------------ public
    def __call__(self, views: Sequence[ViewKeypoints]) -> Poses3D:
        """The 3D people of one frame.

        Args:
            views: V :class:`ViewKeypoints` in camera order, each keypoints (P_v, J_src, 2)
                pixels, conf (P_v, J_src), scores (P_v,) in the joint set given at
                construction (P_v may be 0).
        Returns:
            :class:`Poses3D` (P people, best score first).
        """
        cfg = self.config
        dets = self._detections(views)
        if dets.view.shape[0] < cfg.min_views:
            return Poses3D.empty()
        clusters = self._initial_clusters(dets)
        for _ in range(cfg.refine_iterations):
            if clusters.member.shape[0] == 0:
                break
            tri = self._triangulate(dets, clusters)
            new = self._reassign(dets, tri.points.reshape(-1, J, 3),
                                 (clusters.member >= 0).sum(1))
            converged = new.member.shape == clusters.member.shape and np.array_equal(
                new.member, clusters.member) and np.array_equal(new.mirror, clusters.mirror)
            clusters = new
            if converged:
                break
        clusters = self._keep(clusters, (clusters.member >= 0).sum(1) >= cfg.min_views)
        if clusters.member.shape[0] == 0:
            return Poses3D.empty()
        return self._finish(dets, clusters)

    # ------------------------------------------------------------------ steps
    def _detections(self, views: Sequence[ViewKeypoints]) -> _Detections:
        V, cfg = self.num_views, self.config
        if len(views) != V:
            raise ValueError(f"TriangulationBaseline: expected keypoints of {V} views, "
                             f"got {len(views)}")
        Js = self.joint_set.num_joints
        kps, confs, scores = [], [], []
        for v, vk in enumerate(views):  # validation and pooling, V entries
            k = np.asarray(vk.keypoints, np.float64)
            c = np.asarray(vk.conf, np.float64)
            s = np.asarray(vk.scores, np.float64)
            P = s.shape[0] if s.ndim == 1 else -1
            if k.shape != (P, Js, 2) or c.shape != (P, Js):
                raise ValueError(f"TriangulationBaseline: view {v}: expected keypoints "
                                 f"(P, {Js}, 2), conf (P, {Js}), scores (P,) for "
                                 f"{self.joint_set.name}; got {k.shape}, {c.shape}, {s.shape}")
            kps.append(k)
            confs.append(c)
            scores.append(s)
        kp = np.concatenate(kps)  # (N, Js, 2)
        conf = np.concatenate(confs)  # (N, Js)
        score = np.concatenate(scores)  # (N,)
        view = np.repeat(np.arange(V), [s.shape[0] for s in scores])  # (N,)
        kp, conf = convert_joints(kp, self.joint_set, PANOPTIC15, conf,
                                  conf_rule="min")  # (N, J, 2), (N, J)
        valid = conf >= cfg.min_joint_conf
        keep = (score >= cfg.min_person_score) & (valid.sum(1) >= cfg.min_joints_2d) \
            & np.isfinite(kp).all((1, 2))
        kp, conf, valid, view, score = kp[keep], conf[keep], valid[keep], view[keep], \
            score[keep]
        xn = np.zeros_like(kp)
        for v in np.unique(view):  # ≤ V cameras; undistortion is per camera
            sel = view == v
            xn[sel] = undistort_points_numpy(kp[sel], self.cameras[v])
        return _Detections(kp=kp, conf=conf, valid=valid, xn=xn, view=view, score=score)

    def _initial_clusters(self, dets: _Detections) -> _Clusters:
        cfg = self.config
        pd = pairwise_epipolar_distances(dets.xn, dets.valid, dets.view, self._E, self._scale,
                                         _FLIP, cfg.min_common_joints)
        labels = greedy_cluster(pd.dist, dets.view, cfg.epipolar_threshold)
        ids, counts = np.unique(labels, return_counts=True)
        ids = ids[counts >= 2]
        member = -np.ones((ids.shape[0], self.num_views), np.int64)
        mirror = np.zeros(member.shape, bool)
        for c, lab in enumerate(ids):  # a handful of clusters
            m = np.nonzero(labels == lab)[0]
            o = orientation_consensus(pd.mirrored[np.ix_(m, m)], pd.margin[np.ix_(m, m)])
            member[c, dets.view[m]] = m
            mirror[c, dets.view[m]] = o
        return _Clusters(member, mirror)

    def _observations(self, dets: _Detections, clusters: _Clusters):
        """Oriented 2D joints of every cluster member: uv (C, V, J, 2), conf (C, V, J)
        (0 where the view has no member)."""
        has = clusters.member >= 0  # (C, V)
        d = np.where(has, clusters.member, 0)
        perm = np.where(clusters.mirror[..., None], _FLIP, np.arange(J))  # (C, V, J)
        uv = dets.kp[d[..., None], perm]  # (C, V, J, 2)
        conf = np.where(has[..., None], dets.conf[d[..., None], perm], 0.0)  # (C, V, J)
        return uv, conf

    def _triangulate(self, dets: _Detections, clusters: _Clusters,
                     robust: bool = True) -> Triangulation:
        """Triangulate all clusters' joints at once; points (C·J, 3), errors (V, C·J)."""
        C, V = clusters.member.shape
        uv, conf = self._observations(dets, clusters)
        if robust:
            w = np.where(conf >= self.config.min_joint_conf, conf, 0.0)
        else:  # every member view, whatever its confidence (used to fill invalid joints)
            w = np.where(conf > 0, np.maximum(conf, 1e-3), 0.0)
        uv_v = uv.transpose(1, 0, 2, 3).reshape(V, C * J, 2)  # (V, C·J, 2)
        w_v = w.transpose(1, 0, 2).reshape(V, C * J)  # (V, C·J)
        if robust:
            return triangulate_robust(uv_v, self.cameras, w_v, self._outlier_px)
        return triangulate_dlt(uv_v, self.cameras, w_v)

    def _project(self, points: np.ndarray) -> np.ndarray:
        """points (C, J, 3) → (V, C, J, 2) pixels (NaN stays NaN)."""
        return np.stack([project_numpy(points, c) for c in self.cameras])

    def _reassign(self, dets: _Detections, points: np.ndarray, support: np.ndarray
                  ) -> _Clusters:
        """Assign every detection to a cluster it reprojects onto (greedy).

        Clusters are served in decreasing ``support`` (C,) (their current number of views),
        each taking per view its best-fitting free detection. A two-view cluster fits its
        own detections almost exactly whatever it is (its triangulation residual is only
        the epipolar distance), so serving well-supported clusters first keeps a ghost
        made of two people's detections from holding on to them.
        """
        cfg = self.config
        C, V, N = points.shape[0], self.num_views, dets.view.shape[0]
        proj = self._project(points)[dets.view]  # (N, C, J, 2): clusters in each det's view
        ok3d = np.isfinite(points).all(-1)  # (C, J)
        errs = []
        for perm in (np.arange(J), _FLIP):  # as detected, mirrored
            e = np.linalg.norm(proj - dets.kp[:, None, perm], axis=-1)  # (N, C, J)
            use = dets.valid[:, None, perm] & ok3d[None]  # (N, C, J)
            e = np.where(use, e, np.nan)
            with warnings.catch_warnings():  # all-NaN rows → NaN, handled below
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(e, axis=-1)  # (N, C)
            med = np.where(use.sum(-1) >= cfg.min_common_joints, med, np.inf)
            errs.append(med / self._diag[dets.view][:, None])
        mirror_nc = errs[1] < errs[0]
        cost = np.minimum(errs[0], errs[1])  # (N, C)
        n_idx, c_idx = np.nonzero(cost < cfg.reprojection_threshold)
        order = np.lexsort((cost[n_idx, c_idx], -support[c_idx]))
        member = -np.ones((C, V), np.int64)
        mirror = np.zeros((C, V), bool)
        taken = np.zeros(N, bool)
        for n, c in zip(n_idx[order], c_idx[order]):  # greedy: ~one entry per detection
            v = dets.view[n]
            if taken[n] or member[c, v] >= 0:
                continue
            taken[n] = True
            member[c, v] = n
            mirror[c, v] = mirror_nc[n, c]
        return self._keep(_Clusters(member, mirror), (member >= 0).sum(1) >= 2)

    @staticmethod
    def _keep(clusters: _Clusters, keep: np.ndarray) -> _Clusters:
        return _Clusters(clusters.member[keep], clusters.mirror[keep])

    def _finish(self, dets: _Detections, clusters: _Clusters) -> Poses3D:
        cfg = self.config
        C, V = clusters.member.shape
        tri = self._triangulate(dets, clusters)
        points = tri.points.reshape(C, J, 3)
        used = tri.used.reshape(V, C, J).transpose(1, 0, 2)  # (C, V, J)
        rel_err = (tri.errors / self._diag[:, None]).reshape(V, C, J).transpose(1, 0, 2)
        worst = np.where(used, rel_err, -np.inf).max(1)  # (C, J)
        valid = np.isfinite(points).all(-1) & (used.sum(1) >= 2) \
            & (worst <= cfg.joint_error_threshold)  # (C, J)

        # fill invalid joints: all-view DLT, else the valid joints' centroid
        fill = self._triangulate(dets, clusters, robust=False).points.reshape(C, J, 3)
        n_valid = valid.sum(1)  # (C,)
        centroid = (np.where(valid[..., None], np.nan_to_num(points), 0.0).sum(1)
                    / np.maximum(n_valid, 1)[:, None])  # (C, 3)
        far = ~np.isfinite(fill).all(-1) | (
            np.linalg.norm(np.nan_to_num(fill) - centroid[:, None], axis=-1)
            > cfg.max_joint_distance_m)
        fill = np.where(far[..., None], centroid[:, None], fill)
        joints = np.where(valid[..., None], points, fill)  # (C, J, 3)

        if cfg.fix_chirality:
            joints, valid = _fix_chirality(joints, valid, cfg.chirality_margin_m)

        _, conf = self._observations(dets, clusters)  # (C, V, J), in the order of `used`
        obs = used & (conf >= cfg.min_joint_conf)
        mean_conf = (conf * obs).sum((1, 2)) / np.maximum(obs.sum((1, 2)), 1)  # (C,)
        num_views = (clusters.member >= 0).sum(1)  # (C,)
        scores = mean_conf * (valid.sum(1) / J) * np.sqrt(num_views / V)

        keep = (num_views >= cfg.min_views) & (valid.sum(1) >= cfg.min_valid_joints)
        if cfg.room_center is not None:
            lo = np.asarray(cfg.room_center) - 0.5 * np.asarray(cfg.room_size)
            hi = lo + np.asarray(cfg.room_size)
            root = joints[:, _ROOT]
            keep &= np.all((root >= lo) & (root <= hi), axis=-1)
        order = np.nonzero(keep)[0]
        order = order[np.argsort(-scores[order], kind="stable")]
        order = _suppress(joints[order], valid[order], cfg.merge_distance_m, order)
        order = order[:cfg.max_people]
        return Poses3D(joints=joints[order], joint_valid=valid[order],
                       scores=scores[order], num_views=num_views[order].astype(np.int64))


def _fix_chirality(joints: np.ndarray, valid: np.ndarray,
                   margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Exchange left/right of people whose nose is behind the neck.

    joints (P, J, 3), valid (P, J) → the same, rows with a mirrored skeleton permuted.
    Facing direction = (l_shoulder − r_shoulder) × z (a person's left is up × facing).
    """
    across = joints[:, _LSH] - joints[:, _RSH]  # (P, 3)
    facing = np.cross(across, np.array([0.0, 0.0, 1.0]))  # (P, 3)
    norm = np.linalg.norm(facing, axis=-1)
    ahead = np.einsum("pk,pk->p", joints[:, _NOSE] - joints[:, _NECK], facing) \
        / np.maximum(norm, 1e-9)  # (P,) m the nose is in front of the neck
    known = valid[:, [_NOSE, _NECK, _LSH, _RSH]].all(1) & (norm > 1e-6)
    swap = known & (ahead < -margin_m)
    perm = np.where(swap[:, None], _FLIP, np.arange(J))  # (P, J)
    rows = np.arange(joints.shape[0])[:, None]
    return joints[rows, perm], valid[rows, perm]


def _suppress(joints: np.ndarray, valid: np.ndarray, distance_m: float,
              index: np.ndarray) -> np.ndarray:
    """Greedy non-maximum suppression of score-sorted people.

    joints (P, J, 3), valid (P, J), index (P,) → the entries of ``index`` kept: a person is
    dropped when its mean distance over the joints valid in both to a kept (higher-scored)
    person is below ``distance_m``.
    """
    P = joints.shape[0]
    if P < 2:
        return index
    d = np.linalg.norm(joints[:, None] - joints[None], axis=-1)  # (P, P, J)
    both = valid[:, None] & valid[None]
    mean = np.where(both.any(-1), (d * both).sum(-1) / np.maximum(both.sum(-1), 1), np.inf)
    kept = np.zeros(P, bool)
    for p in range(P):  # score order; a handful of people
        kept[p] = not np.any(kept[:p] & (mean[p, :p] < distance_m))
    return index[kept]


def run_triangulation_baseline(dataset: MultiViewDataset,
                               config: TriangulationBaselineConfig | None = None,
                               room: VoxelGrid | None = None) -> list[Poses3D]:
    """Run the baseline over every frame of ``dataset``.

    Args:
        dataset: cameras and 2D poses (the ground truth is never read).
        config: settings; default :class:`TriangulationBaselineConfig`.
        room: optional room grid; people whose root is outside it are dropped (overrides
            the config's room box).
    Returns:
        One :class:`Poses3D` per frame.
    """
    config = config if config is not None else TriangulationBaselineConfig()
    if room is not None:
        config = config.with_room(room)
    baseline = TriangulationBaseline(dataset.cameras, config, joint_set=dataset.joint_set)
    t0 = time.perf_counter()
    out = [baseline(dataset.keypoints(f)) for f in range(dataset.num_frames)]
    dt = time.perf_counter() - t0
    log.info("triangulation baseline: %d frames in %.2f s (%.1f frames/s)", len(out), dt,
             len(out) / max(dt, 1e-9))
    return out
