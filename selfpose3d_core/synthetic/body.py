"""Kinematic human body: shape, appearance, joint angles, forward kinematics, pose samplers.

The body is a tree of rigid segments driven by a vector of :data:`ANGLES` (degrees, except
``root_fwd`` in metres). Forward kinematics places the pelvis so that the lowest point of
the feet touches the floor (z = 0), which gives plausible pelvis heights for standing,
walking and crouching without a separate balance model. Body frame: x forward, y left,
z up.

:func:`forward_kinematics` returns :data:`NUM_POINTS` points per body; the first 15 are
the :data:`~selfpose3d_core.skeleton.PANOPTIC15` joints (the ground truth), the others
(head centre, eyes, ears, hands, feet, ...) are for rendering and for the COCO-17 head
joints of the simulated detector (:data:`COCO_FROM_POINTS`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = [
    "ANGLES", "A", "NUM_ANGLES", "ANGLE_LIMITS", "POINTS", "P", "NUM_POINTS",
    "COCO_FROM_POINTS", "BodyShape", "Appearance", "Body", "sample_shape",
    "sample_appearance", "forward_kinematics", "empty_body", "clip_angles", "neutral_pose",
    "gait_pose", "sample_activity_pose", "solve_arm_ik", "ACTIVITIES",
]

ANGLES = ("trunk_flex", "trunk_lat", "trunk_twist", "head_yaw", "head_pitch",
          "l_sh_elev", "l_sh_plane", "l_elbow", "r_sh_elev", "r_sh_plane", "r_elbow",
          "l_hip_flex", "l_hip_abd", "l_knee", "r_hip_flex", "r_hip_abd", "r_knee",
          "l_foot_pitch", "r_foot_pitch", "pelvis_yaw", "root_fwd")
A = {n: i for i, n in enumerate(ANGLES)}
NUM_ANGLES = len(ANGLES)

#: (NUM_ANGLES, 2) joint limits: degrees, ``root_fwd`` metres.
ANGLE_LIMITS = np.array([
    [-15, 80], [-25, 25], [-40, 40], [-70, 70], [-35, 60],
    [-50, 170], [-45, 110], [0, 145], [-50, 170], [-45, 110], [0, 145],
    [-25, 125], [-10, 35], [0, 140], [-25, 125], [-10, 35], [0, 140],
    [-40, 25], [-40, 25], [-20, 20], [-0.2, 0.2]], dtype=np.float64)

POINTS = ("neck", "nose", "mid_hip", "l_shoulder", "l_elbow", "l_wrist", "l_hip", "l_knee",
          "l_ankle", "r_shoulder", "r_elbow", "r_wrist", "r_hip", "r_knee", "r_ankle",
          "head_centre", "head_top", "l_eye", "r_eye", "l_ear", "r_ear", "l_hand", "r_hand",
          "l_heel", "l_toe", "r_heel", "r_toe", "neck_top")
P = {n: i for i, n in enumerate(POINTS)}
NUM_POINTS = len(POINTS)

#: (17,) indices into :data:`POINTS` of the COCO-17 joints, in COCO order.
COCO_FROM_POINTS = np.array([P[n] for n in (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle",
    "r_ankle")])

ACTIVITIES = ("stand", "bend", "reach", "crouch")


class BodyShape(NamedTuple):
    """Per-person body dimensions (metres; ``toe_out`` degrees; ``head``/``girth`` factors).

    ``np.asarray(shape)`` gives the (S,) vector that :func:`forward_kinematics` takes.
    """

    height: float
    spine: float          # mid-hip → neck
    hip_half: float       # mid-hip → hip joint
    shoulder_half: float  # neck → shoulder (lateral)
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    ankle_h: float        # ankle joint above the sole
    foot_len: float
    head: float           # head size factor (1 = 1.75 m adult)
    girth: float          # limb/torso thickness factor
    toe_out: float        # feet turned out (deg)


_S = {n: i for i, n in enumerate(BodyShape._fields)}


class Appearance(NamedTuple):
    """Colours of one person (RGB 0–255)."""

    top: tuple[int, int, int]
    trousers: tuple[int, int, int]
    cap: tuple[int, int, int]
    mask: tuple[int, int, int]
    skin: tuple[int, int, int]
    gloves: tuple[int, int, int]
    shoes: tuple[int, int, int]


class Body(NamedTuple):
    """Posed bodies.

    Fields:
        points: (N, NUM_POINTS, 3) world points (m); ``points[:, :15]`` is PANOPTIC15.
        R_pelvis: (N, 3, 3) pelvis frame (columns: forward, left, up in the world).
        R_trunk: (N, 3, 3) trunk frame.
        R_head: (N, 3, 3) head frame.
    """

    points: np.ndarray
    R_pelvis: np.ndarray
    R_trunk: np.ndarray
    R_head: np.ndarray


def sample_shape(rng: np.random.Generator, height_range=(1.55, 1.95)) -> BodyShape:
    """Random adult proportions (segment ratios after Drillis & Contini, ±3.5 % each)."""
    H = float(rng.uniform(*height_range))

    def j(sd: float = 0.035) -> float:
        return float(np.clip(rng.normal(1.0, sd), 1 - 2.3 * sd, 1 + 2.3 * sd))

    return BodyShape(height=H, spine=0.288 * H * j(), hip_half=0.058 * H * j(0.07),
                     shoulder_half=0.100 * H * j(0.06), upper_arm=0.186 * H * j(),
                     forearm=0.146 * H * j(), hand=0.108 * H * j(), thigh=0.245 * H * j(),
                     shin=0.246 * H * j(), ankle_h=0.039 * H, foot_len=0.152 * H * j(),
                     head=(0.5 + 0.5 * H / 1.75) * j(0.04), girth=j(0.1) ** 1.5,
                     toe_out=float(rng.uniform(4.0, 14.0)))


# scrubs-like colours (RGB)
_SCRUBS = [(112, 160, 200), (40, 58, 105), (38, 128, 128), (48, 102, 78), (96, 150, 122),
           (112, 38, 58), (108, 114, 122), (52, 82, 168), (150, 192, 222), (36, 38, 44),
           (84, 60, 120), (150, 170, 90)]
_CAPS = [(230, 230, 236), (60, 90, 170), (200, 80, 90), (60, 150, 110), (220, 170, 60),
         (110, 70, 150), (40, 40, 48), (120, 180, 220)]
_SKIN = [(255, 219, 180), (238, 196, 150), (224, 172, 120), (198, 140, 96), (150, 100, 66),
         (104, 68, 48)]
_GLOVES = [(232, 214, 186), (236, 226, 200), (110, 140, 210), (130, 110, 190)]
_SHOES = [(232, 232, 232), (30, 30, 34), (60, 90, 170), (70, 140, 90), (200, 70, 80)]


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Random scrubs, cap, mask, skin tone, gloves and clogs."""
    def pick(palette, jitter=12):
        c = np.array(palette[int(rng.integers(len(palette)))], dtype=np.float64)
        c = np.clip(c + rng.normal(0, jitter, 3), 0, 255)
        return tuple(int(v) for v in c)

    top = pick(_SCRUBS)
    trousers = top if rng.random() < 0.75 else pick(_SCRUBS)
    mask = (150, 190, 220) if rng.random() < 0.6 else (236, 236, 236)
    return Appearance(top=top, trousers=trousers, cap=pick(_CAPS, 8), mask=mask,
                      skin=pick(_SKIN, 6), gloves=pick(_GLOVES, 6), shoes=pick(_SHOES, 6))


