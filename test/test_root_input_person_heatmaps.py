"""Root input (peak-preserving dilation, fusion over live views, per-axis NMS window) and
detections mode's per-proposal heatmaps (assignment of detections to proposals)."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import ring_rig

from selfpose3d_core.geometry import stack_cameras
from selfpose3d_core.geometry.affine import letterbox_affine
from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.geometry.unproject import sampling_grid, unproject
from selfpose3d_core.models import ModelConfig, build_model, model_preset, root_proposals
from selfpose3d_core.models.estimator import Estimator, duplicate_skeletons
from selfpose3d_core.models.pipeline import estimate_poses, room_input
from selfpose3d_core.models.root_net import merge_proposals
from selfpose3d_core.person_heatmaps import assign_detections, person_heatmaps
from selfpose3d_core.render import gaussian_dilate, render_heatmaps

torch.set_num_threads(2)


class TestGaussianDilate:
    def test_peak_kept_width_grows(self):
        uv = torch.tensor([[[20.0, 15.0]]])  # (P, J, 2), integer centre
        w = torch.full((1, 1), 0.7)
        a = render_heatmaps(uv, w, 40, 50, 2.0)  # (1, 40, 50)
        b = gaussian_dilate(a, 4.0)
        expect = render_heatmaps(uv, w, 40, 50, (2.0 ** 2 + 4.0 ** 2) ** 0.5)
        assert float(b.max()) == pytest.approx(0.7, abs=1e-6)  # a convolution: 0.7 / 5
        # the max runs over pixel centres, not over the continuum: ≤ 5 % of the peak low
        torch.testing.assert_close(b, expect, atol=0.035, rtol=0)
        assert (b <= expect + 1e-6).all()

    def test_separate_blobs_do_not_add(self):
        uv = torch.tensor([[[10.0, 10.0]], [[16.0, 10.0]]])  # two people, one joint
        a = render_heatmaps(uv, torch.ones(2, 1), 20, 30, 1.0)
        b = gaussian_dilate(a, 3.0)
        assert float(b.max()) <= 1.0 + 1e-6
        assert float(b[0, 10, 13]) < 1.0  # between them: less than either peak

    def test_zero_sigma_and_shapes(self):
        x = torch.rand(2, 3, 1, 12, 16)
        assert gaussian_dilate(x, 0.0) is x
        y = gaussian_dilate(x, 1.5)
        assert y.shape == x.shape and (y >= x - 1e-7).all()
        with pytest.raises(ValueError, match="sigma"):
            gaussian_dilate(x, -1.0)


class TestRootFusion:
    def test_views_normalisation(self):
        cams = ring_rig(3, distortion=False)
        ct = stack_cameras(cams)
        A = torch.as_tensor(np.stack([letterbox_affine(c.image_size, (64, 48)) for c in cams]),
                            dtype=torch.float32)[None]  # (1, V, 2, 3)
        pts = torch.tensor([[[0.0, 0.0, 1.0]]])  # (1, N, 3)
        sg = sampling_grid(pts, ct, A, (64, 48), (16, 12))
        hm = torch.zeros(1, 3, 1, 12, 16)
        hm[:, 0] = 1.0  # only view 0 fires (everywhere)
        mean = unproject(hm, sg)
        frac = unproject(hm, sg, num_views=torch.tensor([3.0]))
        assert float(mean) == pytest.approx(1 / 3, abs=1e-4)  # all three see the point
        assert float(frac) == pytest.approx(1 / 3, abs=1e-4)
        # view 2 cannot see it: the mean rises to 1/2, the fraction of the rig stays 1/3
        sg2 = type(sg)(sg.grid, sg.mask * torch.tensor([1.0, 1.0, 0.0])[None, :, None])
        assert float(unproject(hm, sg2)) == pytest.approx(0.5, abs=1e-4)
        assert float(unproject(hm, sg2, num_views=torch.tensor([3.0]))) == pytest.approx(
            1 / 3, abs=1e-4)
        with pytest.raises(ValueError, match="num_views"):
            unproject(hm, sg, num_views=torch.ones(2))

    def test_room_input_modes(self):
        cams = ring_rig(4, distortion=False)
        base = dataclasses.replace(model_preset("small"), room=VoxelGrid(
            center=(0, 0, 1), size=(2, 2, 1.2), shape=(12, 12, 8)))
        ct = stack_cameras(cams)
        A = torch.as_tensor(np.stack([letterbox_affine(c.image_size, base.input_size)
                                      for c in cams]), dtype=torch.float32)[None]
        hm = torch.zeros(1, 4, 1, 96, 128)
        hm[0, :, 0, 40:56, 56:72] = 1.0
        mean_cfg = dataclasses.replace(base, root_fusion="mean", root_dilate_px=0.0)
        views_cfg = dataclasses.replace(base, root_fusion="views", root_dilate_px=0.0)
        a = room_input(mean_cfg, hm, ct, A)
        b = room_input(views_cfg, hm, ct, A)
        assert a.shape == b.shape == (1, 12, 12, 8)
        assert (b <= a + 1e-6).all() and float(b.max()) == pytest.approx(1.0, abs=1e-4)
        # a dead camera: the fraction is over the live views
        mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
        c = room_input(views_cfg, hm, ct, A, view_mask=mask)
        assert float(c.max()) == pytest.approx(1.0, abs=1e-4)
        wide = room_input(dataclasses.replace(views_cfg, root_dilate_px=3.0), hm, ct, A)
        assert (wide >= b - 1e-6).all() and float(wide.sum()) > float(b.sum())


class TestConfigAndNms:
    def test_new_fields_validate_and_round_trip(self):
        cfg = model_preset("small")
        assert (cfg.root_fusion, cfg.root_dilate_px, cfg.detection_gate) == ("views", 4.0, 0.3)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        old = {k: v for k, v in cfg.to_dict().items()
               if k not in ("root_fusion", "root_dilate_px", "detection_gate")}
        legacy = ModelConfig.from_dict(old)  # checkpoints from before these fields
        assert (legacy.root_fusion, legacy.root_dilate_px, legacy.detection_gate) == (
            "mean", 0.0, 0.0)
        with pytest.raises(ValueError, match="root_fusion"):
            dataclasses.replace(cfg, root_fusion="max")
        with pytest.raises(ValueError, match="root_dilate_px"):
            dataclasses.replace(cfg, root_dilate_px=-1)
        with pytest.raises(ValueError, match="detection_gate"):
            dataclasses.replace(cfg, detection_gate=-0.1)

    def test_nms_window_per_axis(self):
        cfg = dataclasses.replace(model_preset("small"), nms_radius=0.3, room=VoxelGrid(
            center=(0, 0, 1), size=(6.6, 6.6, 2.0), shape=(44, 44, 16)))
        # pitch 0.1535 m horizontally, 0.133 m vertically: ±2 and ±3 voxels
        assert cfg.nms_kernel == (5, 5, 7)
        g = cfg.room
        vol = torch.zeros(1, *g.shape)
        vol[0, 10, 10, 8], vol[0, 13, 10, 8] = 0.9, 0.8  # 0.46 m apart horizontally
        vol[0, 30, 30, 4], vol[0, 30, 30, 7] = 0.9, 0.8  # 0.4 m apart vertically
        p = root_proposals(vol, g, 4, 0.1, nms_kernel=cfg.nms_kernel)
        assert p.valid[0].sum() == 3  # both neighbours kept, the vertical twin suppressed
        p1 = root_proposals(vol, g, 4, 0.1, nms_kernel=7)  # one window from the finest pitch
        assert p1.valid[0].sum() == 2
        with pytest.raises(ValueError, match="nms_kernel"):
            root_proposals(vol, g, 4, 0.1, nms_kernel=(3, 4, 3))


class TestInputFallback:
    """``root_input_threshold``: peaks of root_net's input that no root_net proposal
    explains are added as proposals."""

    def test_merge_proposals(self):
        g = VoxelGrid(center=(0, 0, 1), size=(4, 4, 2), shape=(20, 20, 10))
        net = torch.zeros(2, *g.shape)
        net[0, 5, 5, 5], net[0, 15, 15, 5] = 0.9, 0.05  # one confident person, one weak
        inp = torch.zeros(2, *g.shape)
        inp[0, 5, 6, 5], inp[0, 15, 15, 5], inp[0, 10, 2, 2] = 0.6, 0.5, 0.2
        inp[1, 3, 3, 3] = 0.7  # frame 1: root_net found nobody
        a = root_proposals(net, g, 4, 0.1)
        b = root_proposals(inp, g, 4, 0.3)
        m = merge_proposals(a, b, radius=0.3, max_people=3)
        assert m.centers.shape == (2, 3, 3) and m.valid.tolist() == [
            [True, True, False], [True, False, False]]
        # frame 0: root_net's person, then the weak one from the input (the input's peak
        # 0.2 m from root_net's person and the one below its threshold are not added)
        assert m.scores[0, :2].tolist() == pytest.approx([0.9, 0.5])
        torch.testing.assert_close(m.centers[0, 1], b.centers[0, 1])
        torch.testing.assert_close(m.centers[1, 0], b.centers[1, 0])
        assert m.index[1, 0].tolist() == [3, 3, 3]
        # nothing extra: the primary proposals unchanged
        none = root_proposals(inp, g, 4, 0.99)
        same = merge_proposals(a, none, 0.3, 4)
        assert same.valid.tolist() == a.valid.tolist()
        torch.testing.assert_close(same.centers[same.valid], a.centers[a.valid])
        torch.testing.assert_close(same.scores[same.valid], a.scores[a.valid])
        with pytest.raises(ValueError, match="batch"):
            merge_proposals(a, root_proposals(inp[:1], g, 4, 0.3), 0.3, 4)

    def test_config_and_estimator(self):
        assert model_preset("small").root_input_threshold is None
        with pytest.raises(ValueError, match="root_input_threshold"):
            dataclasses.replace(model_preset("small"), root_input_threshold=1.5)
        cams, ct, uv, conf, people = _two_people_scene()
        cfg = dataclasses.replace(model_preset("small"), room=VoxelGrid(
            center=(0, 0, 1), size=(4, 4, 2), shape=(24, 24, 12)), max_people=4,
            detection_gate=0.3)
        torch.manual_seed(0)
        model = build_model(cfg)
        torch.nn.init.zeros_(model.root_net.v2v.out.weight)  # root_net finds nobody
        torch.nn.init.zeros_(model.root_net.v2v.out.bias)
        est = Estimator(model, cams, threshold=0.5)
        assert len(est.estimate_from_detections(uv, conf, 2.0, 0.2)[0].joints) == 0
        fb = Estimator(build_model(dataclasses.replace(cfg, root_input_threshold=0.5)), cams,
                       threshold=0.5)
        fb.model.load_state_dict(model.state_dict())
        out = fb.estimate_from_detections(uv, conf, 2.0, 0.2)[0]
        assert len(out.roots) == 2  # both people, from the fused input alone
        d = np.linalg.norm(out.roots[:, None] - people[None, :, 2], axis=-1)  # (2, 2)
        assert d.min(1).max() < 0.25


class TestDuplicatesAndFallbackWindow:
    """``duplicate_radius`` (skeleton-level NMS) and ``root_input_nms_radius``."""

    def test_duplicate_skeletons(self):
        rng = np.random.default_rng(1)
        a = rng.uniform(-0.5, 0.5, (15, 3))
        joints = np.stack([a, a + 0.03, a + [1.0, 0, 0], a + 0.02, a])[None]  # (1, 5, J, 3)
        joints[0, 3, :5] = np.nan  # a duplicate with missing joints still counts
        scores = np.array([[0.5, 0.9, 0.8, 0.3, 0.4]])
        valid = np.array([[True, True, True, True, False]])
        dup = duplicate_skeletons(joints, scores, valid, 0.1)
        # 1 (0.9) and 2 (0.8, 1 m away) stay; 0 and 3 repeat 1; 4 is not valid
        assert dup.tolist() == [[True, False, False, True, False]]
        # fast NMS: compared with every higher-ranked valid person, suppressed or not
        assert not duplicate_skeletons(joints, scores, valid, 0.01).any()
        # order-invariant: permuting the people permutes the answer
        perm = rng.permutation(5)
        dup_p = duplicate_skeletons(joints[:, perm], scores[:, perm], valid[:, perm], 0.1)
        assert dup_p.tolist() == dup[:, perm].tolist()
        # ties: the earlier one is kept
        two = np.stack([a, a])[None]
        assert duplicate_skeletons(two, np.ones((1, 2)), np.ones((1, 2), bool),
                                   0.1).tolist() == [[False, True]]
        with pytest.raises(ValueError, match="duplicate_skeletons"):
            duplicate_skeletons(joints[0], scores, valid, 0.1)

    def test_config(self):
        cfg = dataclasses.replace(model_preset("small"), room=VoxelGrid(
            center=(0, 0, 1), size=(6, 6, 2), shape=(40, 40, 16)), nms_radius=0.3)
        assert cfg.root_input_nms_radius == 0.15 and cfg.duplicate_radius == 0.1
        assert cfg.nms_kernel == (5, 5, 7) and cfg.input_nms_kernel == (3, 3, 5)
        assert dataclasses.replace(cfg, root_input_nms_radius=None).input_nms_kernel == (
            5, 5, 7)
        for name in ("root_input_nms_radius", "duplicate_radius"):
            with pytest.raises(ValueError, match=name):
                dataclasses.replace(cfg, **{name: 0.0})

    def test_estimator_drops_a_duplicate_proposal(self):
        """Two root proposals on one person give one skeleton with ``duplicate_radius``."""
        cams, ct, uv, conf, people = _two_people_scene()
        uv, conf = uv[:, :, :1], conf[:, :, :1]  # one person
        cfg = dataclasses.replace(model_preset("small"), room=VoxelGrid(
            center=(0, 0, 1), size=(4, 4, 2), shape=(24, 24, 12)), max_people=4,
            detection_gate=0.3, nms_radius=0.1)
        torch.manual_seed(0)
        model = build_model(cfg)
        est = Estimator(model, cams, threshold=0.0)
        hm = est.estimate_from_detections(uv, conf, 2.0, 0.2)[0]
        assert len(hm.joints) >= 2  # threshold 0: several peaks of an untrained root_net
        ded = Estimator(build_model(dataclasses.replace(cfg, duplicate_radius=1e3)), cams,
                        threshold=0.0)
        ded.model.load_state_dict(model.state_dict())
        out = ded.estimate_from_detections(uv, conf, 2.0, 0.2)[0]
        assert len(out.joints) == 1  # everything within 1 km of the best one is dropped
        np.testing.assert_allclose(out.joints[0], hm.joints[np.argmax(hm.root_scores)],
                                   atol=1e-5)


def _two_people_scene():
    """Two people 1.2 m apart seen by 4 cameras: detections (1, V, 2, J, 2), conf, roots."""
    cams = ring_rig(4, distortion=False)
    ct = stack_cameras(cams)
    J = 15
    rng = np.random.default_rng(0)
    body = rng.uniform(-0.3, 0.3, (J, 3)) * [1, 1, 2.5] + [0, 0, 1.0]
    body[2] = [0, 0, 1.0]  # the root joint at the origin of each person
    people = np.stack([body + [-0.6, 0, 0], body + [0.6, 0, 0]])  # (2, J, 3)
    uv = np.stack([c.project(people.reshape(-1, 3)).reshape(2, J, 2) for c in cams])
    conf = np.full(uv.shape[:-1], 0.9)
    return cams, ct, torch.tensor(uv[None], dtype=torch.float32), \
        torch.tensor(conf[None], dtype=torch.float32), people


class TestPersonHeatmaps:
    def test_assignment(self):
        cams, ct, uv, conf, people = _two_people_scene()
        centers = torch.tensor(np.stack([people[1, 2], people[0, 2], [3.5, 3.5, 1.0]])[None],
                               dtype=torch.float32)  # (1, K=3, 3): person 1, 0, nobody
        sel = assign_detections(centers, uv, conf, ct, root_joint=2, min_conf=0.2, gate=0.3)
        assert sel.shape == (1, 3, 4, 2)
        assert (sel[0, 0, :, 1] == 1).all() and (sel[0, 0, :, 0] == 0).all()
        assert (sel[0, 1, :, 0] == 1).all() and (sel[0, 1, :, 1] == 0).all()
        assert (sel[0, 2] == 0).all()  # no detection near a proposal in the corner
        # without a confident root the detection's centre is the anchor
        conf2 = conf.clone()
        conf2[..., 2] = 0.0
        sel2 = assign_detections(centers[:, :2], uv, conf2, ct, 2, 0.2, gate=0.5)
        assert torch.equal(sel2, sel[:, :2])
        # too few confident joints: never assigned
        conf3 = conf.clone()
        conf3[..., 2:] = 0.0  # 2 < MIN_JOINTS
        assert assign_detections(centers, uv, conf3, ct, 2, 0.2, 0.3).sum() == 0
        with pytest.raises(ValueError, match="assign_detections"):
            assign_detections(centers[0], uv, conf, ct, 2, 0.2, 0.3)

    def test_maps_hold_one_person_and_poses_follow(self):
        cams, ct, uv, conf, people = _two_people_scene()
        cfg = dataclasses.replace(model_preset("small"), detection_gate=0.3)
        A = torch.as_tensor(np.stack([letterbox_affine(c.image_size, cfg.input_size)
                                      for c in cams]), dtype=torch.float32)[None]
        centers = torch.tensor(people[None, :, 2], dtype=torch.float32)  # (1, 2, 3)
        ph = person_heatmaps(centers, uv, conf, ct, A, cfg, sigma=2.0, min_conf=0.2)
        assert ph.shape == (1, 2, 4, 15, 96, 128)
        alone = person_heatmaps(centers[:, :1], uv[:, :, :1], conf[:, :, :1], ct, A, cfg,
                                2.0, 0.2)
        torch.testing.assert_close(ph[:, :1], alone)  # person 0's maps: person 0 only
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        with torch.no_grad():
            own = estimate_poses(cfg, model.pose_net, ph[:, 0], ct, A, centers,
                                 person_heatmaps=ph)
            ref = estimate_poses(cfg, model.pose_net, alone[:, 0], ct, A, centers[:, :1])
        assert own.joints.shape == (1, 2, 15, 3)
        torch.testing.assert_close(own.joints[:, :1], ref.joints, atol=1e-4, rtol=0)
        err = (own.joints[0] - torch.tensor(people, dtype=torch.float32)).norm(dim=-1)
        assert float(err.median()) < 0.05  # the untrained skip finds each person's joints
        with pytest.raises(ValueError, match="person_heatmaps"):
            estimate_poses(cfg, model.pose_net, ph[:, 0], ct, A, centers,
                           person_heatmaps=ph[:, :1])

    def test_estimator_from_detections(self):
        cams, ct, uv, conf, people = _two_people_scene()
        cfg = dataclasses.replace(model_preset("small"), room=VoxelGrid(
            center=(0, 0, 1), size=(4, 4, 2), shape=(24, 24, 12)), max_people=2,
            detection_gate=0.3)
        torch.manual_seed(0)
        est = Estimator(build_model(cfg), cams, threshold=float("-inf"))
        out = est.estimate_from_detections(uv, conf, sigma=2.0, min_conf=0.2)
        assert len(out) == 1 and out[0].joints.shape == (2, 15, 3)
        assert np.isfinite(out[0].joints).all()
        with pytest.raises(ValueError, match="detections"):
            est.estimate_from_detections(uv[0], conf[0], 2.0, 0.2)
