"""Networks: shapes, gradients, V2V size checks and size, root proposals, soft-argmax,
configs (round trip, unknown keys), the backbone registry and weight loading."""

import dataclasses
import logging

import numpy as np
import pytest
import torch
import yaml

from selfpose3d_core.geometry.grid import VoxelGrid
from selfpose3d_core.models import (
    BackboneConfig,
    CubeConfig,
    HeatmapNet2D,
    ModelConfig,
    PoseNet,
    ResNet,
    RootNet,
    V2VConfig,
    V2VNet,
    attn_net_2d,
    available_backbones,
    build_model,
    count_parameters,
    get_backbone_spec,
    heatmap_net_2d,
    load_weights,
    model_from_checkpoint,
    model_preset,
    register_backbone,
    root_proposals,
    soft_argmax_3d,
)

torch.set_num_threads(2)

SMALL = model_preset("small")
TINY_V2V = (4, 8, 8, 16)


def _narrow(num_joints: int = 15, **kw) -> BackboneConfig:
    return BackboneConfig(name="resnet18-narrow", num_joints=num_joints, **kw)


def _assert_all_grads(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient for {name}"


def _blobs(grid: VoxelGrid, centres_idx, peaks, sigma: float = 1.5) -> torch.Tensor:
    """(X, Y, Z) max of Gaussians (σ in voxels) at fractional voxel indices."""
    ix = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float64)
                                      for n in grid.shape], indexing="ij"), -1)
    vol = torch.zeros(grid.shape, dtype=torch.float64)
    for c, a in zip(centres_idx, peaks):
        d2 = ((ix - torch.tensor(c, dtype=torch.float64)) ** 2).sum(-1)
        vol = torch.maximum(vol, a * torch.exp(-d2 / (2 * sigma ** 2)))
    return vol.float()


class TestBackbone:
    # standard trunk sizes (the ImageNet classifiers without their fc layer)
    @pytest.mark.parametrize("name, out_ch, params", [
        ("resnet18", 512, 11_176_512), ("resnet34", 512, 21_284_672),
        ("resnet50", 2048, 23_508_032)])
    def test_standard_trunks(self, name, out_ch, params):
        trunk = get_backbone_spec(name).build()
        assert isinstance(trunk, ResNet)
        assert trunk.out_channels == out_ch
        assert count_parameters(trunk) == params
        with torch.no_grad():
            assert trunk.eval()(torch.rand(1, 3, 64, 96)).shape == (1, out_ch, 2, 3)

    @pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet18-narrow"])
    def test_heatmap_shapes(self, name):
        net = heatmap_net_2d(BackboneConfig(name=name, num_joints=15)).eval()
        with torch.no_grad():
            out = net(torch.rand(2, 3, 64, 96))
        assert out.shape == (2, 15, 16, 24)

    def test_small_preset_five_views_and_leading_dims(self):
        net = heatmap_net_2d(SMALL.backbone_config()).eval()
        W, H = SMALL.input_size
        imgs = torch.rand(1, 5, 3, H, W)  # (B, V, 3, H, W)
        with torch.no_grad():
            out = net(imgs)
            flat = net(imgs[0])
        assert out.shape == (1, 5, 15, *SMALL.heatmap_size[::-1])
        torch.testing.assert_close(out[0], flat)

    def test_uint8_equals_float(self):
        net = heatmap_net_2d(_narrow(3)).eval()
        img = torch.randint(0, 256, (1, 3, 32, 64), dtype=torch.uint8)
        with torch.no_grad():
            torch.testing.assert_close(net(img), net(img.float() / 255))

    def test_normalisation_buffers_not_in_state_dict(self):
        net = heatmap_net_2d(_narrow())
        assert not any(k in net.state_dict() for k in ("mean", "std"))

    def test_rejects_bad_inputs(self):
        net = heatmap_net_2d(_narrow())
        with pytest.raises(ValueError, match="divisible by 32"):
            net(torch.rand(1, 3, 60, 64))
        with pytest.raises(ValueError, match=r"\(\*, 3, H, W\)"):
            net(torch.rand(1, 1, 64, 64))

    def test_deconv_width(self):
        default = heatmap_net_2d(_narrow())
        wide = heatmap_net_2d(_narrow(deconv_channels=32))
        assert default.final.in_channels == get_backbone_spec("resnet18-narrow").deconv_channels
        assert wide.final.in_channels == 32

    def test_gradients(self):
        net = heatmap_net_2d(_narrow(4)).train()
        out = net(torch.rand(2, 3, 64, 64))
        ((out - torch.rand_like(out)) ** 2).mean().backward()
        _assert_all_grads(net)

    def test_attention_net(self):
        net = attn_net_2d(_narrow(15))
        assert net.config.activation == "sigmoid"
        out = net(torch.rand(2, 3, 64, 64))
        assert out.shape == (2, 15, 16, 16)
        assert (out > 0).all() and (out < 1).all()
        ((out - 1) ** 2).mean().backward()
        _assert_all_grads(net)
        assert attn_net_2d().config.name == "resnet18"