# --------------------------------------------------------------------------- kinematics
def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def _arm_dirs(elev: np.ndarray, plane: np.ndarray, elbow: np.ndarray, side: float):
    """Upper-arm and forearm unit vectors in the trunk frame. Angles in radians, (...)."""
    u = np.stack([np.sin(elev) * np.cos(plane), side * np.sin(elev) * np.sin(plane),
                  -np.cos(elev)], -1)
    bend = np.array([1.0, -0.35 * side, 0.6]) / np.linalg.norm([1.0, 0.35, 0.6])
    perp = bend - (u @ bend)[..., None] * u
    n = np.linalg.norm(perp, axis=-1, keepdims=True)
    alt = np.cross(u, np.array([0.0, side, 0.0]))  # fallback when u ∥ bend
    perp = np.where(n > 1e-3, perp / np.maximum(n, 1e-9), alt)
    f = np.cos(elbow)[..., None] * u + np.sin(elbow)[..., None] * perp
    return u, f


def forward_kinematics(shape: np.ndarray, angles: np.ndarray, root_xy: np.ndarray,
                       heading: np.ndarray) -> Body:
    """Pose N bodies.

    Args:
        shape: (N, S) :class:`BodyShape` vectors.
        angles: (N, NUM_ANGLES) joint angles (degrees; ``root_fwd`` m).
        root_xy: (N, 2) pelvis position on the floor plane (m), before ``root_fwd``.
        heading: (N,) facing direction (rad about z; 0 = +x).
    Returns:
        :class:`Body` with points (N, NUM_POINTS, 3).
    """
    shape = np.atleast_2d(np.asarray(shape, dtype=np.float64))
    angles = np.atleast_2d(np.asarray(angles, dtype=np.float64))
    n = angles.shape[0]
    if angles.shape != (n, NUM_ANGLES) or shape.shape != (n, len(BodyShape._fields)):
        raise ValueError(f"forward_kinematics: expected angles (N, {NUM_ANGLES}) and shape "
                         f"(N, {len(BodyShape._fields)}), got {angles.shape}, {shape.shape}")
    rad = np.deg2rad(angles)
    sh = {k: shape[:, i] for k, i in _S.items()}
    ang = {k: rad[:, i] for k, i in A.items()}
    pts = np.zeros((n, NUM_POINTS, 3))

    # legs in the pelvis frame (origin = mid-hip)
    for side, pre in ((1.0, "l_"), (-1.0, "r_")):
        phi, ab, kn = ang[pre + "hip_flex"], ang[pre + "hip_abd"], ang[pre + "knee"]
        hip = np.stack([np.zeros(n), side * sh["hip_half"], np.zeros(n)], -1)
        thigh = np.stack([np.sin(phi) * np.cos(ab), side * np.sin(ab),
                          -np.cos(phi) * np.cos(ab)], -1)
        psi = phi - kn
        shin = np.stack([np.sin(psi) * np.cos(ab), side * np.sin(ab),
                         -np.cos(psi) * np.cos(ab)], -1)
        knee = hip + sh["thigh"][:, None] * thigh
        ankle = knee + sh["shin"][:, None] * shin
        fp, to = ang[pre + "foot_pitch"], side * np.deg2rad(sh["toe_out"])
        fd = np.stack([np.cos(fp) * np.cos(to), np.cos(fp) * np.sin(to), np.sin(fp)], -1)
        down = np.stack([np.zeros(n), np.zeros(n), -sh["ankle_h"]], -1)
        heel = ankle - 0.22 * sh["foot_len"][:, None] * fd + down
        toe = ankle + 0.78 * sh["foot_len"][:, None] * fd + 0.75 * down
        for name, v in (("hip", hip), ("knee", knee), ("ankle", ankle), ("heel", heel),
                        ("toe", toe)):
            pts[:, P[pre + name]] = v
    legs = [P[k] for k in ("l_hip", "l_knee", "l_ankle", "l_heel", "l_toe", "r_hip",
                           "r_knee", "r_ankle", "r_heel", "r_toe")]
    ground = -pts[:, [P["l_heel"], P["l_toe"], P["r_heel"], P["r_toe"]], 2].min(1)  # (N,)

    Rp = _rot_z(heading + ang["pelvis_yaw"])
    mid_hip = np.zeros((n, 3))
    mid_hip[:, :2] = root_xy + Rp[:, :2, 0] * angles[:, A["root_fwd"], None]
    mid_hip[:, 2] = ground
    pts[:, legs] = mid_hip[:, None] + np.einsum("nij,nkj->nki", Rp, pts[:, legs])
    pts[:, P["mid_hip"]] = mid_hip

    # trunk, shoulders, arms
    Rt = Rp @ _rot_z(ang["trunk_twist"]) @ _rot_x(ang["trunk_lat"]) @ _rot_y(ang["trunk_flex"])
    k = sh["height"] / 1.75
    neck = mid_hip + Rt[:, :, 2] * sh["spine"][:, None]
    pts[:, P["neck"]] = neck
    for side, pre in ((1.0, "l_"), (-1.0, "r_")):
        off = np.stack([-0.015 * k, side * sh["shoulder_half"], -0.025 * k], -1)
        shoulder = neck + np.einsum("nij,nj->ni", Rt, off)
        u, f = _arm_dirs(ang[pre + "sh_elev"], ang[pre + "sh_plane"], ang[pre + "elbow"], side)
        elbow = shoulder + np.einsum("nij,nj->ni", Rt, u) * sh["upper_arm"][:, None]
        wf = np.einsum("nij,nj->ni", Rt, f)
        wrist = elbow + wf * sh["forearm"][:, None]
        pts[:, P[pre + "shoulder"]] = shoulder
        pts[:, P[pre + "elbow"]] = elbow
        pts[:, P[pre + "wrist"]] = wrist
        pts[:, P[pre + "hand"]] = wrist + wf * (0.75 * sh["hand"])[:, None]

    # head: yaw/pitch relative to the (upright) pelvis frame, pivoting at the neck
    Rh = Rp @ _rot_z(ang["trunk_twist"] + ang["head_yaw"]) @ _rot_y(ang["head_pitch"])
    hk = sh["head"][:, None]
    for name, off in (("head_centre", (-0.005, 0.0, 0.185)), ("head_top", (-0.01, 0.0, 0.29)),
                      ("nose", (0.10, 0.0, 0.165)), ("l_eye", (0.082, 0.032, 0.19)),
                      ("r_eye", (0.082, -0.032, 0.19)), ("l_ear", (-0.005, 0.075, 0.18)),
                      ("r_ear", (-0.005, -0.075, 0.18)), ("neck_top", (0.0, 0.0, 0.10))):
        pts[:, P[name]] = neck + np.einsum("nij,j->ni", Rh, np.asarray(off)) * hk
    return Body(points=pts, R_pelvis=Rp, R_trunk=Rt, R_head=Rh)


