"""The SelfPose3d networks: 2D heatmap and attention nets (ResNet + deconvolutions),
the V2V 3D CNN, root_net with proposal extraction, pose_net with soft-argmax, their
typed configuration and the container/builders.

All volumes are channel-first (N, C, X, Y, Z) in the grid's x-major axis order; world
coordinates are metres, z up.
"""

from .attention import attn_net_2d
from .config import (
    PRESETS,
    BackboneConfig,
    CubeConfig,
    ModelConfig,
    V2VConfig,
    grid_from_dict,
    grid_to_dict,
    model_preset,
)
from .heatmap_net import HeatmapNet2D, heatmap_net_2d
from .model import SelfPose3dModel, build_model, model_from_checkpoint
from .pose_net import PoseNet, PoseOutput, SoftArgmax, soft_argmax_3d
from .registry import (
    BACKBONES,
    BackboneSpec,
    available_backbones,
    get_backbone_spec,
    register_backbone,
)
from .resnet import BasicBlock, Bottleneck, ResNet
from .root_net import RootNet, RootProposals, root_proposals
from .v2v import V2VNet, count_parameters
from .weights import LoadReport, load_weights, read_state_dict

__all__ = [
    "attn_net_2d", "PRESETS", "BackboneConfig", "CubeConfig", "ModelConfig", "V2VConfig",
    "grid_from_dict", "grid_to_dict", "model_preset", "HeatmapNet2D", "heatmap_net_2d",
    "SelfPose3dModel", "build_model", "model_from_checkpoint", "PoseNet", "PoseOutput",
    "SoftArgmax", "soft_argmax_3d", "BACKBONES", "BackboneSpec", "available_backbones",
    "get_backbone_spec", "register_backbone", "BasicBlock", "Bottleneck", "ResNet",
    "RootNet", "RootProposals", "root_proposals", "V2VNet", "count_parameters",
    "LoadReport", "load_weights", "read_state_dict",
]
