"""The on-disk dataset format: write → read round trip, validation, GT separation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from selfpose3d_core.data.dataset import (
    DATASET_FORMAT,
    DatasetMeta,
    DatasetWriter,
    GroundTruth3D,
    MultiViewDataset,
    ViewKeypoints,
    has_ground_truth,
    load_ground_truth,
)
from selfpose3d_core.data.frames import SkeletonFrame
from selfpose3d_core.geometry import Camera
from selfpose3d_core.synthetic import SynthConfig, SyntheticScene, synthesize


def _cameras(n=3, w=96, h=64):
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n
        cams.append(Camera.look_at([3 * np.cos(a), 3 * np.sin(a), 2.6], [0, 0, 1], fx=80.0 + i,
                                   width=w, height=h, dist=[-0.1 * i, 0.01, 1e-4, 0, 0],
                                   name=f"view_{i}"))
    return cams


def _image(f: int, v: int) -> np.ndarray:
    """A smooth test image (JPEG-friendly) with a pure red block at the top left."""
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.stack([xx * 2 + 10 * f, yy * 3 + 20 * v, 255 - xx - yy], -1).clip(0, 255)
    img[:16, :16] = (230, 20, 20)
    return img.astype(np.uint8)


def _write(root: Path, num_frames=5, with_gt=True, images=True, seed=0):
    rng = np.random.default_rng(seed)
    cams = _cameras()
    meta = DatasetMeta(fps=12.5, description="test", source={"type": "test", "n": 1})
    written = []
    with DatasetWriter(root, cams, meta) as w:
        for f in range(num_frames):
            kps = []
            for _v in cams:
                P = int(rng.integers(0, 4))
                kps.append(ViewKeypoints(rng.uniform(0, 90, (P, 17, 2)),
                                         rng.uniform(0, 1, (P, 17)), rng.uniform(0, 1, P)))
            imgs = ([_image(f, v) for v in range(len(cams))]
                    if images and f % 2 == 0 else None)
            P = int(rng.integers(0, 3))
            gt = SkeletonFrame(ids=np.arange(P) + 10 * f, joints=rng.normal(0, 1, (P, 15, 3)),
                               valid=np.ones((P, 15), bool)) if with_gt else None
            w.add_frame(0.08 * f, kps, imgs, gt)
            written.append((kps, imgs, gt))
    return cams, written


def test_round_trip(tmp_path: Path):
    root = tmp_path / "ds"
    cams, written = _write(root)
    ds = MultiViewDataset(root)
    assert ds.view_names == ("view_0", "view_1", "view_2") and ds.num_views == 3
    assert ds.num_frames == len(ds) == 5 and ds.fps == 12.5 and ds.joint_set == "coco17"
    assert ds.has_images and ds.meta.source == {"type": "test", "n": 1}
    np.testing.assert_allclose(ds.timestamps, 0.08 * np.arange(5))
    for a, b in zip(cams, ds.cameras):
        assert a.name == b.name and a.image_size == b.image_size
        for k in ("K", "R", "t", "dist"):
            np.testing.assert_allclose(getattr(a, k), getattr(b, k), atol=1e-9)
    for f, (kps, imgs, _) in enumerate(written):
        got = ds.keypoints(f)
        assert len(got) == 3
        for v in range(3):
            assert isinstance(got[v], ViewKeypoints)
            assert got[v].keypoints.shape == kps[v].keypoints.shape
            np.testing.assert_allclose(got[v].keypoints, kps[v].keypoints, atol=0.006)
            np.testing.assert_allclose(got[v].conf, kps[v].conf, atol=6e-5)
            np.testing.assert_allclose(got[v].scores, kps[v].scores, atol=6e-5)
            img = ds.image(f, ds.view_names[v])
            if imgs is None:
                assert img is None
            else:
                assert img.shape == (64, 96, 3) and img.dtype == np.uint8
                assert np.abs(img.astype(int) - imgs[v].astype(int)).mean() < 3
                r, _, b = img[8, 8].astype(int)
                assert r > b + 150  # RGB, not BGR
    gt = GroundTruth3D(root)
    assert gt.joint_set == "panoptic15" and len(gt) == 5
    for f, (_, _, g) in enumerate(written):
        np.testing.assert_array_equal(gt.frame(f).ids, g.ids)
        np.testing.assert_allclose(gt.frame(f).joints, g.joints, atol=6e-6)
    assert load_ground_truth(root).num_frames == 5 and has_ground_truth(root)


def test_dataset_does_not_see_ground_truth(tmp_path: Path):
    root = tmp_path / "ds"
    _write(root)
    ds = MultiViewDataset(root)
    names = [n for n in dir(ds) if not n.startswith("__") and (
        "gt" in n.lower() or "ground" in n.lower() or "truth" in n.lower())]
    assert names == []
    # a broken gt/ does not matter to the training dataset ...
    (root / "gt" / "poses3d.json").write_text("{ not json")
    MultiViewDataset(root).keypoints(0)
    with pytest.raises(ValueError, match="poses3d.json"):
        GroundTruth3D(root)
    # ... nor does a missing one
    (root / "gt" / "poses3d.json").unlink()
    (root / "gt").rmdir()
    ds = MultiViewDataset(root)
    assert ds.num_frames == 5 and not has_ground_truth(root)
    with pytest.raises(ValueError, match="missing"):
        load_ground_truth(root)


def _edit_yaml(root: Path, **changes):
    p = root / "dataset.yaml"
    d = yaml.safe_load(p.read_text())
    d.update(changes)
    p.write_text(yaml.safe_dump(d))


@pytest.mark.parametrize("changes, words", [
    ({"colour": "red"}, ["unknown keys", "colour"]),
    ({"format": "selfpose3d-dataset/0"}, ["format", "selfpose3d-dataset/0"]),
    ({"num_frames": 7}, ["frames.json", "7"]),
    ({"num_frames": -1}, ["num_frames", "-1"]),
    ({"fps": 0}, ["fps"]),
    ({"joint_set": "coco18"}, ["joint_set", "coco18"]),
    ({"views": ["view_0", "view_1", "other"]}, ["cameras.yaml", "other"]),
    ({"images": "yes"}, ["images", "yes"]),
])
def test_malformed_dataset_yaml(tmp_path: Path, changes, words):
    root = tmp_path / "ds"
    _write(root, num_frames=2, images=False)
    _edit_yaml(root, **changes)
    with pytest.raises(ValueError) as e:
        MultiViewDataset(root)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg


def test_malformed_files(tmp_path: Path):
    root = tmp_path / "ds"
    _write(root, num_frames=2, images=False)
    kp = root / "keypoints" / "view_1.json"
    entries = json.loads(kp.read_text()) or [{"image_id": 0, "category_id": 1,
                                              "keypoints": [0.0] * 51, "score": 1.0}]
    bad = dict(entries[0], keypoints=[1.0] * 50)
    kp.write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match=r"view_1\.json.*51 numbers"):
        MultiViewDataset(root)
    kp.write_text(json.dumps([dict(entries[0], image_id=5)]))
    with pytest.raises(ValueError, match="image_id"):
        MultiViewDataset(root)
    kp.write_text(json.dumps(entries))
    (root / "frames.json").write_text('{"frames": [{"index": 0, "timestamp": 1.0}, '
                                      '{"index": 1, "timestamp": 0.5}]}')
    with pytest.raises(ValueError, match="non-decreasing"):
        MultiViewDataset(root)
    (root / "dataset.yaml").unlink()
    with pytest.raises(ValueError, match="dataset.yaml"):
        MultiViewDataset(root)


def test_writer_validates(tmp_path: Path):
    cams = _cameras()
    meta = DatasetMeta(fps=10.0)
    w = DatasetWriter(tmp_path / "a", cams, meta)
    with pytest.raises(ValueError, match="2 views, expected 3"):
        w.add_frame(0.0, [ViewKeypoints.empty(17)] * 2)
    with pytest.raises(ValueError, match=r"\(P, 17, 2\)"):
        w.add_frame(0.0, [ViewKeypoints(np.zeros((1, 15, 2)), np.zeros((1, 15)),
                                        np.zeros(1))] * 3)
    with pytest.raises(ValueError, match="uint8"):
        w.add_frame(0.0, None, [np.zeros((64, 96, 3), np.float32)] * 3)
    w.add_frame(0.0, [ViewKeypoints.empty(17)] * 3)
    with pytest.raises(ValueError, match="timestamp"):
        w.add_frame(-1.0)
    with pytest.raises(ValueError, match="all frames or none"):
        w.add_frame(1.0, gt=SkeletonFrame(np.zeros(0, np.int64), np.zeros((0, 15, 3)),
                                          np.zeros((0, 15), bool)))
    w.close()
    assert MultiViewDataset(tmp_path / "a").num_frames == 1
    with pytest.raises(ValueError, match="overwrite"):
        DatasetWriter(tmp_path / "a", cams, meta)
    DatasetWriter(tmp_path / "a", cams, meta, overwrite=True).close()
    other = tmp_path / "b"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a dataset"):
        DatasetWriter(other, cams, meta, overwrite=True)
    with pytest.raises(ValueError, match="unique"):
        DatasetWriter(tmp_path / "c", [cams[0], cams[0]], meta)
    with pytest.raises(ValueError, match="fps"):
        DatasetMeta(fps=0.0)


def test_synthetic_dataset_reads_back(tmp_path: Path):
    cfg = SynthConfig(num_frames=4, image_width=160, image_height=120, seed=4)
    root = synthesize(cfg, tmp_path / "synth")
    ds = MultiViewDataset(root)
    scene = SyntheticScene(cfg)
    assert ds.view_names == scene.view_names and ds.joint_set == "coco17"
    assert ds.meta.source["type"] == "synthetic"
    assert SynthConfig.from_dict(ds.meta.source["config"]) == cfg
    assert (root / "dataset.yaml").read_text().startswith(f"format: {DATASET_FORMAT}")
    for a, b in zip(scene.cameras, ds.cameras):
        np.testing.assert_allclose(a.K, b.K, atol=1e-9)
        np.testing.assert_allclose(a.R, b.R, atol=1e-9)
        np.testing.assert_allclose(a.t, b.t, atol=1e-9)
        np.testing.assert_allclose(a.dist, b.dist, atol=1e-11)
    fr = scene.frame(2, render_images=False)
    for v, kp in enumerate(ds.keypoints(2)):
        np.testing.assert_allclose(kp.keypoints, fr.detections[v].keypoints, atol=0.006)
        np.testing.assert_allclose(kp.scores, fr.detections[v].scores, atol=6e-5)
    img = ds.image(2, "cam1")
    assert img.shape == (120, 160, 3)
    gt = GroundTruth3D(root).frame(2)
    np.testing.assert_array_equal(gt.ids, fr.ids)
    np.testing.assert_allclose(gt.joints, fr.joints, atol=6e-6)
