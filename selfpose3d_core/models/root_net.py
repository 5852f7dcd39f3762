"""``root_net`` and root proposal extraction (SelfPose3d §3.3 / VoxelPose CPN).

``RootNet`` maps the unprojected root-joint heatmap volume (one channel) to a root
likelihood volume on the room grid. Its output is **raw** (no sigmoid, no clamp): it is
trained by L2 against Gaussian targets in [0, 1] (synthetic roots) and against its own
detached output on another augmented copy, so values are ≈ [0, 1] after training but
may stray slightly outside; thresholds compare the raw value.

:func:`root_proposals` turns a volume into at most K people: 3×3×3 max-pool NMS (a
voxel survives if it equals the maximum of its neighbourhood), top-K, score threshold,
voxel index → world metres. Optional sub-voxel refinement (off by default, as the
reference) replaces the voxel centre by the soft-argmax of the non-negative scores in
the 3×3×3 neighbourhood.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry.grid import VoxelGrid
from .config import V2VConfig
from .v2v import V2VNet

__all__ = ["RootNet", "RootProposals", "root_proposals", "merge_proposals"]


class RootNet(nn.Module):
    """V2V 1 → 1 on the room grid.

    Args:
        config: V2V widths; ``in_channels`` and ``out_channels`` must be 1.
    """

    def __init__(self, config: V2VConfig | None = None) -> None:
        super().__init__()
        config = config or V2VConfig()
        if config.in_channels != 1 or config.out_channels != 1:
            raise ValueError(f"RootNet: needs a 1 → 1 channel V2VConfig, got "
                             f"{config.in_channels} → {config.out_channels}")
        self.config = config
        self.v2v = V2VNet(config)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """Root likelihood.

        Args:
            volume: (B, X, Y, Z) or (B, 1, X, Y, Z) unprojected root heatmaps in [0, 1];
                X, Y, Z divisible by 4.
        Returns:
            (B, X, Y, Z) raw root likelihood (≈ [0, 1] once trained).
        """
        if volume.dim() == 4:
            volume = volume.unsqueeze(1)  # (B, 1, X, Y, Z)
        if volume.dim() != 5 or volume.shape[1] != 1:
            raise ValueError(f"RootNet: volume must be (B, X, Y, Z) or (B, 1, X, Y, Z), got "
                             f"{tuple(volume.shape)}")
        return self.v2v(volume).squeeze(1)  # (B, X, Y, Z)


class RootProposals(NamedTuple):
    """At most K root proposals per frame, sorted by score (descending).

    Valid proposals come first; entries past them are padding (``valid`` False) that
    still carry the score and position of a real voxel, so every field is finite.

    Fields:
        centers: (B, K, 3) world positions (m): voxel centres, or refined positions
            when ``refine=True``.
        scores: (B, K) volume value at the proposal voxel.
        valid: (B, K) bool, a local maximum with score > threshold.
        index: (B, K, 3) long voxel index (ix, iy, iz) of the proposal voxel.
    """

    centers: torch.Tensor
    scores: torch.Tensor
    valid: torch.Tensor
    index: torch.Tensor


# (27, 3) offsets of a 3×3×3 neighbourhood, x-major like the grids
_NEIGHBOURS = torch.stack(torch.meshgrid(*[torch.arange(-1, 2)] * 3, indexing="ij"),
                          dim=-1).reshape(-1, 3)  # (27, 3)


def _flat_to_index(flat: torch.Tensor, shape) -> torch.Tensor:
    """x-major flat voxel index (*) → (*, 3) (ix, iy, iz)."""
    X, Y, Z = shape
    return torch.stack([flat // (Y * Z), (flat // Z) % Y, flat % Z], dim=-1)


def root_proposals(volume: torch.Tensor, grid: VoxelGrid, max_people: int = 10,
                   threshold: float = 0.3, refine: bool = False,
                   nms_kernel: int | tuple[int, int, int] = 3) -> RootProposals:
    """Root proposals from a root likelihood volume.

    Args:
        volume: (B, X, Y, Z) root likelihood on ``grid`` (``grid.shape`` = (X, Y, Z)).
        grid: the room grid (voxel index → world).
        max_people: K, proposals returned per frame (≤ X·Y·Z).
        threshold: a proposal is valid when its score is > threshold.
        nms_kernel: side (voxels, odd; one per axis or one for all) of the max-pool window
            of the 3D NMS (ref 3); a
            larger window suppresses duplicate peaks of one person on fine grids.
        refine: sub-voxel refinement by a 3×3×3 soft-argmax of max(score, 0) around the
            peak (neighbours outside the grid weigh 0). Default off (reference). The
            small window biases towards the peak voxel: it reduces the quantisation
            error (about halves it for blobs of σ ≈ 1 voxel) rather than removing it.
    Returns:
        :class:`RootProposals` with centers (B, K, 3), scores (B, K), valid (B, K),
        index (B, K, 3); computed on ``volume.detach()`` (no gradients), same device and
        dtype as ``volume``.

    Example:
        >>> g = VoxelGrid(center=(0, 0, 1), size=(4, 4, 2), shape=(8, 8, 4))
        >>> v = torch.zeros(1, 8, 8, 4); v[0, 2, 5, 1] = 0.9
        >>> p = root_proposals(v, g, max_people=2, threshold=0.3)
        >>> p.valid.tolist(), p.index[0, 0].tolist()
        ([[True, False]], [2, 5, 1])
    """
    if volume.dim() != 4 or tuple(volume.shape[1:]) != tuple(grid.shape):
        raise ValueError(f"root_proposals: volume must be (B, *grid.shape) = "
                         f"(B, {', '.join(map(str, grid.shape))}), got {tuple(volume.shape)}")
    B = volume.shape[0]
    N = grid.num_voxels
    if not 1 <= max_people <= N:
        raise ValueError(f"root_proposals: max_people must be in [1, {N}], got {max_people}")
    volume = volume.detach()
    kernel = (nms_kernel,) * 3 if isinstance(nms_kernel, int) else tuple(nms_kernel)
    if len(kernel) != 3 or any(int(k) != k or k < 1 or k % 2 == 0 for k in kernel):
        raise ValueError(f"root_proposals: nms_kernel must be odd and ≥ 1 (one or three), got "
                         f"{nms_kernel}")
    pooled = F.max_pool3d(volume.unsqueeze(1), kernel_size=kernel, stride=1,
                          padding=tuple(k // 2 for k in kernel)).squeeze(1)  # (B, X, Y, Z)
    is_peak = (volume == pooled).reshape(B, N)  # (B, N)
    flat_vol = volume.reshape(B, N)  # (B, N)
    ranked = torch.where(is_peak, flat_vol, torch.full_like(flat_vol, float("-inf")))
    _, flat = ranked.topk(max_people, dim=1)  # (B, K): peaks first, by value
    scores = flat_vol.gather(1, flat)  # (B, K)
    valid = is_peak.gather(1, flat) & (scores > threshold)  # (B, K)
    index = _flat_to_index(flat, grid.shape)  # (B, K, 3)
    pos = index.to(volume.dtype)
    if refine:
        shape = index.new_tensor(grid.shape)
        nb = index[:, :, None, :] + _NEIGHBOURS.to(index.device)  # (B, K, 27, 3)
        inside = ((nb >= 0) & (nb < shape)).all(-1)  # (B, K, 27)
        nb = torch.minimum(nb.clamp(min=0), shape - 1)
        nb_flat = (nb[..., 0] * shape[1] + nb[..., 1]) * shape[2] + nb[..., 2]  # (B, K, 27)
        w = flat_vol.gather(1, nb_flat.reshape(B, -1)).reshape(nb_flat.shape)  # (B, K, 27)
        w = w.clamp(min=0) * inside
        wsum = w.sum(-1, keepdim=True)  # (B, K, 1)
        mean_nb = (w[..., None] * nb.to(w.dtype)).sum(-2) / wsum.clamp(min=1e-12)  # (B, K, 3)
        pos = torch.where(wsum > 0, mean_nb, pos)
    centers = grid.index_to_world(pos)  # (B, K, 3)
    return RootProposals(centers=centers, scores=scores, valid=valid, index=index)


def merge_proposals(primary: RootProposals, extra: RootProposals, radius: float,
                    max_people: int) -> RootProposals:
    """Add ``extra``'s valid proposals that lie farther than ``radius`` (m) from every valid
    proposal of ``primary``; keep the best ``max_people`` (valid first, by score).

    Args:
        primary, extra: :class:`RootProposals` of the same B (any K each).
    Returns:
        :class:`RootProposals` with K = ``max_people`` (valid first, then by score; padding
        as in :func:`root_proposals`).
    """
    if primary.centers.shape[0] != extra.centers.shape[0]:
        raise ValueError(f"merge_proposals: batch sizes differ: {primary.centers.shape[0]} "
                         f"and {extra.centers.shape[0]}")
    d = torch.cdist(extra.centers, primary.centers)  # (B, K2, K1)
    d = torch.where(primary.valid[:, None, :], d, torch.full_like(d, float("inf")))
    new = extra.valid & (d.amin(-1) > radius if d.shape[-1] else extra.valid)  # (B, K2)
    centers = torch.cat([primary.centers, extra.centers], 1)  # (B, K1 + K2, 3)
    scores = torch.cat([primary.scores, extra.scores], 1)  # (B, K1 + K2)
    valid = torch.cat([primary.valid, new], 1)
    index = torch.cat([primary.index, extra.index], 1)  # (B, K1 + K2, 3)
    order = scores.argsort(dim=1, descending=True, stable=True)
    order = order.gather(1, valid.gather(1, order).to(torch.int8).argsort(
        dim=1, descending=True, stable=True))  # valid first, each part by score
    k = min(max_people, order.shape[1])
    order = order[:, :k]  # (B, K)
    return RootProposals(centers=centers.gather(1, order[..., None].expand(-1, -1, 3)),
                         scores=scores.gather(1, order), valid=valid.gather(1, order),
                         index=index.gather(1, order[..., None].expand(-1, -1, 3)))
