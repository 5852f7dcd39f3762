"""A one-PNG overview of a dataset frame: every view with its 2D poses (and the projected
ground truth), plus a top view of the room with the cameras and the people.

Works on any dataset of :mod:`selfpose3d_core.data.dataset`; the furniture of the top view
is drawn when the dataset is synthetic (its ``source.config`` rebuilds the room). Ground
truth is read through :class:`~selfpose3d_core.data.dataset.GroundTruth3D` only here.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..data.dataset import GroundTruth3D, MultiViewDataset, has_ground_truth
from ..geometry.projection import undistort_points_numpy
from ..skeleton import JOINT_SETS
from .config import SynthConfig
from .room import make_room

__all__ = ["render_show"]

_TILE_W = 480
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WEAK = 0.3
# distinct detection colours (RGB)
_PALETTE = [(255, 80, 60), (60, 200, 255), (255, 200, 40), (120, 255, 90), (255, 90, 220),
            (255, 150, 60), (150, 120, 255), (40, 230, 190), (230, 230, 120), (255, 130, 160)]


def _text(img, s, org, scale=0.45, color=(255, 255, 255), bg=(0, 0, 0), thick=1):
    (w, h), b = cv2.getTextSize(s, _FONT, scale, thick)
    x, y = int(org[0]), int(org[1])
    cv2.rectangle(img, (x - 2, y - h - 3), (x + w + 2, y + b), bg, -1)
    cv2.putText(img, s, (x, y), _FONT, scale, color, thick, cv2.LINE_AA)


def _id_color(pid: int) -> tuple[int, int, int]:
    h = (pid * 0.61803398875) % 1.0
    hsv = np.uint8([[[int(h * 179), 200, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _draw_view(ds: MultiViewDataset, gt, frame: int, v: int) -> np.ndarray:
    cam = ds.cameras[v]
    s = _TILE_W / cam.width
    th = int(round(cam.height * s))
    img = ds.image(frame, v)
    if img is None:
        tile = np.full((th, _TILE_W, 3), 96, np.uint8)
        _text(tile, "no image", (_TILE_W // 2 - 40, th // 2), 0.6, (220, 220, 220), (96,) * 3)
    else:
        tile = cv2.resize(img, (_TILE_W, th), interpolation=cv2.INTER_AREA)
    kps = ds.keypoints(frame)[v]
    limbs = JOINT_SETS[ds.joint_set].limbs
    # low-confidence parts on a layer blended at 40 %
    weak = tile.copy()
    for d in range(kps.num_people):
        col = _PALETTE[d % len(_PALETTE)]
        uv, c = kps.keypoints[d] * s, kps.conf[d]
        for a, b in limbs:
            if min(c[a], c[b]) < _WEAK:
                cv2.line(weak, _pt(uv[a]), _pt(uv[b]), col, 2, cv2.LINE_AA)
        for j in np.nonzero(c < _WEAK)[0]:
            cv2.circle(weak, _pt(uv[j]), 3, col, 1, cv2.LINE_AA)
    tile = cv2.addWeighted(tile, 0.6, weak, 0.4, 0.0)
    # ground truth: thin white limbs with a dark rim, crosses at the joints
    if gt is not None:
        g = gt.frame(frame)
        js = JOINT_SETS[gt.joint_set]
        for p in range(g.ids.shape[0]):
            X = g.joints[p]
            zc = cam.world_to_camera(X)[:, 2]
            uv = cam.project(X) * s
            for a, b in js.limbs:
                if zc[a] > 0.1 and zc[b] > 0.1:
                    cv2.line(tile, _pt(uv[a]), _pt(uv[b]), (20, 20, 20), 3, cv2.LINE_AA)
                    cv2.line(tile, _pt(uv[a]), _pt(uv[b]), (255, 255, 255), 1, cv2.LINE_AA)
            for j in range(X.shape[0]):
                if zc[j] > 0.1:
                    cv2.drawMarker(tile, _pt(uv[j]), (255, 255, 255), cv2.MARKER_CROSS, 6, 1)
    for d in range(kps.num_people):
        col = _PALETTE[d % len(_PALETTE)]
        uv, c = kps.keypoints[d] * s, kps.conf[d]
        for a, b in limbs:
            if min(c[a], c[b]) >= _WEAK:
                cv2.line(tile, _pt(uv[a]), _pt(uv[b]), col, 2, cv2.LINE_AA)
        for j in np.nonzero(c >= _WEAK)[0]:
            cv2.circle(tile, _pt(uv[j]), 3, col, -1, cv2.LINE_AA)
        found = c >= _WEAK
        top = uv[found] if found.any() else uv
        _text(tile, f"d{d} {kps.scores[d]:.2f}", (top[:, 0].min(), top[:, 1].min() - 6), 0.38,
              (0, 0, 0), col)
    if gt is not None:
        g = gt.frame(frame)
        for p in range(g.ids.shape[0]):
            X = g.joints[p]
            if cam.world_to_camera(X[1])[2] > 0.1:
                q = cam.project(X[1]) * s  # label at the nose
                if 0 <= q[0] < _TILE_W and 0 <= q[1] < th:
                    _text(tile, f"id{int(g.ids[p])}", (q[0] + 6, q[1] + 14), 0.38,
                          (0, 0, 0), _id_color(int(g.ids[p])))
    _text(tile, f"{cam.name}  {kps.num_people} det", (6, 18), 0.5, (255, 255, 255), (30, 30, 30))
    return tile


def _room_from_source(ds: MultiViewDataset):
    src = ds.meta.source
    if src.get("type") != "synthetic" or not isinstance(src.get("config"), dict):
        return None
    try:
        return make_room(SynthConfig.from_dict(src["config"]))
    except ValueError:
        return None


def _draw_top(ds: MultiViewDataset, gt, frame: int, size: tuple[int, int]) -> np.ndarray:
    W, H = size
    img = np.full((H, W, 3), 245, np.uint8)
    room = _room_from_source(ds)
    cams = ds.cameras
    pts = [c.center[:2] for c in cams]
    g = gt.frame(frame) if gt is not None else None
    if g is not None and g.ids.shape[0]:
        pts += list(g.joints[..., :2].reshape(-1, 2))
    if room is not None:
        hx, hy = room.half
        pts += [np.array([-hx, -hy]), np.array([hx, hy])]
    pts = np.asarray(pts)
    lo, hi = pts.min(0) - 0.4, pts.max(0) + 0.4
    scale = min((W - 20) / (hi[0] - lo[0]), (H - 40) / (hi[1] - lo[1]))
    ctr_w, ctr_px = (lo + hi) / 2, np.array([W / 2, (H + 20) / 2])

    def px(xy):  # world x right, world y up in the panel
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([ctr_px[0] + (xy[..., 0] - ctr_w[0]) * scale,
                         ctr_px[1] - (xy[..., 1] - ctr_w[1]) * scale], -1)

    def rect(x0, y0, x1, y1, color, fill=True):
        a, b = px([x0, y1]), px([x1, y0])
        cv2.rectangle(img, _pt(a), _pt(b), color, -1 if fill else 1, cv2.LINE_AA)

    if room is not None:
        hx, hy = room.half
        rect(-hx, -hy, hx, hy, (212, 220, 216))
        rect(-hx, -hy, hx, hy, (90, 100, 96), False)
        for b in room.boxes:
            if b.name in ("table", "pillow", "pedestal", "table_base", "monitor", "cart_screen",
                          "trolley_cloth"):
                continue
            rect(b.lo[0], b.lo[1], b.hi[0], b.hi[1], tuple(int(c * 0.9) for c in b.color))
        t = room.table
        rect(t.lo[0], t.lo[1], t.hi[0], t.hi[1], (236, 238, 240))
        rect(t.lo[0], t.lo[1], t.hi[0], t.hi[1], (60, 90, 100), False)
        (d0, d1), dy = room.door
        cv2.line(img, _pt(px([d0, dy])), _pt(px([d1, dy])), (200, 120, 40), 4)
        lc = px(room.lamp_centre[:2])
        cv2.circle(img, _pt(lc), int(room.lamp_radius * scale), (170, 170, 150), 1, cv2.LINE_AA)
        _text(img, "table", px([t.lo[0] + 0.05, 0.0]) + [0, 5], 0.35, (40, 40, 40),
              (236, 238, 240))
        _text(img, "door", px([d0, dy]) + [0, 16], 0.35, (200, 120, 40), (245, 245, 245))
    # cameras: centre, the horizontal field of view, the name
    for cam in cams:
        c = cam.center
        mid = np.array([[0.0, (cam.height - 1) / 2], [cam.width - 1, (cam.height - 1) / 2],
                        [(cam.width - 1) / 2, (cam.height - 1) / 2]])
        xn = undistort_points_numpy(mid, cam)
        rays = np.concatenate([xn, np.ones((3, 1))], 1) @ cam.R  # camera → world directions
        ends = []
        for r in rays:
            h = r[:2] / max(np.linalg.norm(r[:2]), 1e-9)
            ends.append(c[:2] + 1.1 * h)
        poly = np.array([px(c[:2]), px(ends[0]), px(ends[1])]).astype(np.int32)
        cv2.fillConvexPoly(img, poly, (205, 215, 240), cv2.LINE_AA)
        cv2.polylines(img, [poly], True, (40, 60, 150), 1, cv2.LINE_AA)
        cv2.circle(img, _pt(px(c[:2])), 4, (40, 60, 150), -1, cv2.LINE_AA)
        _text(img, f"{cam.name} ({c[2]:.1f} m)", px(c[:2]) + [-20, -8], 0.35, (20, 30, 90),
              (245, 245, 245))
    if g is not None:
        js = JOINT_SETS[gt.joint_set]
        for p in range(g.ids.shape[0]):
            col = _id_color(int(g.ids[p]))
            q = px(g.joints[p, :, :2])
            for a, b in js.limbs:
                cv2.line(img, _pt(q[a]), _pt(q[b]), tuple(int(v * 0.7) for v in col), 2,
                         cv2.LINE_AA)
            root = q[js.root] if js.root >= 0 else q.mean(0)
            cv2.circle(img, _pt(root), 5, col, -1, cv2.LINE_AA)
            _text(img, f"id{int(g.ids[p])}", root + [7, -5], 0.38, (0, 0, 0), col)
    _text(img, "top view (x right, y up, m)", (6, 18), 0.5, (255, 255, 255), (30, 30, 30))
    # 1 m scale bar
    cv2.line(img, (10, H - 12), (10 + int(scale), H - 12), (30, 30, 30), 2)
    _text(img, "1 m", (14 + int(scale), H - 8), 0.35, (30, 30, 30), (245, 245, 245))
    return img


def render_show(dataset_dir: str | Path, frame: int, out_png: str | Path,
                draw_gt: bool = True) -> Path:
    """Write a PNG mosaic of one frame of a dataset.

    Each view shows its image (grey if none), its 2D pseudo poses (COCO skeletons, one
    colour per detection, confidence < 0.3 faded, ``d<k> <score>`` labels) and, with
    ``draw_gt`` and ground truth present, the projected 3D ground truth (thin white
    PANOPTIC15 limbs with crosses, ``id<n>`` labels). One more panel is a top view: room
    and furniture (synthetic datasets), cameras with their horizontal field of view,
    ground-truth skeletons by id.

    Returns:
        ``out_png``.
    """
    ds = MultiViewDataset(dataset_dir)
    if not 0 <= frame < ds.num_frames:
        raise ValueError(f"frame {frame} out of range [0, {ds.num_frames}) of {dataset_dir}")
    gt = GroundTruth3D(dataset_dir) if draw_gt and has_ground_truth(dataset_dir) else None
    tiles = [_draw_view(ds, gt, frame, v) for v in range(ds.num_views)]
    th = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, th - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    tiles.append(_draw_top(ds, gt, frame, (_TILE_W, th)))
    n = len(tiles)
    cols = 3 if n > 4 else 2
    rows = math.ceil(n / cols)
    tiles += [np.full_like(tiles[0], 30)] * (rows * cols - n)
    grid = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], 1)
                           for r in range(rows)], 0)
    # title and legend
    head = np.full((30, grid.shape[1], 3), 30, np.uint8)
    t = ds.timestamps[frame]
    _text(head, f"{ds.root.name}  frame {frame}/{ds.num_frames - 1}  t={t:.2f} s  "
          f"{ds.num_views} views  keypoints: {ds.joint_set}", (8, 21), 0.55, (255, 255, 255),
          (30, 30, 30))
    foot = np.full((26, grid.shape[1], 3), 30, np.uint8)
    x = 8
    for sample, label in (((255, 80, 60), "pseudo 2D poses (one colour per detection)"),
                          ((120, 120, 120), f"faded: joint confidence < {_WEAK}"),
                          ((255, 255, 255), "ground truth 3D projected (thin white, crosses)"
                           if gt is not None else "no ground truth drawn")):
        cv2.line(foot, (x, 13), (x + 24, 13), sample, 2 if x == 8 else 1, cv2.LINE_AA)
        cv2.putText(foot, label, (x + 30, 18), _FONT, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
        x += 40 + cv2.getTextSize(label, _FONT, 0.45, 1)[0][0] + 20
    out = np.concatenate([head, grid, foot], 0)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{out_png}: could not write the PNG")
    return out_png

