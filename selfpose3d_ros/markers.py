"""3D skeletons → ``visualization_msgs/MarkerArray`` for RViz.

One array per frame: first a ``DELETEALL`` marker (so people who left disappear at once),
then per person a ``LINE_LIST`` of bones (``scale.x`` = line width) and a ``SPHERE_LIST``
of joints (``scale`` = sphere diameter), both in one colour per person. Every marker has
the given stamp and frame, ``pose.orientation.w = 1``, a short ``lifetime`` (so a stalled
publisher does not leave ghosts) and lives in one namespace ``ns``, so that the
``DELETEALL`` clears it whether RViz applies it to all namespaces or only to its own.

Marker ids: person key ``k`` (its tracking id when ``ids`` is given, else its index) gets
``2 k`` for its bones and ``2 k + 1`` for its joints. Colours are a function of the key
(golden-ratio hue steps), so a tracked person keeps its colour from frame to frame.

A joint is drawn when all its coordinates are finite and its confidence is at least
``min_confidence``; a bone needs both its joints. A person with nothing to draw gets no
markers.

Example:
    >>> import numpy as np
    >>> from builtin_interfaces.msg import Time
    >>> joints = np.zeros((1, 3, 3)); joints[0, :, 2] = [1.0, 1.5, 1.7]
    >>> arr = skeleton_markers(joints, np.ones((1, 3)), [(0, 1), (1, 2)], stamp=Time(sec=1),
    ...                        frame_id="world")
    >>> [(m.type, m.action, m.id, len(m.points)) for m in arr.markers]
    [(0, 3, 0, 0), (5, 0, 0, 4), (7, 0, 1, 3)]
"""

from __future__ import annotations

import colorsys
from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from selfpose3d_ros.sync import ns_to_time_msg, stamp_to_ns

__all__ = ["skeleton_markers", "person_rgb", "person_color", "MAX_PERSON_KEY"]

#: Largest person key (tracking id): marker ids ``2 k + 1`` must fit an int32.
MAX_PERSON_KEY = 2**30 - 1
_GOLDEN = 0.6180339887498949


def person_rgb(key: int) -> tuple[float, float, float]:
    """A saturated colour (r, g, b in [0, 1]) for a person key; neighbouring keys get
    hues about 0.38 of the circle apart."""
    hue = (0.05 + int(key) * _GOLDEN) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.8, 0.95)


def person_color(key: int, alpha: float = 1.0) -> ColorRGBA:
    """:func:`person_rgb` as a ``std_msgs/ColorRGBA``."""
    r, g, b = person_rgb(key)
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(alpha))


def _duration(seconds: float) -> Duration:
    sec, nanosec = divmod(int(round(float(seconds) * 1e9)), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)


def _points(xyz: np.ndarray) -> list[Point]:
    """(M, 3) float array → M ``geometry_msgs/Point``."""
    return [Point(x=x, y=y, z=z) for x, y, z in xyz.tolist()]


