"""The operating room: walls, furniture (as boxes), navigation obstacles, and the cameras.

World frame: metres, z up, floor at z = 0, room centred on the origin; the operating
table's long axis is x. See :mod:`selfpose3d_core.geometry.camera` for the camera
convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..geometry.camera import Camera
from .config import SynthConfig

__all__ = ["Box", "Spot", "Room", "make_room", "make_cameras"]


class Box(NamedTuple):
    """An axis-aligned box of furniture.

    Fields:
        lo: (3,) minimum corner (m).
        hi: (3,) maximum corner (m).
        color: RGB 0–255.
        name: label.
        pieces: split the larger faces into pieces about this long (m) for depth sorting.
        open_top: no top face (it is covered by another box).
    """

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    color: tuple[int, int, int]
    name: str
    pieces: float = 0.5
    open_top: bool = False


class Spot(NamedTuple):
    """A place to work: where to stand, which way to face, what is there.

    Fields:
        xy: (2,) standing position of the pelvis (m).
        heading: facing direction (rad, about z, 0 = +x).
        kind: ``"table"``, ``"trolley"``, ``"machine"`` or ``"free"``.
    """

    xy: tuple[float, float]
    heading: float
    kind: str


@dataclass(frozen=True)
class Room:
    """Room extent, furniture and navigation data.

    Attributes:
        size: (x, y, z) extent (m), centred on the origin in x, y; floor z = 0.
        table: the operating table top's box (the drape hangs from it).
        boxes: all furniture boxes (drawn by the renderer, occluding people).
        lamp_centre: (3,) centre of the surgical lamp's head (m).
        lamp_radius: radius of the lamp head (m).
        obstacles: (O, 4) rectangles ``(xmin, ymin, xmax, ymax)`` people must not enter.
        door: ((x0, x1), y) span of the double door on the wall ``y = +size_y / 2``.
        spots: places to work.
    """

    size: tuple[float, float, float]
    table: Box
    boxes: tuple[Box, ...]
    lamp_centre: tuple[float, float, float]
    lamp_radius: float
    obstacles: np.ndarray
    door: tuple[tuple[float, float], float]
    spots: tuple[Spot, ...]

    @property
    def half(self) -> tuple[float, float]:
        return self.size[0] / 2.0, self.size[1] / 2.0

    @property
    def door_entry(self) -> np.ndarray:
        """(2,) the point just inside the door where people appear and vanish."""
        (x0, x1), y = self.door
        return np.array([(x0 + x1) / 2.0, y - 0.45])

    def inside_table(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """points: (..., 3) → (...) bool, inside the table (top, drape, pedestal) box."""
        lo = np.array(self.table.lo) - margin
        hi = np.array(self.table.hi) + margin
        lo[2] = 0.0
        return np.all((points >= lo) & (points <= hi), axis=-1)


_DRAPE = (58, 120, 140)
_STEEL = (168, 174, 180)
_DARK = (70, 74, 80)


def make_room(config: SynthConfig) -> Room:
    """The room of ``config``: table in the middle, anaesthesia machine, instrument trolley,
    a monitor cart, a ceiling lamp over the table, a double door."""
    sx, sy, sz = config.room_size
    hx, hy = sx / 2.0, sy / 2.0
    tl, tw, th = config.table_size
    table = Box((-tl / 2, -tw / 2, th - 0.08), (tl / 2, tw / 2, th), (236, 238, 240), "table",
                0.4)
    boxes = [
        table,
        Box((-tl / 2 - 0.05, -tw / 2 - 0.06, th - 0.32), (tl / 2 + 0.05, tw / 2 + 0.06,
                                                            th - 0.08), _DRAPE, "drape", 0.4,
            True),
        Box((-tl / 2 + 0.08, -0.12, th - 0.06), (-tl / 2 + 0.45, 0.12, th + 0.06),
            (248, 248, 250), "pillow", 0.5),
        Box((-0.18, -0.15, 0.12), (0.18, 0.15, th - 0.32), _STEEL, "pedestal", 0.3),
        Box((-0.5, -0.3, 0.0), (0.5, 0.3, 0.12), _DARK, "table_base", 0.5),
    ]
    # anaesthesia machine against the wall x = -hx, at the head end of the table
    mx, my = -hx + 0.45, 0.35 * hy
    boxes += [
        Box((mx - 0.35, my - 0.4, 0.0), (mx + 0.35, my + 0.4, 1.25), (214, 212, 200),
            "anaesthesia", 0.45),
        Box((mx - 0.3, my - 0.35, 1.25), (mx + 0.05, my + 0.35, 1.75), (40, 44, 52),
            "monitor", 0.4),
    ]
    # instrument trolley near the foot end, monitor cart by the other wall
    bx, by = hx - 1.1, -hy + 1.3
    boxes += [
        Box((bx - 0.45, by - 0.28, 0.05), (bx + 0.45, by + 0.28, 0.92), _STEEL, "trolley",
            0.45),
        Box((bx - 0.5, by - 0.32, 0.92), (bx + 0.5, by + 0.32, 0.95), (90, 150, 150),
            "trolley_cloth", 0.45),
    ]
    cx, cy = -0.4 * hx, hy - 0.45
    boxes += [
        Box((cx - 0.3, cy - 0.25, 0.0), (cx + 0.3, cy + 0.25, 1.0), (200, 204, 210),
            "cart", 0.45),
        Box((cx - 0.28, cy - 0.05, 1.0), (cx + 0.28, cy + 0.02, 1.4), (30, 34, 40),
            "cart_screen", 0.45),
    ]
    obstacles = np.array([
        [-tl / 2 - 0.05, -tw / 2 - 0.06, tl / 2 + 0.05, tw / 2 + 0.06],
        [mx - 0.35, my - 0.4, mx + 0.35, my + 0.4],
        [bx - 0.5, by - 0.32, bx + 0.5, by + 0.32],
        [cx - 0.3, cy - 0.25, cx + 0.3, cy + 0.25],
    ])
    door = ((hx - 2.2, hx - 0.8), hy)
    d = 0.5  # pelvis to table edge
    spots = [Spot((x, s * (tw / 2 + d)), -s * np.pi / 2, "table")
             for s in (1.0, -1.0) for x in np.linspace(-tl / 2 + 0.35, tl / 2 - 0.35, 3)]
    spots += [Spot((-tl / 2 - d, 0.0), 0.0, "table"), Spot((tl / 2 + d, 0.0), np.pi, "table")]
    spots += [Spot((mx + 0.35 + 0.5, my), np.pi, "machine"),
              Spot((bx, by + 0.32 + 0.5), -np.pi / 2, "trolley"),
              Spot((cx, cy - 0.25 - 0.5), np.pi / 2, "machine")]
    return Room(size=(sx, sy, sz), table=table, boxes=tuple(boxes),
                lamp_centre=(0.35, 0.15, min(2.05, sz - 0.6)), lamp_radius=0.32,
                obstacles=obstacles, door=door, spots=tuple(spots))


def _fx_for_hfov(hfov_rad: float, width: int, k1: float, k2: float) -> float:
    """Focal length (px) so that the image's horizontal half-width sees ``hfov/2``."""
    xu = np.tan(hfov_rad / 2.0)
    xd = xu * (1.0 + k1 * xu ** 2 + k2 * xu ** 4)
    return (width / 2.0) / xd


