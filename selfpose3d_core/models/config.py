"""Typed, frozen model configuration with dict/YAML round trip and named presets.

``ModelConfig.to_dict()`` gives plain Python (lists, not tuples) that ``yaml.safe_dump``
writes; ``ModelConfig.from_dict`` rebuilds it, filling absent keys with the defaults and
rejecting unknown keys with a ``ValueError`` that names them. A checkpoint that stores
``config.to_dict()`` next to the state dict is enough to rebuild the model
(:func:`selfpose3d_core.models.build_model`).

Presets (:data:`PRESETS`, :func:`model_preset`):

- ``paper``: the reference sizes — input 960×512, heatmaps 240×128, room 8×8×2 m at
  (0, −0.5, 0.8) with 80×80×20 voxels, person cube 2 m with 64³ voxels, ResNet-50,
  V2V widths (16, 32, 64, 128) for both 3D nets, ResNet-18 attention net.
- ``small``: for CPU — input 512×384, heatmaps 128×96, the same room with 48×48×12
  voxels, cube 2 m with 32³ voxels, ``resnet18-narrow`` backbone and attention net,
  V2V widths (8, 16, 32, 64).

Units: metres, world z up (the geometry package's convention). Image sizes are
(width, height) in pixels.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..geometry.grid import VoxelGrid
from .registry import get_backbone_spec

__all__ = ["BackboneConfig", "V2VConfig", "CubeConfig", "ModelConfig", "PRESETS",
           "model_preset", "grid_from_dict", "grid_to_dict"]

ACTIVATIONS = ("none", "sigmoid")
ROOT_FUSIONS = ("mean", "views")


def _check_keys(where: str, data: Any, allowed) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}: {data!r}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed keys: {sorted(allowed)}")


def _int(where: str, value: Any, minimum: int) -> int:
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and float(value).is_integer() and value >= minimum)
    if not ok:
        raise ValueError(f"{where} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _ints(where: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    if isinstance(value, numbers.Real):
        value = (value,) * n
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{where} must be {n} integers, got {value!r}")
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{where} must have {n} values, got {value!r}")
    return tuple(_int(where, v, minimum) for v in value)


def _plain(value: Any) -> Any:
    """Dataclasses → dicts, tuples → lists, recursively (YAML-safe)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _simple_from_dict(cls, data: Mapping[str, Any]):
    _check_keys(cls.__name__, data, [f.name for f in dataclasses.fields(cls)])
    return cls(**data)


def grid_to_dict(grid: VoxelGrid) -> dict[str, list]:
    """A :class:`VoxelGrid` as ``{"center": [..], "size": [..], "shape": [..]}``."""
    return _plain(grid)


def grid_from_dict(data: Mapping[str, Any]) -> VoxelGrid:
    """Inverse of :func:`grid_to_dict`; unknown keys raise ValueError."""
    return _simple_from_dict(VoxelGrid, data)


@dataclass(frozen=True)
class BackboneConfig:
    """A 2D ResNet + deconvolution-head network (heatmap net or attention net).

    Attributes:
        name: registered trunk name (see :mod:`selfpose3d_core.models.registry`); checked
            on construction, so register custom trunks before building their configs.
        num_joints: output channels J (one map per joint).
        deconv_channels: channels of the three 4×4 stride-2 deconvolutions; None = the
            trunk's registered default (256 standard, 64 narrow).
        activation: ``"none"`` (raw heatmaps, trained by MSE against [0, 1] Gaussian
            targets) or ``"sigmoid"`` (attention maps in (0, 1)).
        pretrained: optional path of a user-supplied state dict (full net or trunk only);
            nothing is ever downloaded.
    """

    name: str = "resnet50"
    num_joints: int = 15
    deconv_channels: int | None = None
    activation: str = "none"
    pretrained: str | None = None

    def __post_init__(self) -> None:
        get_backbone_spec(self.name)  # unknown name → ValueError listing the registered ones
        object.__setattr__(self, "num_joints", _int("BackboneConfig.num_joints",
                                                     self.num_joints, 1))
        if self.deconv_channels is not None:
            object.__setattr__(self, "deconv_channels", _int(
                "BackboneConfig.deconv_channels", self.deconv_channels, 1))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"BackboneConfig.activation must be one of {ACTIVATIONS}, got "
                             f"{self.activation!r}")
        if self.pretrained is not None:
            object.__setattr__(self, "pretrained", str(self.pretrained))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackboneConfig:
        return _simple_from_dict(cls, data)


