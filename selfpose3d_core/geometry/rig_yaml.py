"""The rig YAML format: this project's own calibration file (documented in the README).

Example::

    format: selfpose3d-rig/1
    world_frame: world          # the TF frame the skeletons are published in
    cameras:
      - name: cam0              # free text; also the default ROS camera namespace
        width: 1280
        height: 720
        K: [[900.0, 0.0, 639.5], [0.0, 900.0, 359.5], [0.0, 0.0, 1.0]]
        dist: [-0.1, 0.02, 0.0, 0.0, 0.0]   # OpenCV k1 k2 p1 p2 k3 (optional)
        R: [[...], [...], [...]]            # world→camera rotation
        t: [0.1, 1.2, 3.4]                  # world→camera translation, metres
        # instead of t you may give `centre: [x, y, z]` (camera centre, world, metres)

Units are metres, world z up, OpenCV camera axes (see
:mod:`selfpose3d_core.geometry.camera`). Unknown keys are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from .camera import Camera

__all__ = ["Rig", "load_rig_yaml", "save_rig_yaml", "camera_to_dict", "camera_from_dict",
           "RIG_FORMAT"]

RIG_FORMAT = "selfpose3d-rig/1"
_TOP_KEYS = {"format", "world_frame", "cameras"}
_CAM_KEYS = {"name", "width", "height", "K", "dist", "R", "t", "centre"}


@dataclass(frozen=True)
class Rig:
    """A calibrated multi-camera rig: cameras in a named world frame."""

    cameras: tuple[Camera, ...]
    world_frame: str = "world"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)


def camera_to_dict(cam: Camera) -> dict:
    """A :class:`Camera` as plain YAML-able data (rig YAML camera entry)."""
    return {"name": cam.name, "width": cam.width, "height": cam.height,
            "K": np.round(cam.K, 10).tolist(), "dist": np.round(cam.dist, 12).tolist(),
            "R": np.round(cam.R, 12).tolist(), "t": np.round(cam.t, 10).tolist()}


def camera_from_dict(d: dict, where: str = "camera") -> Camera:
    """A rig YAML camera entry → :class:`Camera` (ValueError naming ``where`` on errors)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = set(d) - _CAM_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(_CAM_KEYS)}")
    missing = {"width", "height", "K", "R"} - set(d)
    if missing:
        raise ValueError(f"{where}: missing keys {sorted(missing)}")
    if ("t" in d) == ("centre" in d):
        raise ValueError(f"{where}: give exactly one of 't' (world→camera) or 'centre'")
    R = np.asarray(d["R"], dtype=np.float64)
    t = (np.asarray(d["t"], dtype=np.float64) if "t" in d
         else -R @ np.asarray(d["centre"], dtype=np.float64).reshape(3))
    try:
        return Camera(K=d["K"], R=R, t=t, dist=d.get("dist", np.zeros(5)), width=d["width"],
                      height=d["height"], name=str(d.get("name", "")))
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def load_rig_yaml(path: str | Path) -> Rig:
    """Read a rig YAML file → :class:`Rig`."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; allowed {sorted(_TOP_KEYS)}")
    fmt = data.get("format", RIG_FORMAT)
    if fmt != RIG_FORMAT:
        raise ValueError(f"{path}: format {fmt!r} is not {RIG_FORMAT!r}")
    cams = data.get("cameras")
    if not isinstance(cams, list) or not cams:
        raise ValueError(f"{path}: 'cameras' must be a non-empty list")
    cameras = tuple(camera_from_dict(c, f"{path}: cameras[{i}]") for i, c in enumerate(cams))
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: camera names must be unique, got {names}")
    return Rig(cameras=cameras, world_frame=str(data.get("world_frame", "world")))


def save_rig_yaml(path: str | Path, cameras: Sequence[Camera] | Rig,
                  world_frame: str = "world") -> None:
    """Write cameras (or a :class:`Rig`) as rig YAML."""
    if isinstance(cameras, Rig):
        world_frame, cameras = cameras.world_frame, cameras.cameras
    data = {"format": RIG_FORMAT, "world_frame": world_frame,
            "cameras": [camera_to_dict(c) for c in cameras]}
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
