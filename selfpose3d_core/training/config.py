"""Training configuration (frozen dataclasses; YAML via :mod:`selfpose3d_core.config_utils`).

The schedule follows SelfPose3d §3.6 (method.md), stage by stage:

1. ``backbone`` — the 2D heatmap net on the pseudo 2D poses (augmented views);
2. ``root`` — root_net from synthetic roots + root consistency, backbone frozen;
3. ``pose_l2`` — pose_net (and the attention net) from cross-affine-view rendering, L2
   heatmap loss (+ soft attention), root_net frozen;
4. ``pose_l1`` — as 3 plus the Hungarian L1 joint loss with hard view attention;
5. ``pose_hard`` — as 4 on "hard" pseudo labels (joint confidence ≥ ``hard_conf``).

Lengths are in epochs (passes over the training frames; fractions allowed). In
``supervised`` mode (the upper bound, VoxelPose-style) the same stages train the backbone
on projected 3D ground truth, root_net on ground-truth root volumes and pose_net with an
L1 loss on ground-truth joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config_utils import from_dict, to_dict
from .augment import PhotometricAugmentConfig

__all__ = ["StageConfig", "LossWeights", "RootSynthConfig", "AugmentConfig", "TrainConfig",
           "STAGES", "TRAIN_PRESETS", "train_preset"]

STAGES = ("backbone", "root", "pose_l2", "pose_l1", "pose_hard")
MODES = ("selfsup", "supervised")


def _positive(where: str, v: float, allow_zero: bool = True) -> None:
    if not (v >= 0 if allow_zero else v > 0):
        raise ValueError(f"{where} must be {'≥' if allow_zero else '>'} 0, got {v!r}")


@dataclass(frozen=True)
class StageConfig:
    """One training stage.

    Attributes:
        epochs: passes over the training frames (0 skips the stage; fractions allowed).
        lr: Adam learning rate at the start of the stage.
        lr_drops: fractions of the stage at which the rate is multiplied by 0.1.
        batch_size: frames per step.
    """

    epochs: float = 1.0
    lr: float = 1e-4
    lr_drops: tuple[float, ...] = ()
    batch_size: int = 1

    def __post_init__(self) -> None:
        _positive("StageConfig.epochs", self.epochs)
        _positive("StageConfig.lr", self.lr, allow_zero=False)
        if any(not 0 < f < 1 for f in self.lr_drops):
            raise ValueError(f"StageConfig.lr_drops must be in (0, 1), got {self.lr_drops}")
        if self.batch_size < 1:
            raise ValueError(f"StageConfig.batch_size must be ≥ 1, got {self.batch_size}")


@dataclass(frozen=True)
class LossWeights:
    """Loss weights (method.md reference values)."""

    root_synthetic: float = 100.0
    root_consistency: float = 1.0
    pose_heatmap: float = 1.0
    attention_reg: float = 0.1  # σ_attn: L2(A, 1)
    joints_l1: float = 0.01  # λ: Hungarian L1 on 2D joints
    heatmap_2d: float = 1.0  # backbone stage (MSE against the pseudo heatmaps)
    heatmap_2d_foreground: float = 10.0  # backbone stage: extra weight under the Gaussians
    supervised_joints: float = 1.0  # supervised mode: L1 on 3D joints (m)


@dataclass(frozen=True)
class RootSynthConfig:
    """Synthetic roots for root_net (paper §3.3).

    Attributes:
        max_roots: K; each sample has 1 … K−1 roots.
        wall_margin: m by which the room grid is shrunk at the sides (x, y).
        height_range: root heights (m above ``TrainConfig.floor_z``).
        sigma_px: σ of the rendered root Gaussians (heatmap px).
        target_sigma: σ of the target volume Gaussians (m), truncated at 3σ.
        noise_std: std of the Gaussian noise added to the rendered root heatmaps.
        view_dropout: probability that a root is missing from one view (a missed
            detection), so root_net learns to cope with it.
        amplitude_range: each root's peak in each view is drawn from this range (real
            root heatmaps are confidence-weighted and often weak: hips hide behind tables).
        false_blobs: mean number of spurious root blobs per view (single-view false
            detections, consistent with no other view).
        jitter_px: std (heatmap px) of a per-view displacement of each rendered root: real
            root detections of one person disagree across views by a few pixels (Shelf:
            15–35 image px, 2–4 heatmap px, between OpenPose's mid-hips and the projected
            ground truth), so a root_net trained on exact projections alone learns to
            reject the imperfect intersections of real people.
        target_min_views: a root enters the target volume only if it is rendered in at
            least this many views (2: a root seen once is a ray, not a 3D point, and stays
            a negative like a single-view false blob). Default 1 (all roots): 2 gave
            AP50 72.8 → 75.0 when training on from the demo checkpoint but Recall@500
            90.4 → 83.5 in a fresh 2-epoch demo run (one seed each).
        neighbour_prob: probability that a root (every second one) is placed beside the
            root before it rather than anywhere: people work side by side, and a root_net
            that has only seen roots metres apart merges two people half a metre apart
            into one peak (Shelf: the second of two neighbours was missed in those frames).
        neighbour_distance: (min, max) horizontal distance (m) of such a neighbour.
    """

    max_roots: int = 10
    wall_margin: float = 0.25
    height_range: tuple[float, float] = (0.05, 1.5)
    sigma_px: float = 3.0
    target_sigma: float = 0.2
    noise_std: float = 0.02
    view_dropout: float = 0.4
    amplitude_range: tuple[float, float] = (0.2, 1.0)
    false_blobs: float = 0.3
    jitter_px: float = 1.5
    target_min_views: int = 1
    neighbour_prob: float = 0.5
    neighbour_distance: tuple[float, float] = (0.35, 0.9)

    def __post_init__(self) -> None:
        if not 0.0 <= self.neighbour_prob <= 1.0:
            raise ValueError(f"RootSynthConfig.neighbour_prob must be in [0, 1], got "
                             f"{self.neighbour_prob}")
        lo, hi = self.neighbour_distance
        if not 0.0 <= lo <= hi:
            raise ValueError(f"RootSynthConfig.neighbour_distance must be (min, max) with "
                             f"0 <= min <= max, got {self.neighbour_distance}")


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric (affine) and photometric augmentation of the augmented copies x1, x2."""

    max_rotation_deg: float = 45.0
    max_scale: float = 0.35
    p_rotation: float = 0.5
    p_scale: float = 0.5
    photometric: PhotometricAugmentConfig = field(default_factory=PhotometricAugmentConfig)