class TestRegistry:
    def test_unknown_name_lists_names(self):
        with pytest.raises(ValueError, match="resnet18-narrow") as err:
            get_backbone_spec("resnet9000")
        assert all(n in str(err.value) for n in available_backbones())
        with pytest.raises(ValueError, match="resnet9000"):
            HeatmapNet2D(BackboneConfig(name="resnet9000"))

    def test_register(self):
        spec = get_backbone_spec("resnet18-narrow")
        with pytest.raises(ValueError, match="already registered"):
            register_backbone("resnet18-narrow", spec)


class TestWeights:
    def test_round_trip_through_file(self, tmp_path):
        src = heatmap_net_2d(_narrow())
        path = tmp_path / "net.pt"
        torch.save(src.state_dict(), path)
        dst = heatmap_net_2d(_narrow(pretrained=str(path)))
        for k, v in src.state_dict().items():
            torch.testing.assert_close(dst.state_dict()[k], v)
        assert dst.load_pretrained(path).complete

    def test_mismatch_reported(self, tmp_path, caplog):
        path = tmp_path / "coco17.pt"
        torch.save({"state_dict": heatmap_net_2d(_narrow(17)).state_dict()}, path)
        dst = heatmap_net_2d(_narrow(15))
        before = dst.final.weight.clone()
        with caplog.at_level(logging.WARNING):
            report = dst.load_pretrained(path)
        assert report.mismatched == ["final.bias", "final.weight"]
        assert not report.missing and not report.unexpected and not report.complete
        assert "final.weight" in caplog.text
        torch.testing.assert_close(dst.final.weight, before)  # left as initialised

    def test_trunk_only_file(self, tmp_path, caplog):
        src = heatmap_net_2d(_narrow())
        state = dict(src.backbone.state_dict())
        state["fc.weight"] = torch.zeros(10, src.backbone.out_channels)
        path = tmp_path / "trunk.pt"
        torch.save(state, path)
        dst = heatmap_net_2d(_narrow())
        with caplog.at_level(logging.WARNING):
            report = dst.load_pretrained(path)
        assert report.unexpected == ["fc.weight"] and not report.missing
        assert "fc.weight" in caplog.text
        torch.testing.assert_close(dst.backbone.conv1.weight, src.backbone.conv1.weight)

    def test_missing_keys(self):
        net = RootNet(V2VConfig(channels=TINY_V2V))
        state = {k: v for k, v in net.state_dict().items() if not k.startswith("v2v.out.")}
        report = load_weights(RootNet(V2VConfig(channels=TINY_V2V)), state)
        assert report.missing == ["v2v.out.bias", "v2v.out.weight"]


