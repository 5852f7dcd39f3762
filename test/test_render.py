"""Differentiable Gaussian heatmap rendering and targets."""

import numpy as np
import pytest
import torch

from selfpose3d_core.geometry.checks import gradcheck_render
from selfpose3d_core.render import render_heatmaps, render_targets


def test_matches_dense_formula_and_sums_people():
    g = torch.Generator().manual_seed(0)
    uv = torch.rand(2, 3, 4, 2, generator=g, dtype=torch.float64) * torch.tensor([20.0, 10.0])
    w = torch.rand(2, 3, 4, generator=g, dtype=torch.float64) * 0.4
    hm = render_heatmaps(uv, w, 12, 22, sigma=2.5)
    assert hm.shape == (2, 4, 12, 22)
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(22.0), indexing="ij")
    dense = (w[..., None, None] * torch.exp(
        -((xs - uv[..., 0, None, None]) ** 2 + (ys - uv[..., 1, None, None]) ** 2)
        / (2 * 2.5 ** 2))).sum(1)  # (B, J, H, W) summed over P
    torch.testing.assert_close(hm, dense.clamp(max=1.0))


def test_float_centre_peak_and_clip():
    hm = render_heatmaps(torch.tensor([[[5.3, 4.7]]]), torch.ones(1, 1), 10, 12, sigma=3.0)
    assert hm.max() <= 1.0 and hm[0, 5, 5] == hm.max()
    two = render_heatmaps(torch.tensor([[[5.0, 4.0]], [[5.0, 4.0]]]), torch.ones(2, 1), 10, 12)
    assert two.max() == 1.0  # two people on the same spot clip at 1


def test_gradcheck_rendering():
    assert gradcheck_render(seed=0)  # raises with the details on failure


def test_targets_drop_low_confidence_outside_and_nan():
    uv = torch.tensor([[[5.0, 5.0], [50.0, 5.0], [float("nan"), 1.0], [3.0, 3.0]]])
    conf = torch.tensor([[0.9, 0.9, 0.9, 0.5]])
    soft = render_targets(uv, conf, 10, 10, sigma=2.0)
    assert soft.weights.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert torch.isfinite(soft.heatmaps).all()
    np.testing.assert_allclose(float(soft.heatmaps[0, 5, 5]), 0.9, atol=1e-6)
    hard = render_targets(uv, conf, 10, 10, sigma=2.0, min_conf=0.7, use_confidence=False)
    assert hard.weights.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert float(hard.heatmaps[0, 5, 5]) == 1.0 and float(hard.heatmaps[3].max()) == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="uv must be"):
        render_heatmaps(torch.zeros(2, 3, 2), torch.zeros(2, 4), 4, 4)