@dataclass(frozen=True)
class V2VConfig:
    """A V2V-style 3D encoder–decoder.

    Attributes:
        channels: widths (c0, c1, c2, c3): front 7³ conv → c0, residual c0 → c1 at full
            resolution, c2 at 1/2 and c3 at 1/4 (reference (16, 32, 64, 128)).
        in_channels: input volume channels (1 for root_net, J for pose_net).
        out_channels: output volume channels (1 for root_net, J for pose_net).
    """

    channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    in_channels: int = 1
    out_channels: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _ints("V2VConfig.channels", self.channels, 4, 1))
        object.__setattr__(self, "in_channels", _int("V2VConfig.in_channels",
                                                     self.in_channels, 1))
        object.__setattr__(self, "out_channels", _int("V2VConfig.out_channels",
                                                      self.out_channels, 1))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> V2VConfig:
        return _simple_from_dict(cls, data)


@dataclass(frozen=True)
class CubeConfig:
    """The per-person cube, centred on each root proposal.

    Attributes:
        size: (3,) side lengths (m); a single number means a cube.
        shape: (3,) voxel counts, each divisible by 4; a single number means n³.
    """

    size: tuple[float, float, float] = (2.0, 2.0, 2.0)
    shape: tuple[int, int, int] = (64, 64, 64)

    def __post_init__(self) -> None:
        size = (self.size,) * 3 if isinstance(self.size, (int, float)) else tuple(self.size)
        if len(size) != 3 or min(size) <= 0:
            raise ValueError(f"CubeConfig.size must be 3 positive lengths, got {self.size!r}")
        object.__setattr__(self, "size", tuple(float(s) for s in size))
        object.__setattr__(self, "shape", _ints("CubeConfig.shape", self.shape, 3, 4))
        if any(n % 4 for n in self.shape):
            raise ValueError(f"CubeConfig.shape must be divisible by 4 (the V2V poolings), "
                             f"got {self.shape}")

    def grid(self) -> VoxelGrid:
        """The cube as a :class:`VoxelGrid` centred at the origin (offsets from the root)."""
        return VoxelGrid(center=(0.0, 0.0, 0.0), size=self.size, shape=self.shape)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CubeConfig:
        return _simple_from_dict(cls, data)


