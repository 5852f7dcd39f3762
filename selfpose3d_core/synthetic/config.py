"""Settings of the synthetic operating-room rig (:class:`SynthConfig`, :class:`DetectorConfig`).

Both are frozen dataclasses; ``from_dict`` rejects unknown keys and every field is range
checked (``ValueError`` naming the field and the value received). The defaults are the
project's "default rig": a 6 × 6 × 3 m operating room, 5 ceiling cameras at 640 × 480,
up to 3 people, 200 frames at 10 fps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

__all__ = ["DetectorConfig", "SynthConfig"]


def _check_range(owner: str, name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ValueError(f"{owner}.{name} must be in [{lo}, {hi}], got {value!r}")


def _check_pair(owner: str, name: str, value: tuple, lo: float, hi: float) -> None:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ValueError(f"{owner}.{name} must be a (min, max) pair with min <= max, "
                         f"got {value!r}")
    for v in value:
        _check_range(owner, name, v, lo, hi)


def _coerce(owner: str, cls, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check keys against ``cls``'s fields, turn lists into tuples and numbers into floats."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{owner}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{owner}: unknown keys {sorted(unknown)}; allowed {sorted(known)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls(), key) if key != "detector" else None
        try:
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise TypeError
                out[key] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or int(value) != value:
                    raise TypeError
                out[key] = int(value)
            elif isinstance(default, float):
                if isinstance(value, bool):
                    raise TypeError
                out[key] = float(value)
            elif isinstance(default, tuple):
                out[key] = tuple(float(v) for v in value)
            else:
                out[key] = value
        except (TypeError, ValueError):
            raise ValueError(f"{owner}.{key}: expected {type(default).__name__}, "
                             f"got {value!r}") from None
    return out


@dataclass(frozen=True)
class DetectorConfig:
    """Noise model of the simulated 2D detector (pixels of the full image).

    For every person a view can see, each COCO-17 joint with occlusion fraction ``o`` in
    [0, 1] (0 = fully visible) gets:

    * position noise ``N(0, σ² I₂)`` with ``σ = base_sigma_px + occlusion_sigma_gain_px·o``
      (so the median error of unoccluded joints is ``base_sigma_px·sqrt(2 ln 2)``);
    * a miss (confidence in [0, 0.15], position a guess ``miss_sigma_px`` off) with
      probability ``joint_miss_rate + occlusion_miss_gain·o``; joints outside the image are
      always missed;
    * a confidence in [0.3, 0.98] that falls with its error and its occlusion.

    Per detection: the whole person is missed with ``person_miss_rate``, mirrored
    left/right with ``swap_rate``; per view and frame a Poisson(``false_positive_rate``)
    number of phantom people (consistent in no other view) is added with low scores.

    Attributes:
        base_sigma_px: noise σ of unoccluded joints (px), [0, 50].
        occlusion_sigma_gain_px: extra σ of a fully occluded joint (px), [0, 200].
        joint_miss_rate: miss probability of an unoccluded joint, [0, 0.9].
        occlusion_miss_gain: extra miss probability of a fully occluded joint, [0, 1].
        person_miss_rate: probability that a detectable person is not reported, [0, 1].
        swap_rate: probability that a detection is mirrored left↔right, [0, 1].
        false_positive_rate: mean number of phantom detections per view and frame, [0, 5].
        min_visible_joints: fewer visible (in image, occlusion < 0.5) joints than this and
            the person is not detected, [1, 17].
        min_height_px: people whose projected height is below this are not detected, ≥ 0.
        miss_sigma_px: spread of the position guessed for a missed joint (px), [0, 500].
    """

    base_sigma_px: float = 2.0
    occlusion_sigma_gain_px: float = 10.0
    joint_miss_rate: float = 0.02
    occlusion_miss_gain: float = 0.5
    person_miss_rate: float = 0.03
    swap_rate: float = 0.01
    false_positive_rate: float = 0.05
    min_visible_joints: int = 5
    min_height_px: float = 24.0
    miss_sigma_px: float = 20.0

    def __post_init__(self) -> None:
        o = "DetectorConfig"
        _check_range(o, "base_sigma_px", self.base_sigma_px, 0.0, 50.0)
        _check_range(o, "occlusion_sigma_gain_px", self.occlusion_sigma_gain_px, 0.0, 200.0)
        _check_range(o, "joint_miss_rate", self.joint_miss_rate, 0.0, 0.9)
        _check_range(o, "occlusion_miss_gain", self.occlusion_miss_gain, 0.0, 1.0)
        _check_range(o, "person_miss_rate", self.person_miss_rate, 0.0, 1.0)
        _check_range(o, "swap_rate", self.swap_rate, 0.0, 1.0)
        _check_range(o, "false_positive_rate", self.false_positive_rate, 0.0, 5.0)
        _check_range(o, "min_visible_joints", self.min_visible_joints, 1, 17)
        _check_range(o, "min_height_px", self.min_height_px, 0.0, 1e4)
        _check_range(o, "miss_sigma_px", self.miss_sigma_px, 0.0, 500.0)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorConfig:
        return cls(**_coerce("DetectorConfig", cls, data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SynthConfig:
    """The synthetic operating room: rig, people, sequence, images, detector.

    Attributes:
        num_cameras: ceiling cameras, [3, 8]; named ``cam0`` … ``cam{N-1}``.
        num_people: most people in the room at once, [1, 6].
        num_frames: frames to generate, [1, 100000].
        fps: frame rate (Hz), (0, 120].
        seed: the seed of everything random (rig jitter, people, detector).
        rig_seed: when set, the rig (camera placement, lenses, room textures) comes from
            this seed instead, so two recordings can share one rig and differ in people
            (a held-back sequence of the same room).
        image_width, image_height: image size in pixels, [64, 4096].
        room_size: (x, y, z) extent of the room (m); the floor is z = 0 and the room is
            centred on the world origin. x, y in [4, 20], z in [2.6, 6].
        table_size: operating table (length along x, width along y, height) in metres.
        camera_height: (min, max) mounting height of the cameras (m).
        hfov_deg: (min, max) horizontal field of view through the lens (degrees).
        distortion_k1: (min, max) radial k1 (barrel < 0); k2 follows as ``~0.6·k1²``.
        person_height: (min, max) body height (m).
        stay_s: (min, max) seconds a person stays before walking out.
        absent_s: (min, max) seconds before someone new enters a freed place.
        initial_presence: probability that a place is occupied at frame 0, [0, 1].
        enter_leave: people enter and leave (False: everybody stays the whole sequence).
        jpeg_quality: JPEG quality of written images, [50, 100].
        detector: the simulated 2D detector's noise model.
    """

    num_cameras: int = 5
    num_people: int = 3
    num_frames: int = 200
    fps: float = 10.0
    seed: int = 0
    rig_seed: int | None = None
    image_width: int = 640
    image_height: int = 480
    room_size: tuple[float, float, float] = (6.0, 6.0, 3.0)
    table_size: tuple[float, float, float] = (2.0, 0.6, 0.9)
    camera_height: tuple[float, float] = (2.5, 2.9)
    hfov_deg: tuple[float, float] = (70.0, 90.0)
    distortion_k1: tuple[float, float] = (-0.25, -0.10)
    person_height: tuple[float, float] = (1.55, 1.95)
    stay_s: tuple[float, float] = (20.0, 60.0)
    absent_s: tuple[float, float] = (2.0, 8.0)
    initial_presence: float = 0.9
    enter_leave: bool = True
    jpeg_quality: int = 90
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        o = "SynthConfig"
        _check_range(o, "num_cameras", self.num_cameras, 3, 8)
        _check_range(o, "num_people", self.num_people, 1, 6)
        _check_range(o, "num_frames", self.num_frames, 1, 100000)
        if not 0.0 < self.fps <= 120.0:
            raise ValueError(f"{o}.fps must be in (0, 120], got {self.fps!r}")
        _check_range(o, "seed", self.seed, 0, 2 ** 63 - 1)
        if self.rig_seed is not None:
            _check_range(o, "rig_seed", self.rig_seed, 0, 2 ** 63 - 1)
        _check_range(o, "image_width", self.image_width, 64, 4096)
        _check_range(o, "image_height", self.image_height, 64, 4096)
        if len(self.room_size) != 3:
            raise ValueError(f"{o}.room_size must be (x, y, z), got {self.room_size!r}")
        _check_range(o, "room_size[x]", self.room_size[0], 4.0, 20.0)
        _check_range(o, "room_size[y]", self.room_size[1], 4.0, 20.0)
        _check_range(o, "room_size[z]", self.room_size[2], 2.6, 6.0)
        if len(self.table_size) != 3:
            raise ValueError(f"{o}.table_size must be (length, width, height), "
                             f"got {self.table_size!r}")
        _check_range(o, "table_size[length]", self.table_size[0], 1.0,
                     self.room_size[0] - 3.0)
        _check_range(o, "table_size[width]", self.table_size[1], 0.4, 1.2)
        _check_range(o, "table_size[height]", self.table_size[2], 0.6, 1.2)
        _check_pair(o, "camera_height", self.camera_height, 1.8, self.room_size[2] - 0.05)
        _check_pair(o, "hfov_deg", self.hfov_deg, 40.0, 110.0)
        _check_pair(o, "distortion_k1", self.distortion_k1, -0.4, 0.05)
        _check_pair(o, "person_height", self.person_height, 1.4, 2.1)
        _check_pair(o, "stay_s", self.stay_s, 0.5, 1e6)
        _check_pair(o, "absent_s", self.absent_s, 0.0, 1e6)
        _check_range(o, "initial_presence", self.initial_presence, 0.0, 1.0)
        _check_range(o, "jpeg_quality", self.jpeg_quality, 50, 100)
        if not isinstance(self.detector, DetectorConfig):
            raise ValueError(f"{o}.detector must be a DetectorConfig, "
                             f"got {type(self.detector).__name__}")

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image_width, self.image_height

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthConfig:
        """Build from plain data (e.g. YAML); unknown keys → ValueError.

        ``detector`` may be a mapping of :class:`DetectorConfig` fields.
        """
        kw = _coerce("SynthConfig", cls, data)
        if "detector" in kw and not isinstance(kw["detector"], DetectorConfig):
            kw["detector"] = DetectorConfig.from_dict(kw["detector"])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) that :meth:`from_dict` reads back."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    def replace(self, **changes) -> SynthConfig:
        """A copy with some fields changed (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return SynthConfig(**d)
