"""The static parts of the operating room as seen by one camera.

* :func:`render_background` — floor (vinyl tiles), walls (panels, bumper rail, skirting,
  a double door, cabinets, a wall monitor, an X-ray viewer, a clock), ceiling (light
  panels), and soft contact shadows of the furniture; drawn once per camera on its canvas.
* :func:`furniture_primitives` — the furniture (table with drape, pedestal, anaesthesia
  machine, trolley, cart, surgical lamp) as depth-keyed polygons, drawn every frame in
  the painter's algorithm together with the people so they occlude each other properly.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .canvas import NEAR, CanvasCamera, capsule_outlines, to_fixed
from .room import Box, Room

__all__ = ["Primitive", "LIGHT_DIR", "render_background", "furniture_primitives",
           "STATIC_LABEL"]

#: Unit vector towards the (overhead) light, world frame.
LIGHT_DIR = np.array([0.25, 0.15, 1.0]) / np.linalg.norm([0.25, 0.15, 1.0])
#: Label of furniture in the renderer's label buffer (0 = walls/floor, people from 2).
STATIC_LABEL = 1


class Primitive(NamedTuple):
    """A depth-sorted drawable: layers drawn in order, the first one is the silhouette.

    Fields:
        depth: distance from the camera centre (m), for the painter's algorithm.
        label: value written into the label buffer under the silhouette.
        layers: ((pts int32 (N, 2) fixed point, color RGB, is_outline), ...); the label is
            written under the outline layers.
    """

    depth: float
    label: int
    layers: tuple


def _shade(color, normal: np.ndarray, ambient: float = 0.62) -> tuple[int, int, int]:
    k = ambient + (1.0 - ambient) * max(0.0, float(normal @ LIGHT_DIR))
    return tuple(int(min(255, c * k)) for c in color)


# --------------------------------------------------------------------------- background
def _wall_frames(room: Room):
    """(origin, along, normal, length) of the 4 walls, origin at the left end seen from
    inside the room."""
    hx, hy = room.half
    return [
        (np.array([-hx, -hy, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]),
         2 * hx, "south"),
        (np.array([hx, hy, 0.0]), np.array([-1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0]),
         2 * hx, "north"),
        (np.array([-hx, hy, 0.0]), np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0]),
         2 * hy, "west"),
        (np.array([hx, -hy, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([-1.0, 0.0, 0.0]),
         2 * hy, "east"),
    ]


def render_background(cc: CanvasCamera, room: Room, seed: int = 0) -> np.ndarray:
    """The empty room (floor, walls, ceiling) on the camera's canvas. → (Hc, Wc, 3) RGB."""
    rng = np.random.default_rng(seed)
    img = cc.new_canvas()
    hx, hy = room.half
    sz = room.size[2]
    z = np.array([0.0, 0.0, 1.0])

    # ceiling with light panels
    cc.fill_polygon_3d(img, np.array([[-hx, -hy, sz], [hx, -hy, sz], [hx, hy, sz],
                                      [-hx, hy, sz]]), (214, 216, 214))
    for cx in (-1.4, 1.4):
        for cy in (-1.3, 1.3):
            cc.fill_polygon_3d(img, np.array([[cx - 0.6, cy - 0.3, sz - 0.005],
                                              [cx + 0.6, cy - 0.3, sz - 0.005],
                                              [cx + 0.6, cy + 0.3, sz - 0.005],
                                              [cx - 0.6, cy + 0.3, sz - 0.005]]),
                               (250, 250, 242))

    # walls
    base = np.array([172.0, 198.0, 190.0])
    (dx0, dx1), _ = room.door
    for origin, along, normal, length, name in _wall_frames(room):
        shade = 0.9 + 0.1 * float(normal @ np.array([0.6, 0.8, 0.0]))

        def quad(s0, s1, z0, z1, eps=0.0, _o=origin, _a=along, _n=normal):
            return np.array([_o + s0 * _a + z0 * z + eps * _n, _o + s1 * _a + z0 * z + eps * _n,
                             _o + s1 * _a + z1 * z + eps * _n, _o + s0 * _a + z1 * z + eps * _n])

        def col(c, k=1.0, _s=shade):
            return tuple(int(min(255, v * _s * k)) for v in c)

        panel = 1.2
        for i, s0 in enumerate(np.arange(0.0, length, panel)):
            s1 = min(s0 + panel, length)
            jit = 1.0 + rng.uniform(-0.025, 0.025)
            cc.fill_polygon_3d(img, quad(s0, s1, 1.0, sz), col(base, jit), False)
            cc.fill_polygon_3d(img, quad(s0, s1, 0.0, 1.0), col(base, 0.9 * jit), False)
            if i > 0:
                cc.line_3d(img, origin + s0 * along + 0.003 * normal,
                           origin + s0 * along + sz * z + 0.003 * normal, col(base, 0.8))
        cc.fill_polygon_3d(img, quad(0, length, 0.0, 0.12, 0.004), col((88, 108, 104)))
        cc.fill_polygon_3d(img, quad(0, length, 0.88, 0.98, 0.01), col((178, 182, 186)))
        cc.line_3d(img, origin + 0.88 * z + 0.01 * normal,
                   origin + length * along + 0.88 * z + 0.01 * normal, col((120, 124, 128)))
        if name == "north":  # double door (s runs from +x to −x on this wall)
            s_door0, s_door1 = hx - dx1, hx - dx0
            cc.fill_polygon_3d(img, quad(s_door0 - 0.08, s_door1 + 0.08, 0.0, 2.22, 0.006),
                               col((110, 118, 124)))
            mid = 0.5 * (s_door0 + s_door1)
            for a, b in ((s_door0, mid - 0.01), (mid + 0.01, s_door1)):
                cc.fill_polygon_3d(img, quad(a, b, 0.0, 2.12, 0.012), col((166, 174, 178)))
                w0 = a + 0.25 * (b - a)
                cc.fill_polygon_3d(img, quad(w0, w0 + 0.5 * (b - a), 1.25, 1.7, 0.016),
                                   col((74, 94, 112)))
                cc.fill_polygon_3d(img, quad(a + 0.04, b - 0.04, 0.05, 0.35, 0.016),
                                   col((190, 194, 198)))
            clock = np.array([[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 24)])
            ctr = np.array([mid, 2.55])
            ring = [origin + (ctr[0] + 0.17 * c) * along + (ctr[1] + 0.17 * s) * z
                    + 0.01 * normal for c, s in clock]
            cc.fill_polygon_3d(img, np.array(ring), col((240, 240, 236)))
            cc.line_3d(img, origin + mid * along + 2.55 * z + 0.02 * normal,
                       origin + mid * along + 2.66 * z + 0.02 * normal, (30, 30, 30), 1)
            cc.line_3d(img, origin + mid * along + 2.55 * z + 0.02 * normal,
                       origin + (mid + 0.08) * along + 2.55 * z + 0.02 * normal, (30, 30, 30))
        elif name == "south":  # glass-front cabinets
            for k in range(3):
                a = 0.9 + 0.85 * k
                cc.fill_polygon_3d(img, quad(a, a + 0.8, 0.1, 2.0, 0.01), col((150, 156, 160)))
                cc.fill_polygon_3d(img, quad(a + 0.05, a + 0.75, 0.95, 1.95, 0.02),
                                   col((120, 150, 160)))
                for sh in (1.2, 1.45, 1.7):
                    cc.fill_polygon_3d(img, quad(a + 0.05, a + 0.75, sh, sh + 0.02, 0.025),
                                       col((210, 214, 216)))
                cc.fill_polygon_3d(img, quad(a + 0.05, a + 0.75, 0.15, 0.9, 0.02),
                                   col((196, 200, 204)))
        elif name == "east":  # wall monitor with a fake UI
            a = 0.5 * length - 0.6
            cc.fill_polygon_3d(img, quad(a, a + 1.2, 1.45, 2.15, 0.02), col((24, 26, 30)))
            cc.fill_polygon_3d(img, quad(a + 0.04, a + 1.16, 1.49, 2.11, 0.03),
                               col((20, 44, 70)))
            for k, c in enumerate(((60, 200, 90), (230, 200, 60), (80, 170, 230))):
                zz = 1.95 - 0.14 * k
                cc.fill_polygon_3d(img, quad(a + 0.1, a + 0.75, zz, zz + 0.08, 0.035), col(c))
        elif name == "west":  # X-ray viewer
            a = 0.5 * length + 0.9
            cc.fill_polygon_3d(img, quad(a, a + 0.9, 1.35, 2.0, 0.02), col((120, 124, 130)))
            cc.fill_polygon_3d(img, quad(a + 0.04, a + 0.86, 1.39, 1.96, 0.03),
                               (246, 248, 250))

    # floor: vinyl tiles, brighter under the lamp
    tile = 0.6
    fc = np.array([150.0, 160.0, 156.0])
    xs = np.arange(-hx, hx + 1e-9, tile)
    ys = np.arange(-hy, hy + 1e-9, tile)
    for x0 in xs[:-1]:
        for y0 in ys[:-1]:
            r = np.hypot(x0 + tile / 2, y0 + tile / 2) / max(hx, hy)
            k = (1.08 - 0.18 * r) * (1.0 + rng.uniform(-0.03, 0.03))
            cc.fill_polygon_3d(img, np.array([[x0, y0, 0], [x0 + tile, y0, 0],
                                              [x0 + tile, y0 + tile, 0], [x0, y0 + tile, 0]]),
                               tuple(int(min(255, c * k)) for c in fc), False)
    grout = (122, 132, 128)
    for x in xs[1:-1]:
        cc.line_3d(img, np.array([x, -hy, 0.0]), np.array([x, hy, 0.0]), grout)
    for y in ys[1:-1]:
        cc.line_3d(img, np.array([-hx, y, 0.0]), np.array([hx, y, 0.0]), grout)

    # soft contact shadows of the furniture
    shadow = np.zeros(img.shape[:2], np.uint8)
    for b in room.boxes:
        if b.lo[2] > 0.2 and b.name != "drape":
            continue
        lo, hi = np.array(b.lo) - 0.06, np.array(b.hi) + 0.06
        cc.fill_polygon_3d(shadow, np.array([[lo[0], lo[1], 0.001], [hi[0], lo[1], 0.001],
                                             [hi[0], hi[1], 0.001], [lo[0], hi[1], 0.001]]),
                           110 if b.name == "drape" else 150, False)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 4.0)
    img = (img * (1.0 - shadow[..., None] / 255.0 * 0.55)).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


