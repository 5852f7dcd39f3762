"""CMU Panoptic ground truth: ``hdPose3d_stage1_coco19/body3DScene_<frame>.json``.

Format: ``{"bodies": [{"id": int, "joints19": [x, y, z, confidence] * 19}, ...]}`` in the
Panoptic world (centimetres, y down). Returned in our world (metres, z up) with
:func:`~selfpose3d_core.geometry.calibration.panoptic_world_to_ours`, keeping the first 15
joints (the :data:`~selfpose3d_core.skeleton.PANOPTIC15` set, root = mid-hip, index 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..geometry.calibration import panoptic_world_to_ours
from ..skeleton import PANOPTIC15

__all__ = ["PanopticBodies", "load_panoptic_bodies"]

_J19 = 19


class PanopticBodies(NamedTuple):
    """The Panoptic ground-truth people of one frame.

    Fields:
        ids: (P,) int64 body ids.
        joints: (P, 15, 3) float64 PANOPTIC15 joints (m, our world, z up).
        conf: (P, 15) float64 Panoptic joint confidences (−1 = joint missing).
    """

    ids: np.ndarray
    joints: np.ndarray
    conf: np.ndarray


def load_panoptic_bodies(path: str | Path) -> PanopticBodies:
    """Read one ``body3DScene_<frame>.json`` → :class:`PanopticBodies`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON file ({e})") from None
    bodies = data.get("bodies") if isinstance(data, dict) else None
    if not isinstance(bodies, list):
        raise ValueError(f"{path}: expected an object with a 'bodies' list")
    ids, joints = [], []
    for i, b in enumerate(bodies):
        if not isinstance(b, dict) or "id" not in b or "joints19" not in b:
            raise ValueError(f"{path}: bodies[{i}] must have 'id' and 'joints19'")
        try:
            j = np.asarray(b["joints19"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: bodies[{i}]['joints19'] is not numeric") from None
        if j.size != 4 * _J19 or not np.all(np.isfinite(j)):
            raise ValueError(f"{path}: bodies[{i}]['joints19'] must be {4 * _J19} finite "
                             f"numbers, got {j.size}")
        ids.append(int(b["id"]))
        joints.append(j.reshape(_J19, 4)[:PANOPTIC15.num_joints])
    arr = np.stack(joints) if joints else np.zeros((0, PANOPTIC15.num_joints, 4))  # (P,15,4)
    return PanopticBodies(ids=np.asarray(ids, dtype=np.int64),
                          joints=panoptic_world_to_ours(arr[..., :3]),
                          conf=np.ascontiguousarray(arr[..., 3]))
