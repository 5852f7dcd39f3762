"""Conversions between the package's messages and numpy arrays / the core's output.

``selfpose3d/SkeletonArray`` (msg/SkeletonArray.msg) carries every person of one frame:
``header`` (capture stamp; ``frame_id`` = the frame the joints are in), ``joint_names``
and one ``selfpose3d/Skeleton`` per person (``id``, ``root_score``, ``joints`` as
``geometry_msgs/Point`` in metres, per-joint ``confidence``).

The generated types are ``from selfpose3d.msg import Skeleton, SkeletonArray`` both in the
pip venv (``scripts/setup.sh`` generates them) and after ``colcon build`` on a rig.

Example::

    from std_msgs.msg import Header
    from selfpose3d_core.skeleton import PANOPTIC15

    msg = skeletons_to_msg(people, PANOPTIC15, Header(frame_id="world"))
    data = msg_to_arrays(msg)           # data.joints (P, 15, 3), data.confidence (P, 15)
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from geometry_msgs.msg import Point
from selfpose3d.msg import Skeleton, SkeletonArray
from std_msgs.msg import Header

__all__ = ["Skeleton", "SkeletonArray", "SkeletonArrayData", "msg_to_arrays",
           "skeletons_to_msg"]

UNTRACKED = -1
"""``Skeleton.id`` of a person without a tracking id."""

_INT32 = np.iinfo(np.int32)


class SkeletonArrayData(NamedTuple):
    """The content of a ``SkeletonArray`` as arrays (P people, J joints; P may be 0).

    Fields:
        joints: (P, J, 3) float64 joint positions (m), in the header's frame.
        confidence: (P, J) float32 per-joint confidence.
        root_scores: (P,) float32 person scores.
        ids: (P,) int32 tracking ids (-1 = untracked).
        joint_names: (J,) joint names, the order of the J axis.
    """

    joints: np.ndarray
    confidence: np.ndarray
    root_scores: np.ndarray
    ids: np.ndarray
    joint_names: tuple[str, ...]


def _joint_names(joint_names) -> list[str]:
    # A selfpose3d_core.skeleton.JointSet has .joints (duck-typed: importing the core's
    # skeleton module would pull in torch, which a subscriber does not need).
    try:
        names = list(getattr(joint_names, "joints", joint_names))
    except TypeError:
        names = None
    if (names is None or isinstance(joint_names, str)
            or not all(isinstance(n, str) and n for n in names)):
        raise ValueError(f"joint_names must be a JointSet or a sequence of non-empty strings, "
                         f"got {joint_names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"joint_names has duplicates: {names}")
    return names


def skeletons_to_msg(skeletons, joint_names: Sequence[str], header: Header,
                     ids: Sequence[int] | np.ndarray | None = None) -> SkeletonArray:
    """Build a ``SkeletonArray`` from the core's output.

    Args:
        skeletons: anything with ``joints`` (P, J, 3) in metres, ``confidence`` (P, J) and
            ``root_scores`` (P,) — e.g. ``selfpose3d_core.models.estimator.Skeletons``.
        joint_names: the J joint names, or a ``JointSet`` (e.g. ``PANOPTIC15``).
        header: ``std_msgs/Header``: the image set's stamp and the joints' frame.
        ids: (P,) tracking ids; ``None`` = all untracked (-1).

    Raises:
        ValueError: on inconsistent shapes, non-finite values or ids outside int32.
    """
    if not isinstance(header, Header):
        raise ValueError(f"header must be a std_msgs.msg.Header, got {type(header).__name__}")
    names = _joint_names(joint_names)
    joints = np.asarray(skeletons.joints, dtype=np.float64)
    conf = np.asarray(skeletons.confidence, dtype=np.float32)
    scores = np.asarray(skeletons.root_scores, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (len(names), 3):
        raise ValueError(f"joints must be (P, {len(names)}, 3) for {len(names)} joint names, "
                         f"got {joints.shape}")
    num_people = joints.shape[0]
    if conf.shape != joints.shape[:2]:
        raise ValueError(f"confidence must be {joints.shape[:2]}, got {conf.shape}")
    if scores.shape != (num_people,):
        raise ValueError(f"root_scores must be ({num_people},), got {scores.shape}")
    if ids is None:
        id_list = [UNTRACKED] * num_people
    else:
        ids_arr = np.asarray(ids)
        if ids_arr.shape != (num_people,) or not np.issubdtype(ids_arr.dtype, np.integer):
            raise ValueError(f"ids must be ({num_people},) integers, got {ids_arr.dtype} "
                             f"{ids_arr.shape}")
        if num_people and (ids_arr.min() < _INT32.min or ids_arr.max() > _INT32.max):
            raise ValueError(f"ids must fit in int32, got {ids_arr}")
        id_list = ids_arr.tolist()
    for name, a in (("joints", joints), ("confidence", conf), ("root_scores", scores)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values")

    xyz = joints.tolist()  # nested Python floats: the fastest way into Point fields
    score_list = scores.tolist()
    people = [
        Skeleton(id=id_list[p], root_score=score_list[p],
                 joints=[Point(x=x, y=y, z=z) for x, y, z in xyz[p]],
                 confidence=array.array("f", conf[p].tobytes()))
        for p in range(num_people)
    ]
    return SkeletonArray(header=header, joint_names=names, skeletons=people)


def msg_to_arrays(msg: SkeletonArray) -> SkeletonArrayData:
    """Read a ``SkeletonArray`` into arrays (see :class:`SkeletonArrayData`).

    Raises:
        ValueError: when a skeleton's joints or confidence do not match ``joint_names``.
    """
    names = tuple(msg.joint_names)
    num_joints = len(names)
    for p, s in enumerate(msg.skeletons):
        if len(s.joints) != num_joints or len(s.confidence) != num_joints:
            raise ValueError(f"skeleton {p} (id {s.id}) has {len(s.joints)} joints and "
                             f"{len(s.confidence)} confidences, but the message has "
                             f"{num_joints} joint_names")
    num_people = len(msg.skeletons)
    joints = np.array([(q.x, q.y, q.z) for s in msg.skeletons for q in s.joints],
                      dtype=np.float64).reshape(num_people, num_joints, 3)
    # float32[] fields are array.array('f'): numpy reads them through the buffer protocol.
    conf = np.array([s.confidence for s in msg.skeletons],
                    dtype=np.float32).reshape(num_people, num_joints)
    scores = np.array([s.root_score for s in msg.skeletons], dtype=np.float32)
    ids = np.array([s.id for s in msg.skeletons], dtype=np.int32)
    return SkeletonArrayData(joints=joints, confidence=conf, root_scores=scores,
                             ids=ids, joint_names=names)
