"""One-PNG overview of a dataset frame, optionally with predicted 3D skeletons.

:func:`render_overlay` (and :func:`draw_overlay`, the same image as an array) draws, for
one frame of any dataset of :mod:`selfpose3d_core.data.dataset`:

* one tile per view: the image (grey when the dataset has none), the 2D pseudo poses,
  the projected 3D ground truth and the projected predicted skeletons;
* a top view of the room: cameras with their horizontal field of view, people (and the
  furniture when the dataset is synthetic: its ``source.config`` rebuilds the room);
* with predictions, a 3D panel: the room seen in perspective from a corner above (floor
  grid, cameras as frusta, predicted skeletons thick with floor shadows, ground truth
  thin), with a table of the predicted people.

Layout (all sizes in pixels of the PNG): a header :data:`HEADER_HEIGHT` high; a grid of
tiles :data:`TILE_WIDTH` wide, 3 columns when there are more than 4 tiles else 2, filled
row by row — the views in dataset order (view 0 top left), then the top view; the 3D
panel as one row under the grid (predictions only); the legend lines at the bottom. A
view tile shows its image resized by ``TILE_WIDTH / camera.width`` (pixel-centre
convention), so image pixel ``(u, v)`` of view 0 is at PNG pixel
``((u + 0.5) s - 0.5, HEADER_HEIGHT + (v + 0.5) s - 0.5)``.

Projections into the views use the full camera model (:meth:`Camera.project`, lens
distortion); joints behind a camera or far outside its field of view (where the
distortion polynomial is meaningless) are not drawn. Colours are RGB.

Example:
    >>> render_overlay("/tmp/synth", 30, "/tmp/overlay.png", predictions=people)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

import cv2
import numpy as np

from .data.dataset import GroundTruth3D, MultiViewDataset, has_ground_truth
from .data.frames import SkeletonFrame
from .geometry.camera import Camera
from .geometry.projection import undistort_points_numpy
from .skeleton import JOINT_SETS, PANOPTIC15, JointSet

if TYPE_CHECKING:
    from .models.estimator import Skeletons
    from .synthetic.room import Room

__all__ = ["render_overlay", "draw_overlay", "person_color", "TILE_WIDTH", "HEADER_HEIGHT"]

log = logging.getLogger(__name__)

TILE_WIDTH = 480
"""Width of every tile of the mosaic (px)."""
HEADER_HEIGHT = 30
"""Height of the title line above the tiles (px)."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WEAK = 0.3
_MIN_DEPTH = 0.1  # m in front of a camera for a joint to be drawn
_FIELD_MARGIN = 1.3  # × the image corners' normalised radius: beyond, a joint is not drawn
_BG = (30, 30, 30)
# distinct detection colours (pseudo 2D poses)
_PALETTE = [(255, 80, 60), (60, 200, 255), (255, 200, 40), (120, 255, 90), (255, 90, 220),
            (255, 150, 60), (150, 120, 255), (40, 230, 190), (230, 230, 120), (255, 130, 160)]
# distinct predicted-person colours (saturated, readable on images and on dark grey)
_PERSON_COLORS = [(255, 64, 64), (0, 190, 255), (255, 214, 0), (60, 230, 60), (255, 64, 255),
                  (255, 140, 0), (150, 110, 255), (0, 225, 200), (255, 150, 190), (190, 255, 0)]
_GT_GREY = (235, 235, 235)
# the 3D panel's virtual camera: azimuth (deg from +x to +y), elevation (deg), distance
# (× half the floor diagonal) from the floor centre 0.8 m up
_VIEW_AZ, _VIEW_EL, _VIEW_DIST = -130.0, 30.0, 2.8


def person_color(p: int) -> tuple[int, int, int]:
    """RGB colour of predicted person ``p`` (index in ``Skeletons``; cycles after 10)."""
    return _PERSON_COLORS[int(p) % len(_PERSON_COLORS)]


# --------------------------------------------------------------------------- helpers
def _text(img: np.ndarray, s: str, org, scale: float = 0.45, color=(255, 255, 255),
          bg=(0, 0, 0), thick: int = 1) -> None:
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


def _dim(color, f: float) -> tuple[int, int, int]:
    return tuple(int(c * f) for c in color)


def _field_radius(cam: Camera) -> float:
    """Largest undistorted normalised radius ``|(x/z, y/z)|`` of the image corners."""
    corners = np.array([[0.0, 0.0], [cam.width - 1, 0.0], [0.0, cam.height - 1],
                        [cam.width - 1, cam.height - 1]])
    return float(np.linalg.norm(undistort_points_numpy(corners, cam), axis=-1).max())


