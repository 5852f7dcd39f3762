"""Images of the synthetic room with people, and per-joint occlusion for the detector.

Bodies are built from shaded primitives: tapered capsules for the neck, arms, hands,
legs and feet (three nested layers shifted towards the light give a cylinder-like
shading), a torso as the hull of elliptic rings along the spine (trousers below, scrubs
top above), a head sphere with a cap, a mask and eyes when the face is towards the camera.
Everything (body parts of all people and the furniture) is drawn back to front by
distance from the camera (painter's algorithm), so occlusion between people and by the
furniture is real. Drawing happens on the camera's pinhole canvas, warped into the
distorted image (:mod:`selfpose3d_core.synthetic.canvas`).

A label buffer records which body part of which person (or furniture) is visible at each
canvas pixel; :meth:`ViewRenderer.render` turns it into an occlusion fraction per COCO-17
joint: the share of a small disc (4 cm radius) around the joint covered by anything but
the joint's own body parts, and for the face joints (nose, eyes, ears) at least how far
that point of the head faces away from the camera.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np

from ..geometry.camera import Camera
from .backdrop import LIGHT_DIR, Primitive, furniture_primitives, render_background
from .body import COCO_FROM_POINTS, Appearance, Body, BodyShape
from .body import P as PT
from .canvas import SHIFT, CanvasCamera, capsule_outlines, circle_outlines, to_fixed
from .room import Room

__all__ = ["PARTS", "NUM_PARTS", "ViewRender", "ViewRenderer", "SceneRenderer"]

PARTS = ("torso", "head", "neck", "l_upper_arm", "l_forearm", "l_hand", "r_upper_arm",
         "r_forearm", "r_hand", "l_thigh", "l_shin", "l_foot", "r_thigh", "r_shin", "r_foot")
NUM_PARTS = len(PARTS)
_PI = {n: i for i, n in enumerate(PARTS)}
_COLOR_KEYS = Appearance._fields
_CK = {n: i for i, n in enumerate(_COLOR_KEYS)}
_SH = {n: i for i, n in enumerate(BodyShape._fields)}

# (part, from point, to point, radius at from, radius at to (m), colour)
_CAPSULES = (
    ("neck", "neck", "neck_top", 0.052, 0.048, "skin"),
    ("l_upper_arm", "l_shoulder", "l_elbow", 0.047, 0.04, "skin"),
    ("l_forearm", "l_elbow", "l_wrist", 0.04, 0.031, "skin"),
    ("l_hand", "l_wrist", "l_hand", 0.034, 0.03, "gloves"),
    ("r_upper_arm", "r_shoulder", "r_elbow", 0.047, 0.04, "skin"),
    ("r_forearm", "r_elbow", "r_wrist", 0.04, 0.031, "skin"),
    ("r_hand", "r_wrist", "r_hand", 0.034, 0.03, "gloves"),
    ("l_thigh", "l_hip", "l_knee", 0.085, 0.06, "trousers"),
    ("l_shin", "l_knee", "l_ankle", 0.056, 0.044, "trousers"),
    ("l_foot", "l_heel", "l_toe", 0.046, 0.04, "shoes"),
    ("r_thigh", "r_hip", "r_knee", 0.085, 0.06, "trousers"),
    ("r_shin", "r_knee", "r_ankle", 0.056, 0.044, "trousers"),
    ("r_foot", "r_heel", "r_toe", 0.046, 0.04, "shoes"),
)
_CAP_PART = np.array([_PI[c[0]] for c in _CAPSULES])
_CAP_A = np.array([PT[c[1]] for c in _CAPSULES])
_CAP_B = np.array([PT[c[2]] for c in _CAPSULES])
_CAP_R = np.array([[c[3], c[4]] for c in _CAPSULES])
_CAP_COLOR = np.array([_CK[c[5]] for c in _CAPSULES])
_SLEEVES = {1: "l_shoulder", 4: "r_shoulder"}  # capsule index → shoulder (short sleeves)
# shading layers: (radius scale, shift towards the light (× radius), brightness, lit gain);
# brightness of a layer = colour × (brightness + gain × how square the part is to the light)
_LAYERS = ((1.0, 0.0, 0.42, 0.22), (0.7, 0.22, 0.62, 0.3), (0.36, 0.42, 0.8, 0.34))
_HEAD_R = 0.104
_JOINT_R = 0.04
_DISC = np.concatenate([[[0.0, 0.0]], 0.7 * np.stack(
    [np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], -1)])

# COCO-17 joint → allowed own parts (a joint is not occluded by its own limb)
_COCO_OWN = (("head",), ("head",), ("head",), ("head",), ("head",),
             ("torso", "l_upper_arm", "neck"), ("torso", "r_upper_arm", "neck"),
             ("l_upper_arm", "l_forearm"), ("r_upper_arm", "r_forearm"),
             ("l_forearm", "l_hand"), ("r_forearm", "r_hand"), ("torso", "l_thigh"),
             ("torso", "r_thigh"), ("l_thigh", "l_shin"), ("r_thigh", "r_shin"),
             ("l_shin", "l_foot"), ("r_shin", "r_foot"))
_ALLOWED = np.zeros((17, NUM_PARTS), bool)
for _j, _parts in enumerate(_COCO_OWN):
    _ALLOWED[_j, [_PI[p] for p in _parts]] = True


class ViewRender(NamedTuple):
    """One camera's rendering of one frame.

    Fields:
        image: (H, W, 3) uint8 RGB, or None when images were not requested.
        occlusion: (P, 17) occlusion fraction of each person's COCO-17 joints in [0, 1]
            (joints outside the canvas: 0; the detector handles out-of-image joints).
    """

    image: np.ndarray | None
    occlusion: np.ndarray


def _scale(color: np.ndarray, k: float, add: float = 0.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(color * k + add, 0, 255))


class ViewRenderer:
    """Renders one camera: background cached, people + furniture drawn per frame."""

    def __init__(self, camera: Camera, room: Room, seed: int = 0):
        self.camera = camera
        self.cc = CanvasCamera(camera)
        self.room = room
        self.background = render_background(self.cc, room, seed)
        self.furniture = furniture_primitives(self.cc, room)
        # image direction towards the light (highlights shift that way)
        self._light_img = self._image_dir(np.array([0.0, 0.0, 1.0]), LIGHT_DIR * 0.3)

    def _image_dir(self, p: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Unit image direction of the world displacement d at p (canvas)."""
        a, b = self.cc.project(np.stack([p, p + d]))
        v = b - a
        return v / max(np.linalg.norm(v), 1e-9)

    # ------------------------------------------------------------------ primitives
    def _people_primitives(self, body: Body, shapes: np.ndarray,
                           colors: np.ndarray) -> list[Primitive]:
        cc = self.cc
        C = cc.centre
        P = body.points.shape[0]
        prims: list[Primitive] = []
        if P == 0:
            return prims
        pts = body.points
        girth = shapes[:, _SH["girth"]]
        light = self._light_img
        # ---- capsules (P, M)
        a, b = pts[:, _CAP_A], pts[:, _CAP_B]
        r = _CAP_R[None] * girth[:, None, None]  # (P, M, 2)
        ac, bc = cc.to_cam(a), cc.to_cam(b)
        za, zb = ac[..., 2], bc[..., 2]
        ok = (za > 0.1) & (zb > 0.1)
        ua, ub = cc.project_cam(ac), cc.project_cam(bc)
        ra = cc.focal * r[..., 0] / np.maximum(za, 0.1)  # pixel radii (P, M)
        rb = cc.focal * r[..., 1] / np.maximum(zb, 0.1)
        axis = b - a
        axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
        lit = np.sqrt(np.clip(1.0 - (axis @ LIGHT_DIR) ** 2, 0.0, 1.0))  # (P, M)
        depth = np.linalg.norm(0.5 * (a + b) - C, axis=-1)
        M = a.shape[1]
        layer_polys = []
        for scale, shift, _, _ in _LAYERS:
            off = (shift * np.maximum(ra, rb))[..., None] * light
            poly = capsule_outlines((ua + off).reshape(-1, 2), (ub + off).reshape(-1, 2),
                                    (ra * scale).ravel(), (rb * scale).ravel())
            layer_polys.append(to_fixed(poly).reshape(P, M, -1, 2))
        sleeves = {}
        for m, sh in _SLEEVES.items():
            arm = pts[:, _CAP_B[m]] - pts[:, PT[sh]]
            s0 = pts[:, PT[sh]] + 0.08 * arm
            s1 = pts[:, PT[sh]] + 0.45 * arm
            c0, c1 = cc.to_cam(s0), cc.to_cam(s1)
            q0, q1 = cc.project_cam(c0), cc.project_cam(c1)
            rs0 = cc.focal * 0.056 * girth / np.maximum(c0[:, 2], 0.1)
            rs1 = cc.focal * 0.053 * girth / np.maximum(c1[:, 2], 0.1)
            sleeves[m] = [to_fixed(capsule_outlines(q0 + (sh_ * rs0)[:, None] * light,
                                                    q1 + (sh_ * rs0)[:, None] * light,
                                                    rs0 * sc, rs1 * sc))
                          for sc, sh_, _, _ in _LAYERS]
        for p in range(P):
            base = 2 + p * NUM_PARTS
            for m in range(M):
                if not ok[p, m]:
                    continue
                col = colors[p, _CAP_COLOR[m]]
                layers = [(layer_polys[k][p, m], _scale(col, kk + sk * lit[p, m]), k == 0)
                          for k, (_, _, kk, sk) in enumerate(_LAYERS)]
                if m in sleeves:
                    top = colors[p, _CK["top"]]
                    layers += [(sleeves[m][k][p], _scale(top, kk + sk * lit[p, m]), k == 0)
                               for k, (_, _, kk, sk) in enumerate(_LAYERS)]
                prims.append(Primitive(float(depth[p, m]), base + int(_CAP_PART[m]),
                                       tuple(layers)))
        prims += self._torso_primitives(body, shapes, colors, light)
        prims += self._head_primitives(body, shapes, colors, light)
        return prims

    def _torso_primitives(self, body: Body, shapes: np.ndarray, colors: np.ndarray,
                          light: np.ndarray) -> list[Primitive]:
        cc = self.cc
        pts = body.points
        P = pts.shape[0]
        th = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        ct, st = np.cos(th), np.sin(th)
        g = shapes[:, _SH["girth"]]
        k = shapes[:, _SH["height"]] / 1.75
        hip = shapes[:, _SH["hip_half"]]
        sh = shapes[:, _SH["shoulder_half"]]
        spine = shapes[:, _SH["spine"]]
        # rings: (frame, height above mid-hip, half-width, half-depth), each (P,)
        rings = [(body.R_pelvis, -0.07 * k, hip + 0.065 * g, 0.092 * g),
                 (body.R_pelvis, 0.03 * k, hip + 0.078 * g, 0.1 * g),
                 (body.R_trunk, 0.45 * spine, 0.128 * k * g, 0.092 * g),
                 (body.R_trunk, 0.78 * spine, sh - 0.012, 0.112 * g),
                 (body.R_trunk, spine + 0.005, sh - 0.045, 0.07 * g)]
        world = []
        for R, h, a, b in rings:
            local = np.stack([b[:, None] * ct, a[:, None] * st,
                              np.broadcast_to(h[:, None], (P, th.size))], -1)  # (P, 12, 3)
            world.append(pts[:, None, PT["mid_hip"]] + np.einsum("pij,pkj->pki", R, local))
        world = np.stack(world, 1)  # (P, 5, 12, 3)
        uv = cc.project(world)
        z = cc.to_cam(world)[..., 2]
        centre = world[:, 1:4].reshape(P, -1, 3).mean(1)
        depth = np.linalg.norm(centre - cc.centre, axis=-1)
        out = []
        for p in range(P):
            if np.any(z[p] < 0.1):
                continue
            layers = []
            for rings_idx, key, kk in (((0, 1), "trousers", 1.0), ((1, 2, 3, 4), "top", 1.0)):
                hull = cv2.convexHull(uv[p, list(rings_idx)].reshape(-1, 2).astype(
                    np.float32))[:, 0].astype(np.float64)
                c = hull.mean(0)
                size = np.sqrt(max(cv2.contourArea(hull.astype(np.float32)), 1.0))
                col = colors[p, _CK[key]]
                for li, (scale, shift, k0, k1) in enumerate(_LAYERS):
                    poly = c + (hull - c) * (0.2 + 0.8 * scale) + shift * 0.25 * size * light
                    layers.append((to_fixed(poly), _scale(col, (k0 + 0.75 * k1) * kk),
                                   li == 0))
            out.append(Primitive(float(depth[p]), 2 + p * NUM_PARTS + _PI["torso"],
                                 tuple(layers)))
        return out

    def _head_primitives(self, body: Body, shapes: np.ndarray, colors: np.ndarray,
                         light: np.ndarray) -> list[Primitive]:
        cc = self.cc
        pts = body.points
        P = pts.shape[0]
        hs = shapes[:, _SH["head"]]
        hc = pts[:, PT["head_centre"]]
        zc = cc.to_cam(hc)[:, 2]
        ctr = cc.project(hc)
        rad = cc.focal * _HEAD_R * hs / np.maximum(zc, 0.1)
        fwd = body.R_head[:, :, 0]
        up = body.R_head[:, :, 2]
        to_cam = cc.centre - hc
        to_cam /= np.linalg.norm(to_cam, axis=-1, keepdims=True)
        facing = np.einsum("pi,pi->p", fwd, to_cam)
        cap_c = cc.project(hc + (-0.025 * fwd + 0.07 * up) * hs[:, None])
        mask_c = cc.project(hc + (0.08 * fwd - 0.05 * up) * hs[:, None])
        eyes = cc.project(pts[:, [PT["l_eye"], PT["r_eye"]]])
        side_img = cc.project(hc + 0.05 * body.R_head[:, :, 1]) - ctr  # head's left, image
        side_img /= np.maximum(np.linalg.norm(side_img, axis=-1, keepdims=True), 1e-9)
        depth = np.linalg.norm(hc - cc.centre, axis=-1)
        out = []
        for p in range(P):
            if zc[p] < 0.15:
                continue
            skin, cap = colors[p, _CK["skin"]], colors[p, _CK["cap"]]
            layers = []
            for li, (scale, shift, k0, k1) in enumerate(_LAYERS):
                c = ctr[p] + shift * rad[p] * light
                layers.append((to_fixed(circle_outlines(c[None], np.array([rad[p] * scale]))[0]),
                               _scale(skin, k0 + 0.8 * k1), li == 0))
            for scale, shift, k0, k1 in _LAYERS[:2]:
                c = cap_c[p] + shift * rad[p] * light
                layers.append((to_fixed(circle_outlines(c[None],
                                                        np.array([0.84 * rad[p] * scale]))[0]),
                               _scale(cap, k0 + 0.8 * k1), False))
            if facing[p] > 0.3:  # surgical mask, foreshortened towards the silhouette
                mask = colors[p, _CK["mask"]]
                ell = circle_outlines(np.zeros((1, 2)), np.array([0.5 * rad[p]]))[0]
                side = side_img[p] * (0.35 + 0.65 * facing[p])
                down = np.array([-side_img[p, 1], side_img[p, 0]])
                poly = mask_c[p] + ell[:, :1] * side + ell[:, 1:] * down * 0.75
                layers.append((to_fixed(poly), _scale(mask, 0.92), False))
                if facing[p] > 0.45:
                    for e in eyes[p]:
                        layers.append((to_fixed(circle_outlines(
                            e[None], np.array([max(0.1 * rad[p], 0.8)]), 8)[0]),
                            (40, 32, 30), False))
            out.append(Primitive(float(depth[p]), 2 + p * NUM_PARTS + _PI["head"],
                                 tuple(layers)))
        return out

    def _shadows(self, canvas: np.ndarray, body: Body) -> None:
        """Darken the floor under each person (soft contact shadow)."""
        cc = self.cc
        P = body.points.shape[0]
        if P == 0:
            return
        mask = np.zeros(canvas.shape[:2], np.uint8)
        th = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        ring = np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], -1)
        for p in range(P):
            pts = body.points[p]
            centre = pts[PT["mid_hip"]].copy()
            centre[2] = 0.002
            feet = [pts[PT["l_heel"]], pts[PT["l_toe"]], pts[PT["r_heel"]], pts[PT["r_toe"]]]
            blobs = [(centre, 0.3, 90)] + [(np.array([f[0], f[1], 0.002]), 0.1, 120)
                                          for f in feet if f[2] < 0.08]
            for c, r, v in blobs:
                pc = cc.to_cam(c + r * ring)
                if np.all(pc[:, 2] > 0.1):
                    cv2.fillConvexPoly(mask, to_fixed(cc.project_cam(pc)), v, cv2.LINE_8,
                                       SHIFT)
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            return
        pad = 9
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, mask.shape[0])
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, mask.shape[1])
        m = cv2.GaussianBlur(mask[y0:y1, x0:x1], (0, 0), 3.0).astype(np.float32) / 255.0
        roi = canvas[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - 0.6 * m[..., None])).astype(np.uint8)

    # ------------------------------------------------------------------ frame
    def render(self, body: Body, shapes: np.ndarray, colors: np.ndarray,
               want_image: bool = True) -> ViewRender:
        """Draw one frame.

        Args:
            body: P posed bodies (:func:`~selfpose3d_core.synthetic.body.forward_kinematics`).
            shapes: (P, S) their shape vectors.
            colors: (P, 7, 3) their :class:`Appearance` colours (RGB).
            want_image: False → only the label buffer (occlusion), no image.
        """
        cc = self.cc
        P = body.points.shape[0]
        prims = self.furniture + self._people_primitives(body, shapes, colors)
        order = np.argsort([-pr.depth for pr in prims], kind="stable")
        labels = cc.new_canvas(1, np.uint8)
        canvas = None
        if want_image:
            canvas = self.background.copy()
            self._shadows(canvas, body)
        for i in order:
            pr = prims[i]
            for pts, col, outline in pr.layers:
                if canvas is not None:
                    cv2.fillConvexPoly(canvas, pts, col,
                                       cv2.LINE_AA if outline else cv2.LINE_8, SHIFT)
                if outline:
                    cv2.fillConvexPoly(labels, pts, pr.label, cv2.LINE_8, SHIFT)
        occ = self._occlusion(labels, body) if P else np.zeros((0, 17))
        image = cc.to_image(canvas) if canvas is not None else None
        return ViewRender(image=image, occlusion=occ)

    def _occlusion(self, labels: np.ndarray, body: Body) -> np.ndarray:
        cc = self.cc
        P = body.points.shape[0]
        joints = body.points[:, COCO_FROM_POINTS]  # (P, 17, 3)
        jc = cc.to_cam(joints)
        uv = cc.project_cam(jc)
        rho = np.maximum(cc.focal * _JOINT_R / np.maximum(jc[..., 2], 0.1), 1.5)
        samples = uv[..., None, :] + rho[..., None, None] * _DISC  # (P, 17, 9, 2)
        h, w = labels.shape
        xi = np.round(samples[..., 0]).astype(np.int64)
        yi = np.round(samples[..., 1]).astype(np.int64)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        lab = labels[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)].astype(np.int64)
        lab = np.where(inside, lab, 0)
        person = (lab - 2) // NUM_PARTS
        part = (lab - 2) % NUM_PARTS
        own = person == np.arange(P)[:, None, None]
        allowed = _ALLOWED[np.arange(17)[None, :, None], part]
        occluded = (lab == 1) | ((lab >= 2) & ~(own & allowed))
        occ = occluded.mean(-1)
        occ[jc[..., 2] <= 0.1] = 1.0
        # face joints on the far side of the head
        hc = body.points[:, PT["head_centre"]]
        face = joints[:, :5]
        normal = face - hc[:, None]
        normal[:, 0] = body.R_head[:, :, 0]  # the nose looks forward
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
        view = cc.centre - face
        view /= np.maximum(np.linalg.norm(view, axis=-1, keepdims=True), 1e-9)
        cos = (normal * view).sum(-1)
        occ[:, :5] = np.maximum(occ[:, :5], np.clip((0.1 - cos) / 0.3, 0.0, 1.0))
        return occ


class SceneRenderer:
    """All cameras of a rig; renders frames of :class:`Body` with their appearances."""

    def __init__(self, cameras: Sequence[Camera], room: Room, seed: int = 0):
        self.views = tuple(ViewRenderer(c, room, seed + 7919 * i) for i, c in
                           enumerate(cameras))

    def render(self, body: Body, shapes: np.ndarray, appearances: Sequence[Appearance],
               want_images: bool = True) -> list[ViewRender]:
        colors = np.asarray([np.asarray(a, dtype=np.float64) for a in appearances],
                            dtype=np.float64).reshape(-1, len(_COLOR_KEYS), 3)
        return [v.render(body, shapes, colors, want_images) for v in self.views]
