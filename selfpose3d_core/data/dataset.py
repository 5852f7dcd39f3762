"""The on-disk multi-view dataset format (``selfpose3d-dataset/1``): reader and writer.

Every source (the synthetic room, a user's rig, a ROS bag, public datasets) is converted
into this one format; training and evaluation read only it. Layout::

    <root>/
      dataset.yaml                    metadata (below)
      cameras.yaml                    the rig: rig YAML "selfpose3d-rig/1"
                                      (selfpose3d_core.geometry.rig_yaml)
      frames.json                     {"frames": [{"index": 0, "timestamp": 0.0}, ...]}
      keypoints/<view>.json           2D poses of each view (COCO keypoint results)
      images/<view>/<frame:06d>.jpg   optional images (RGB JPEG, quality ~90)
      gt/poses3d.json                 optional 3D ground truth (evaluation only)

``dataset.yaml`` (unknown keys are rejected)::

    format: selfpose3d-dataset/1
    joint_set: coco17          # joint set of keypoints/*.json (a skeleton.JOINT_SETS name)
    fps: 10.0                  # nominal frame rate (Hz)
    num_frames: 200            # frames 0 .. num_frames-1
    views: [cam0, cam1, ...]   # camera names, the order of cameras.yaml
    images: true               # images/ holds (some) frames
    description: "..."         # optional free text
    source: {type: synthetic, seed: 0, config: {...}}   # optional mapping, provenance

``frames.json``: one entry per frame, ``index`` 0, 1, 2, ... in order, ``timestamp`` in
seconds (non-decreasing; e.g. since the first frame, or the capture time).

``keypoints/<view>.json``: a JSON list with one entry per detected person (any order)::

    {"image_id": 12,                          # the frame index
     "category_id": 1,                        # person
     "keypoints": [x0, y0, c0, x1, y1, c1, ...],  # 3·J numbers: full-image pixels
                                              # (OpenCV: (0, 0) = centre of the top-left
                                              # pixel) and a confidence in [0, 1]
     "score": 0.93}                           # person score

Extra keys are allowed and ignored on read; :class:`DatasetWriter` adds ``"bbox"``
``[x, y, w, h]`` around the joints with confidence > 0.2. A joint the detector did not
find has a low confidence (the synthetic detector uses < 0.2).

``gt/poses3d.json``::

    {"format": "selfpose3d-gt3d/1", "joint_set": "panoptic15", "units": "m",
     "frames": [{"frame": 0, "ids": [0, 1],
                 "joints": [[[x, y, z], ... 15 joints], ... P people],
                 "valid": [[true, ...], ...]},      # optional, (P, J) booleans
                ...]}

World coordinates are metres, z up, in the frame of ``cameras.yaml``.

Reading is split on purpose: :class:`MultiViewDataset` (cameras, frames, images, 2D
keypoints; what self-supervised training may use) never opens ``gt/``;
:class:`GroundTruth3D` reads ``gt/`` for evaluation. :class:`DatasetWriter` writes the
format. Everything is validated on read; errors are ``ValueError`` naming the file and
what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import cv2
import numpy as np
import yaml

from ..geometry.camera import Camera
from ..geometry.rig_yaml import load_rig_yaml, save_rig_yaml
from ..skeleton import JOINT_SETS
from .frames import SkeletonFrame

__all__ = ["DATASET_FORMAT", "GT_FORMAT", "DatasetMeta", "ViewKeypoints", "MultiViewDataset",
           "GroundTruth3D", "load_ground_truth", "has_ground_truth", "DatasetWriter",
           "keypoint_entries", "replace_keypoints"]

log = logging.getLogger(__name__)

DATASET_FORMAT = "selfpose3d-dataset/1"
GT_FORMAT = "selfpose3d-gt3d/1"
_META_KEYS = {"format", "joint_set", "fps", "num_frames", "views", "images", "description",
              "source"}
_KP_DECIMALS, _CONF_DECIMALS, _GT_DECIMALS = 2, 4, 5


@dataclass(frozen=True)
class DatasetMeta:
    """The contents of ``dataset.yaml``.

    Attributes:
        fps: nominal frame rate (Hz), > 0.
        joint_set: joint set of the 2D keypoints (``"coco17"``, ...).
        description: free text.
        source: provenance (free-form plain data, e.g. the synthetic config).
        num_frames: number of frames (set by the writer).
        views: view (camera) names in order (set by the writer).
        images: whether ``images/`` holds frames (set by the writer).
    """

    fps: float
    joint_set: str = "coco17"
    description: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    num_frames: int = 0
    views: tuple[str, ...] = ()
    images: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps)
                and self.fps > 0):
            raise ValueError(f"DatasetMeta.fps must be a positive number, got {self.fps!r}")
        if self.joint_set not in JOINT_SETS:
            raise ValueError(f"DatasetMeta.joint_set must be one of {sorted(JOINT_SETS)}, "
                             f"got {self.joint_set!r}")
        if not isinstance(self.source, Mapping):
            raise ValueError(f"DatasetMeta.source must be a mapping, got "
                             f"{type(self.source).__name__}")

    @property
    def num_joints(self) -> int:
        return JOINT_SETS[self.joint_set].num_joints

    def to_yaml_dict(self) -> dict[str, Any]:
        return {"format": DATASET_FORMAT, "joint_set": self.joint_set, "fps": float(self.fps),
                "num_frames": int(self.num_frames), "views": list(self.views),
                "images": bool(self.images), "description": self.description,
                "source": _plain(self.source)}


def _plain(x):
    """Plain YAML-able data (tuples → lists, numpy scalars → Python)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