def _project_visible(cam: Camera, X: np.ndarray, radius: float) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """X: (..., 3) world → uv (..., 2) pixels (with distortion), ok (...) drawable."""
    xc = cam.world_to_camera(X)
    z = xc[..., 2]
    rn = np.hypot(xc[..., 0], xc[..., 1]) / np.maximum(z, 1e-9)
    ok = (z > _MIN_DEPTH) & (rn < _FIELD_MARGIN * radius)
    return cam.project(X), ok


class _Prediction(NamedTuple):
    """Checked predictions: joints (P, 15, 3), confidence (P, 15), root_scores (P,)."""

    joints: np.ndarray
    confidence: np.ndarray
    root_scores: np.ndarray


def _check_predictions(pred: Skeletons) -> _Prediction:
    J = PANOPTIC15.num_joints
    try:
        joints = np.asarray(pred.joints, dtype=np.float64)
        conf = np.asarray(pred.confidence, dtype=np.float64)
        scores = np.asarray(pred.root_scores, dtype=np.float64).reshape(-1)
    except AttributeError:
        raise ValueError(f"predictions must be a Skeletons (joints, confidence, root_scores), "
                         f"got {type(pred).__name__}") from None
    if joints.ndim != 3 or joints.shape[1:] != (J, 3):
        raise ValueError(f"predictions.joints must be (P, {J}, 3) (PANOPTIC15), "
                         f"got {joints.shape}")
    P = joints.shape[0]
    if conf.shape != (P, J) or scores.shape != (P,):
        raise ValueError(f"predictions: confidence must be ({P}, {J}) and root_scores "
                         f"({P},), got {conf.shape} and {scores.shape}")
    if not np.all(np.isfinite(joints)):
        raise ValueError("predictions.joints must be finite")
    return _Prediction(joints, conf, scores)


@functools.lru_cache(maxsize=4)
def _ground_truth(path: str, mtime_ns: int) -> GroundTruth3D:
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    return GroundTruth3D(path)


def _load_gt(root: Path) -> GroundTruth3D | None:
    if not has_ground_truth(root):
        return None
    f = root / "gt" / "poses3d.json"
    return _ground_truth(str(root.resolve()), f.stat().st_mtime_ns)


def _room_from_source(ds: MultiViewDataset) -> Room | None:
    src = ds.meta.source
    if src.get("type") != "synthetic" or not isinstance(src.get("config"), dict):
        return None
    from .synthetic.config import SynthConfig  # lazy: synthetic imports this module
    from .synthetic.room import make_room

    try:
        return make_room(SynthConfig.from_dict(src["config"]))
    except ValueError:
        return None


def _match_gt(pred: np.ndarray, gt: SkeletonFrame | None) -> list[tuple[int, float] | None]:
    """Greedy one-to-one match of predictions (P, 15, 3) to GT by MPJPE (mm).

    Returns per prediction ``(gt id, MPJPE mm)`` or None (no GT left within 0.5 m).
    """
    out: list[tuple[int, float] | None] = [None] * pred.shape[0]
    if gt is None or gt.ids.shape[0] == 0 or pred.shape[0] == 0:
        return out
    if gt.joints.shape[1] != pred.shape[1]:
        return out
    d = np.linalg.norm(pred[:, None] - gt.joints[None], axis=-1)  # (P, G, J)
    w = gt.valid[None].astype(np.float64)
    err = (d * w).sum(-1) / np.maximum(w.sum(-1), 1.0)  # (P, G) m
    used_p, used_g = set(), set()
    for k in np.argsort(err, axis=None):
        p, g = np.unravel_index(k, err.shape)
        if p in used_p or g in used_g or err[p, g] > 0.5:
            continue
        used_p.add(p)
        used_g.add(g)
        out[p] = (int(gt.ids[g]), float(err[p, g] * 1000.0))
    return out


# --------------------------------------------------------------------------- view tiles
def _pseudo_weak(tile: np.ndarray, ds: MultiViewDataset, frame: int, v: int, s: float,
                 faded: bool) -> np.ndarray:
    """The blended layer of the 2D pseudo poses: the parts with confidence < 0.3 at 40 %,
    or with ``faded`` (predictions drawn over them) every confident limb at 45 %."""
    kps = ds.keypoints(frame)[v]
    limbs = JOINT_SETS[ds.joint_set].limbs
    layer = tile.copy()
    for d in range(kps.num_people):
        col = _PALETTE[d % len(_PALETTE)]
        uv, c = (kps.keypoints[d] + 0.5) * s - 0.5, kps.conf[d]
        for a, b in limbs:
            if (min(c[a], c[b]) >= _WEAK) == faded:
                cv2.line(layer, _pt(uv[a]), _pt(uv[b]), col, 2, cv2.LINE_AA)
        if not faded:
            for j in np.nonzero(c < _WEAK)[0]:
                cv2.circle(layer, _pt(uv[j]), 3, col, 1, cv2.LINE_AA)
    return cv2.addWeighted(tile, 0.55 if faded else 0.6, layer, 0.45 if faded else 0.4, 0.0)


