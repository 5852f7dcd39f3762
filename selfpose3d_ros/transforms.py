"""Static TF without tf2_ros: camera poses ↔ ``geometry_msgs/TransformStamped`` and a small
buffer of static transforms to look up a camera's extrinsics.

TF convention: a transform with ``header.frame_id = parent`` and ``child_frame_id = child``
gives the child frame's pose in the parent: ``p_parent = R p_child + t`` (rotation as a
unit quaternion ``x, y, z, w``). A camera's *optical* frame (REP 103/105 suffix
``_optical_frame``) has the OpenCV axes (x right, y down, z forward), i.e. exactly the
core's camera frame, so the transform world → optical frame of a core
:class:`~selfpose3d_core.geometry.camera.Camera` (``x_cam = R x_world + t``) is rotation
``R.T`` and translation = the camera centre ``-R.T t``.

Nothing here imports rclpy; message classes come from ``geometry_msgs``.

Example:
    >>> import numpy as np
    >>> q = matrix_to_quaternion(np.eye(3))
    >>> q.tolist()
    [0.0, 0.0, 0.0, 1.0]
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

import numpy as np

__all__ = [
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "camera_transform",
    "StaticTransforms",
    "TransformLookupError",
    "tf2_msgs_available",
]


class TransformLookupError(LookupError):
    """No chain of static transforms connects the two frames (yet)."""


def tf2_msgs_available() -> bool:
    """Whether ``tf2_msgs`` (for ``/tf_static``'s ``TFMessage``) can be imported.

    There is no PyPI wheel of Jazzy's ``tf2_msgs``; on a ROS 2 installation it is there.
    """
    try:
        import tf2_msgs.msg  # noqa: F401
    except ImportError:
        return False
    return True


def quaternion_to_matrix(q: Iterable[float]) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` → (3, 3) rotation matrix (normalised first).

    Raises:
        ValueError: a non-finite or zero quaternion.
    """
    x, y, z, w = (float(v) for v in q)
    n = np.sqrt(x * x + y * y + z * z + w * w)
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"quaternion must be finite and non-zero, got {(x, y, z, w)}")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix → unit quaternion ``(x, y, z, w)`` with ``w >= 0``."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise ValueError(f"R must be (3, 3), got {R.shape}")
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def camera_transform(camera: Any, parent_frame: str, child_frame: str, stamp: Any = None):
    """The ``TransformStamped`` parent (world) → the camera's optical frame.

    Args:
        camera: anything with ``R`` (3, 3) and ``t`` (3,) world→camera (OpenCV).
        parent_frame: the world frame.
        child_frame: the camera's optical frame id (the images' ``header.frame_id``).
        stamp: ``builtin_interfaces/Time`` (static transforms: any, e.g. the start time).
    """
    from geometry_msgs.msg import TransformStamped

    R = np.asarray(camera.R, dtype=np.float64)
    centre = -R.T @ np.asarray(camera.t, dtype=np.float64)
    q = matrix_to_quaternion(R.T)
    msg = TransformStamped()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = parent_frame
    msg.child_frame_id = child_frame
    tr, rot = msg.transform.translation, msg.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in centre)
    rot.x, rot.y, rot.z, rot.w = (float(v) for v in q)
    return msg


class StaticTransforms:
    """A buffer of static transforms (a forest of parent → child edges); thread-safe.

    :meth:`lookup` composes the chain between two frames through their common ancestor.
    A newer transform for the same child replaces the old one (as tf2 does).
    """

    def __init__(self):
        self._edges: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def add(self, transform: Any) -> None:
        """Add one ``geometry_msgs/TransformStamped`` (or an object shaped like it).

        Raises:
            ValueError: empty frame ids, a self-loop, non-finite numbers or a loop.
        """
        parent = str(transform.header.frame_id).lstrip("/")
        child = str(transform.child_frame_id).lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"transform needs two different frame ids, got {parent!r} → "
                             f"{child!r}")
        tr, rot = transform.transform.translation, transform.transform.rotation
        t = np.array([tr.x, tr.y, tr.z], dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"transform {parent} → {child}: non-finite translation {t}")
        R = quaternion_to_matrix((rot.x, rot.y, rot.z, rot.w))
        with self._lock:
            old = self._edges.get(child)
            self._edges[child] = (parent, R, t)
            if self._root_path(child) is None:  # would close a loop
                if old is None:
                    del self._edges[child]
                else:
                    self._edges[child] = old
                raise ValueError(f"transform {parent} → {child} would make a loop")

    def frames(self) -> set[str]:
        with self._lock:
            return set(self._edges) | {p for p, _, _ in self._edges.values()}

    def _root_path(self, frame: str) -> list[str] | None:
        path, seen = [frame], {frame}
        while path[-1] in self._edges:
            parent = self._edges[path[-1]][0]
            if parent in seen:
                return None
            seen.add(parent)
            path.append(parent)
        return path

    def _to_ancestor(self, path: list[str], upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Pose of ``path[0]`` in ``path[upto]`` (R, t): p_anc = R p + t."""
        R, t = np.eye(3), np.zeros(3)
        for frame in path[:upto]:
            _, Re, te = self._edges[frame]
            R, t = Re @ R, Re @ t + te
        return R, t

    def lookup(self, target: str, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Pose of frame ``source`` in frame ``target``: ``p_target = R p_source + t``.

        Raises:
            TransformLookupError: the frames are not connected.
        """
        target, source = target.lstrip("/"), source.lstrip("/")
        with self._lock:
            ps, pt = self._root_path(source), self._root_path(target)
            if ps is None or pt is None or ps[-1] != pt[-1]:
                raise TransformLookupError(
                    f"no static transform chain between {target!r} and {source!r} (known "
                    f"frames: {sorted(self.frames_unlocked())})")
            common = next(f for f in ps if f in set(pt))
            Rs, ts = self._to_ancestor(ps, ps.index(common))
            Rt, tt = self._to_ancestor(pt, pt.index(common))
        # p_common = Rs p_s + ts = Rt p_t + tt  →  p_t = Rt^T (Rs p_s + ts - tt)
        return Rt.T @ Rs, Rt.T @ (ts - tt)

    def frames_unlocked(self) -> set[str]:
        return set(self._edges) | {p for p, _, _ in self._edges.values()}

    def camera_extrinsics(self, world_frame: str, optical_frame: str
                          ) -> tuple[np.ndarray, np.ndarray]:
        """World → camera ``(R, t)`` (``x_cam = R x_world + t``) of an optical frame."""
        R_wc, centre = self.lookup(world_frame, optical_frame)  # camera pose in the world
        return R_wc.T, -R_wc.T @ centre