class TestV2V:
    def test_shapes_and_gradients(self):
        net = V2VNet(V2VConfig(channels=TINY_V2V, in_channels=3, out_channels=2)).train()
        out = net(torch.rand(2, 3, 8, 12, 16))
        assert out.shape == (2, 2, 8, 12, 16)
        out.square().mean().backward()
        _assert_all_grads(net)

    @pytest.mark.parametrize("shape", [(8, 8, 6), (10, 8, 8), (8, 9, 8)])
    def test_rejects_non_divisible(self, shape):
        net = V2VNet(V2VConfig(channels=TINY_V2V))
        with pytest.raises(ValueError, match="divisible by 4"):
            net(torch.rand(1, 1, *shape))

    def test_rejects_wrong_channels(self):
        with pytest.raises(ValueError, match=r"\(N, 1, X, Y, Z\)"):
            V2VNet(V2VConfig(channels=TINY_V2V))(torch.rand(1, 2, 8, 8, 8))

    def test_paper_size_parameter_count(self):
        # reference ≈ 3.2 M; ours: 3,239,473 (root_net, 1 → 1), 3,316,767 (pose_net, 15 → 15)
        root = count_parameters(V2VNet(V2VConfig()))
        pose = count_parameters(V2VNet(V2VConfig(in_channels=15, out_channels=15)))
        assert root == 3_239_473 and pose == 3_316_767
        assert abs(root - 3.2e6) / 3.2e6 < 0.05


class TestRootNet:
    def test_shapes_and_gradients(self):
        net = RootNet(V2VConfig(channels=TINY_V2V)).train()
        out = net(torch.rand(2, 16, 16, 8))
        assert out.shape == (2, 16, 16, 8)
        assert net(torch.rand(1, 1, 16, 16, 8)).shape == (1, 16, 16, 8)
        out.square().mean().backward()
        _assert_all_grads(net)

    def test_small_preset_room(self):
        net = RootNet(SMALL.root_v2v_config()).eval()
        with torch.no_grad():
            assert net(torch.rand(1, *SMALL.room.shape)).shape == (1, *SMALL.room.shape)

    def test_needs_one_channel(self):
        with pytest.raises(ValueError, match="1 → 1"):
            RootNet(V2VConfig(in_channels=15, out_channels=1))


class TestRootProposals:
    GRID = VoxelGrid(center=(0.0, -0.5, 0.8), size=(8.0, 8.0, 2.0), shape=(48, 48, 12))
    IDX = [(10, 30, 5), (35, 12, 7), (24, 24, 3)]
    PEAKS = [0.9, 0.7, 0.5]

    def test_three_blobs(self):
        vol = _blobs(self.GRID, self.IDX, self.PEAKS)[None]
        p = root_proposals(vol, self.GRID, max_people=10, threshold=0.1)
        assert p.centers.shape == (1, 10, 3) and p.scores.shape == (1, 10)
        assert p.valid.shape == (1, 10) and p.index.shape == (1, 10, 3)
        assert p.valid[0].tolist() == [True] * 3 + [False] * 7  # NMS: no neighbours
        assert p.index[0, :3].tolist() == [list(i) for i in self.IDX]
        torch.testing.assert_close(p.scores[0, :3], torch.tensor(self.PEAKS))
        world = self.GRID.index_to_world(np.array(self.IDX, dtype=float))
        np.testing.assert_allclose(p.centers[0, :3].numpy(), world, atol=1e-5)
        assert torch.isfinite(p.centers).all() and torch.isfinite(p.scores).all()

    def test_threshold(self):
        vol = _blobs(self.GRID, self.IDX, self.PEAKS)[None]
        assert root_proposals(vol, self.GRID, 10, threshold=0.6).valid.sum() == 2
        assert root_proposals(vol, self.GRID, 10, threshold=0.95).valid.sum() == 0
        assert root_proposals(vol, self.GRID, 2, threshold=0.1).valid.sum() == 2

    def test_nms_keeps_separate_close_peaks(self):
        # two peaks 2 voxels apart are both local maxima; 1 voxel apart only the higher
        vol = torch.zeros(1, *self.GRID.shape)
        vol[0, 10, 10, 5], vol[0, 12, 10, 5], vol[0, 20, 20, 5], vol[0, 21, 20, 5] = (
            0.8, 0.6, 0.9, 0.7)
        p = root_proposals(vol, self.GRID, 5, threshold=0.1)
        assert p.valid[0].sum() == 3
        assert p.index[0, :3].tolist() == [[20, 20, 5], [10, 10, 5], [12, 10, 5]]

    def test_batch(self):
        vol = torch.stack([_blobs(self.GRID, self.IDX, self.PEAKS),
                           _blobs(self.GRID, self.IDX[1:], [0.4, 0.8]),
                           torch.zeros(self.GRID.shape)])
        p = root_proposals(vol, self.GRID, max_people=4, threshold=0.3)
        assert p.valid.sum(1).tolist() == [3, 2, 0]
        assert p.index[1, :2].tolist() == [list(self.IDX[2]), list(self.IDX[1])]
        single = root_proposals(vol[1:2], self.GRID, max_people=4, threshold=0.3)
        torch.testing.assert_close(single.centers[0, :2], p.centers[1, :2])

    def test_refine(self):
        true_idx = [(10.3, 30.0, 5.0), (35.0, 12.4, 6.7)]
        vol = _blobs(self.GRID, true_idx, [0.9, 0.8], sigma=1.0)[None]
        plain = root_proposals(vol, self.GRID, 3, 0.3)
        fine = root_proposals(vol, self.GRID, 3, 0.3, refine=True)
        truth = torch.as_tensor(self.GRID.index_to_world(np.array(true_idx)), dtype=torch.float32)
        err_plain = (plain.centers[0, :2] - truth).norm(dim=-1)
        err_fine = (fine.centers[0, :2] - truth).norm(dim=-1)
        # the 3×3×3 window pulls towards the peak voxel: about halves the error here
        assert (err_fine < 0.6 * err_plain).all() and (err_fine < 0.05).all()
        assert torch.equal(plain.index, fine.index) and torch.equal(plain.valid, fine.valid)

    def test_rejects_bad_inputs(self):
        with pytest.raises(ValueError, match="grid.shape"):
            root_proposals(torch.zeros(1, 8, 8, 8), self.GRID)
        with pytest.raises(ValueError, match="max_people"):
            root_proposals(torch.zeros(1, *self.GRID.shape), self.GRID, max_people=0)