def _pseudo_strong(tile: np.ndarray, ds: MultiViewDataset, frame: int, v: int,
                   s: float) -> None:
    """The confident parts of the 2D pseudo poses, opaque."""
    kps = ds.keypoints(frame)[v]
    limbs = JOINT_SETS[ds.joint_set].limbs
    for d in range(kps.num_people):
        col = _PALETTE[d % len(_PALETTE)]
        uv, c = (kps.keypoints[d] + 0.5) * s - 0.5, kps.conf[d]
        for a, b in limbs:
            if min(c[a], c[b]) >= _WEAK:
                cv2.line(tile, _pt(uv[a]), _pt(uv[b]), col, 2, cv2.LINE_AA)
        for j in np.nonzero(c >= _WEAK)[0]:
            cv2.circle(tile, _pt(uv[j]), 3, col, -1, cv2.LINE_AA)


def _pseudo_labels(tile: np.ndarray, ds: MultiViewDataset, frame: int, v: int,
                   s: float) -> None:
    kps = ds.keypoints(frame)[v]
    for d in range(kps.num_people):
        col = _PALETTE[d % len(_PALETTE)]
        uv, c = (kps.keypoints[d] + 0.5) * s - 0.5, kps.conf[d]
        found = c >= _WEAK
        top = uv[found] if found.any() else uv
        _text(tile, f"d{d} {kps.scores[d]:.2f}", (top[:, 0].min(), top[:, 1].min() - 6), 0.38,
              (0, 0, 0), col)


def _draw_gt_view(tile: np.ndarray, cam: Camera, radius: float, g: SkeletonFrame,
                  js: JointSet, s: float, crosses: bool, rim: bool = True) -> None:
    """Ground truth: thin white limbs with a dark rim (and crosses at the joints)."""
    for p in range(g.ids.shape[0]):
        uv, ok = _project_visible(cam, g.joints[p], radius)
        uv = (uv + 0.5) * s - 0.5
        ok &= g.valid[p]
        for a, b in js.limbs:
            if ok[a] and ok[b]:
                if rim:
                    cv2.line(tile, _pt(uv[a]), _pt(uv[b]), (20, 20, 20), 3, cv2.LINE_AA)
                cv2.line(tile, _pt(uv[a]), _pt(uv[b]), (255, 255, 255), 1, cv2.LINE_AA)
        for j in np.nonzero(ok)[0] if crosses else ():
            cv2.drawMarker(tile, _pt(uv[j]), (255, 255, 255), cv2.MARKER_CROSS, 6, 1)


def _draw_pred_view(tile: np.ndarray, cam: Camera, radius: float, pred: _Prediction,
                    s: float) -> list[tuple[str, np.ndarray, tuple[int, int, int]]]:
    """Predicted skeletons: thick coloured limbs with a dark rim, dots at the joints.

    Returns the labels to draw last: (text, anchor px, colour).
    """
    labels = []
    for p in range(pred.joints.shape[0]):
        col = person_color(p)
        uv, ok = _project_visible(cam, pred.joints[p], radius)
        uv = (uv + 0.5) * s - 0.5
        if not ok.any():
            continue
        for a, b in PANOPTIC15.limbs:
            if ok[a] and ok[b]:
                cv2.line(tile, _pt(uv[a]), _pt(uv[b]), (15, 15, 15), 6, cv2.LINE_AA)
        for a, b in PANOPTIC15.limbs:
            if ok[a] and ok[b]:
                cv2.line(tile, _pt(uv[a]), _pt(uv[b]), col, 3, cv2.LINE_AA)
        for j in np.nonzero(ok)[0]:
            cv2.circle(tile, _pt(uv[j]), 4, (15, 15, 15), -1, cv2.LINE_AA)
            cv2.circle(tile, _pt(uv[j]), 3, col, -1, cv2.LINE_AA)
        vis = uv[ok]
        labels.append((f"P{p} {pred.root_scores[p]:.2f}",
                       np.array([vis[:, 0].min(), vis[:, 1].min() - 9]), col))
    return labels