# --------------------------------------------------------------------------- furniture
_FACES = (  # (axis, side) → corner order using lo/hi per axis
    (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1))


def _box_pieces(box: Box):
    """Yield (corners (4, 3), normal (3,)) of the box's faces split into pieces."""
    lo, hi = np.array(box.lo, float), np.array(box.hi, float)
    for axis, side in _FACES:
        if box.open_top and axis == 2 and side == 1:
            continue
        normal = np.zeros(3)
        normal[axis] = 1.0 if side else -1.0
        a1, a2 = [i for i in range(3) if i != axis]
        n1 = max(1, int(np.ceil((hi[a1] - lo[a1]) / box.pieces)))
        n2 = max(1, int(np.ceil((hi[a2] - lo[a2]) / box.pieces)))
        e1 = np.linspace(lo[a1], hi[a1], n1 + 1)
        e2 = np.linspace(lo[a2], hi[a2], n2 + 1)
        for i in range(n1):
            for j in range(n2):
                c = np.zeros((4, 3))
                c[:, axis] = hi[axis] if side else lo[axis]
                c[:, a1] = [e1[i], e1[i + 1], e1[i + 1], e1[i]]
                c[:, a2] = [e2[j], e2[j], e2[j + 1], e2[j + 1]]
                yield c, normal