@dataclass(frozen=True)
class TrainConfig:
    """Everything about one training run (the model itself: ``ModelConfig``).

    Attributes:
        mode: "selfsup" (no ground truth anywhere) or "supervised" (3D GT upper bound).
        heatmap_source: "images" (the 2D backbone) or "detections" (heatmaps rendered from
            the 2D pseudo poses; no image network).
        seed: seeds every random draw (data order, augmentations, synthetic roots, init).
        device: "cpu" or "cuda".
        floor_z: floor height (m), for the synthetic root heights.
        heatmap_sigma: σ of the pseudo-pose target heatmaps and of the rendered
            predictions (heatmap px).
        min_conf: pseudo joints below this confidence are ignored ("soft" labels).
        derived_conf: confidence of a pseudo joint the detector's joint set lacks (COCO-17's
            neck and mid-hip, midpoints of two joints): ``"mean"`` or ``"min"`` of its
            sources (:func:`~selfpose3d_core.skeleton.convert_joints`); training and
            inference (from the checkpoint) read the detections alike. With ``"min"`` a
            person seen from the side — one hip hidden, the other sure — has a mid-hip
            below the rendering threshold in most views and root_net no root to find; on
            the synthetic validation rigs 202 / 201 (one model, inference only) the mean
            gave Recall@500 95.3 → 100 and 95.7 → 99.6, AP50 74.9 → 82.1 and 53.6 → 56.4.
            Shelf's schedule keeps ``"min"`` (held-out seed 0: PCP 94.2 with it, 92.9 with
            the mean).
        hard_conf: the "hard" label threshold of the last stage.
        max_people_per_view: pseudo poses kept per view (highest person scores).
        use_attention: soft attention (attn_net) in the pose stages.
        cross_view: render Y1 in copy 2's image space and vice versa (paper); False = the
            ablation rendering each copy's prediction in its own space.
        use_l1: the Hungarian L1 stage (False = ablation: pose_l1/pose_hard use L2 only).
        freeze_backbone_after: keep the backbone fixed after its stage (CPU budgets).
        proposal_copy: which copy's root volume gives the pose-stage proposals (0 = x0).
        proposal_threshold: root score a proposal needs to be trained on in the pose
            stages (stricter than the inference threshold: a false proposal renders a
            person where the pseudo heatmaps have none).
        augment, loss, root_synth: see their classes.
        stages: one :class:`StageConfig` per stage name in :data:`STAGES`.
        log_every: steps between progress/metrics lines.
        checkpoint_every: steps between checkpoints (0 = end of each stage only).
        cache_images: keep decoded training images in memory.
        body_prior: at the end of training, fit the body prior
            (:func:`selfpose3d_core.body_prior.body_prior_from_detections`: the people the
            triangulation baseline reconstructs completely from the training recording's
            2D detections) and store it in the checkpoint, for the detections-mode
            refinement (``ModelConfig.refine_prior``). Reads no ground truth in any mode.
    """

    mode: str = "selfsup"
    heatmap_source: str = "images"
    seed: int = 0
    device: str = "cpu"
    floor_z: float = 0.0
    heatmap_sigma: float = 2.0
    min_conf: float = 0.2
    derived_conf: str = "mean"
    hard_conf: float = 0.7
    max_people_per_view: int = 10
    use_attention: bool = True
    cross_view: bool = True
    use_l1: bool = True
    freeze_backbone_after: bool = True
    proposal_copy: int = 0
    proposal_threshold: float = 0.3
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    root_synth: RootSynthConfig = field(default_factory=RootSynthConfig)
    stages: dict = field(default_factory=lambda: {
        "backbone": StageConfig(epochs=20, lr=1e-3, lr_drops=(0.5, 0.75), batch_size=2),
        "root": StageConfig(epochs=3, lr=1e-3, batch_size=2),
        "pose_l2": StageConfig(epochs=5, lr=1e-4),
        "pose_l1": StageConfig(epochs=5, lr=5e-5),
        "pose_hard": StageConfig(epochs=2, lr=5e-5),
    })
    log_every: int = 10
    checkpoint_every: int = 200
    cache_images: bool = True
    body_prior: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"TrainConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.heatmap_source not in ("images", "detections"):
            raise ValueError(f"TrainConfig.heatmap_source must be 'images' or 'detections', "
                             f"got {self.heatmap_source!r}")
        if self.derived_conf not in ("mean", "min"):
            raise ValueError(f"TrainConfig.derived_conf must be 'mean' or 'min', got "
                             f"{self.derived_conf!r}")
        if self.proposal_copy not in (0, 1, 2):
            raise ValueError(f"TrainConfig.proposal_copy must be 0, 1 or 2, got "
                             f"{self.proposal_copy}")
        stages = {}
        for name, st in dict(self.stages).items():
            if name not in STAGES:
                raise ValueError(f"TrainConfig.stages: unknown stage {name!r}; stages: "
                                 f"{STAGES}")
            stages[name] = st if isinstance(st, StageConfig) else from_dict(
                StageConfig, st, f"TrainConfig.stages.{name}")
        for name in STAGES:
            stages.setdefault(name, StageConfig(epochs=0))
        object.__setattr__(self, "stages", stages)
        _positive("TrainConfig.heatmap_sigma", self.heatmap_sigma, allow_zero=False)

    def to_dict(self) -> dict:
        d = {k: to_dict(getattr(self, k)) for k in self.__dataclass_fields__}
        d["stages"] = {k: to_dict(v) for k, v in self.stages.items()}
        return d