class TestSoftArgmax:
    CUBE = VoxelGrid(center=(0.0, 0.0, 0.0), size=(2.0, 2.0, 2.0), shape=(32, 32, 32))

    def test_peak_at_known_voxel(self):
        vol = torch.zeros(2, 3, 32, 32, 32)
        idx = [[(3, 17, 30), (0, 0, 0), (31, 5, 16)], [(16, 16, 16), (8, 24, 2), (31, 31, 31)]]
        for n in range(2):
            for j in range(3):
                vol[n, j][idx[n][j]] = 1.0
        out = soft_argmax_3d(vol, self.CUBE.points(), beta=100.0)
        want = self.CUBE.index_to_world(torch.tensor(idx, dtype=torch.float32))
        assert (out.coords - want).abs().max() < 2e-3  # a few mm at β = 100
        assert (out.peak > 0.99).all()

    def test_subvoxel_log_gaussian(self):
        # β·volume = log of a Gaussian (σ > pitch) → the softmax is that Gaussian, sampled,
        # whose mean is the sub-voxel centre
        true = torch.tensor([[[0.1234, -0.31, 0.4567]]])
        pts = self.CUBE.points()  # (M, 3)
        d2 = ((pts - true[0]) ** 2).sum(-1)
        beta = 100.0
        vol = (-d2 / (2 * 0.1 ** 2) / beta).reshape(1, 1, 32, 32, 32)
        out = soft_argmax_3d(vol, pts, beta=beta)
        assert (out.coords - true).abs().max() < 1e-4

    def test_per_item_points(self):
        vol = torch.randn(2, 4, 32, 32, 32)
        centres = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 1.0]])
        shared = soft_argmax_3d(vol, self.CUBE.points(), beta=3.0)
        per = soft_argmax_3d(vol, self.CUBE.points() + centres[:, None], beta=3.0)
        # float32: absolute points lose a little precision against centre + offsets
        torch.testing.assert_close(per.coords, shared.coords + centres[:, None], atol=5e-4,
                                   rtol=0)

    def test_rejects_bad_points(self):
        with pytest.raises(ValueError, match="points must be"):
            soft_argmax_3d(torch.zeros(1, 1, 4, 4, 4), torch.zeros(63, 3))