class ViewKeypoints(NamedTuple):
    """2D poses of one view in one frame (P people, J joints).

    Fields:
        keypoints: (P, J, 2) float64 full-image pixels.
        conf: (P, J) float64 joint confidences in [0, 1].
        scores: (P,) float64 person scores.
    """

    keypoints: np.ndarray
    conf: np.ndarray
    scores: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty(num_joints: int) -> ViewKeypoints:
        return ViewKeypoints(np.zeros((0, num_joints, 2)), np.zeros((0, num_joints)),
                             np.zeros(0))


# --------------------------------------------------------------------------- reading
def _read_meta(path: Path) -> DatasetMeta:
    if not path.is_file():
        raise ValueError(f"{path}: missing (not a {DATASET_FORMAT} dataset directory?)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    unknown = set(data) - _META_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; allowed {sorted(_META_KEYS)}")
    missing = {"format", "fps", "num_frames", "views"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    if data["format"] != DATASET_FORMAT:
        raise ValueError(f"{path}: format {data['format']!r} is not {DATASET_FORMAT!r}")
    n = data["num_frames"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{path}: num_frames must be an integer >= 0, got {n!r}")
    views = data["views"]
    if (not isinstance(views, list) or not views
            or not all(isinstance(v, str) and v for v in views)):
        raise ValueError(f"{path}: views must be a non-empty list of names, got {views!r}")
    if len(set(views)) != len(views):
        raise ValueError(f"{path}: view names must be unique, got {views}")
    images = data.get("images", False)
    if not isinstance(images, bool):
        raise ValueError(f"{path}: images must be true or false, got {images!r}")
    fps = data["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)):
        raise ValueError(f"{path}: fps must be a number, got {fps!r}")
    source = data.get("source") or {}
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ValueError(f"{path}: description must be text, got {description!r}")
    try:
        return DatasetMeta(fps=float(fps), joint_set=data.get("joint_set", "coco17"),
                           description=description, source=source, num_frames=n,
                           views=tuple(views), images=images)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_json(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None


def _read_frames(path: Path, num_frames: int) -> np.ndarray:
    data = _read_json(path)
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        raise ValueError(f"{path}: expected {{\"frames\": [...]}}")
    if len(frames) != num_frames:
        raise ValueError(f"{path}: {len(frames)} frames, but dataset.yaml says {num_frames}")
    ts = np.empty(num_frames)
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or f.get("index") != i or not isinstance(
                f.get("timestamp"), (int, float)) or isinstance(f.get("timestamp"), bool):
            raise ValueError(f"{path}: frames[{i}] must be {{\"index\": {i}, \"timestamp\": "
                             f"<seconds>}}, got {f!r}")
        ts[i] = float(f["timestamp"])
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) < 0):
        raise ValueError(f"{path}: timestamps must be finite and non-decreasing")
    return ts


def _read_keypoints(path: Path, num_frames: int, num_joints: int) -> list[ViewKeypoints]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of COCO keypoint results")
    per_frame: list[list[tuple]] = [[] for _ in range(num_frames)]
    for k, e in enumerate(data):
        where = f"{path}: entry {k}"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected an object, got {type(e).__name__}")
        fid = e.get("image_id")
        if isinstance(fid, bool) or not isinstance(fid, int) or not 0 <= fid < num_frames:
            raise ValueError(f"{where}: image_id must be a frame index in [0, {num_frames}), "
                             f"got {fid!r}")
        if e.get("category_id", 1) != 1:
            raise ValueError(f"{where}: category_id must be 1 (person), "
                             f"got {e.get('category_id')!r}")
        kp = e.get("keypoints")
        if not isinstance(kp, list) or len(kp) != 3 * num_joints:
            raise ValueError(f"{where}: keypoints must be a list of {3 * num_joints} numbers, "
                             f"got {len(kp) if isinstance(kp, list) else type(kp).__name__}")
        try:
            arr = np.asarray(kp, dtype=np.float64).reshape(num_joints, 3)
            score = float(e.get("score", 1.0))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: keypoints and score must be numbers") from None
        if not np.all(np.isfinite(arr)) or not math.isfinite(score):
            raise ValueError(f"{where}: keypoints and score must be finite")
        per_frame[fid].append((arr, score))
    out = []
    for entries in per_frame:
        if not entries:
            out.append(ViewKeypoints.empty(num_joints))
            continue
        arr = np.stack([a for a, _ in entries])
        out.append(ViewKeypoints(keypoints=arr[..., :2].copy(), conf=arr[..., 2].copy(),
                                 scores=np.array([s for _, s in entries])))
    return out


class MultiViewDataset:
    """A dataset's cameras, frames, images and 2D keypoints — never its ground truth.

    Attributes:
        root: the dataset directory.
        meta: :class:`DatasetMeta` (``dataset.yaml``).
        cameras: tuple of :class:`Camera`, one per view, in ``view_names`` order.
        view_names: view names (= camera names).
        num_frames: number of frames.
        timestamps: (num_frames,) seconds.
        world_frame: the rig's world frame name.

    Example:
        >>> ds = MultiViewDataset("/tmp/synth_default")       # doctest: +SKIP
        >>> views = ds.keypoints(0)                           # doctest: +SKIP
        >>> views[0].keypoints.shape                          # doctest: +SKIP
        (3, 17, 2)
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"{self.root}: not a directory")
        self.meta = _read_meta(self.root / "dataset.yaml")
        rig_path = self.root / "cameras.yaml"
        if not rig_path.is_file():
            raise ValueError(f"{rig_path}: missing")
        rig = load_rig_yaml(rig_path)
        names = tuple(c.name for c in rig.cameras)
        if names != self.meta.views:
            raise ValueError(f"{rig_path}: camera names {list(names)} differ from the views "
                             f"of dataset.yaml {list(self.meta.views)}")
        self.cameras: tuple[Camera, ...] = rig.cameras
        self.world_frame = rig.world_frame
        self.timestamps = _read_frames(self.root / "frames.json", self.meta.num_frames)
        self.timestamps.setflags(write=False)
        self._keypoints = [
            _read_keypoints(self.root / "keypoints" / f"{v}.json", self.meta.num_frames,
                            self.meta.num_joints) for v in self.meta.views]

    @property
    def view_names(self) -> tuple[str, ...]:
        return self.meta.views

    @property
    def num_views(self) -> int:
        return len(self.cameras)

    @property
    def num_frames(self) -> int:
        return self.meta.num_frames

    @property
    def fps(self) -> float:
        return self.meta.fps

    @property
    def joint_set(self) -> str:
        return self.meta.joint_set

    @property
    def has_images(self) -> bool:
        return self.meta.images

    def __len__(self) -> int:
        return self.num_frames

    def view_index(self, view: int | str) -> int:
        """A view's position from its index or name."""
        if isinstance(view, str):
            try:
                return self.meta.views.index(view)
            except ValueError:
                raise ValueError(f"unknown view {view!r}; views {list(self.meta.views)}") from None
        if not 0 <= int(view) < self.num_views:
            raise ValueError(f"view index {view} out of range [0, {self.num_views})")
        return int(view)

    def _check_frame(self, frame: int) -> int:
        if not 0 <= int(frame) < self.num_frames:
            raise ValueError(f"frame {frame} out of range [0, {self.num_frames})")
        return int(frame)

    def keypoints(self, frame: int) -> tuple[ViewKeypoints, ...]:
        """The 2D poses of every view of ``frame`` (in ``view_names`` order)."""
        f = self._check_frame(frame)
        return tuple(kps[f] for kps in self._keypoints)

    def image_path(self, frame: int, view: int | str) -> Path:
        return (self.root / "images" / self.meta.views[self.view_index(view)]
                / f"{self._check_frame(frame):06d}.jpg")

    def image(self, frame: int, view: int | str) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB image, or None when the dataset has none for it."""
        if not self.meta.images:
            return None
        path = self.image_path(frame, view)
        if not path.is_file():
            return None
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: cannot decode the image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def __repr__(self) -> str:
        return (f"MultiViewDataset({str(self.root)!r}, {self.num_views} views, "
                f"{self.num_frames} frames, joint_set={self.joint_set!r}, "
                f"images={self.has_images})")


class GroundTruth3D:
    """A dataset's 3D ground truth (``gt/poses3d.json``), for evaluation only.

    Attributes:
        joint_set: joint set of the ground truth (``"panoptic15"``).
        num_frames: frames covered (the dataset's frames).
    """

    def __init__(self, root: str | Path):
        self.path = Path(root) / "gt" / "poses3d.json"
        data = _read_json(self.path)
        p = self.path
        if not isinstance(data, dict) or data.get("format") != GT_FORMAT:
            raise ValueError(f"{p}: expected an object with format {GT_FORMAT!r}")
        if data.get("units", "m") != "m":
            raise ValueError(f"{p}: units must be 'm', got {data.get('units')!r}")
        js = data.get("joint_set")
        if js not in JOINT_SETS:
            raise ValueError(f"{p}: joint_set must be one of {sorted(JOINT_SETS)}, got {js!r}")
        self.joint_set: str = js
        J = JOINT_SETS[js].num_joints
        frames = data.get("frames")
        if not isinstance(frames, list):
            raise ValueError(f"{p}: 'frames' must be a list")
        self._frames: list[SkeletonFrame] = []
        for i, f in enumerate(frames):
            where = f"{p}: frames[{i}]"
            if not isinstance(f, dict) or f.get("frame") != i:
                raise ValueError(f"{where}: expected {{\"frame\": {i}, ...}}")
            try:
                ids = np.asarray(f.get("ids", []), dtype=np.int64).reshape(-1)
                joints = np.asarray(f.get("joints", []), dtype=np.float64).reshape(-1, J, 3)
                valid = (np.asarray(f["valid"], dtype=bool).reshape(-1, J) if "valid" in f
                         else np.ones(joints.shape[:2], bool))
            except (TypeError, ValueError):
                raise ValueError(f"{where}: ids (P,), joints (P, {J}, 3) and valid (P, {J}) "
                                 f"expected") from None
            if not (ids.shape[0] == joints.shape[0] == valid.shape[0]):
                raise ValueError(f"{where}: {ids.shape[0]} ids but {joints.shape[0]} skeletons")
            if not np.all(np.isfinite(joints)):
                raise ValueError(f"{where}: joints must be finite")
            self._frames.append(SkeletonFrame(ids=ids, joints=joints, valid=valid))

    @property
    def num_frames(self) -> int:
        return len(self._frames)

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, index: int) -> SkeletonFrame:
        """Ground truth of frame ``index``: ids (P,), joints (P, J, 3) m, valid (P, J)."""
        if not 0 <= int(index) < self.num_frames:
            raise ValueError(f"frame {index} out of range [0, {self.num_frames})")
        return self._frames[int(index)]


def load_ground_truth(root: str | Path) -> GroundTruth3D:
    """The 3D ground truth of the dataset at ``root`` (ValueError when it has none)."""
    return GroundTruth3D(root)


def has_ground_truth(root: str | Path) -> bool:
    return (Path(root) / "gt" / "poses3d.json").is_file()


# --------------------------------------------------------------------------- writing
def _r(x: np.ndarray, decimals: int):
    return np.round(np.asarray(x, dtype=np.float64), decimals).tolist()


def keypoint_entries(frame: int, kp: ViewKeypoints, num_joints: int,
                     where: str = "") -> list[dict]:
    """The ``keypoints/<view>.json`` entries of one view in one frame.

    Args:
        frame: the frame index (``image_id``).
        kp: :class:`ViewKeypoints` with keypoints (P, J, 2) px, conf (P, J), scores (P,).
        num_joints: J of the dataset's joint set.
        where: prefix of error messages.
    Returns:
        P dicts ``{"image_id", "category_id": 1, "keypoints": [x, y, c] * J, "score",
        "bbox"}`` (``bbox`` [x, y, w, h] around the joints with confidence > 0.2).
    Raises:
        ValueError: wrong shapes or non-finite numbers.
    """
    P = int(np.shape(kp.scores)[0])
    k = np.asarray(kp.keypoints, dtype=np.float64)
    c = np.asarray(kp.conf, dtype=np.float64)
    s = np.asarray(kp.scores, dtype=np.float64)
    if k.shape != (P, num_joints, 2) or c.shape != (P, num_joints) or s.shape != (P,):
        raise ValueError(f"{where}: expected keypoints (P, {num_joints}, 2), conf "
                         f"(P, {num_joints}), scores (P,); got {k.shape}, {c.shape}, {s.shape}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(c)) and np.all(np.isfinite(s))):
        raise ValueError(f"{where}: non-finite keypoints")
    flat = np.concatenate([np.round(k, _KP_DECIMALS), np.round(c, _CONF_DECIMALS)[..., None]],
                          -1).reshape(P, 3 * num_joints)
    out = []
    for p in range(P):
        found = c[p] > 0.2
        pts = k[p][found] if found.any() else k[p]
        lo, hi = pts.min(0), pts.max(0)
        out.append({"image_id": int(frame), "category_id": 1, "keypoints": flat[p].tolist(),
                    "score": round(float(s[p]), _CONF_DECIMALS),
                    "bbox": _r([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], 1)})
    return out


def _entries_text(entries: list[dict]) -> str:
    return "[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n" if entries else "[]\n"


def replace_keypoints(root: str | Path,
                      keypoints: Mapping[str, Mapping[int, ViewKeypoints]],
                      joint_set: str, provenance: Mapping[str, Any] | None = None) -> int:
    """Replace the 2D poses (``keypoints/<view>.json``) of an existing dataset.

    Every view's file is rewritten (views missing from ``keypoints`` get no poses) and
    ``dataset.yaml`` gets the new ``joint_set`` and, when given, ``source.keypoints =
    provenance``; the rest (cameras, frames, images, ground truth) is untouched. Files
    are written to temporaries and renamed, ``dataset.yaml`` last; the result is read back
    with :class:`MultiViewDataset` to validate it.

    Args:
        root: the dataset directory.
        keypoints: view name → {frame index → :class:`ViewKeypoints` (P, J, ·) in
            ``joint_set``}; frames not listed get no poses.
        joint_set: a :data:`~selfpose3d_core.skeleton.JOINT_SETS` name.
        provenance: plain data describing where the poses come from (detector, settings).
    Returns:
        The number of person entries written.
    Raises:
        ValueError: not a dataset, an unknown view or joint set, a frame out of range,
            wrong shapes.
    """
    root = Path(root)
    meta_path = root / "dataset.yaml"
    meta = _read_meta(meta_path)
    if joint_set not in JOINT_SETS:
        raise ValueError(f"replace_keypoints: joint_set must be one of {sorted(JOINT_SETS)}, "
                         f"got {joint_set!r}")
    unknown = set(keypoints) - set(meta.views)
    if unknown:
        raise ValueError(f"replace_keypoints: views {sorted(unknown)} are not in {root} "
                         f"(views {list(meta.views)})")
    J = JOINT_SETS[joint_set].num_joints
    texts, total = {}, 0
    for view in meta.views:
        entries = []
        for f, kp in sorted((keypoints.get(view) or {}).items()):
            if isinstance(f, bool) or not isinstance(f, (int, np.integer)) \
                    or not 0 <= int(f) < meta.num_frames:
                raise ValueError(f"replace_keypoints: view {view}: frame {f!r} out of range "
                                 f"[0, {meta.num_frames})")
            entries += keypoint_entries(int(f), kp, J, f"frame {f}, view {view}")
        total += len(entries)
        texts[view] = _entries_text(entries)
    kp_dir = root / "keypoints"
    kp_dir.mkdir(exist_ok=True)
    for view, text in texts.items():
        tmp = kp_dir / f".{view}.json.tmp"
        tmp.write_text(text)
        tmp.replace(kp_dir / f"{view}.json")
    source = dict(meta.source)
    if provenance is not None:
        source["keypoints"] = _plain(provenance)
    new = replace(meta, joint_set=joint_set, source=source)
    tmp = root / ".dataset.yaml.tmp"
    tmp.write_text(yaml.safe_dump(new.to_yaml_dict(), sort_keys=False, default_flow_style=None))
    tmp.replace(meta_path)
    MultiViewDataset(root)  # validate what was written
    log.info("replaced the keypoints of %s: %d people in %d views (%s)", root, total,
             len(meta.views), joint_set)
    return total


class DatasetWriter:
    """Write a dataset frame by frame; :meth:`close` (or leaving the ``with``) finishes it.

    Args:
        root: the dataset directory (created). If it exists and is not empty it must be
            a dataset (has ``dataset.yaml``) and ``overwrite`` must be set; then the
            dataset's files are replaced (other files are left alone).
        cameras: the cameras, one per view (names unique, usable as file names).
        meta: fps, joint set, description and source; views, frame count and ``images``
            are filled in by the writer.
        overwrite: allow replacing an existing dataset.
        jpeg_quality: JPEG quality of the images.
        world_frame: world frame name written to ``cameras.yaml``.
        gt_joint_set: joint set of the ground truth given to :meth:`add_frame`.

    ``dataset.yaml`` is written last, so a directory without it is an unfinished write.
    """

    def __init__(self, root: str | Path, cameras: Sequence[Camera], meta: DatasetMeta,
                 overwrite: bool = False, jpeg_quality: int = 90, world_frame: str = "world",
                 gt_joint_set: str = "panoptic15"):
        self.root = Path(root)
        cameras = tuple(cameras)
        if not cameras or not all(isinstance(c, Camera) for c in cameras):
            raise ValueError(f"DatasetWriter: need a non-empty sequence of Camera, got "
                             f"{[type(c).__name__ for c in cameras]}")
        names = [c.name for c in cameras]
        if len(set(names)) != len(names) or any(
                not n or "/" in n or "\\" in n or n.startswith(".") for n in names):
            raise ValueError(f"DatasetWriter: camera names must be unique, non-empty file "
                             f"names, got {names}")
        if not isinstance(meta, DatasetMeta):
            raise ValueError(f"DatasetWriter: meta must be a DatasetMeta, "
                             f"got {type(meta).__name__}")
        if not 1 <= int(jpeg_quality) <= 100:
            raise ValueError(f"DatasetWriter: jpeg_quality must be in [1, 100], "
                             f"got {jpeg_quality}")
        if gt_joint_set not in JOINT_SETS:
            raise ValueError(f"DatasetWriter: gt_joint_set must be one of {sorted(JOINT_SETS)}, "
                             f"got {gt_joint_set!r}")
        self.gt_joint_set = gt_joint_set
        if self.root.exists():
            if not self.root.is_dir():
                raise ValueError(f"{self.root}: exists and is not a directory")
            if any(self.root.iterdir()):
                if not (self.root / "dataset.yaml").is_file():
                    raise ValueError(f"{self.root}: not empty and not a dataset; refusing to "
                                     f"write into it")
                if not overwrite:
                    raise ValueError(f"{self.root}: a dataset exists there (overwrite=False)")
                for name in ("dataset.yaml", "frames.json", "cameras.yaml"):
                    (self.root / name).unlink(missing_ok=True)
                for name in ("keypoints", "images", "gt"):
                    if (self.root / name).exists():
                        shutil.rmtree(self.root / name)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cameras = cameras
        self.meta = meta
        self._J = meta.num_joints
        self._quality = int(jpeg_quality)
        self._timestamps: list[float] = []
        self._entries: list[list[dict]] = [[] for _ in cameras]
        self._gt: list[SkeletonFrame] | None = None
        self._images = False
        self._closed = False
        save_rig_yaml(self.root / "cameras.yaml", cameras, world_frame=world_frame)

    @property
    def num_frames(self) -> int:
        return len(self._timestamps)

    def add_frame(self, timestamp: float, keypoints: Sequence[ViewKeypoints] | None = None,
                  images: Sequence[np.ndarray | None] | None = None,
                  gt: SkeletonFrame | None = None) -> int:
        """Append one frame; returns its index.

        Args:
            timestamp: seconds (non-decreasing over frames).
            keypoints: per view a :class:`ViewKeypoints` (P_v, J, ·), or None: no poses.
            images: per view an (H, W, 3) uint8 RGB image of the camera's size, or None.
            gt: 3D ground truth of this frame (ids (P,), joints (P, J, 3) m, valid (P, J));
                give it for every frame or for none.
        """
        if self._closed:
            raise ValueError("DatasetWriter: add_frame after close")
        V = len(self.cameras)
        idx = self.num_frames
        t = float(timestamp)
        if not math.isfinite(t) or (self._timestamps and t < self._timestamps[-1]):
            raise ValueError(f"frame {idx}: timestamp {timestamp!r} must be finite and >= "
                             f"the previous one")
        if keypoints is not None and len(keypoints) != V:
            raise ValueError(f"frame {idx}: keypoints for {len(keypoints)} views, expected {V}")
        if images is not None and len(images) != V:
            raise ValueError(f"frame {idx}: {len(images)} images, expected {V}")
        if (gt is None) != (self._gt is None) and idx > 0:
            raise ValueError(f"frame {idx}: ground truth must be given for all frames or none")
        entries = []
        for v, kp in enumerate(keypoints or ()):
            entries.append(self._entries_of(idx, v, kp))
        if gt is not None:
            gt = self._check_gt(idx, gt)
        for v, img in enumerate(images or ()):
            if img is not None:
                self._write_image(idx, v, img)
        for v, e in enumerate(entries):
            self._entries[v].extend(e)
        if gt is not None:
            if self._gt is None:
                self._gt = []
            self._gt.append(gt)
        self._timestamps.append(t)
        return idx

    def _entries_of(self, idx: int, v: int, kp: ViewKeypoints) -> list[dict]:
        return keypoint_entries(idx, kp, self._J, f"frame {idx}, view {self.cameras[v].name}")

    def _check_gt(self, idx: int, gt: SkeletonFrame) -> SkeletonFrame:
        ids = np.asarray(gt.ids, dtype=np.int64).reshape(-1)
        joints = np.asarray(gt.joints, dtype=np.float64)
        valid = (np.ones(joints.shape[:2], bool) if getattr(gt, "valid", None) is None
                 else np.asarray(gt.valid, dtype=bool))
        P = ids.shape[0]
        if joints.ndim != 3 or joints.shape[0] != P or joints.shape[2] != 3 \
                or valid.shape != joints.shape[:2]:
            raise ValueError(f"frame {idx}: ground truth expects ids (P,), joints (P, J, 3), "
                             f"valid (P, J); got {ids.shape}, {joints.shape}, {valid.shape}")
        J = JOINT_SETS[self.gt_joint_set].num_joints
        if joints.shape[1] != J:
            raise ValueError(f"frame {idx}: ground truth has {joints.shape[1]} joints, "
                             f"{self.gt_joint_set} has {J}")
        if not np.all(np.isfinite(joints)):
            raise ValueError(f"frame {idx}: ground truth joints must be finite")
        return SkeletonFrame(ids=ids, joints=joints, valid=valid)

    def _write_image(self, idx: int, v: int, img: np.ndarray) -> None:
        cam = self.cameras[v]
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.shape != (cam.height, cam.width, 3):
            raise ValueError(f"frame {idx}, view {cam.name}: image must be "
                             f"({cam.height}, {cam.width}, 3) uint8 RGB, got {img.shape} "
                             f"{img.dtype}")
        d = self.root / "images" / cam.name
        d.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise ValueError(f"frame {idx}, view {cam.name}: JPEG encoding failed")
        (d / f"{idx:06d}.jpg").write_bytes(buf.tobytes())
        self._images = True

    def close(self) -> Path:
        """Write the index, keypoints, ground truth and ``dataset.yaml``; returns the root."""
        if self._closed:
            return self.root
        kp_dir = self.root / "keypoints"
        kp_dir.mkdir(exist_ok=True)
        for cam, entries in zip(self.cameras, self._entries):
            (kp_dir / f"{cam.name}.json").write_text(_entries_text(entries))
        frames = [{"index": i, "timestamp": round(t, 9)} for i, t in enumerate(self._timestamps)]
        (self.root / "frames.json").write_text(
            '{"frames": [\n' + ",\n".join(json.dumps(f) for f in frames) + "\n]}\n")
        if self._gt is not None:
            gt_dir = self.root / "gt"
            gt_dir.mkdir(exist_ok=True)
            js = self.gt_joint_set
            lines = []
            for i, g in enumerate(self._gt):
                e = {"frame": i, "ids": g.ids.tolist(), "joints": _r(g.joints, _GT_DECIMALS)}
                if not np.all(g.valid):
                    e["valid"] = g.valid.tolist()
                lines.append(json.dumps(e))
            (gt_dir / "poses3d.json").write_text(
                f'{{"format": "{GT_FORMAT}", "joint_set": "{js}", "units": "m",\n'
                '"frames": [\n' + ",\n".join(lines) + "\n]}\n")
        meta = replace(self.meta, num_frames=self.num_frames,
                       views=tuple(c.name for c in self.cameras), images=self._images)
        (self.root / "dataset.yaml").write_text(
            yaml.safe_dump(meta.to_yaml_dict(), sort_keys=False, default_flow_style=None))
        self._closed = True
        log.debug("wrote dataset %s (%d frames)", self.root, self.num_frames)
        return self.root

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