#: Named schedules. "small-cpu" fits the small model preset on 2 CPU cores (detections
#: mode, 200 frames: ~2.5 min root + ~20 min pose stages with attention, ~1.1 s per pose
#: step; images mode adds the backbone stage, ~25 min); "demo" is its cut for
#: `selfpose3d demo` (~8 min from detections); "paper" is the reference schedule. The pose
#: stages learn slowly: 4.5 epochs of L1 scored AP50 91.2 / 29.5 mm where 2.5 scored 89.7 /
#: 30.0 on the synthetic 5-camera held-out rig (bench/selfsup_synthetic.py).
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(heatmap_sigma=3.0, freeze_backbone_after=False),
    "small-cpu": TrainConfig(stages={
        "backbone": StageConfig(epochs=6, lr=2e-3, lr_drops=(0.7,), batch_size=2),
        "root": StageConfig(epochs=3, lr=2e-3, lr_drops=(0.8,), batch_size=2),
        "pose_l2": StageConfig(epochs=0.5, lr=1e-3),
        "pose_l1": StageConfig(epochs=4.5, lr=1e-3, lr_drops=(0.8,)),
        "pose_hard": StageConfig(epochs=0.5, lr=1e-4),
    }),
    "demo": TrainConfig(stages={
        "backbone": StageConfig(epochs=4, lr=2e-3, lr_drops=(0.7,), batch_size=2),
        "root": StageConfig(epochs=2, lr=2e-3, lr_drops=(0.8,), batch_size=2),
        "pose_l2": StageConfig(epochs=0.25, lr=1e-3),
        "pose_l1": StageConfig(epochs=1.25, lr=1e-3, lr_drops=(0.8,)),
        "pose_hard": StageConfig(epochs=0.25, lr=1e-4),
    }),
}


def train_preset(name: str) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ValueError(f"unknown training preset {name!r}; presets: {sorted(TRAIN_PRESETS)}")
    return TRAIN_PRESETS[name]