def skeleton_markers(
    joints: np.ndarray,
    confidence: np.ndarray | None,
    limbs: Sequence[tuple[int, int]],
    *,
    stamp: Any,
    frame_id: str,
    ids: np.ndarray | Sequence[int] | None = None,
    min_confidence: float = 0.1,
    lifetime: float = 0.3,
    ns: str = "selfpose3d",
    bone_width: float = 0.03,
    joint_diameter: float = 0.06,
    alpha: float = 1.0,
) -> MarkerArray:
    """Build the RViz markers of one frame.

    Args:
        joints: ``(P, J, 3)`` joint positions in ``frame_id`` (metres); NaN = missing.
        confidence: ``(P, J)`` per-joint confidence, or ``None`` (all joints confident).
        limbs: ``(L, 2)`` joint-index pairs, e.g. ``selfpose3d_core.skeleton.PANOPTIC15.limbs``.
        stamp: ``builtin_interfaces/Time``, int nanoseconds or float seconds (use the image
            time the skeletons were estimated from).
        frame_id: a TF frame (the rig's world frame).
        ids: ``(P,)`` non-negative tracking ids (unique, <= :data:`MAX_PERSON_KEY`); they
            set marker ids and colours. ``None`` uses the person index.
        min_confidence: joints below it are left out.
        lifetime: seconds RViz keeps a marker without a newer one (0 = forever).
        ns: marker namespace.
        bone_width: ``LINE_LIST`` line width (m).
        joint_diameter: ``SPHERE_LIST`` sphere diameter (m).
        alpha: colour opacity in (0, 1].

    Returns:
        A ``MarkerArray``: ``DELETEALL``, then for each person with something to draw its
        bones (if any bone is complete) and its joints (if any joint is valid).

    Raises:
        ValueError: shapes that do not match, limb indices outside ``[0, J)``, bad ids,
            a non-positive size or an ``alpha`` outside (0, 1].
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise ValueError(f"joints must be (P, J, 3), got {joints.shape}")
    num_people, num_joints = joints.shape[:2]
    if confidence is None:
        conf = np.ones((num_people, num_joints))
    else:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != (num_people, num_joints):
            raise ValueError(
                f"confidence must be (P, J) = {(num_people, num_joints)}, got {conf.shape}")
    limb_arr = np.asarray(limbs, dtype=np.int64)
    if limb_arr.size == 0:
        limb_arr = limb_arr.reshape(0, 2)
    if limb_arr.ndim != 2 or limb_arr.shape[1] != 2:
        raise ValueError(f"limbs must be (L, 2) joint-index pairs, got {limb_arr.shape}")
    if limb_arr.size and (limb_arr.min() < 0 or limb_arr.max() >= num_joints):
        raise ValueError(
            f"limb indices must be in [0, {num_joints}), got range "
            f"[{limb_arr.min()}, {limb_arr.max()}]")
    if ids is None:
        keys = np.arange(num_people)
    else:
        keys = np.asarray(ids)
        if keys.shape != (num_people,) or not np.issubdtype(keys.dtype, np.integer):
            raise ValueError(f"ids must be ({num_people},) integers, got {keys.shape} "
                             f"{keys.dtype}")
        if keys.size and (keys.min() < 0 or keys.max() > MAX_PERSON_KEY):
            raise ValueError(f"ids must be in [0, {MAX_PERSON_KEY}], got {keys.tolist()}")
        if len(np.unique(keys)) != len(keys):
            raise ValueError(f"ids must be unique, got {keys.tolist()}")
    if not (bone_width > 0 and joint_diameter > 0):
        raise ValueError(f"bone_width and joint_diameter must be > 0, got {bone_width}, "
                         f"{joint_diameter}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if not lifetime >= 0:
        raise ValueError(f"lifetime must be >= 0 s, got {lifetime}")

    time_msg = stamp if hasattr(stamp, "nanosec") else ns_to_time_msg(stamp_to_ns(stamp))
    life = _duration(lifetime)

    def new_marker(marker_type: int, marker_id: int) -> Marker:
        m = Marker()
        m.header.stamp = time_msg
        m.header.frame_id = frame_id
        m.ns = ns
        m.id = marker_id
        m.type = marker_type
        m.action = Marker.ADD
        m.pose.orientation.w = 1.0
        m.lifetime = life
        return m

    out = MarkerArray()
    clear = Marker()
    clear.header.stamp = time_msg
    clear.header.frame_id = frame_id
    clear.ns = ns
    clear.action = Marker.DELETEALL
    clear.pose.orientation.w = 1.0
    out.markers.append(clear)

    # (P, J) drawable joints; (P, L) bones with both ends drawable
    valid = np.isfinite(joints).all(axis=2) & (conf >= min_confidence)
    bone_ok = valid[:, limb_arr[:, 0]] & valid[:, limb_arr[:, 1]]
    for p in range(num_people):
        key = int(keys[p])
        color = person_color(key, alpha)
        good_limbs = limb_arr[bone_ok[p]]  # (L', 2)
        if len(good_limbs):
            bones = new_marker(Marker.LINE_LIST, 2 * key)
            bones.scale.x = float(bone_width)
            bones.color = color
            bones.points = _points(joints[p][good_limbs].reshape(-1, 3))  # (2 L', 3)
            out.markers.append(bones)
        if valid[p].any():
            spheres = new_marker(Marker.SPHERE_LIST, 2 * key + 1)
            d = float(joint_diameter)
            spheres.scale.x = spheres.scale.y = spheres.scale.z = d
            spheres.color = color
            spheres.points = _points(joints[p][valid[p]])  # (J', 3)
            out.markers.append(spheres)
    return out
