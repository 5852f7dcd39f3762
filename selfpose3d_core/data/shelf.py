"""Shelf (frames 300–600, 4D Association release) → a dataset in our format.

Source (``../shared/data/shelf_4dassociation``): ``calibration.json`` (5 cameras,
1032×776, no distortion), ``detection/<view>.txt`` (OpenPose BODY_25 candidates +
affinities per frame, :mod:`.fourda_detection`) and ``gt.txt`` (3D ground truth,
:mod:`.fourda`: the Shelf-14 joints + the mid-hip). The 301 frames become frames 0..300.

:func:`build_shelf_dataset` groups the candidates into people (:mod:`.paf_grouping`),
converts them to the dataset's joint set (COCO-17 by default) and writes a dataset
**without images** (``images: false``); the ground truth goes to ``gt/`` (evaluation
only) as Panoptic-15: the hips, knees, ankles, shoulders, elbows and wrists as they are,
the mid-hip from the file's 15th joint, and the neck and nose solved from the two head
joints (and the mid-hip) by inverting the linear head rule of
:mod:`~selfpose3d_core.skeleton` (``X = neck + α (nose − neck) + β (neck − mid_hip)`` for
the bottom and the top of the head), so Panoptic-15 → Shelf-14 gives the file's head
joints back exactly. The neck and nose are therefore derived, not measured: score Shelf
with PCP on Shelf-14.

:func:`grouping_quality` checks 2D poses against the projected ground truth (people found
vs. ground-truth people in view, and joint distances).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..geometry.calibration import load_4dassociation_calibration
from ..geometry.camera import Camera
from ..skeleton import BODY25, JOINT_SETS, PANOPTIC15, SHELF14, conversion_matrix
from .dataset import DatasetMeta, DatasetWriter, ViewKeypoints
from .fourda import FOURDA_GT_JOINTS, load_4da_skeletons
from .fourda_detection import load_4da_detections
from .frames import SkeletonFrame
from .importers import convert_pose_set
from .paf_grouping import GroupingConfig, group_candidate_frame

__all__ = ["SHELF_FIRST_FRAME", "SHELF_NUM_FRAMES", "SHELF_IMAGE_SIZE", "shelf_gt_to_panoptic15",
           "load_shelf_4da", "ShelfSource", "build_shelf_dataset", "ViewQuality",
           "grouping_quality", "FOURDA_SKEL19_JOINTS", "skel19_to_panoptic15"]

log = logging.getLogger(__name__)

#: The source frame of dataset frame 0 (the standard Shelf test range 300–600).
SHELF_FIRST_FRAME = 300
#: Frames in the 4D Association files (300–600).
SHELF_NUM_FRAMES = 301
SHELF_IMAGE_SIZE = (1032, 776)


def shelf_gt_to_panoptic15(frame: SkeletonFrame) -> SkeletonFrame:
    """A ``gt.txt`` frame (Shelf-14 + mid-hip, (P, 15, 3)) → Panoptic-15 (P, 15, 3).

    Neck and nose solve the head rule backwards: the rows of the Panoptic-15 → Shelf-14
    conversion matrix for ``bottom_head`` and ``top_head`` are linear in neck, nose and
    mid-hip, so ``[bottom, top] − W_hip · mid_hip = M [neck, nose]`` with the 2 × 2 matrix
    ``M`` of their neck and nose weights; valid where both head joints and the mid-hip are.
    """
    J = len(FOURDA_GT_JOINTS)
    if frame.joints.ndim != 3 or frame.joints.shape[1:] != (J, 3):
        raise ValueError(f"shelf_gt_to_panoptic15: expected joints (P, {J}, 3) in the gt.txt "
                         f"order, got {frame.joints.shape}")
    src = {n: i for i, n in enumerate(FOURDA_GT_JOINTS)}
    X, V = frame.joints, frame.valid
    P = X.shape[0]
    out = np.zeros((P, PANOPTIC15.num_joints, 3))
    valid = np.zeros((P, PANOPTIC15.num_joints), bool)
    W = conversion_matrix(PANOPTIC15, SHELF14)  # (14, 15)
    rows = [SHELF14.index("bottom_head"), SHELF14.index("top_head")]
    solve = [PANOPTIC15.index("neck"), PANOPTIC15.index("nose")]
    rest = [j for j in range(PANOPTIC15.num_joints) if j not in solve and W[rows, j].any()]
    if any(PANOPTIC15.joints[j] not in src for j in rest):
        raise ValueError(f"shelf_gt_to_panoptic15: the head rule uses "
                         f"{[PANOPTIC15.joints[j] for j in rest]}, not all in gt.txt")
    rest_src = [src[PANOPTIC15.joints[j]] for j in rest]
    M = W[np.ix_(rows, solve)]  # (2, 2): head joints ← neck, nose
    rhs = np.stack([X[:, src["bottom_head"]], X[:, src["top_head"]]], 1)  # (P, 2, 3)
    rhs = rhs - np.einsum("hr,prk->phk", W[np.ix_(rows, rest)], X[:, rest_src])
    neck_nose = np.einsum("sh,phk->psk", np.linalg.inv(M), rhs)  # (P, 2, 3)
    head_ok = V[:, src["bottom_head"]] & V[:, src["top_head"]] & V[:, rest_src].all(1)
    for j, name in enumerate(PANOPTIC15.joints):
        if j in solve:
            out[:, j], valid[:, j] = neck_nose[:, solve.index(j)], head_ok
        else:
            out[:, j], valid[:, j] = X[:, src[name]], V[:, src[name]]
    return SkeletonFrame(ids=frame.ids.copy(), joints=out, valid=valid)


@dataclass(frozen=True)
class ShelfSource:
    """The Shelf 4D Association files, read.

    Attributes:
        cameras: 5 cameras named ``cam0`` … ``cam4``.
        grouped: per view, per frame (source frame 300 + i) the BODY_25 people found
            (:class:`ViewKeypoints` (P, 25, ·)).
        gt: per frame the ``gt.txt`` skeletons (Shelf-14 + mid-hip).
    """

    cameras: tuple[Camera, ...]
    grouped: tuple[tuple[ViewKeypoints, ...], ...]
    gt: tuple[SkeletonFrame, ...]

    @property
    def num_frames(self) -> int:
        return len(self.gt)


def load_shelf_4da(src: str | Path, config: GroupingConfig | None = None,
                   frames: Sequence[int] | None = None) -> ShelfSource:
    """Read calibration, candidates (grouped into people) and ground truth.

    Args:
        src: the ``shelf_4dassociation`` folder.
        config: grouping thresholds.
        frames: dataset frame indices (0 = source frame 300) to keep; default all.
    Raises:
        ValueError: missing files, files that disagree on the frame count.
    """
    src = Path(src)
    for name in ("calibration.json", "gt.txt", "detection"):
        if not (src / name).exists():
            raise ValueError(f"{src}: missing {name} (not the shelf_4dassociation folder?)")
    cams = [c.replace(name=f"cam{c.name}") for c in
            load_4dassociation_calibration(src / "calibration.json")]
    gt = load_4da_skeletons(src / "gt.txt")
    F = len(gt)
    keep = list(range(F)) if frames is None else [int(f) for f in frames]
    if any(not 0 <= f < F for f in keep):
        raise ValueError(f"load_shelf_4da: frames must be in [0, {F}), got {keep}")
    grouped = []
    for v, cam in enumerate(cams):
        det = load_4da_detections(src / "detection" / f"{v}.txt", cam.image_size)
        if len(det.frames) != F:
            raise ValueError(f"{src}/detection/{v}.txt: {len(det.frames)} frames, gt.txt has "
                             f"{F}")
        per = []
        for f in keep:
            g = group_candidate_frame(det.frames[f], config)
            per.append(ViewKeypoints(g.keypoints, g.conf, g.scores))
        grouped.append(tuple(per))
    return ShelfSource(cameras=tuple(cams), grouped=tuple(grouped),
                       gt=tuple(gt[f] for f in keep))


def build_shelf_dataset(src: str | Path, out: str | Path, joint_set: str = "coco17",
                        config: GroupingConfig | None = None,
                        frames: Sequence[int] | None = None, fps: float = 25.0,
                        overwrite: bool = False, data: ShelfSource | None = None,
                        write_gt: bool = True) -> Path:
    """Write Shelf frames 300–600 (or ``frames`` of them) as a dataset without images.

    Args:
        src: the ``shelf_4dassociation`` folder.
        out: the dataset directory.
        joint_set: of the 2D poses: ``coco17`` (default), ``body25`` (as grouped) or
            ``panoptic15``.
        config: grouping thresholds (:class:`GroupingConfig`).
        frames: dataset frame indices (0 = source frame 300); default all 301.
        fps: nominal frame rate for the timestamps (the source files do not state it).
        overwrite: replace an existing dataset.
        data: the files already read by :func:`load_shelf_4da` with the same ``config``
            and ``frames`` (skips reading them again).
        write_gt: write ``gt/`` (False: a training copy that cannot leak ground truth).
    Returns:
        ``out``. ``gt/poses3d.json`` holds the ground truth as Panoptic-15
        (:func:`shelf_gt_to_panoptic15`) with the actor ids of ``gt.txt``.
    """
    if joint_set not in JOINT_SETS:
        raise ValueError(f"build_shelf_dataset: joint_set must be one of "
                         f"{sorted(JOINT_SETS)}, got {joint_set!r}")
    cfg = config or GroupingConfig()
    data = load_shelf_4da(src, cfg, frames) if data is None else data
    keep = list(range(len(data.gt))) if frames is None else [int(f) for f in frames]
    meta = DatasetMeta(
        fps=float(fps), joint_set=joint_set,
        description="Shelf frames 300-600 (Belagiannis et al.), 5 cameras 1032x776, no "
                    "images; 2D poses: the 4D Association release's OpenPose BODY_25 "
                    "candidates grouped with their part affinities",
        source={"type": "shelf_4dassociation", "path": str(Path(src).resolve()),
                "first_frame": SHELF_FIRST_FRAME,
                "frames": [SHELF_FIRST_FRAME + f for f in keep] if frames is not None
                else f"{SHELF_FIRST_FRAME}-{SHELF_FIRST_FRAME + len(keep) - 1}",
                "grouping": {"min_affinity": cfg.min_affinity, "min_parts": cfg.min_parts,
                             "min_mean_score": cfg.min_mean_score},
                "gt": "gt.txt as panoptic15 (neck, nose from the head rule inverted)"
                      if write_gt else "not written"})
    with DatasetWriter(out, data.cameras, meta, overwrite=overwrite) as w:
        for i in range(len(keep)):
            kps = []
            for v in range(len(data.cameras)):
                g = data.grouped[v][i]
                raw = np.concatenate([g.keypoints, g.conf[..., None]], -1)  # (P, 25, 3)
                kps.append(convert_pose_set(raw, "body25", joint_set, g.scores))
            w.add_frame(i / float(fps), keypoints=kps,
                        gt=shelf_gt_to_panoptic15(data.gt[i]) if write_gt else None)
    log.info("wrote %s: %d frames, %d views, %s keypoints, no images", out, len(keep),
             len(data.cameras), joint_set)
    return Path(out)


# ---------------------------------------------------------------------------- peer output
#: Joint names of the 4D Association method's ``skel.txt`` (its 19-joint "SKEL19" set).
#: Checked against ``gt.txt``: each of the Shelf body joints and the mid-hip lies nearest
#: to its namesake here (median 32–69 mm over the 301 frames).
FOURDA_SKEL19_JOINTS: tuple[str, ...] = (
    "mid_hip", "neck", "r_hip", "l_hip", "nose", "r_shoulder", "l_shoulder", "r_knee",
    "l_knee", "r_ear", "l_ear", "r_elbow", "l_elbow", "r_ankle", "l_ankle", "r_wrist",
    "l_wrist", "l_big_toe", "r_big_toe")


def skel19_to_panoptic15(frame: SkeletonFrame) -> SkeletonFrame:
    """A ``skel.txt`` frame (P, 19, 3) → Panoptic-15 (P, 15, 3) (every Panoptic-15 joint
    is in the 19-joint set; the ears and toes are dropped). Convert on to Shelf-14 with
    the same head rule as any Panoptic-15 prediction
    (:func:`~selfpose3d_core.skeleton.convert_joints`)."""
    J = len(FOURDA_SKEL19_JOINTS)
    if frame.joints.ndim != 3 or frame.joints.shape[1:] != (J, 3):
        raise ValueError(f"skel19_to_panoptic15: expected joints (P, {J}, 3), got "
                         f"{frame.joints.shape}")
    idx = [FOURDA_SKEL19_JOINTS.index(n) for n in PANOPTIC15.joints]
    return SkeletonFrame(ids=frame.ids.copy(), joints=frame.joints[:, idx].copy(),
                         valid=frame.valid[:, idx].copy())


# ---------------------------------------------------------------------------- quality
@dataclass(frozen=True)
class ViewQuality:
    """2D poses of one view against the projected ground truth.

    Attributes:
        view: the view name.
        frames: frames scored.
        mean_found: mean number of people in the 2D poses per frame.
        mean_gt_visible: mean number of ground-truth people in view per frame (at least
            half of their joints project inside the image).
        count_match: fraction of frames with found == in view.
        recall: fraction of in-view ground-truth people matched by a 2D person.
        extra_per_frame: unmatched 2D people per frame (Shelf's 4th, unannotated person
            counts here).
        median_px, p90_px: distance of the matched people's joints (those both have) to
            the projected ground truth.
    """

    view: str
    frames: int
    mean_found: float
    mean_gt_visible: float
    count_match: float
    recall: float
    extra_per_frame: float
    median_px: float
    p90_px: float


def grouping_quality(cameras: Sequence[Camera],
                     poses: Sequence[Sequence[ViewKeypoints]], joint_names: Sequence[str],
                     gt: Sequence[SkeletonFrame], gt_joint_names: Sequence[str],
                     min_conf: float = 0.1, max_match_px: float = 60.0
                     ) -> list[ViewQuality]:
    """Score 2D poses against the projected 3D ground truth, per view.

    Per frame and view, 2D people and in-view ground-truth people are matched one to one
    (Hungarian) on the median distance over the joints both have (2D confidence ≥
    ``min_conf``, ground truth valid and inside the image); a pair counts when that median
    is at most ``max_match_px``.

    Args:
        cameras: V cameras.
        poses: per view, per frame :class:`ViewKeypoints` (P, J, ·) in ``joint_names``.
        joint_names: J names of the 2D joint set.
        gt: per frame the ground truth (ids (G,), joints (G, K, 3), valid (G, K)).
        gt_joint_names: K names; the joints compared are those in both name lists.
        min_conf: 2D joints below this confidence are ignored.
        max_match_px: the largest median distance of a matched pair.
    Returns:
        One :class:`ViewQuality` per view.
    """
    common = [n for n in joint_names if n in gt_joint_names]
    if not common:
        raise ValueError(f"grouping_quality: no joint in common between {list(joint_names)} "
                         f"and {list(gt_joint_names)}")
    ji = np.array([list(joint_names).index(n) for n in common])
    gi = np.array([list(gt_joint_names).index(n) for n in common])
    if len(poses) != len(cameras) or any(len(p) != len(gt) for p in poses):
        raise ValueError(f"grouping_quality: need {len(cameras)} views of {len(gt)} frames")
    out = []
    for v, cam in enumerate(cameras):
        found, vis, equal, matched, extra, dists = [], [], [], 0, [], []
        for f, g in enumerate(gt):
            kp = poses[v][f]
            P = kp.num_people
            if g.num_people:
                Xg = g.joints[:, gi]  # (G, M, 3)
                uv = cam.project(Xg)  # (G, M, 2)
                front = cam.world_to_camera(Xg)[..., 2] > 0
                ok = g.valid[:, gi] & front & cam.in_image(uv)  # (G, M)
                in_view = ok.sum(1) >= 0.5 * len(common)
            else:
                uv, ok, in_view = np.zeros((0, len(common), 2)), np.zeros((0, len(common)),
                                                                          bool), np.zeros(0, bool)
            G = int(in_view.sum())
            uv, ok = uv[in_view], ok[in_view]
            found.append(P)
            vis.append(G)
            equal.append(P == G)
            n_match = 0
            if P and G:
                d = np.linalg.norm(kp.keypoints[:, None, ji] - uv[None], axis=-1)  # (P, G, M)
                both = (kp.conf[:, None, ji] >= min_conf) & ok[None]
                med = np.full((P, G), np.inf)
                for p in range(P):
                    for q in range(G):
                        if both[p, q].any():
                            med[p, q] = np.median(d[p, q][both[p, q]])
                cost = np.where(np.isfinite(med), med, 1e9)
                rows, cols = linear_sum_assignment(cost)
                for p, q in zip(rows, cols):
                    if med[p, q] <= max_match_px:
                        n_match += 1
                        dists.append(d[p, q][both[p, q]])
            matched += n_match
            extra.append(P - n_match)
        dd = np.concatenate(dists) if dists else np.zeros(0)
        out.append(ViewQuality(
            view=cam.name, frames=len(gt), mean_found=float(np.mean(found)),
            mean_gt_visible=float(np.mean(vis)), count_match=float(np.mean(equal)),
            recall=matched / max(sum(vis), 1), extra_per_frame=float(np.mean(extra)),
            median_px=float(np.median(dd)) if dd.size else float("nan"),
            p90_px=float(np.percentile(dd, 90)) if dd.size else float("nan")))
    return out


def shelf_grouping_quality(data: ShelfSource, **kwargs) -> list[ViewQuality]:
    """:func:`grouping_quality` of a :class:`ShelfSource`'s BODY_25 people vs ``gt.txt``."""
    return grouping_quality(data.cameras, data.grouped, BODY25.joints, data.gt,
                            FOURDA_GT_JOINTS, **kwargs)


__all__.append("shelf_grouping_quality")
