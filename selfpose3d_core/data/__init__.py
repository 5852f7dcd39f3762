"""Datasets and readers of real multi-view data (ground truth, detections)."""

from .dataset import (
    DatasetMeta,
    DatasetWriter,
    GroundTruth3D,
    MultiViewDataset,
    ViewKeypoints,
    has_ground_truth,
    load_ground_truth,
)
from .fourda import FOURDA_GT_JOINTS, load_4da_skeletons
from .fourda_detection import (
    CandidateFrame,
    OpenPoseCandidates,
    load_4da_detections,
    nearest_candidate_errors,
)
from .frames import Keypoints2D, SkeletonFrame, stack_skeleton_frames
from .panoptic import PanopticBodies, load_panoptic_bodies
from .voxelpose_files import epipolar_match_errors, load_actors_gt, load_coco_predictions

__all__ = ["FOURDA_GT_JOINTS", "load_4da_skeletons", "CandidateFrame", "OpenPoseCandidates",
           "load_4da_detections", "nearest_candidate_errors", "Keypoints2D", "SkeletonFrame",
           "stack_skeleton_frames", "PanopticBodies", "load_panoptic_bodies", "load_actors_gt",
           "load_coco_predictions", "epipolar_match_errors",
           "DatasetMeta", "DatasetWriter", "GroundTruth3D", "MultiViewDataset", "ViewKeypoints",
           "has_ground_truth", "load_ground_truth"]