def _paper_room() -> VoxelGrid:
    return VoxelGrid(center=(0.0, -0.5, 0.8), size=(8.0, 8.0, 2.0), shape=(80, 80, 20))


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build the networks and run inference. Defaults = ``paper``.

    Attributes:
        num_joints: J (15, the Panoptic joint set).
        root_joint: channel of the root joint (2, mid-hip).
        input_size: network input (width, height) in pixels, each divisible by 32.
        heatmap_size: heatmap (width, height), = input_size / 4.
        room: the whole-room grid (shape divisible by 4).
        cube: the per-person cube.
        root_threshold: proposals need a root score > this (ref 0.3 Panoptic, 0.1 Shelf).
        max_people: K, proposals kept per frame (ref 10).
        nms_radius: root proposals closer than this (m) to a higher one are suppressed
            (the 3D NMS window: 2·ceil(r / pitch) + 1 voxels; ref ≈ one voxel).
        beta: soft-argmax sharpness β (ref 100).
        backbone: registered trunk of the heatmap net.
        backbone_deconv_channels: heatmap-net deconv width (None = trunk default).
        backbone_weights: optional user-supplied state dict for the heatmap net.
        root_channels: V2V widths of root_net (1 → 1 channel).
        pose_channels: V2V widths of pose_net (J → J channels).
        pose_input_skip: pose_net's log-space residual around its V2V (see PoseNet).
        pose_skip_sigma: σ (m) of the horizontal window on that skip (0 = none).
        pose_skip_power: k of that skip (the fused heatmaps are sharpened as x^k).
        attention_backbone: trunk of the attention net (training only); None = no
            attention net.
        attention_deconv_channels: attention-net deconv width (None = trunk default).
        root_fusion: how root_net's input fuses the views' root heatmaps: ``"mean"`` (the
            reference: the mean over the views that see each voxel) or ``"views"`` (the sum
            over views divided by the number of live views: the fraction of the rig that
            fires there). The mean scores a voxel seen by two cameras that both fire above
            a person seen by five of which three fire, so multi-person ghost intersections
            at the edges of the rig's coverage outrank real people; measured on Shelf
            (held-out frames, top-10 proposals of the fused input alone, within 0.4 m):
            recall 0.84 with "mean", 0.96 with "views".
        root_dilate_px: σ (heatmap px) of a peak-preserving Gaussian dilation of the root
            channel before root_net's unprojection (:func:`selfpose3d_core.render.
            gaussian_dilate`; 0 = none). Widens the root rays so that views with a few
            pixels of disagreement still meet at the room grid's pitch (a σ = 2 px ray is
            narrower than a 15 cm voxel 4 m away); the pose cubes keep the sharp maps.
        detection_gate: detections mode only: each proposal's cube is unprojected from the
            heatmaps of just the detection (per view) that the proposal explains — its
            root (or centre) within ``detection_gate`` × the detection's box diagonal of
            the proposal's projection (:mod:`selfpose3d_core.person_heatmaps`); 0 = the
            heatmaps of all detections, as in images mode.
        root_input_threshold: a recall safety net for root_net (None = off, the
            reference): peaks of root_net's fused input volume scoring above this that lie
            farther than ``nms_radius`` from every root_net proposal are added as
            proposals, scored by the input. Real people that root_net (trained on
            synthetic roots) merges with a neighbour or scores below the threshold are
            still clear in the input (Shelf, held-out frames: with one trained model, PCP
            82.9 → 90.5 at 0.3).
        refine_gate: detections mode only (needs ``detection_gate`` > 0; None = off, the
            reference): each joint of pose_net is re-triangulated (robust weighted DLT)
            from the joints of the detections its proposal was assigned, in the views where
            that 2D joint lies within ``refine_gate`` × the detection's box diagonal of the
            joint's projection (:mod:`selfpose3d_core.refine`); pose_net decides which 2D
            joints belong to the person, the sub-pixel detections say where they are.
        refine_min_conf: the refinement uses only 2D joints of at least this confidence
            (and of at least the rendering's ``min_conf``). Low-confidence joints are the
            occluded, noisy ones — the triangulation baseline's ``min_joint_conf`` for the
            same reason. Measured with one self-supervised model (refine gate 0.2) on
            synthetic validation rigs not used for anything else (seeds 202 / 201, 5 / 4
            cameras): AP50 50.8 → 59.9 and 48.4 → 53.0, MPJPE 41.0 → 38.4 and 60.0 →
            57.9 mm with 0.5 instead of the rendering's 0.2 (0.7: fewer joints refined).
        refine_reassign: before the refinement triangulates, each proposal re-picks per view
            the detection its whole pose_net skeleton explains best (median joint distance
            / box diagonal ≤ this; None = keep the root-based assignment that fed its
            cube; :func:`selfpose3d_core.refine.reassign_by_pose`). Where two people
            overlap in a view, the detection nearest the projected root can be the other
            person's. Chosen on the validation rig seed 202 (one self-supervised model, gate
            0.2): AP50 68.1 → 70.4, MPJPE 39.3 → 36.1 mm (0.05: 69.5 / 36.9; 0.2: 70.4 /
            36.6).
        refine_wide_gate: a second, wider refinement gate (× box diagonal; None, or not
            above ``refine_gate``, = off): a joint with fewer than two views within
            ``refine_gate`` is triangulated from the views within this one instead of
            keeping pose_net's estimate (pose_net's worst joints are the ones the narrow
            gate rejects).
            Chosen on the validation rigs (one self-supervised model, gate 0.2; seeds 202 /
            201): AP50 73.1 → 74.9 and 53.4 → 53.6, AP100 92.3 → 93.3 and 88.2 → 89.0,
            MPJPE 36.3 → 35.3 and 57.8 → 56.6 mm with 0.8 (0.4: 35.4 / 56.9; also
            triangulating joints below ``refine_min_conf`` where too few views pass: 201
            AP50 50.1, MPJPE 58.6, worse).
        refine_midpoints: the refinement makes the neck and mid-hip the midpoints of the
            refined shoulders and hips where both were triangulated (COCO-17 detections give
            them as those midpoints, at the confidence of both; one hidden hip displaces the
            detected mid-hip by half its error). Validation rigs 202 / 201 (one
            self-supervised model, fallback 0.3, gate 0.2): AP50 82.0 → 83.7 and 57.5 →
            58.4, MPJPE 35.5 → 34.8 and 53.4 → 52.5 mm.
        refine_fill: joints that fewer than two views place within the refinement's gates
            are triangulated by a DLT over every view of the proposal's detections, weighted
            by their confidences however low (the triangulation baseline's fill), instead of
            keeping pose_net's estimate (:func:`selfpose3d_core.refine.
            refine_with_detections`). Those joints — one confident view, often a false
            positive or another person's detection — are where pose_net is worst:
            validation rigs 202 / 201 (one self-supervised model, fallback 0.3, gate 0.2),
            AP50 83.7 → 84.2 and 58.4 → 60.1, MPJPE 34.8 → 34.0 and 52.5 → 50.3 mm
            (accepting the fill only within 0.3 m of pose_net's joint: 34.2 / 51.9; only
            where pose_net's joint confidence is below 0.1 / 0.2 / 0.3: 34.5 / 34.3 / 34.1
            and 52.4 / 52.2 / 51.3). For the supervised upper bound it is mixed (202: 33.3
            → 33.9 mm, 201: 52.5 → 49.2 mm; README, Benchmarks).
        refine_prior: where the model carries a body prior (``SelfPose3dModel.body_prior``,
            fitted at the end of training to the training recording's triangulated
            detections; :mod:`selfpose3d_core.body_prior`), the joints that fewer than two
            views place, of a proposal with at least four placed ones, are the prior's
            estimate given the placed joints fused with every view of the joint weighted by
            its confidence — before ``refine_fill``, which then only takes proposals with
            fewer placed joints. A model without a prior refines as before.
            Validation rigs 202 / 201 (one self-supervised model, fallback 0.3, gate 0.2):
            AP50 84.2 → 91.2 and 60.1 → 69.4, MPJPE 34.0 → 31.1 and 50.3 → 44.8 mm; the
            joints it places are 70 / 139 mm off, where the fill's were 133 / 219 mm.
        refine_prior_sigma_px: the pixel noise of a confidence-1 view in that fusion (a view
            of confidence c counts with ``sigma / √c``); 2.5 / 6 px on the same rigs:
            31.6 / 31.2 and 44.2 / 45.5 mm.
        refine_prior_two_view_sigma_px: with the prior, joints that exactly two views
            triangulated (their depth poorly fixed where the two rays meet at a narrow
            angle) are re-estimated from those two views at this pixel noise and the prior
            given the proposal's other placed joints (None = off;
            :func:`selfpose3d_core.body_prior.sharpen_joints`). Validation rigs 202 / 201
            (the same model): AP50 91.2 → 96.4 and 69.4 → 77.4, MPJPE 31.1 → 29.3 and 44.8 →
            43.5 mm (1 / 1.5 px: 29.9 / 29.4 and 43.3 / 43.2 mm, AP50 95.9 / 97.0 and 75.3 /
            75.1; 4 px: 201 AP50 74.3, MPJPE 46.8; conditioning only on joints seen in three
            views or more, 4 px: worse than off).
        refine_prior_reg: standard deviation (m) added to every coordinate of the prior's
            covariance (it is a sample covariance of a few hundred skeletons); 0.02 / 0.05:
            31.2 / 31.5 and 45.1 / 44.5 mm.
        root_input_nms_radius: the 3D NMS radius (m) for the peaks of the input fallback
            (``root_input_threshold``); None = ``nms_radius``. A person standing close to
            another is a separate but lower peak of the fused input on the neighbour's
            slope: a window as wide as root_net's suppresses it. The fallback's peaks must
            still lie farther than ``nms_radius`` from every root_net proposal.
        duplicate_radius: skeleton-level NMS (None = off): a person whose mean joint
            distance (m) to a higher-scored person of the same frame is below this is
            dropped ("fast NMS": compared with every higher-scored skeleton, kept or not).
            Two proposals on one person give the same skeleton, so root proposals can be
            taken generously. The defaults (0.15, 0.1) were chosen together on the
            validation rigs (one self-supervised model, fallback 0.3, refine gate 0.2):
            seed 202 (5 cameras) AP50 70.4 → 73.1, AP100 88.3 → 92.3, recall 91.3 → 95.3,
            MPJPE 36.1 → 36.3 mm; seed 201 (4 cameras) unchanged (AP50 53.4, MPJPE 57.8).
            ``duplicate_radius`` alone changed nothing on either rig.
        attention_input_scale: the attention net sees the network input resized by about
            this factor (to sizes divisible by 32; its maps are resized back to the heatmap
            size); 0.5 quarters its cost on a CPU budget. 1 = the reference.
    """

    num_joints: int = 15
    root_joint: int = 2
    input_size: tuple[int, int] = (960, 512)
    heatmap_size: tuple[int, int] = (240, 128)
    room: VoxelGrid = field(default_factory=_paper_room)
    cube: CubeConfig = field(default_factory=CubeConfig)
    root_threshold: float = 0.3
    max_people: int = 10
    nms_radius: float = 0.1
    beta: float = 100.0
    backbone: str = "resnet50"
    backbone_deconv_channels: int | None = None
    backbone_weights: str | None = None
    root_channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    pose_channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    pose_input_skip: bool = True
    pose_skip_sigma: float = 0.6
    pose_skip_power: float = 10.0
    attention_backbone: str | None = "resnet18"
    attention_deconv_channels: int | None = None
    attention_input_scale: float = 1.0
    root_fusion: str = "mean"
    root_dilate_px: float = 0.0
    detection_gate: float = 0.0
    root_input_threshold: float | None = None
    refine_gate: float | None = None
    refine_min_conf: float = 0.5
    refine_reassign: float | None = 0.1
    refine_wide_gate: float | None = 0.8
    refine_midpoints: bool = True
    refine_fill: bool = True
    refine_prior: bool = True
    refine_prior_sigma_px: float = 4.0
    refine_prior_reg: float = 0.03
    refine_prior_two_view_sigma_px: float | None = 2.0
    root_input_nms_radius: float | None = 0.15
    duplicate_radius: float | None = 0.1

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "num_joints", _int("ModelConfig.num_joints", self.num_joints, 1))
        set_(self, "root_joint", _int("ModelConfig.root_joint", self.root_joint, 0))
        if self.root_joint >= self.num_joints:
            raise ValueError(f"ModelConfig.root_joint={self.root_joint} must be < "
                             f"num_joints={self.num_joints}")
        set_(self, "input_size", _ints("ModelConfig.input_size", self.input_size, 2, 32))
        set_(self, "heatmap_size", _ints("ModelConfig.heatmap_size", self.heatmap_size, 2, 1))
        if any(s % 32 for s in self.input_size):
            raise ValueError(f"ModelConfig.input_size must be divisible by 32 (the ResNet "
                             f"stride), got {self.input_size}")
        expect = tuple(s // 4 for s in self.input_size)
        if self.heatmap_size != expect:
            raise ValueError(f"ModelConfig.heatmap_size must be input_size / 4 = {expect}, "
                             f"got {self.heatmap_size}")
        if isinstance(self.room, Mapping):
            set_(self, "room", grid_from_dict(self.room))
        if isinstance(self.cube, Mapping):
            set_(self, "cube", CubeConfig.from_dict(self.cube))
        if not isinstance(self.room, VoxelGrid) or any(n % 4 for n in self.room.shape):
            raise ValueError(f"ModelConfig.room must be a VoxelGrid with every voxel count "
                             f"divisible by 4, got {self.room!r}")
        set_(self, "root_threshold", float(self.root_threshold))
        set_(self, "max_people", _int("ModelConfig.max_people", self.max_people, 1))
        set_(self, "beta", float(self.beta))
        if not self.beta > 0:
            raise ValueError(f"ModelConfig.beta must be > 0, got {self.beta}")
        for name in ("pose_skip_sigma", "pose_skip_power"):
            set_(self, name, float(getattr(self, name)))
        if self.pose_skip_sigma < 0 or not self.pose_skip_power > 0:
            raise ValueError(f"ModelConfig: pose_skip_sigma must be >= 0 and pose_skip_power "
                             f"> 0, got {self.pose_skip_sigma} and {self.pose_skip_power}")
        set_(self, "root_channels", _ints("ModelConfig.root_channels", self.root_channels, 4, 1))
        set_(self, "pose_channels", _ints("ModelConfig.pose_channels", self.pose_channels, 4, 1))
        set_(self, "attention_input_scale", float(self.attention_input_scale))
        if self.root_fusion not in ROOT_FUSIONS:
            raise ValueError(f"ModelConfig.root_fusion must be one of {ROOT_FUSIONS}, got "
                             f"{self.root_fusion!r}")
        set_(self, "root_dilate_px", float(self.root_dilate_px))
        set_(self, "detection_gate", float(self.detection_gate))
        if not self.detection_gate >= 0:
            raise ValueError(f"ModelConfig.detection_gate must be >= 0, got "
                             f"{self.detection_gate}")
        if self.root_input_threshold is not None:
            set_(self, "root_input_threshold", float(self.root_input_threshold))
            if not 0 <= self.root_input_threshold < 1:
                raise ValueError(f"ModelConfig.root_input_threshold must be None or in [0, 1)"
                                 f", got {self.root_input_threshold}")
        if self.refine_gate is not None:
            set_(self, "refine_gate", float(self.refine_gate))
            if not self.refine_gate > 0 or not self.detection_gate > 0:
                raise ValueError(f"ModelConfig.refine_gate must be None or > 0 with "
                                 f"detection_gate > 0, got refine_gate={self.refine_gate}, "
                                 f"detection_gate={self.detection_gate}")
        set_(self, "refine_min_conf", float(self.refine_min_conf))
        if self.refine_reassign is not None:
            set_(self, "refine_reassign", float(self.refine_reassign))
            if not self.refine_reassign > 0:
                raise ValueError(f"ModelConfig.refine_reassign must be None or > 0, got "
                                 f"{self.refine_reassign}")
        if self.refine_prior_two_view_sigma_px is not None:
            set_(self, "refine_prior_two_view_sigma_px",
                 float(self.refine_prior_two_view_sigma_px))
            if not self.refine_prior_two_view_sigma_px > 0:
                raise ValueError(f"ModelConfig.refine_prior_two_view_sigma_px must be None or "
                                 f"> 0, got {self.refine_prior_two_view_sigma_px}")
        for name in ("refine_prior_sigma_px", "refine_prior_reg"):
            set_(self, name, float(getattr(self, name)))
            if not getattr(self, name) > 0:
                raise ValueError(f"ModelConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("refine_midpoints", "refine_fill", "refine_prior"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ModelConfig.{name} must be true or false, got "
                                 f"{getattr(self, name)!r}")
        if self.refine_wide_gate is not None:
            set_(self, "refine_wide_gate", float(self.refine_wide_gate))
            if not self.refine_wide_gate > 0:
                raise ValueError(f"ModelConfig.refine_wide_gate must be None or > 0, got "
                                 f"{self.refine_wide_gate}")
        for name in ("root_input_nms_radius", "duplicate_radius"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, float(value))
                if not getattr(self, name) > 0:
                    raise ValueError(f"ModelConfig.{name} must be None or > 0, got {value}")
        if not 0 <= self.refine_min_conf < 1:
            raise ValueError(f"ModelConfig.refine_min_conf must be in [0, 1), got "
                             f"{self.refine_min_conf}")
        if not self.root_dilate_px >= 0:
            raise ValueError(f"ModelConfig.root_dilate_px must be >= 0, got "
                             f"{self.root_dilate_px}")
        if not 0 < self.attention_input_scale <= 1:
            raise ValueError(f"ModelConfig.attention_input_scale must be in (0, 1], got "
                             f"{self.attention_input_scale}")
        # validate the derived sub-configs now rather than at build time
        self.backbone_config()
        self.attention_config()

    # ---- derived sub-configs -------------------------------------------------------
    def backbone_config(self) -> BackboneConfig:
        """The heatmap net: raw (un-squashed) J heatmaps."""
        return BackboneConfig(name=self.backbone, num_joints=self.num_joints,
                              deconv_channels=self.backbone_deconv_channels,
                              activation="none", pretrained=self.backbone_weights)

    def attention_config(self) -> BackboneConfig | None:
        """The attention net: J sigmoid maps; None when ``attention_backbone`` is None."""
        if self.attention_backbone is None:
            return None
        return BackboneConfig(name=self.attention_backbone, num_joints=self.num_joints,
                              deconv_channels=self.attention_deconv_channels,
                              activation="sigmoid")

    def root_v2v_config(self) -> V2VConfig:
        return V2VConfig(channels=self.root_channels, in_channels=1, out_channels=1)

    def pose_v2v_config(self) -> V2VConfig:
        return V2VConfig(channels=self.pose_channels, in_channels=self.num_joints,
                         out_channels=self.num_joints)

    @property
    def nms_kernel(self) -> tuple[int, int, int]:
        """The 3D NMS window (odd voxel counts along x, y, z) for ``nms_radius`` on the room
        grid: ``2 · ceil(r / pitch) + 1`` per axis (the z pitch of a flat room is finer than
        the horizontal one; one window from the finest pitch would suppress people
        standing closer than the radius)."""
        return self._nms_window(self.nms_radius)

    @property
    def input_nms_kernel(self) -> tuple[int, int, int]:
        """The NMS window of the input fallback (``root_input_nms_radius``, else
        :attr:`nms_kernel`)."""
        r = self.root_input_nms_radius
        return self.nms_kernel if r is None else self._nms_window(r)

    def _nms_window(self, radius: float) -> tuple[int, int, int]:
        import math

        return tuple(2 * max(1, math.ceil(radius / float(p) - 1e-6)) + 1
                     for p in self.room.pitch)

    def cube_grid(self) -> VoxelGrid:
        """The person cube as a grid centred at the origin."""
        return self.cube.grid()

    # ---- dict / YAML ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, numbers, strings, None): ``yaml.safe_dump``-able."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; absent keys take defaults, unknown keys raise."""
        _check_keys("ModelConfig", data, [f.name for f in dataclasses.fields(cls)])
        data = dict(data)
        if "room" in data:
            data["room"] = grid_from_dict(data["room"])
        if "cube" in data:
            data["cube"] = CubeConfig.from_dict(data["cube"])
        return cls(**data)

    @classmethod
    def preset(cls, name: str) -> ModelConfig:
        """Same as :func:`model_preset`."""
        return model_preset(name)


PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "small": ModelConfig(
        input_size=(512, 384),
        heatmap_size=(128, 96),
        room=VoxelGrid(center=(0.0, -0.5, 0.8), size=(8.0, 8.0, 2.0), shape=(48, 48, 12)),
        cube=CubeConfig(size=(2.0, 2.0, 2.0), shape=(32, 32, 32)),
        backbone="resnet18-narrow",
        root_channels=(8, 16, 32, 64),
        pose_channels=(8, 16, 32, 64),
        nms_radius=0.3,
        root_threshold=0.15,
        attention_backbone="resnet18-narrow",
        attention_input_scale=0.5,
        root_fusion="views",
        root_dilate_px=4.0,
        detection_gate=0.3,
    ),
}


def model_preset(name: str) -> ModelConfig:
    """A named preset (``"paper"`` or ``"small"``); change fields with
    ``dataclasses.replace(model_preset("small"), room=...)``.

    Raises:
        ValueError: for an unknown name, listing the presets.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; available: "
                         f"{', '.join(sorted(PRESETS))}") from None
