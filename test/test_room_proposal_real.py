"""The room proposal on real rigs contains the people that real ground truth puts there."""

import numpy as np
import pytest
from helpers import SHARED_DATA

from selfpose3d_core.data import load_4da_skeletons
from selfpose3d_core.geometry.calibration import (
    load_4dassociation_calibration,
    load_panoptic_calibration,
    panoptic_world_to_ours,
)
from selfpose3d_core.geometry.grid import propose_room


@pytest.fixture(scope="module")
def data():
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder missing: {SHARED_DATA}")
    return SHARED_DATA


def test_shelf_room_contains_every_gt_root(data):
    cams = load_4dassociation_calibration(data / "shelf_4dassociation" / "calibration.json")
    grid = propose_room(cams)
    frames = load_4da_skeletons(data / "shelf_4dassociation" / "gt.txt")
    roots = np.concatenate([f.joints[:, 14] for f in frames if len(f.ids)])  # joint 15 = mid-hip
    assert len(roots) > 500
    assert grid.contains(roots).all()
    assert max(grid.size[:2]) < 10.0


def test_panoptic_room_contains_gt_roots(data):
    import json

    seq = data / "panoptic_mmpose_subset" / "160906_band1"
    cams = load_panoptic_calibration(seq / "calibration_160906_band1.json",
                                     camera_names=["00_03", "00_06", "00_12", "00_13", "00_23"])
    grid = propose_room(cams)
    for f in sorted((seq / "hdPose3d_stage1_coco19").glob("*.json")):
        for body in json.loads(f.read_text())["bodies"]:
            j = np.asarray(body["joints19"], dtype=float).reshape(-1, 4)
            assert grid.contains(panoptic_world_to_ours(j[2, :3]))
