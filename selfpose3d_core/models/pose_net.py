"""``pose_net``: per-person 3D joint regression from cube volumes + soft-argmax.

Each root proposal gets a cube (``cube`` grid, e.g. 2 m with 64³ voxels) centred on it;
the J unprojected joint-heatmap volumes of all cubes go through one V2V J → J in a
single batch (N = B·P cubes), then per joint

    p = softmax(β · volume) over the cube's voxels,   joint = Σ p · voxel centre.

Coordinates are computed as ``centre + Σ p · offset`` with the offsets of the cube's
voxel centres from its centre (better float32 precision than absolute positions).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..geometry.grid import VoxelGrid
from .config import V2VConfig
from .v2v import V2VNet

__all__ = ["PoseNet", "PoseOutput", "SoftArgmax", "soft_argmax_3d"]

#: ε of the log-space input skip: an empty voxel's logit is k·log ε below a full one.
_SKIP_EPS = 1e-3


class SoftArgmax(NamedTuple):
    """Fields:
        coords: (N, J, 3) expected positions (units of ``points``).
        peak: (N, J) the largest softmax probability (1 = all mass on one voxel).
    """

    coords: torch.Tensor
    peak: torch.Tensor
    expected: torch.Tensor | None = None


def soft_argmax_3d(volumes: torch.Tensor, points: torch.Tensor, beta: float = 100.0,
                   values: torch.Tensor | None = None) -> SoftArgmax:
    """Expected voxel position under ``softmax(β · volume)``.

    Args:
        volumes: (N, J, x, y, z) scores.
        points: (M, 3) voxel positions shared by all N, or (N, M, 3) per item; M = x·y·z,
            x-major (as :meth:`VoxelGrid.points`).
        beta: sharpness β > 0 (ref 100 for volumes in ≈ [0, 1]).
        values: optional (N, J, x, y, z): their expectation under the same distribution
            is returned as ``expected`` (N, J) (one softmax for both).
    Returns:
        :class:`SoftArgmax` with coords (N, J, 3), peak (N, J) and expected (N, J) or None.
        Differentiable.

    Example:
        >>> g = VoxelGrid(center=(0, 0, 0), size=(1, 1, 1), shape=(4, 4, 4))
        >>> v = torch.zeros(1, 1, 4, 4, 4); v[0, 0, 3, 0, 1] = 1.0
        >>> soft_argmax_3d(v, g.points(), beta=1e3).coords  # voxel (3, 0, 1)
        tensor([[[ 0.5000, -0.5000, -0.1667]]])
    """
    if volumes.dim() != 5:
        raise ValueError(f"soft_argmax_3d: volumes must be (N, J, x, y, z), got "
                         f"{tuple(volumes.shape)}")
    N, J = volumes.shape[:2]
    M = volumes.shape[2] * volumes.shape[3] * volumes.shape[4]
    if points.shape[-2:] != (M, 3) or points.dim() not in (2, 3) or (
            points.dim() == 3 and points.shape[0] != N):
        raise ValueError(f"soft_argmax_3d: points must be ({M}, 3) or ({N}, {M}, 3) for "
                         f"volumes {tuple(volumes.shape)}, got {tuple(points.shape)}")
    prob = torch.softmax(beta * volumes.reshape(N, J, M), dim=-1)  # (N, J, M)
    pts = points.to(prob.dtype)
    if pts.dim() == 2:
        coords = prob @ pts  # (N, J, 3)
    else:
        coords = torch.bmm(prob, pts)  # (N, J, M) @ (N, M, 3) → (N, J, 3)
    expected = None if values is None else (prob * values.reshape(N, J, M)).sum(-1)  # (N, J)
    return SoftArgmax(coords=coords, peak=prob.amax(dim=-1), expected=expected)


class PoseOutput(NamedTuple):
    """pose_net outputs for every cube (same fields whatever the inputs).

    Fields:
        joints: (*, J, 3) world joint positions (m).
        confidence: (*, J) with the input skip, the fused input heatmap value under the
            soft-argmax distribution (in [0, 1]: how strongly the views agree on the
            joint); without it, the max of the raw output volume (≈ [0, 1]). Not a
            calibrated probability.
        peak: (*, J) largest soft-argmax probability per joint (sharpness of the peak).
        volumes: (*, J, x, y, z) the soft-argmax logits divided by β (the 3D CNN's
            output, plus the log-space skip when enabled).
    """

    joints: torch.Tensor
    confidence: torch.Tensor
    peak: torch.Tensor
    volumes: torch.Tensor


class PoseNet(nn.Module):
    """V2V J → J on person cubes + soft-argmax.

    Args:
        config: V2V widths with ``in_channels == out_channels == J``.
        cube: the cube's grid (its ``center`` is ignored; size and shape are used).
        beta: soft-argmax sharpness β (ref 100).
        input_skip: a residual around the whole net, in log space: the soft-argmax logits
            are ``β · v2v(x) + k · log(w · x + ε)`` with x the fused input heatmaps, w the
            window below and k = ``skip_power``. At initialisation (v2v ≈ 0) each joint is
            then the centroid of ``(w · x)^k`` — the fused heatmap peak, sharpened but still
            spread over a few voxels, so sub-voxel accurate — instead of the cube centre,
            and the soft-argmax is not saturated, so the rendering loss's gradients reach
            the V2V (a linear skip ``v2v(x) + x`` with β = 100 puts all the mass on one
            voxel: quantised joints and vanishing gradients).
        skip_sigma: σ (m) of a horizontal Gaussian window w centred on the cube applied to
            the skip, so a neighbour's joints in the cube do not win (0 = no window).
        skip_power: k above (> 0).
    """

    def __init__(self, config: V2VConfig, cube: VoxelGrid, beta: float = 100.0,
                 input_skip: bool = False, skip_sigma: float = 0.0,
                 skip_power: float = 6.0) -> None:
        super().__init__()
        if config.in_channels != config.out_channels:
            raise ValueError(f"PoseNet: needs J → J channels, got {config.in_channels} → "
                             f"{config.out_channels}")
        if not beta > 0:
            raise ValueError(f"PoseNet: beta must be > 0, got {beta}")
        if not skip_power > 0:
            raise ValueError(f"PoseNet: skip_power must be > 0, got {skip_power}")
        self.config = config
        self.cube = cube
        self.beta = float(beta)
        self.input_skip = bool(input_skip)
        self.skip_power = float(skip_power)
        self.v2v = V2VNet(config)
        self.register_buffer("offsets", cube.offsets(dtype=torch.float32),
                             persistent=False)  # (M, 3)
        # horizontal Gaussian window on the skip: the person at the cube centre, not a
        # neighbour, wins the soft-argmax at initialisation (1 everywhere when σ = 0)
        d2 = (self.offsets[:, :2] ** 2).sum(-1)  # (M,)
        prior = torch.exp(-d2 / (2 * skip_sigma ** 2)) if skip_sigma > 0 else torch.ones_like(d2)
        self.register_buffer("skip_prior", prior.reshape(cube.shape), persistent=False)

    @property
    def num_joints(self) -> int:
        return self.config.out_channels

    def forward(self, volumes: torch.Tensor, centers: torch.Tensor) -> PoseOutput:
        """3D joints of every cube.

        Args:
            volumes: (*, J, x, y, z) unprojected joint heatmaps of each cube (values in
                [0, 1]); (x, y, z) = ``cube.shape``. E.g. (N, J, x, y, z) with N = B·P,
                or (B, P, J, x, y, z).
            centers: (*, 3) world cube centres (m), the root proposals.
        Returns:
            :class:`PoseOutput` with joints (*, J, 3) etc.
        """
        J = self.num_joints
        if (volumes.dim() < 5 or volumes.shape[-4] != J
                or tuple(volumes.shape[-3:]) != tuple(self.cube.shape)):
            raise ValueError(f"PoseNet: volumes must be (*, {J}, "
                             f"{', '.join(map(str, self.cube.shape))}), got "
                             f"{tuple(volumes.shape)}")
        lead = volumes.shape[:-4]
        if tuple(centers.shape) != (*lead, 3):
            raise ValueError(f"PoseNet: centers must be {(*lead, 3)} for volumes "
                             f"{tuple(volumes.shape)}, got {tuple(centers.shape)}")
        x = volumes.reshape(-1, *volumes.shape[-4:])  # (N, J, x, y, z)
        out = self.v2v(x)  # (N, J, x, y, z)
        if self.input_skip:  # the net learns a correction of the fused input heatmaps
            evidence = x * self.skip_prior.to(x.dtype)
            out = out + (self.skip_power / self.beta) * torch.log(evidence + _SKIP_EPS)
        sa = soft_argmax_3d(out, self.offsets.to(out.dtype), self.beta,
                            values=x if self.input_skip else None)
        joints = centers.reshape(-1, 1, 3).to(out.dtype) + sa.coords  # (N, J, 3)
        if self.input_skip:  # fused input heatmap under the soft-argmax: in [0, 1]
            conf = sa.expected  # (N, J)
        else:
            conf = out.flatten(2).amax(dim=-1)  # (N, J)
        return PoseOutput(joints=joints.reshape(*lead, J, 3),  # (*, J, 3)
                          confidence=conf.reshape(*lead, J),  # (*, J)
                          peak=sa.peak.reshape(*lead, J),  # (*, J)
                          volumes=out.reshape(volumes.shape))  # (*, J, x, y, z)