def _draw_view(ds: MultiViewDataset, frame: int, v: int, g: SkeletonFrame | None,
               gt_js: JointSet | None, pred: _Prediction | None,
               draw_pseudo: bool) -> np.ndarray:
    cam = ds.cameras[v]
    s = TILE_WIDTH / cam.width
    th = int(round(cam.height * s))
    radius = _field_radius(cam)
    img = ds.image(frame, v)
    if img is None:
        tile = np.full((th, TILE_WIDTH, 3), 96, np.uint8)
        _text(tile, "no image", (TILE_WIDTH // 2 - 40, th // 2), 0.6, (220, 220, 220),
              (96,) * 3)
    else:
        tile = cv2.resize(img, (TILE_WIDTH, th), interpolation=cv2.INTER_AREA)
    faded = pred is not None
    if draw_pseudo:
        tile = _pseudo_weak(tile, ds, frame, v, s, faded)
    labels: list[tuple[str, np.ndarray, tuple[int, int, int]]] = []
    if pred is None:
        if g is not None:
            _draw_gt_view(tile, cam, radius, g, gt_js, s, crosses=True)
        if draw_pseudo:
            _pseudo_strong(tile, ds, frame, v, s)
            _pseudo_labels(tile, ds, frame, v, s)
    else:
        # ground truth under and over the predictions: where they agree, a thin white line
        # runs inside the thick coloured one; where they differ it keeps its dark rim
        if g is not None:
            _draw_gt_view(tile, cam, radius, g, gt_js, s, crosses=False)
        labels = _draw_pred_view(tile, cam, radius, pred, s)
        if g is not None:
            _draw_gt_view(tile, cam, radius, g, gt_js, s, crosses=False, rim=False)
    if g is not None:
        for p in range(g.ids.shape[0]):
            nose = g.joints[p, 1:2]  # PANOPTIC15 nose: label beside the head
            q, ok = _project_visible(cam, nose, radius)
            q = (q[0] + 0.5) * s - 0.5
            if ok[0] and 0 <= q[0] < TILE_WIDTH and 0 <= q[1] < th:
                gid = int(g.ids[p])
                _text(tile, f"id{gid}", (q[0] + 6, q[1] + 14), 0.38, (0, 0, 0),
                      _id_color(gid) if pred is None else (200, 200, 200))
    for label, org, col in labels:
        _text(tile, label, org, 0.42, (0, 0, 0), col)
    n_det = ds.keypoints(frame)[v].num_people
    head = f"{cam.name}  {n_det} det"
    if pred is not None:
        head += f"  {len(labels)} pred"
    _text(tile, head, (6, 18), 0.5, (255, 255, 255), _BG)
    return tile


# --------------------------------------------------------------------------- top view
def _draw_top(ds: MultiViewDataset, room: Room | None, g: SkeletonFrame | None,
              gt_js: JointSet | None, pred: _Prediction | None,
              size: tuple[int, int]) -> np.ndarray:
    W, H = size
    img = np.full((H, W, 3), 245, np.uint8)
    cams = ds.cameras
    pts = [c.center[:2] for c in cams]
    if g is not None and g.ids.shape[0]:
        pts += list(g.joints[..., :2].reshape(-1, 2))
    if pred is not None and pred.joints.shape[0]:
        pts += list(pred.joints[..., :2].reshape(-1, 2))
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
            rect(b.lo[0], b.lo[1], b.hi[0], b.hi[1], _dim(b.color, 0.9))
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
        for p in range(g.ids.shape[0]):
            gid = int(g.ids[p])
            q = px(g.joints[p, :, :2])
            root = q[gt_js.root] if gt_js.root >= 0 else q.mean(0)
            if pred is None:  # ground truth is the subject: coloured by id
                col = _id_color(gid)
                for a, b in gt_js.limbs:
                    cv2.line(img, _pt(q[a]), _pt(q[b]), _dim(col, 0.7), 2, cv2.LINE_AA)
                cv2.circle(img, _pt(root), 5, col, -1, cv2.LINE_AA)
                _text(img, f"id{gid}", root + [7, -5], 0.38, (0, 0, 0), col)
            else:  # beside predictions: thin dark grey
                for a, b in gt_js.limbs:
                    cv2.line(img, _pt(q[a]), _pt(q[b]), (70, 70, 70), 1, cv2.LINE_AA)
                _text(img, f"id{gid}", root + [7, 14], 0.33, (60, 60, 60), (245, 245, 245))
    if pred is not None:
        for p in range(pred.joints.shape[0]):
            col = person_color(p)
            q = px(pred.joints[p, :, :2])
            for a, b in PANOPTIC15.limbs:
                cv2.line(img, _pt(q[a]), _pt(q[b]), (20, 20, 20), 5, cv2.LINE_AA)
                cv2.line(img, _pt(q[a]), _pt(q[b]), col, 3, cv2.LINE_AA)
            root = q[PANOPTIC15.root]
            cv2.circle(img, _pt(root), 5, (20, 20, 20), -1, cv2.LINE_AA)
            cv2.circle(img, _pt(root), 4, col, -1, cv2.LINE_AA)
            _text(img, f"P{p}", root + [8, -6], 0.4, (0, 0, 0), col)
    _text(img, "top view (x right, y up, m)", (6, 18), 0.5, (255, 255, 255), _BG)
    # 1 m scale bar
    cv2.line(img, (10, H - 12), (10 + int(scale), H - 12), (30, 30, 30), 2)
    _text(img, "1 m", (14 + int(scale), H - 8), 0.35, (30, 30, 30), (245, 245, 245))
    return img


# --------------------------------------------------------------------------- 3D panel
class _Oblique:
    """A virtual pinhole camera looking down at ``target`` from azimuth ``az`` (deg, from
    +x towards +y) and elevation ``el`` (deg above the horizon); no lens distortion.

    ``fit`` scales and shifts its normalised image plane so that given points fill a box of
    the panel; ``__call__`` then maps world points (..., 3) to panel pixels (..., 2).
    """

    def __init__(self, target: np.ndarray, distance: float, az: float, el: float):
        a, e = math.radians(az), math.radians(el)
        back = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
        self.eye = np.asarray(target, dtype=np.float64) + distance * back
        z = -back
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        self.R = np.stack([x, np.cross(z, x), z])  # rows: camera axes (y down in the panel)
        self.f = 1.0
        self.off = np.zeros(2)

    def depth(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.eye) @ self.R[2]

    def _norm(self, X: np.ndarray) -> np.ndarray:
        xc = (np.asarray(X, dtype=np.float64) - self.eye) @ self.R.T
        return xc[..., :2] / np.maximum(xc[..., 2:], 1e-6)

    def fit(self, X: np.ndarray, box: tuple[float, float, float, float]) -> None:
        n = self._norm(X.reshape(-1, 3))
        lo, hi = n.min(0), n.max(0)
        x0, y0, x1, y1 = box
        self.f = min((x1 - x0) / max(hi[0] - lo[0], 1e-9), (y1 - y0) / max(hi[1] - lo[1], 1e-9))
        self.off = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - self.f * (lo + hi) / 2

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.f * self._norm(X) + self.off


def _floor_extent(room: Room | None, cams: Sequence[Camera],
                  people: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the floor to draw: the room, else cameras and people + margin."""
    if room is not None:
        hx, hy = room.half
        return -hx, -hy, hx, hy
    xy = np.concatenate([np.array([c.center[:2] for c in cams]), people[:, :2]], 0)
    lo = np.floor((xy.min(0) - 0.3) * 2) / 2
    hi = np.ceil((xy.max(0) + 0.3) * 2) / 2
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _table_lines(img: np.ndarray, rows: list[tuple[str, tuple[int, int, int] | None]],
                 x: int, y: int, width: int) -> None:
    """A dark translucent box with text rows (optional colour swatch at the left)."""
    h = 20 * len(rows) + 10
    y1 = min(y + h, img.shape[0] - 4)
    roi = img[y:y1, x:x + width]
    roi[:] = (roi * 0.35 + np.array([12, 13, 15]) * 0.65).astype(np.uint8)
    for i, (s, col) in enumerate(rows):
        yy = y + 20 + 20 * i
        if yy > y1 - 4:
            break
        if col is not None:
            cv2.rectangle(img, (x + 8, yy - 10), (x + 22, yy + 1), col, -1)
        cv2.putText(img, s, (x + (30 if col is not None else 8), yy), _FONT, 0.42,
                    (230, 230, 230), 1, cv2.LINE_AA)


def _draw_3d(ds: MultiViewDataset, room: Room | None, g: SkeletonFrame | None,
             gt_js: JointSet | None, pred: _Prediction, size: tuple[int, int]) -> np.ndarray:
    W, H = size
    img = np.full((H, W, 3), (26, 28, 32), np.uint8)
    cams = ds.cameras
    people = [pred.joints.reshape(-1, 3)]
    if g is not None and g.ids.shape[0]:
        people.append(g.joints[g.valid])
    people = np.concatenate(people, 0)
    floor_z = min(0.0, float(people[:, 2].min()) - 0.05) if people.shape[0] else 0.0
    x0, y0, x1, y1 = _floor_extent(room, cams, people)
    top_z = room.size[2] if room is not None else max(float(c.center[2]) for c in cams)
    ctr = np.array([(x0 + x1) / 2, (y0 + y1) / 2, floor_z + 0.8])
    radius = math.hypot(x1 - x0, y1 - y0) / 2
    view = _Oblique(ctr, _VIEW_DIST * radius, az=_VIEW_AZ, el=_VIEW_EL)
    floor = np.array([[x0, y0, floor_z], [x1, y0, floor_z], [x1, y1, floor_z],
                      [x0, y1, floor_z]])
    ceiling = floor + [0.0, 0.0, top_z - floor_z]
    table_w = 330 if W >= 800 else 0
    fit_pts = [floor, np.array([c.center for c in cams])]
    if people.shape[0]:
        fit_pts.append(people)
    near = int(np.argmin(view.depth(floor)))  # the corner nearest the eye: walls left open
    fit_pts.append(np.delete(ceiling, near, 0))
    view.fit(np.concatenate(fit_pts, 0), (24, 44, W - table_w - 24, H - 16))

    def line(a, b, col, t=1):
        cv2.line(img, _pt(view(a)), _pt(view(b)), col, t, cv2.LINE_AA)

    # floor, 1 m grid, the far walls' edges
    cv2.fillConvexPoly(img, view(floor).round().astype(np.int32), (44, 48, 54), cv2.LINE_AA)
    for gx in np.arange(math.ceil(x0), math.floor(x1) + 1):
        line([gx, y0, floor_z], [gx, y1, floor_z], (68, 74, 82))
    for gy in np.arange(math.ceil(y0), math.floor(y1) + 1):
        line([x0, gy, floor_z], [x1, gy, floor_z], (68, 74, 82))
    for i in range(4):
        line(floor[i], floor[(i + 1) % 4], (120, 128, 138))
        if i != near:
            line(floor[i], ceiling[i], (70, 76, 86))
        if near not in (i, (i + 1) % 4):
            line(ceiling[i], ceiling[(i + 1) % 4], (70, 76, 86))
    if room is not None:  # the operating table: its top and its pedestal
        lo, hi = np.array(room.table.lo), np.array(room.table.hi)
        top = np.array([[lo[0], lo[1], hi[2]], [hi[0], lo[1], hi[2]], [hi[0], hi[1], hi[2]],
                        [lo[0], hi[1], hi[2]]])
        foot = (top[:, :2] - top[:, :2].mean(0)) * 0.35 + top[:, :2].mean(0)
        for f in foot:
            line([f[0], f[1], floor_z], [f[0], f[1], hi[2]], (85, 92, 100), 2)
        cv2.fillConvexPoly(img, view(top).round().astype(np.int32), (78, 86, 94), cv2.LINE_AA)
        for i in range(4):
            line(top[i], top[(i + 1) % 4], (120, 130, 140))
    # world axes at the origin (0.5 m)
    o = np.array([0.0, 0.0, floor_z])
    for k, (col, name) in enumerate((((230, 70, 70), "x"), ((70, 210, 70), "y"),
                                     ((80, 130, 255), "z"))):
        e = o.copy()
        e[k] += 0.5
        cv2.arrowedLine(img, _pt(view(o)), _pt(view(e)), col, 2, cv2.LINE_AA, tipLength=0.25)
        cv2.putText(img, name, _pt(view(e) + [4, -2]), _FONT, 0.4, col, 1, cv2.LINE_AA)
    # cameras as small frusta (0.35 m deep)
    for cam in cams:
        c = cam.center
        corners = np.array([[0.0, 0.0], [cam.width - 1, 0.0], [cam.width - 1, cam.height - 1],
                            [0.0, cam.height - 1]])
        rays = np.concatenate([undistort_points_numpy(corners, cam), np.ones((4, 1))], 1)
        ends = c + 0.35 * rays @ cam.R  # camera → world
        for i in range(4):
            line(c, ends[i], (150, 185, 255))
            line(ends[i], ends[(i + 1) % 4], (150, 185, 255))
        line(ends[0], ends[1], (230, 240, 255), 2)  # the image's top edge
        cv2.circle(img, _pt(view(c)), 3, (150, 185, 255), -1, cv2.LINE_AA)
        _text(img, cam.name, view(c) + [6, -6], 0.38, (190, 210, 255), (26, 28, 32))
    # predicted skeletons: floor shadows, then far to near, thick; ground truth thin on top
    limbs = PANOPTIC15.limbs
    for p in range(pred.joints.shape[0]):
        sh = pred.joints[p].copy()
        sh[:, 2] = floor_z
        q = view(sh)
        for a, b in limbs:
            cv2.line(img, _pt(q[a]), _pt(q[b]), (20, 21, 24), 4, cv2.LINE_AA)
    order = np.argsort(-view.depth(pred.joints[:, PANOPTIC15.root])) if len(pred.joints) else []
    labels = []
    for p in order:
        col = person_color(int(p))
        q = view(pred.joints[p])
        for a, b in limbs:
            cv2.line(img, _pt(q[a]), _pt(q[b]), _dim(col, 0.35), 6, cv2.LINE_AA)
        for a, b in limbs:
            cv2.line(img, _pt(q[a]), _pt(q[b]), col, 4, cv2.LINE_AA)
        for j in range(q.shape[0]):
            cv2.circle(img, _pt(q[j]), 3, col, -1, cv2.LINE_AA)
        head = q[np.argmin(q[:, 1])]
        labels.append((f"P{int(p)} {pred.root_scores[p]:.2f}", head + [-18, -12], col))
    if g is not None:
        for p in range(g.ids.shape[0]):
            q = view(g.joints[p])
            ok = g.valid[p]
            for a, b in gt_js.limbs:
                if ok[a] and ok[b]:
                    cv2.line(img, _pt(q[a]), _pt(q[b]), _GT_GREY, 1, cv2.LINE_AA)
    for s, org, col in labels:
        _text(img, s, org, 0.42, (0, 0, 0), col)
    # the table of predicted people
    match = _match_gt(pred.joints, g) if g is not None else [None] * len(pred.joints)
    rows: list[tuple[str, tuple[int, int, int] | None]] = [
        (f"predicted people: {pred.joints.shape[0]}", None)]
    max_rows = max(1, (H - 70) // 20 - 2)
    for p in range(min(pred.joints.shape[0], max_rows)):
        r = pred.joints[p, PANOPTIC15.root]
        m = match[p]
        gt_s = "" if g is None else (f"  id{m[0]} {m[1]:4.0f} mm" if m else "  no GT")
        rows.append((f"P{p} {pred.root_scores[p]:.2f}  ({r[0]:+.2f}, {r[1]:+.2f}) m{gt_s}",
                     person_color(p)))
    if pred.joints.shape[0] > max_rows:
        rows.append((f"... and {pred.joints.shape[0] - max_rows} more", None))
    if g is not None:
        errs = [m[1] for m in match if m is not None]
        rows.append((f"GT people: {g.ids.shape[0]}, matched {len(errs)}"
                     + (f", MPJPE {np.mean(errs):.0f} mm" if errs else ""), None))
    if table_w:
        _table_lines(img, rows, W - table_w - 6, 8, table_w)
    _text(img, "3D view (perspective, floor grid 1 m)", (6, 18), 0.5, (255, 255, 255), _BG)
    if pred.joints.shape[0] == 0:
        _text(img, "no people predicted", (W // 2 - 90, 40), 0.55, (230, 230, 230), _BG)
    return img


# --------------------------------------------------------------------------- legend
_Sample = Callable[[np.ndarray, int, int], None]


def _line_sample(color, thick: int, rim=None) -> _Sample:
    def draw(img: np.ndarray, x: int, y: int) -> None:
        if rim is not None:
            cv2.line(img, (x, y), (x + 24, y), rim, thick + 3, cv2.LINE_AA)
        cv2.line(img, (x, y), (x + 24, y), color, thick, cv2.LINE_AA)
    return draw


def _legend(items: Sequence[tuple[_Sample, str]], width: int) -> np.ndarray:
    """Legend items (sample, text) in lines of ``width`` px, 26 px per line."""
    lines: list[list[tuple[_Sample, str, int]]] = [[]]
    x = 8
    for sample, label in items:
        w = 30 + cv2.getTextSize(label, _FONT, 0.45, 1)[0][0] + 30
        if x + w > width and lines[-1]:
            lines.append([])
            x = 8
        lines[-1].append((sample, label, x))
        x += w
    foot = np.full((26 * len(lines), width, 3), _BG, np.uint8)
    for i, line in enumerate(lines):
        y = 26 * i + 13
        for sample, label, lx in line:
            sample(foot, lx, y)
            cv2.putText(foot, label, (lx + 30, y + 5), _FONT, 0.45, (230, 230, 230), 1,
                        cv2.LINE_AA)
    return foot


# --------------------------------------------------------------------------- mosaic
def draw_overlay(dataset: str | Path | MultiViewDataset, frame: int,
                 predictions: Skeletons | None = None, draw_gt: bool = True,
                 draw_pseudo: bool = True, title: str | None = None) -> np.ndarray:
    """The mosaic of :func:`render_overlay` as an (H, W, 3) uint8 RGB array."""
    ds = dataset if isinstance(dataset, MultiViewDataset) else MultiViewDataset(dataset)
    if not 0 <= int(frame) < ds.num_frames:
        raise ValueError(f"frame {frame} out of range [0, {ds.num_frames}) of {ds.root}")
    frame = int(frame)
    pred = None if predictions is None else _check_predictions(predictions)
    gt = _load_gt(ds.root) if draw_gt else None
    g = gt.frame(frame) if gt is not None and frame < gt.num_frames else None
    gt_js = JOINT_SETS[gt.joint_set] if gt is not None else None
    room = _room_from_source(ds)
    tiles = [_draw_view(ds, frame, v, g, gt_js, pred, draw_pseudo)
             for v in range(ds.num_views)]
    th = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, th - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    tiles.append(_draw_top(ds, room, g, gt_js, pred, (TILE_WIDTH, th)))
    n = len(tiles)
    cols = 3 if n > 4 else 2
    rows = math.ceil(n / cols)
    tiles += [np.full_like(tiles[0], 30)] * (rows * cols - n)
    blocks = [np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(rows)]
    width = blocks[0].shape[1]
    if pred is not None:
        blocks.append(_draw_3d(ds, room, g, gt_js, pred, (width, 2 * th)))
    grid = np.concatenate(blocks, 0)
    # title and legend
    head = np.full((HEADER_HEIGHT, width, 3), _BG, np.uint8)
    t = ds.timestamps[frame]
    info = (f"{ds.root.name}  frame {frame}/{ds.num_frames - 1}  t={t:.2f} s  "
            f"{ds.num_views} views  keypoints: {ds.joint_set}")
    _text(head, f"{title}   |   {info}" if title else info, (8, 21), 0.55, (255, 255, 255), _BG)
    items: list[tuple[_Sample, str]] = []
    if pred is not None:
        items.append((_line_sample(person_color(0), 3, (15, 15, 15)),
                      "predicted 3D (thick, one colour per person, P<k> root score)"))
    if draw_pseudo:
        items.append((_line_sample(_PALETTE[0], 2),
                      "pseudo 2D poses (one colour per detection)"
                      + (", faded" if pred is not None else "")))
        if pred is None:
            items.append((_line_sample((120, 120, 120), 1),
                          f"faded: joint confidence < {_WEAK}"))
    if g is None:
        gt_label = "no ground truth drawn"
    elif pred is None:
        gt_label = "ground truth 3D projected (thin white, crosses)"
    else:
        gt_label = "ground truth 3D (thin white, over the predictions)"
    items.append((_line_sample((255, 255, 255), 1, (20, 20, 20)), gt_label))
    if pred is not None:
        items.append((_line_sample((150, 185, 255), 1),
                      "3D view: cameras as frusta (bright edge = image top), dark = floor "
                      "shadows" + (", GT thin white" if g is not None else "")))
    foot = _legend(items, width)
    return np.concatenate([head, grid, foot], 0)


def render_overlay(dataset: str | Path | MultiViewDataset, frame: int, out_png: str | Path,
                   predictions: Skeletons | None = None, draw_gt: bool = True,
                   draw_pseudo: bool = True, title: str | None = None) -> Path:
    """Write a PNG mosaic of one frame of a dataset, optionally with predicted skeletons.

    Args:
        dataset: a dataset directory or an open :class:`MultiViewDataset`.
        frame: frame index in ``[0, num_frames)``.
        out_png: output path (parent directories are created).
        predictions: the people estimated in this frame
            (:class:`~selfpose3d_core.models.estimator.Skeletons`: joints (P, 15, 3) m,
            world z up, PANOPTIC15; confidence (P, 15); root_scores (P,); P may be 0), or
            None. When given, every view shows them projected (thick, one colour per
            person — :func:`person_color` — labelled ``P<k> <root score>``), the 2D pseudo
            poses fade, the top view draws them, and a 3D perspective panel is added.
        draw_gt: draw the dataset's 3D ground truth, if it has some (thin white in the
            views and the 3D panel).
        draw_pseudo: draw the dataset's 2D pseudo poses in the views.
        title: text put before the frame information in the header.
    Returns:
        ``out_png``.
    Raises:
        ValueError: frame out of range, predictions of the wrong shape, PNG not written.
    """
    img = draw_overlay(dataset, frame, predictions, draw_gt, draw_pseudo, title)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{out_png}: could not write the PNG")
    log.debug("wrote %s (%d x %d)", out_png, img.shape[1], img.shape[0])
    return out_png