class TestPoseNet:
    def test_shapes_and_gradients(self):
        cube = VoxelGrid(center=(0, 0, 0), size=(2, 2, 2), shape=(16, 16, 16))
        net = PoseNet(V2VConfig(channels=TINY_V2V, in_channels=15, out_channels=15), cube,
                      beta=100.0).train()
        vol = torch.rand(2, 3, 15, 16, 16, 16)  # (B, P, J, x, y, z)
        centres = torch.randn(2, 3, 3)
        out = net(vol, centres)
        assert out.joints.shape == (2, 3, 15, 3)
        assert out.confidence.shape == out.peak.shape == (2, 3, 15)
        assert out.volumes.shape == vol.shape
        # joints stay within the cube around their centre
        assert ((out.joints - centres[:, :, None]).abs() <= 1.0 + 1e-5).all()
        (out.joints.square().mean() + out.confidence.mean()).backward()
        _assert_all_grads(net)

    def test_small_preset_three_cubes(self):
        net = PoseNet(SMALL.pose_v2v_config(), SMALL.cube_grid(), SMALL.beta).eval()
        with torch.no_grad():
            out = net(torch.rand(3, 15, *SMALL.cube.shape), torch.zeros(3, 3))
        assert out.joints.shape == (3, 15, 3)

    def test_no_cubes(self):
        net = PoseNet(V2VConfig(channels=TINY_V2V, in_channels=15, out_channels=15),
                      VoxelGrid((0, 0, 0), (2, 2, 2), (8, 8, 8))).eval()
        with torch.no_grad():
            assert net(torch.rand(0, 15, 8, 8, 8), torch.zeros(0, 3)).joints.shape == (0, 15, 3)

    def test_log_skip_is_subvoxel_and_trainable(self):
        """With the log-space input skip an untrained net returns the fused heatmap's peak
        to a fraction of a voxel (a linear skip with β = 100 snaps to a voxel centre), and
        the soft-argmax is not saturated: the joints have gradients w.r.t. the V2V."""
        cube = VoxelGrid(center=(0, 0, 0), size=(2, 2, 2), shape=(16, 16, 16))
        pitch = 2.0 / 16
        pts = cube.points()  # (M, 3)
        true = torch.tensor([[0.31, -0.22, 0.47], [-0.05, 0.12, -0.6]])  # (J, 3)
        d2 = ((pts[None] - true[:, None]) ** 2).sum(-1)  # (J, M)
        sigma = 1.2 * pitch  # the fused blob of a joint: about a voxel or more
        vol = torch.exp(-d2 / (2 * sigma ** 2)).reshape(1, 2, 16, 16, 16)  # (N, J, x, y, z)
        net = PoseNet(V2VConfig(channels=TINY_V2V, in_channels=2, out_channels=2), cube,
                      beta=100.0, input_skip=True, skip_sigma=0.0, skip_power=6.0)
        torch.nn.init.zeros_(net.v2v.out.weight)
        torch.nn.init.zeros_(net.v2v.out.bias)
        out = net(vol, torch.zeros(1, 3))
        err = (out.joints[0] - true).norm(dim=-1)
        assert (err < 0.1 * pitch).all(), err
        assert ((out.confidence > 0.7) & (out.confidence <= 1.0)).all()  # E_p[x]
        # snapping to the nearest voxel centre would be off by up to half a voxel per axis
        snapped = pts[d2.argmin(1)]
        assert ((snapped - true).norm(dim=-1) > 3 * err).all()
        out.joints.sum().backward()
        assert net.v2v.out.weight.grad.abs().sum() > 0

    def test_rejects_bad_inputs(self):
        net = PoseNet(V2VConfig(channels=TINY_V2V, in_channels=15, out_channels=15),
                      VoxelGrid((0, 0, 0), (2, 2, 2), (8, 8, 8)))
        with pytest.raises(ValueError, match="skip_power"):
            PoseNet(V2VConfig(channels=TINY_V2V, in_channels=15, out_channels=15),
                    VoxelGrid((0, 0, 0), (2, 2, 2), (8, 8, 8)), skip_power=0.0)
        with pytest.raises(ValueError, match="volumes must be"):
            net(torch.rand(1, 15, 8, 8, 12), torch.zeros(1, 3))
        with pytest.raises(ValueError, match="centers must be"):
            net(torch.rand(2, 15, 8, 8, 8), torch.zeros(3, 3))


