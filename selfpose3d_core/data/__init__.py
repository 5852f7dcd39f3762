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
from .fourda_detection import CandidateFrame, OpenPoseCandidates, load_4da_detections
from .frames import Keypoints2D, SkeletonFrame
from .panoptic import PanopticBodies, load_panoptic_bodies
from .voxelpose_files import load_actors_gt, load_coco_predictions

__all__ = ["FOURDA_GT_JOINTS", "load_4da_skeletons", "CandidateFrame", "OpenPoseCandidates",
           "load_4da_detections", "Keypoints2D", "SkeletonFrame", "PanopticBodies",
           "load_panoptic_bodies", "load_actors_gt", "load_coco_predictions",
           "DatasetMeta", "DatasetWriter", "GroundTruth3D", "MultiViewDataset", "ViewKeypoints",
           "has_ground_truth", "load_ground_truth"]
