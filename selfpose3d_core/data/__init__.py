"""Datasets and readers of real multi-view data (ground truth, detections)."""

from .dataset import (
    DatasetMeta,
    DatasetWriter,
    GroundTruth3D,
    MultiViewDataset,
    ViewKeypoints,
    has_ground_truth,
    keypoint_entries,
    load_ground_truth,
    replace_keypoints,
)
from .fourda import FOURDA_GT_JOINTS, load_4da_skeletons
from .fourda_detection import (
    CandidateFrame,
    OpenPoseCandidates,
    load_4da_detections,
    nearest_candidate_errors,
)
from .frames import Keypoints2D, SkeletonFrame, stack_skeleton_frames
from .importers import (
    COCO18_JOINTS,
    convert_pose_set,
    create_dataset_from_detections,
    load_coco_results,
    load_coco_results_per_view,
    load_image_map,
    load_openpose_dir,
    load_openpose_json,
)
from .paf_grouping import GroupedPoses, GroupingConfig, group_candidate_frame, group_candidates
from .panoptic import PanopticBodies, load_panoptic_bodies
from .voxelpose_files import epipolar_match_errors, load_actors_gt, load_coco_predictions

__all__ = ["FOURDA_GT_JOINTS", "load_4da_skeletons", "CandidateFrame", "OpenPoseCandidates",
           "load_4da_detections", "nearest_candidate_errors", "Keypoints2D", "SkeletonFrame",
           "stack_skeleton_frames", "PanopticBodies", "load_panoptic_bodies", "load_actors_gt",
           "load_coco_predictions", "epipolar_match_errors",
           "DatasetMeta", "DatasetWriter", "GroundTruth3D", "MultiViewDataset", "ViewKeypoints",
           "has_ground_truth", "load_ground_truth", "keypoint_entries", "replace_keypoints",
           "COCO18_JOINTS", "convert_pose_set", "create_dataset_from_detections",
           "load_coco_results", "load_coco_results_per_view", "load_image_map",
           "load_openpose_dir", "load_openpose_json", "GroupedPoses", "GroupingConfig",
           "group_candidate_frame", "group_candidates"]
