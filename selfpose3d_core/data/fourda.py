"""4D Association skeleton text files (``gt.txt``, ``skel.txt``).

Format (whitespace-separated numbers): a header ``J F`` (joints, frames); then per frame the
number of people P and, per person, its id followed by 4 rows of J numbers: x, y, z
(metres, world z up, the same world as the 4D Association ``calibration.json``) and a
validity flag per joint.

Joint order of the Shelf ``gt.txt`` (J = 15): the 14 :data:`~selfpose3d_core.skeleton.SHELF14`
joints followed by the **mid-hip** (pelvis): it equals the mean of the two hips (joints 2
and 3) to within 1e-5 m in every frame (the file's rounding), and it projects onto
OpenPose's BODY_25 ``mid_hip`` candidates as well as the hips onto theirs (median 22 px vs
23 px). ``skel.txt`` (J = 19) is the 4D Association method's own output in its 19-joint
set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .frames import SkeletonFrame

__all__ = ["FOURDA_GT_JOINTS", "load_4da_skeletons"]

#: Joint names of the Shelf ``gt.txt`` (SHELF14 order + the mid-hip).
FOURDA_GT_JOINTS: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
    "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "bottom_head", "top_head", "mid_hip")


def _tokens(path: Path) -> np.ndarray:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read ({e})") from None
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: non-numeric token ({e})") from None


def _count(tok: np.ndarray, pos: int, path: Path, what: str) -> int:
    if pos >= tok.size:
        raise ValueError(f"{path}: file ends where {what} was expected (token {pos})")
    v = tok[pos]
    if v < 0 or v != np.floor(v):
        raise ValueError(f"{path}: {what} must be a non-negative integer, got {v} "
                         f"(token {pos})")
    return int(v)


def load_4da_skeletons(path: str | Path) -> list[SkeletonFrame]:
    """Read a 4D Association ``gt.txt`` / ``skel.txt`` → one :class:`SkeletonFrame` per frame.

    Returns F frames, each with ids (P,), joints (P, J, 3) in metres, valid (P, J) (the
    file's validity flag != 0). ValueError if the file is short, has leftover tokens or a
    non-integer count.
    """
    path = Path(path)
    tok = _tokens(path)
    J = _count(tok, 0, path, "the joint count J")
    F = _count(tok, 1, path, "the frame count F")
    if J == 0:
        raise ValueError(f"{path}: joint count J must be > 0, got 0")
    pos, frames = 2, []
    block = 1 + 4 * J  # id + 4 rows of J numbers
    for f in range(F):
        P = _count(tok, pos, path, f"the number of people of frame {f}")
        pos += 1
        if pos + P * block > tok.size:
            raise ValueError(f"{path}: file ends inside frame {f} (needs {P} people x "
                             f"{block} numbers from token {pos}, has {tok.size - pos})")
        data = tok[pos:pos + P * block].reshape(P, block)  # (P, 1 + 4J)
        pos += P * block
        rows = data[:, 1:].reshape(P, 4, J)  # (P, 4, J): x, y, z, validity
        ids = data[:, 0]
        if np.any(ids != np.floor(ids)):
            raise ValueError(f"{path}: frame {f}: person ids must be integers, got "
                             f"{ids.tolist()}")
        frames.append(SkeletonFrame(ids=ids.astype(np.int64),
                                    joints=np.ascontiguousarray(rows[:, :3].transpose(0, 2, 1)),
                                    valid=rows[:, 3] != 0))
    if pos != tok.size:
        raise ValueError(f"{path}: {tok.size - pos} tokens left over after {F} frames")
    return frames