def make_cameras(config: SynthConfig, rng: np.random.Generator) -> tuple[Camera, ...]:
    """``config.num_cameras`` ceiling cameras around the walls looking at the table.

    Cameras sit 0.15 m inside the walls at evenly spread bearings from the room centre
    (starting at a corner, jittered), 2.5–2.9 m high, aimed at about (0, 0, 1) m, with a
    horizontal field of view in ``config.hfov_deg`` *through the lens* and barrel
    distortion (k1 in ``config.distortion_k1``, k2 ≈ 0.6 k1² so the lens is monotonic).
    """
    hx, hy = config.room_size[0] / 2 - 0.15, config.room_size[1] / 2 - 0.15
    w, h = config.image_size
    n = config.num_cameras
    start = np.arctan2(hy, hx) + rng.uniform(-0.1, 0.1)
    cams = []
    for i in range(n):
        a = start + 2 * np.pi * i / n + rng.uniform(-0.12, 0.12)
        d = np.array([np.cos(a), np.sin(a)])
        s = min(hx / max(abs(d[0]), 1e-9), hy / max(abs(d[1]), 1e-9))  # ray to the wall
        eye = np.array([d[0] * s, d[1] * s, rng.uniform(*config.camera_height)])
        target = np.array([rng.uniform(-0.35, 0.35), rng.uniform(-0.3, 0.3),
                           rng.uniform(0.8, 1.15)])
        k1 = rng.uniform(*config.distortion_k1)
        k2 = 0.6 * k1 * k1 + rng.uniform(0.0, 0.01)
        p1, p2 = rng.uniform(-5e-4, 5e-4, size=2)
        fx = _fx_for_hfov(np.deg2rad(rng.uniform(*config.hfov_deg)), w, k1, k2)
        roll = np.deg2rad(rng.uniform(-2.0, 2.0))
        up = np.array([np.sin(roll) * -d[1], np.sin(roll) * d[0], np.cos(roll)])
        cam = Camera.look_at(eye, target, fx=fx, fy=fx * rng.uniform(0.995, 1.005), width=w,
                             height=h, up=up, dist=[k1, k2, p1, p2, 0.0], name=f"cam{i}")
        K = cam.K.copy()
        K[0, 2] += rng.uniform(-0.01, 0.01) * w
        K[1, 2] += rng.uniform(-0.01, 0.01) * h
        cams.append(cam.replace(K=K))
    return tuple(cams)
