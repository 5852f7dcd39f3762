"""Import 2D detections made elsewhere into the dataset format.

Sources:

- **COCO keypoint results** (:func:`load_coco_results`): the JSON list
  ``[{"image_id", "category_id": 1, "keypoints": [x, y, c] * 17, "score"}, ...]`` that
  COCO-style detectors write, plus an image map telling which (frame, view) each
  ``image_id`` is (:func:`load_image_map`). Our own ``keypoints/<view>.json`` is the same
  list with ``image_id`` = frame, one file per view (:func:`load_coco_results_per_view`).
- **OpenPose JSON** (:func:`load_openpose_dir`): one file per image,
  ``{"people": [{"pose_keypoints_2d": [x, y, c] * J}, ...]}`` with J = 25 (BODY_25) or
  18 (COCO-18, OpenPose's COCO model); the frame index is the number before
  ``_keypoints.json`` (OpenPose's ``<name>_<frame:012d>_keypoints.json``). Undetected
  joints are (0, 0, 0).
- **4D Association candidate files**: grouped by :mod:`.paf_grouping`; the Shelf dataset
  builder is :mod:`.shelf`.

Everything is converted to one joint set with :func:`convert_pose_set` (COCO-17 by
default; BODY_25 → COCO-17 / Panoptic-15, COCO-18 → COCO-17 by names) and written with
:func:`~.dataset.replace_keypoints` (into an existing dataset) or
:func:`create_dataset_from_detections` (a new dataset from a rig YAML, without images).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..geometry.camera import Camera
from ..skeleton import BODY25, COCO17, JOINT_SETS, convert_joints
from .dataset import DatasetMeta, DatasetWriter, ViewKeypoints

__all__ = ["COCO18_JOINTS", "PerViewDetections", "convert_pose_set", "person_score",
           "load_image_map", "load_coco_results", "load_coco_results_per_view",
           "load_openpose_json", "load_openpose_dir", "create_dataset_from_detections"]

log = logging.getLogger(__name__)

#: OpenPose's COCO-18 order (COCO-17 plus the neck at index 1, other order).
COCO18_JOINTS: tuple[str, ...] = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear",
    "l_ear")
_COCO18_TO_COCO17 = np.array([COCO18_JOINTS.index(n) for n in COCO17.joints])

#: view name → {frame index → ViewKeypoints}
PerViewDetections = dict[str, dict[int, ViewKeypoints]]

_SOURCE_SETS = {"coco17": COCO17.num_joints, "body25": BODY25.num_joints,
                "coco18": len(COCO18_JOINTS)}


def person_score(conf: np.ndarray, core: Sequence[int] | None = None) -> np.ndarray:
    """A person score from joint confidences, for sources that give none.

    ``mean(conf of the found joints) × fraction of the core joints found`` (found: conf > 0).

    Args:
        conf: (P, J) joint confidences.
        core: the joints counted by the fraction (default all).
    Returns:
        (P,) scores in [0, 1].
    """
    conf = np.asarray(conf, np.float64)
    found = conf > 0
    mean = np.where(found, conf, 0.0).sum(-1) / np.maximum(found.sum(-1), 1)
    idx = np.arange(conf.shape[-1]) if core is None else np.asarray(core)
    return np.clip(mean * found[..., idx].mean(-1), 0.0, 1.0)


def convert_pose_set(kp: np.ndarray, src: str, dst: str,
                     scores: np.ndarray | None = None) -> ViewKeypoints:
    """People of one image from a source joint set to a dataset joint set.

    Args:
        kp: (P, J_src, 3) x, y (pixels), confidence; J_src of ``src``.
        src: ``"coco17"``, ``"body25"`` or ``"coco18"`` (OpenPose's COCO model).
        dst: a :data:`~selfpose3d_core.skeleton.JOINT_SETS` name reachable from ``src``
            (``coco17``, ``panoptic15``, ``shelf14``; ``body25`` from ``body25``).
        scores: (P,) person scores; default :func:`person_score` of the source joints.
    Returns:
        :class:`ViewKeypoints` in ``dst``; a joint derived from several (neck, mid-hip)
        takes the lowest confidence of its sources, so a missing source stays missing.
    Raises:
        ValueError: an unknown set, a shape that does not match ``src``, no conversion.
    """
    if src not in _SOURCE_SETS:
        raise ValueError(f"convert_pose_set: src must be one of {sorted(_SOURCE_SETS)}, "
                         f"got {src!r}")
    if dst not in JOINT_SETS:
        raise ValueError(f"convert_pose_set: dst must be one of {sorted(JOINT_SETS)}, "
                         f"got {dst!r}")
    kp = np.asarray(kp, np.float64)
    J = _SOURCE_SETS[src]
    if kp.ndim != 3 or kp.shape[1:] != (J, 3):
        raise ValueError(f"convert_pose_set: expected (P, {J}, 3) for {src}, got {kp.shape}")
    if scores is None:
        core = range(15) if src == "body25" else None
        scores = person_score(kp[..., 2], core)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if scores.shape != (kp.shape[0],):
        raise ValueError(f"convert_pose_set: {scores.shape[0]} scores for {kp.shape[0]} people")
    if src == "coco18":
        kp, src = kp[:, _COCO18_TO_COCO17], "coco17"
    xy, conf = convert_joints(kp[..., :2], JOINT_SETS[src], JOINT_SETS[dst], kp[..., 2])
    # a derived joint of missing ones sits at a meaningless place; keep it at 0 like them
    xy = np.where(conf[..., None] > 0, xy, 0.0)
    return ViewKeypoints(keypoints=xy, conf=np.clip(conf, 0.0, 1.0), scores=scores)


# ---------------------------------------------------------------------------- COCO results
_FILE_RE = re.compile(r"(?:^|[/\\])(?P<view>[^/\\]+)[/\\](?:[^/\\]*?)(?P<frame>\d+)\.\w+$")


def load_image_map(path: str | Path, views: Sequence[str] | None = None
                   ) -> dict[int, tuple[int, str]]:
    """An image-id → (frame, view) map from a JSON file.

    Accepted layouts:

    - ``{"<image_id>": [frame, "view"], ...}`` (or ``{"frame": f, "view": v}`` values);
    - a list, or COCO's ``{"images": [...]}``, of ``{"id": i, "frame": f, "view": v}``;
      an entry without ``frame``/``view`` takes them from ``file_name``
      ``.../<view>/<...><frame>.<ext>`` (e.g. our ``images/<view>/<frame:06d>.jpg``).

    Args:
        path: the JSON file.
        views: when given, the view names allowed.
    Raises:
        ValueError: unreadable JSON, an entry without id / frame / view, a duplicate id.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the image map ({e})") from None
    out: dict[int, tuple[int, str]] = {}

    def put(image_id: Any, frame: Any, view: Any, where: str) -> None:
        try:
            i, f = int(image_id), int(frame)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: {where}: id and frame must be integers, got "
                             f"{image_id!r}, {frame!r}") from None
        if not isinstance(view, str) or not view:
            raise ValueError(f"{path}: {where}: view must be a name, got {view!r}")
        if views is not None and view not in views:
            raise ValueError(f"{path}: {where}: view {view!r} is not one of {list(views)}")
        if f < 0:
            raise ValueError(f"{path}: {where}: frame must be >= 0, got {f}")
        if i in out:
            raise ValueError(f"{path}: {where}: image id {i} appears twice")
        out[i] = (f, view)

    if isinstance(data, dict) and "images" not in data:
        for k, v in data.items():
            if isinstance(v, dict):
                put(k, v.get("frame"), v.get("view"), f"id {k}")
            elif isinstance(v, (list, tuple)) and len(v) == 2:
                put(k, v[0], v[1], f"id {k}")
            else:
                raise ValueError(f"{path}: id {k}: expected [frame, view] or "
                                 f"{{\"frame\", \"view\"}}, got {v!r}")
        return out
    entries = data["images"] if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping, a list or {{\"images\": [...]}}")
    for n, e in enumerate(entries):
        where = f"images[{n}]"
        if not isinstance(e, dict) or "id" not in e:
            raise ValueError(f"{path}: {where}: expected an object with an 'id'")
        frame, view = e.get("frame"), e.get("view")
        if frame is None or view is None:
            m = _FILE_RE.search(str(e.get("file_name", "")))
            if m is None:
                raise ValueError(f"{path}: {where}: no frame/view and a file_name "
                                 f"{e.get('file_name')!r} not like <view>/<frame>.<ext>")
            frame = m["frame"] if frame is None else frame
            view = m["view"] if view is None else view
        put(e["id"], frame, view, where)
    return out


def _coco_entry(e: Any, where: str) -> tuple[np.ndarray, float]:
    if not isinstance(e, dict):
        raise ValueError(f"{where}: expected an object, got {type(e).__name__}")
    if e.get("category_id", 1) != 1:
        raise ValueError(f"{where}: category_id must be 1 (person), got {e.get('category_id')!r}")
    kp = e.get("keypoints")
    if not isinstance(kp, list) or len(kp) != 3 * COCO17.num_joints:
        n = len(kp) if isinstance(kp, list) else type(kp).__name__
        raise ValueError(f"{where}: keypoints must be {3 * COCO17.num_joints} numbers "
                         f"(COCO-17 x, y, c), got {n}")
    try:
        arr = np.asarray(kp, np.float64).reshape(COCO17.num_joints, 3)
        score = float(e.get("score", 1.0))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: keypoints and score must be numbers") from None
    if not (np.all(np.isfinite(arr)) and np.isfinite(score)):
        raise ValueError(f"{where}: keypoints and score must be finite")
    return arr, score


def _group(items: Mapping[tuple[str, int], list[tuple[np.ndarray, float]]], src: str,
           dst: str) -> PerViewDetections:
    out: PerViewDetections = {}
    for (view, frame), people in sorted(items.items()):
        kp = np.stack([a for a, _ in people])
        sc = np.array([s for _, s in people])
        out.setdefault(view, {})[frame] = convert_pose_set(kp, src, dst, sc)
    return out


def load_coco_results(path: str | Path, image_map: Mapping[int, tuple[int, str]],
                      joint_set: str = "coco17", min_score: float = 0.0,
                      frame_offset: int = 0) -> PerViewDetections:
    """COCO keypoint results (COCO-17) of many images → per view, per frame poses.

    Args:
        path: the results JSON (a list of ``{"image_id", "category_id", "keypoints",
            "score"}``).
        image_map: image id → (frame, view) (:func:`load_image_map`).
        joint_set: the joint set to convert to.
        min_score: entries with a lower person score are dropped.
        frame_offset: subtracted from every frame (results of frames 300.. → 0..).
    Returns:
        view → {frame → :class:`ViewKeypoints` (P, J, ·)}.
    Raises:
        ValueError: malformed entries, an image id missing from the map, a negative frame.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read COCO results ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of COCO keypoint results")
    items: dict[tuple[str, int], list] = {}
    dropped = 0
    for n, e in enumerate(data):
        where = f"{path}: entry {n}"
        arr, score = _coco_entry(e, where)
        iid = e.get("image_id")
        if isinstance(iid, bool) or not isinstance(iid, int) or iid not in image_map:
            raise ValueError(f"{where}: image_id {iid!r} is not in the image map")
        if score < min_score:
            dropped += 1
            continue
        frame, view = image_map[iid]
        frame -= int(frame_offset)
        if frame < 0:
            raise ValueError(f"{where}: frame {frame + frame_offset} - offset {frame_offset} "
                             f"is negative")
        items.setdefault((view, frame), []).append((arr, score))
    log.info("%s: %d people in %d images (%d below min_score %.2f dropped)", path,
             len(data) - dropped, len(items), dropped, min_score)
    return _group(items, "coco17", joint_set)


def load_coco_results_per_view(directory: str | Path, views: Sequence[str],
                               joint_set: str = "coco17", min_score: float = 0.0,
                               frame_offset: int = 0) -> PerViewDetections:
    """``<directory>/<view>.json`` COCO results with ``image_id`` = frame (our layout).

    Views without a file get no poses (a warning says so). See :func:`load_coco_results`.
    """
    directory = Path(directory)
    out: PerViewDetections = {}
    for view in views:
        path = directory / f"{view}.json"
        if not path.is_file():
            log.warning("%s: missing, view %s gets no poses", path, view)
            continue
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of COCO keypoint results")
        ids = {e.get("image_id") for e in data if isinstance(e, dict)}
        imap = {i: (i, view) for i in ids if isinstance(i, int) and not isinstance(i, bool)}
        out.update(load_coco_results(path, imap, joint_set, min_score, frame_offset))
    return out


# ---------------------------------------------------------------------------- OpenPose
_OPENPOSE_FRAME_RE = re.compile(r"(\d+)(?:_keypoints)?\.json$")


def load_openpose_json(path: str | Path) -> tuple[np.ndarray, str]:
    """One OpenPose JSON file → ((P, J, 3) x, y, c, source set ``"body25"``/``"coco18"``).

    Raises:
        ValueError: unreadable JSON, no ``people`` list, a keypoint count that is neither
            25 nor 18 joints, or people of both sets in one file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read OpenPose JSON ({e})") from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise ValueError(f"{path}: expected {{\"people\": [...]}} (OpenPose JSON)")
    arrs, kinds = [], set()
    for n, p in enumerate(people):
        kp = p.get("pose_keypoints_2d") if isinstance(p, dict) else None
        if not isinstance(kp, list):
            raise ValueError(f"{path}: people[{n}] has no pose_keypoints_2d list")
        if len(kp) == 0:
            continue  # OpenPose writes [] for a person with only face/hand keypoints
        kind = {75: "body25", 54: "coco18"}.get(len(kp))
        if kind is None:
            raise ValueError(f"{path}: people[{n}]: {len(kp)} numbers in pose_keypoints_2d; "
                             f"expected 75 (BODY_25) or 54 (COCO-18)")
        try:
            a = np.asarray(kp, np.float64).reshape(-1, 3)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: people[{n}]: non-numeric keypoints") from None
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{path}: people[{n}]: non-finite keypoints")
        arrs.append(a)
        kinds.add(kind)
    if len(kinds) > 1:
        raise ValueError(f"{path}: people of several joint sets {sorted(kinds)}")
    if not arrs:
        return np.zeros((0, BODY25.num_joints, 3)), "body25"
    return np.stack(arrs), kinds.pop()


def load_openpose_dir(directory: str | Path, view: str, joint_set: str = "coco17",
                      frame_offset: int = 0, min_score: float = 0.0
                      ) -> dict[int, ViewKeypoints]:
    """A folder of one view's OpenPose JSON files → {frame → ViewKeypoints}.

    The frame of a file is the number before ``_keypoints.json`` (or ``.json``) minus
    ``frame_offset``. The person score is :func:`person_score` of the BODY_25 / COCO-18
    joints 0..14 (OpenPose writes none).

    Args:
        directory: the folder (``*.json``).
        view: the view name (messages only).
        joint_set: the joint set to convert to.
        frame_offset: subtracted from the file numbers.
        min_score: people with a lower person score are dropped.
    Raises:
        ValueError: a file name without a frame number, two files of one frame, a
            negative frame, or a malformed file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory (OpenPose JSON of view {view})")
    out: dict[int, ViewKeypoints] = {}
    files = sorted(directory.glob("*.json"))
    if not files:
        raise ValueError(f"{directory}: no *.json files (OpenPose JSON of view {view})")
    for path in files:
        m = _OPENPOSE_FRAME_RE.search(path.name)
        if m is None:
            raise ValueError(f"{path}: no frame number in the file name (expected "
                             f"<name>_<frame>_keypoints.json)")
        frame = int(m.group(1)) - int(frame_offset)
        if frame < 0:
            raise ValueError(f"{path}: frame {m.group(1)} - offset {frame_offset} is negative")
        if frame in out:
            raise ValueError(f"{path}: a second file for frame {frame} of view {view}")
        kp, src = load_openpose_json(path)
        score = person_score(kp[..., 2], range(15)) if len(kp) else np.zeros(0)
        keep = score >= min_score
        vk = convert_pose_set(kp[keep], src, joint_set, score[keep]) if len(kp) else \
            ViewKeypoints.empty(JOINT_SETS[joint_set].num_joints)
        out[frame] = vk
    log.info("%s: %d files, %d people (view %s)", directory, len(files),
             sum(v.num_people for v in out.values()), view)
    return out


# ---------------------------------------------------------------------------- new dataset
def create_dataset_from_detections(out: str | Path, cameras: Sequence[Camera],
                                   detections: Mapping[str, Mapping[int, ViewKeypoints]],
                                   joint_set: str, fps: float, num_frames: int | None = None,
                                   description: str = "",
                                   source: Mapping[str, Any] | None = None,
                                   world_frame: str = "world", overwrite: bool = False
                                   ) -> Path:
    """A new dataset (no images) from a rig and per-view detections.

    Args:
        out: the dataset directory.
        cameras: the rig, one camera per view (names = the view names of ``detections``).
        detections: view → {frame → :class:`ViewKeypoints` in ``joint_set``}.
        joint_set: the joint set of the detections.
        fps: frame rate; timestamps are ``frame / fps``.
        num_frames: default: the last frame with detections + 1.
        description, source: ``dataset.yaml`` metadata.
        world_frame: written to ``cameras.yaml``.
        overwrite: replace an existing dataset there.
    Returns:
        ``out``.
    """
    names = [c.name for c in cameras]
    unknown = set(detections) - set(names)
    if unknown:
        raise ValueError(f"create_dataset_from_detections: views {sorted(unknown)} are not "
                         f"cameras of the rig {names}")
    last = max((f for d in detections.values() for f in d), default=-1)
    n = last + 1 if num_frames is None else int(num_frames)
    if n <= last:
        raise ValueError(f"create_dataset_from_detections: num_frames {n} but detections "
                         f"up to frame {last}")
    J = JOINT_SETS[joint_set].num_joints
    meta = DatasetMeta(fps=float(fps), joint_set=joint_set, description=description,
                       source=dict(source or {}))
    empty = ViewKeypoints.empty(J)
    with DatasetWriter(out, cameras, meta, overwrite=overwrite,
                       world_frame=world_frame) as w:
        for f in range(n):
            w.add_frame(f / float(fps), keypoints=[detections.get(v, {}).get(f, empty)
                                                   for v in names])
    return Path(out)