def furniture_primitives(cc: CanvasCamera, room: Room) -> list[Primitive]:
    """Depth-keyed polygons of the furniture and the lamp for one camera."""
    prims: list[Primitive] = []
    C = cc.centre
    for box in room.boxes:
        for corners, normal in _box_pieces(box):
            centre = corners.mean(0)
            if float(normal @ (C - centre)) <= 0:
                continue  # back face
            pc = cc.to_cam(corners)
            if np.any(pc[:, 2] < NEAR):
                continue
            color = _shade(box.color, normal)
            prims.append(Primitive(float(np.linalg.norm(centre - C)), STATIC_LABEL,
                                   ((to_fixed(cc.project_cam(pc)), color, True),)))
    # surgical lamp: a short cylinder hanging from a jointed arm
    lc = np.array(room.lamp_centre, float)
    sz = room.size[2]
    pivot = np.array([lc[0] + 0.7, lc[1], sz])
    elbow = np.array([lc[0] + 0.7, lc[1], lc[2] + 0.5])
    for a, b in ((pivot, elbow), (elbow, lc + np.array([0.0, 0.0, 0.06]))):
        pa, pb = cc.to_cam(np.stack([a, b]))
        if min(pa[2], pb[2]) < NEAR:
            continue
        ra, rb = cc.focal * 0.035 / pa[2], cc.focal * 0.035 / pb[2]
        poly = capsule_outlines(cc.project_cam(pa)[None], cc.project_cam(pb)[None],
                                np.array([ra]), np.array([rb]))[0]
        prims.append(Primitive(float(np.linalg.norm(0.5 * (a + b) - C)), STATIC_LABEL,
                               ((to_fixed(poly), (150, 154, 160), True),)))
    th = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ring = np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], -1) * room.lamp_radius
    top, bottom = lc + ring + [0, 0, 0.07], lc + ring - [0, 0, 0.05]
    pc = cc.to_cam(np.concatenate([top, bottom]))
    if np.all(pc[:, 2] > NEAR):
        hull = cv2.convexHull(cc.project_cam(pc).astype(np.float32))[:, 0]
        layers = [(to_fixed(hull), (206, 210, 212), True)]
        below = C[2] < lc[2] - 0.05
        face = bottom if below else top
        layers.append((to_fixed(cc.project(face)), (255, 250, 228) if below
                       else (232, 234, 236), False))
        if not below:
            layers.append((to_fixed(cc.project(lc + 0.45 * ring + [0, 0, 0.075])),
                           (190, 194, 198), False))
        prims.append(Primitive(float(np.linalg.norm(lc - C)), STATIC_LABEL, tuple(layers)))
    return prims