def empty_body() -> Body:
    """A :class:`Body` with no people (an empty room)."""
    z = np.zeros((0, 3, 3))
    return Body(points=np.zeros((0, NUM_POINTS, 3)), R_pelvis=z, R_trunk=z, R_head=z)


def clip_angles(angles: np.ndarray) -> np.ndarray:
    """angles: (..., NUM_ANGLES) → clipped to :data:`ANGLE_LIMITS`."""
    return np.clip(angles, ANGLE_LIMITS[:, 0], ANGLE_LIMITS[:, 1])


# --------------------------------------------------------------------------- poses
def neutral_pose() -> np.ndarray:
    """(NUM_ANGLES,) relaxed standing: arms hanging, knees nearly straight."""
    a = np.zeros(NUM_ANGLES)
    for k, v in (("trunk_flex", 3), ("head_pitch", 8), ("l_sh_elev", 6), ("r_sh_elev", 6),
                 ("l_sh_plane", 15), ("r_sh_plane", 15), ("l_elbow", 12), ("r_elbow", 12),
                 ("l_hip_abd", 3), ("r_hip_abd", 3), ("l_knee", 3), ("r_knee", 3)):
        a[A[k]] = v
    return a


def _wrapped_bump(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (x - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def gait_pose(phase: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """Walking angles at gait phase(s) (cycles; left heel strike at 0).

    phase, amplitude: (N,) → (N, NUM_ANGLES). ``amplitude`` ~ 1 for a normal walk, smaller
    for shuffling steps.
    """
    phase = np.atleast_1d(np.asarray(phase, dtype=np.float64))
    amp = np.broadcast_to(np.asarray(amplitude, dtype=np.float64), phase.shape)
    out = np.tile(neutral_pose(), (phase.size, 1))
    for pre, ph in (("l_", phase), ("r_", phase + 0.5)):
        c = np.cos(2 * np.pi * ph)
        out[:, A[pre + "hip_flex"]] = 6 + amp * 22 * c
        out[:, A[pre + "knee"]] = 4 + amp * (58 * _wrapped_bump(ph, 0.72, 0.11)
                                             + 14 * _wrapped_bump(ph, 0.12, 0.07))
        out[:, A[pre + "foot_pitch"]] = amp * (10 * _wrapped_bump(ph, 0.0, 0.06)
                                               - 28 * _wrapped_bump(ph, 0.6, 0.06))
        out[:, A[pre + "hip_abd"]] = 2.0
        # the arm swings with the opposite leg
        ca = np.cos(2 * np.pi * (ph + 0.5))
        out[:, A[pre + "sh_elev"]] = amp * 18 * ca
        out[:, A[pre + "sh_plane"]] = 5.0
        out[:, A[pre + "elbow"]] = 14 + amp * 12 * (0.5 + 0.5 * ca)
    c = np.cos(2 * np.pi * phase)
    out[:, A["trunk_twist"]] = -amp * 5 * c
    out[:, A["pelvis_yaw"]] = amp * 4 * c
    out[:, A["trunk_flex"]] = 4
    out[:, A["head_pitch"]] = 10
    return out


def sample_activity_pose(rng: np.random.Generator, activity: str) -> np.ndarray:
    """(NUM_ANGLES,) a random target pose of ``activity`` (arms before any IK)."""
    a = neutral_pose()

    def set_(name, lo, hi):
        a[A[name]] = rng.uniform(lo, hi)

    set_("head_yaw", -25, 25)
    set_("trunk_lat", -4, 4)
    set_("trunk_twist", -8, 8)
    if activity == "stand":
        set_("trunk_flex", 0, 8)
        set_("head_pitch", 0, 25)
        style = rng.integers(4)
        for pre in ("l_", "r_"):
            if style == 0:  # arms relaxed
                set_(pre + "sh_elev", 3, 15)
                set_(pre + "sh_plane", 0, 30)
                set_(pre + "elbow", 5, 35)
            elif style == 1:  # sterile: hands clasped in front of the chest
                set_(pre + "sh_elev", 20, 40)
                set_(pre + "sh_plane", -35, -15)
                set_(pre + "elbow", 95, 125)
            elif style == 2:  # hands in front of the belly
                set_(pre + "sh_elev", 10, 25)
                set_(pre + "sh_plane", -30, 0)
                set_(pre + "elbow", 60, 90)
            else:  # one arm gesturing
                set_(pre + "sh_elev", 5, 60 if pre == "l_" else 15)
                set_(pre + "sh_plane", -10, 40)
                set_(pre + "elbow", 10, 90)
        if rng.random() < 0.4:  # weight on one leg
            pre = "l_" if rng.random() < 0.5 else "r_"
            set_(pre + "knee", 10, 22)
            set_(pre + "hip_flex", 3, 10)
        for pre in ("l_", "r_"):
            set_(pre + "hip_abd", 1, 6)
    elif activity == "bend":
        set_("trunk_flex", 28, 58)
        set_("head_pitch", 15, 40)
        set_("root_fwd", -0.08, -0.02)
        for pre in ("l_", "r_"):
            set_(pre + "knee", 4, 18)
            set_(pre + "hip_flex", 0, 8)
            set_(pre + "hip_abd", 2, 7)
            set_(pre + "sh_elev", 40, 80)
            set_(pre + "sh_plane", -15, 15)
            set_(pre + "elbow", 30, 70)
    elif activity == "reach":
        set_("trunk_flex", 2, 20)
        set_("head_pitch", -25, 10)
        for pre in ("l_", "r_"):
            set_(pre + "hip_abd", 2, 6)
            set_(pre + "knee", 2, 8)
        pre = "l_" if rng.random() < 0.5 else "r_"
        set_(pre + "sh_elev", 70, 140)
        set_(pre + "sh_plane", -5, 45)
        set_(pre + "elbow", 5, 45)
    elif activity == "crouch":
        set_("trunk_flex", 15, 38)
        set_("head_pitch", 15, 40)
        hip, knee = rng.uniform(80, 108), rng.uniform(95, 130)
        for pre in ("l_", "r_"):  # both feet stay on the floor: nearly the same leg angles
            a[A[pre + "hip_flex"]] = hip + rng.uniform(-3, 3)
            a[A[pre + "knee"]] = knee + rng.uniform(-3, 3)
            set_(pre + "hip_abd", 8, 20)
            set_(pre + "sh_elev", 30, 70)
            set_(pre + "sh_plane", -15, 20)
            set_(pre + "elbow", 30, 80)
    else:
        raise ValueError(f"unknown activity {activity!r}; known: {ACTIVITIES}")
    return clip_angles(a)


@lru_cache(maxsize=2)
def _ik_grid(side: float):
    """Unit upper-arm / forearm directions on a grid of (elev, plane, elbow) (trunk frame)."""
    e = np.deg2rad(np.arange(-40.0, 171.0, 5.0))
    p = np.deg2rad(np.arange(-45.0, 111.0, 5.0))
    b = np.deg2rad(np.arange(0.0, 146.0, 5.0))
    E, Pl, B = np.meshgrid(e, p, b, indexing="ij")
    u, f = _arm_dirs(E.ravel(), Pl.ravel(), B.ravel(), side)
    return np.rad2deg(np.stack([E.ravel(), Pl.ravel(), B.ravel()], -1)), u, f


def solve_arm_ik(shape: BodyShape, body: Body, index: int, side: str,
                 target: np.ndarray) -> np.ndarray:
    """Arm angles that put a wrist at (or nearest to) a world ``target``.

    Args:
        shape: the person's shape.
        body: the posed body (trunk and shoulders as they will be).
        index: which body of ``body`` (its row).
        side: ``"l"`` or ``"r"``.
        target: (3,) world wrist target (m).
    Returns:
        (3,) ``(sh_elev, sh_plane, elbow)`` in degrees, within the joint limits; among
        equally good solutions the one with the lowest elbow.
    """
    s = 1.0 if side == "l" else -1.0
    grid, u, f = _ik_grid(s)
    Rt = body.R_trunk[index]
    d = Rt.T @ (np.asarray(target, dtype=np.float64) - body.points[index, P[side + "_shoulder"]])
    wrist = shape.upper_arm * u + shape.forearm * f  # (G, 3)
    cost = ((wrist - d) ** 2).sum(-1) + 0.001 * (1.0 + u[:, 2])
    return grid[int(np.argmin(cost))]
