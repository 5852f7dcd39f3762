"""The PNG overlay of a dataset frame with predicted 3D skeletons (selfpose3d_core.visualize)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from selfpose3d_core.data.dataset import GroundTruth3D, MultiViewDataset
from selfpose3d_core.models.estimator import Skeletons
from selfpose3d_core.synthetic import SynthConfig, synthesize
from selfpose3d_core.visualize import (
    HEADER_HEIGHT,
    TILE_WIDTH,
    draw_overlay,
    person_color,
    render_overlay,
)

FRAME = 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    cfg = SynthConfig.from_dict({"num_frames": 3, "image_width": 320, "image_height": 240})
    return synthesize(cfg, tmp_path_factory.mktemp("vis") / "ds")


def _skeletons(joints: np.ndarray) -> Skeletons:
    P = joints.shape[0]
    return Skeletons(joints=joints, confidence=np.ones((P, 15)),
                     root_scores=np.linspace(0.9, 0.5, P), roots=joints[:, 2].copy())


def _gt_skeletons(root: Path, frame: int = FRAME) -> Skeletons:
    return _skeletons(GroundTruth3D(root).frame(frame).joints)


def _tile_height(ds: MultiViewDataset) -> int:
    return max(int(round(c.height * TILE_WIDTH / c.width)) for c in ds.cameras)


def _colour_hits(png: np.ndarray, ds: MultiViewDataset, joints: np.ndarray) -> list[float]:
    """Per person: the fraction of its joints visible in view 0 that have the person's
    colour within 2 px of their projected position in the mosaic."""
    cam = ds.cameras[0]
    s = TILE_WIDTH / cam.width
    fractions = []
    for p in range(joints.shape[0]):
        uv = cam.project(joints[p])
        seen = (cam.world_to_camera(joints[p])[:, 2] > 0.1) & cam.in_image(uv, margin=-4)
        if seen.sum() < 3:
            continue
        col = np.array(person_color(p))
        hits = 0
        for u, v in uv[seen]:
            x, y = int(round((u + 0.5) * s - 0.5)), int(round(HEADER_HEIGHT + (v + 0.5) * s - 0.5))
            win = png[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).astype(int)
            hits += bool((np.abs(win - col).max(-1) <= 25).any())
        fractions.append(hits / seen.sum())
    return fractions


class TestRenderOverlay:
    def test_predictions_drawn_at_projected_joints(self, dataset: Path, tmp_path: Path):
        ds = MultiViewDataset(dataset)
        pred = _gt_skeletons(dataset)
        assert pred.num_people >= 1
        out = render_overlay(dataset, FRAME, tmp_path / "o.png", predictions=pred,
                             title="test")
        bgr = cv2.imread(str(out))
        assert bgr is not None
        png = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        th = _tile_height(ds)
        rows = math.ceil((ds.num_views + 1) / 3)
        assert png.shape[1] == 3 * TILE_WIDTH
        # header, the view grid, the 3D panel (two tile rows), one or two legend lines
        assert png.shape[0] - (HEADER_HEIGHT + rows * th + 2 * th) in (26, 52, 78)
        hits = _colour_hits(png, ds, pred.joints)
        assert hits and min(hits) >= 0.8, hits
        # control: without predictions these colours are not at the joints
        plain = draw_overlay(ds, FRAME, None, draw_gt=True, draw_pseudo=False)
        assert max(_colour_hits(plain, ds, pred.joints)) < 0.5

    def test_no_predictions_is_the_plain_mosaic(self, dataset: Path):
        ds = MultiViewDataset(dataset)
        plain = draw_overlay(ds, FRAME)
        assert plain.shape[0] == HEADER_HEIGHT + 2 * _tile_height(ds) + 26

    def test_zero_people(self, dataset: Path, tmp_path: Path):
        ds = MultiViewDataset(dataset)
        empty = _skeletons(np.zeros((0, 15, 3)))
        img = cv2.imread(str(render_overlay(ds, 0, tmp_path / "e.png", predictions=empty)))
        assert img is not None and img.shape[1] == 3 * TILE_WIDTH
        assert img.shape[0] > HEADER_HEIGHT + 4 * _tile_height(ds)

    def test_without_images_or_ground_truth(self, tmp_path: Path):
        cfg = SynthConfig.from_dict({"num_frames": 2, "num_cameras": 3, "image_width": 160,
                                     "image_height": 120})
        root = synthesize(cfg, tmp_path / "ds", write_images=False)
        pred = _gt_skeletons(root, 1)
        shutil.rmtree(root / "gt")
        png = draw_overlay(root, 1, pred, title="no images")
        assert png.shape[1] == 2 * TILE_WIDTH  # 3 views + top view → 2 columns
        tile = png[HEADER_HEIGHT:HEADER_HEIGHT + 360, :TILE_WIDTH]
        assert (tile == 96).all(-1).mean() > 0.5  # grey tile
        ds = MultiViewDataset(root)
        hits = _colour_hits(png, ds, pred.joints)
        assert hits and min(hits) >= 0.8, hits

    def test_joints_behind_or_outside_cameras(self, dataset: Path):
        far = np.zeros((2, 15, 3))
        far[0] = [0.0, 0.0, 12.0]  # above every camera: behind them all
        far[1] = [40.0, -3.0, 1.0]  # far outside every field of view
        far += np.random.default_rng(0).normal(0, 0.2, far.shape)
        png = draw_overlay(dataset, 0, _skeletons(far))
        assert png.ndim == 3 and png.dtype == np.uint8

    @pytest.mark.parametrize("joints, confidence, words", [
        (np.zeros((2, 17, 3)), np.zeros((2, 17)), "(P, 15, 3)"),
        (np.zeros((2, 15, 3)), np.zeros((3, 15)), "confidence"),
        (np.full((1, 15, 3), np.nan), np.zeros((1, 15)), "finite"),
    ])
    def test_rejects_bad_predictions(self, dataset: Path, joints, confidence, words):
        bad = Skeletons(joints, confidence, np.zeros(joints.shape[0]), np.zeros((2, 3)))
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            draw_overlay(dataset, 0, bad)

    def test_rejects_frame_out_of_range(self, dataset: Path, tmp_path: Path):
        with pytest.raises(ValueError, match="out of range"):
            render_overlay(dataset, 3, tmp_path / "x.png")
