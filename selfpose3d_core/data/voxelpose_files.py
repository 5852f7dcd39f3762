"""VoxelPose's Shelf / Campus file formats: ``actorsGT.mat`` and the COCO prediction pickle.

* ``actorsGT.mat``: MATLAB cell ``actor3D`` (actors × frames), each cell a 14×3 array in
  metres (Shelf/Campus world, z up) in :data:`~selfpose3d_core.skeleton.SHELF14` order, or
  empty where the actor is absent.
* ``pred_*_maskrcnn_hrnet_coco.pkl``: a dict keyed ``"<view>_<frame>"``, each a list of
  ``{'pred': (17, 3)}`` COCO-17 keypoints (u, v in pixels, score).
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import scipy.io

from ..geometry.camera import Camera
from ..geometry.epipolar import epipolar_distances, fundamental_matrix
from .frames import Keypoints2D, SkeletonFrame

__all__ = ["load_actors_gt", "load_coco_predictions", "epipolar_match_errors"]

_SHELF_JOINTS = 14
_COCO_JOINTS = 17


def load_actors_gt(path: str | Path) -> list[SkeletonFrame]:
    """``actorsGT.mat`` → one :class:`SkeletonFrame` per frame (actors present only).

    Each frame: ids (P,) actor indices, joints (P, 14, 3) metres in SHELF14 order, valid
    (P, 14) all True.
    """
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    if "actor3D" not in mat:
        raise ValueError(f"{path}: no 'actor3D' variable (has "
                         f"{sorted(k for k in mat if not k.startswith('__'))})")
    actors = [np.asarray(a, dtype=object).ravel() for a in np.asarray(mat["actor3D"]).ravel()]
    if not actors:
        raise ValueError(f"{path}: 'actor3D' has no actors")
    n_frames = {a.size for a in actors}
    if len(n_frames) != 1:
        raise ValueError(f"{path}: actors have different frame counts {sorted(n_frames)}")
    F = n_frames.pop()
    frames = []
    for f in range(F):
        ids, joints = [], []
        for i, a in enumerate(actors):
            cell = np.asarray(a[f])
            if cell.size == 0:
                continue
            if cell.shape != (_SHELF_JOINTS, 3) or not np.all(np.isfinite(cell.astype(float))):
                raise ValueError(f"{path}: actor {i}, frame {f}: expected a finite "
                                 f"({_SHELF_JOINTS}, 3) array, got shape {cell.shape}")
            ids.append(i)
            joints.append(cell.astype(np.float64))
        P = len(ids)
        frames.append(SkeletonFrame(
            ids=np.asarray(ids, dtype=np.int64),
            joints=np.stack(joints) if P else np.zeros((0, _SHELF_JOINTS, 3)),
            valid=np.ones((P, _SHELF_JOINTS), dtype=bool)))
    return frames


try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: builtins, ``defaultdict`` and numpy arrays."""

    _ALLOWED = {
        ("collections", "defaultdict"): collections.defaultdict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
        ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None


def load_coco_predictions(path: str | Path) -> dict[tuple[int, int], Keypoints2D]:
    """``pred_*_maskrcnn_hrnet_coco.pkl`` → ``{(view, frame): Keypoints2D}``.

    Each value: keypoints (P, 17, 2) pixels, scores (P, 17). Keys with no person give
    P = 0. Only plain data is unpickled (no arbitrary classes).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = _PlainDataUnpickler(fh).load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as e:
        raise ValueError(f"{path}: cannot unpickle ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict keyed '<view>_<frame>', got "
                         f"{type(data).__name__}")
    out: dict[tuple[int, int], Keypoints2D] = {}
    for key, people in data.items():
        parts = str(key).split("_")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{path}: key {key!r} is not '<view>_<frame>'")
        if not isinstance(people, list):
            raise ValueError(f"{path}: [{key!r}] must be a list, got {type(people).__name__}")
        preds = []
        for i, p in enumerate(people):
            pred = np.asarray(p.get("pred") if isinstance(p, dict) else None, dtype=np.float64)
            if pred.shape != (_COCO_JOINTS, 3):
                raise ValueError(f"{path}: [{key!r}][{i}]['pred'] must be ({_COCO_JOINTS}, 3),"
                                 f" got {pred.shape}")
            preds.append(pred)
        arr = np.stack(preds) if preds else np.zeros((0, _COCO_JOINTS, 3))  # (P, 17, 3)
        out[(int(parts[0]), int(parts[1]))] = Keypoints2D(keypoints=arr[..., :2],
                                                          scores=arr[..., 2])
    return out


def epipolar_match_errors(cams: Sequence[Camera], preds: Mapping[tuple[int, int], Keypoints2D],
                          min_score: float = 0.5, min_joints: int = 5) -> np.ndarray:
    """How well calibration and per-view predictions agree, without ground truth.

    For every frame, view pair (a < b) and person p of view a: the median epipolar distance
    (px, in view b; :func:`~selfpose3d_core.geometry.epipolar.epipolar_distances`) of its
    joints to each person q of view b, over the joints both score above ``min_score``
    (pairs with fewer than ``min_joints`` such joints are skipped); the best q is kept.

    Args:
        cams: the V cameras (view index = position).
        preds: ``{(view, frame): Keypoints2D}`` as :func:`load_coco_predictions`; every
            (view, frame) of a frame present must be there.
    Returns:
        (M,) one best-match median per person that had a match.
    """
    out = []
    for (va, f), ka in sorted(preds.items()):
        for vb in range(va + 1, len(cams)):
            kb = preds[(vb, f)]
            if ka.num_people == 0 or kb.num_people == 0:
                continue
            d = epipolar_distances(ka.keypoints, kb.keypoints,
                                   fundamental_matrix(cams[va], cams[vb]))  # (Pa, Pb, J)
            w = (ka.scores[:, None] > min_score) & (kb.scores[None] > min_score)
            med = np.array([[np.median(d[p, q][w[p, q]]) if w[p, q].sum() >= min_joints
                             else np.inf for q in range(kb.num_people)]
                            for p in range(ka.num_people)])  # (Pa, Pb)
            best = med.min(1)
            out.append(best[np.isfinite(best)])
    return np.concatenate(out) if out else np.zeros(0)
