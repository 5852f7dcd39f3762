"""Shared test helpers (no pytest fixtures: plain functions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selfpose3d_core.geometry import Camera

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def random_camera(rng: np.random.Generator, distortion: bool = True, name: str = "") -> Camera:
    """A camera 2.5–3.5 m from the origin, looking at the room centre, with distortion."""
    az = rng.uniform(0, 2 * np.pi)
    r = rng.uniform(2.5, 3.5)
    eye = [r * np.cos(az), r * np.sin(az), rng.uniform(2.0, 3.0)]
    target = [rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(0.8, 1.2)]
    w, h = int(rng.choice([640, 960, 1280])), int(rng.choice([480, 540, 720]))
    fx = rng.uniform(0.7, 1.1) * w
    dist = ([rng.uniform(-0.25, -0.05), rng.uniform(0.0, 0.08), rng.uniform(-2e-3, 2e-3),
             rng.uniform(-2e-3, 2e-3), rng.uniform(-0.02, 0.02)] if distortion else None)
    cam = Camera.look_at(eye, target, fx=fx, fy=fx * rng.uniform(0.98, 1.02), width=w,
                         height=h, dist=dist, name=name)
    K = cam.K.copy()
    K[0, 2] += rng.uniform(-10, 10)
    K[1, 2] += rng.uniform(-10, 10)
    return cam.replace(K=K)


def ring_rig(num: int = 5, seed: int = 0, distortion: bool = True) -> list[Camera]:
    """``num`` cameras evenly around the origin, 3 m out, 2.6 m high, looking at (0, 0, 1)."""
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(num):
        a = 2 * np.pi * i / num + rng.uniform(-0.1, 0.1)
        eye = [3.0 * np.cos(a), 3.0 * np.sin(a), 2.6]
        dist = [-0.15, 0.03, 0.0005, -0.0005, 0.0] if distortion else None
        cams.append(Camera.look_at(eye, [0, 0, 1.0], fx=500, width=640, height=480, dist=dist,
                                   name=f"cam{i}"))
    return cams