class TestConfig:
    @pytest.mark.parametrize("name", ["paper", "small"])
    def test_round_trip(self, name):
        cfg = model_preset(name)
        text = yaml.safe_dump(cfg.to_dict())
        assert ModelConfig.from_dict(yaml.safe_load(text)) == cfg

    def test_defaults_are_paper(self):
        assert ModelConfig.from_dict({}) == model_preset("paper") == ModelConfig()
        paper = model_preset("paper")
        assert paper.input_size == (960, 512) and paper.heatmap_size == (240, 128)
        assert paper.room.shape == (80, 80, 20) and paper.cube.shape == (64, 64, 64)
        assert paper.backbone == "resnet50" and paper.beta == 100.0

    def test_partial_dict_and_scalars(self):
        cfg = ModelConfig.from_dict({"cube": {"size": 1.8, "shape": 32}, "max_people": 4})
        assert cfg.cube == CubeConfig(size=(1.8, 1.8, 1.8), shape=(32, 32, 32))
        assert cfg.max_people == 4

    @pytest.mark.parametrize("data, bad", [
        ({"num_joint": 15}, "num_joint"),
        ({"room": {"center": [0, 0, 1], "size": [8, 8, 2], "shape": [8, 8, 4], "pitch": 1}},
         "pitch"),
        ({"cube": {"side": 2.0}}, "side")])
    def test_unknown_keys(self, data, bad):
        with pytest.raises(ValueError, match=f"unknown keys.*{bad}"):
            ModelConfig.from_dict(data)

    @pytest.mark.parametrize("kw, msg", [
        ({"heatmap_size": (240, 120)}, "input_size / 4"),
        ({"input_size": (960, 500), "heatmap_size": (240, 125)}, "divisible by 32"),
        ({"room": VoxelGrid((0, 0, 1), (8, 8, 2), (80, 80, 18))}, "divisible by 4"),
        ({"cube": {"shape": [64, 64, 30]}}, "CubeConfig.shape must be divisible"),
        ({"root_joint": 15}, "root_joint"),
        ({"backbone": "vgg"}, "unknown backbone"),
        ({"pose_channels": (16, 32, 64)}, "4 values"),
        ({"max_people": 2.5}, "max_people")])
    def test_invalid_values(self, kw, msg):
        with pytest.raises(ValueError, match=msg):
            dataclasses.replace(model_preset("paper"), **kw)

    def test_sub_configs(self):
        assert SMALL.backbone_config() == BackboneConfig(name="resnet18-narrow")
        assert SMALL.attention_config().activation == "sigmoid"
        assert SMALL.pose_v2v_config() == V2VConfig((8, 16, 32, 64), 15, 15)
        assert dataclasses.replace(SMALL, attention_backbone=None).attention_config() is None
        with pytest.raises(ValueError, match="unknown keys.*colour"):
            BackboneConfig.from_dict({"name": "resnet18", "colour": "red"})
        assert V2VConfig.from_dict(V2VConfig().to_dict()) == V2VConfig()

    def test_unknown_preset(self):
        with pytest.raises(ValueError, match="paper, small"):
            model_preset("large")


class TestModel:
    def test_build_and_checkpoint(self):
        model = build_model(SMALL)
        assert model.attn_net is not None and model.pose_net.beta == SMALL.beta
        ckpt = {"model_config": model.config.to_dict(), "state_dict": model.state_dict()}
        again = model_from_checkpoint(ckpt)
        assert again.config == SMALL
        for k, v in model.state_dict().items():
            assert torch.equal(again.state_dict()[k], v)
        with pytest.raises(ValueError, match="state_dict"):
            model_from_checkpoint({"model_config": {}})
        assert build_model(dataclasses.replace(SMALL, attention_backbone=None)).attn_net is None
