"""Cross-view matching of 2D poses: epipolar affinities, clustering, left/right consensus.

Letters: V views, J joints, N detections of one frame pooled over all views.

Coordinates are undistorted normalised image coordinates ``(x/z, y/z)`` (see
:func:`selfpose3d_core.geometry.projection.undistort_points_numpy`); distances are turned
into pixels with each camera's focal length and then divided by that camera's image
diagonal, so one relative threshold serves rigs of any resolution.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..geometry.camera import Camera

__all__ = ["PairDistances", "essential_matrices", "pairwise_epipolar_distances",
           "greedy_cluster", "orientation_consensus"]


def _skew(v: np.ndarray) -> np.ndarray:
    """v: (..., 3) → (..., 3, 3) cross-product matrices ``[v]_x``."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1),
                     np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def essential_matrices(cameras: Sequence[Camera]) -> np.ndarray:
    """Essential matrices of every ordered view pair.

    Returns:
        (V, V, 3, 3) ``E`` with ``x_j^T E[i, j] x_i = 0`` for homogeneous normalised
        coordinates ``x_i``, ``x_j`` of the same world point in views i and j
        (``E[i, i]`` ≈ 0).
    """
    if len(cameras) < 2:
        raise ValueError(f"essential_matrices: need at least 2 cameras, got {len(cameras)}")
    R = np.stack([c.R for c in cameras])  # (V, 3, 3)
    t = np.stack([c.t for c in cameras])  # (V, 3)
    R_rel = np.einsum("jab,icb->ijac", R, R)  # (V, V, 3, 3): R_j R_i^T
    t_rel = t[None, :, :] - np.einsum("ijab,ib->ija", R_rel, t)  # (V, V, 3): t_j - R_rel t_i
    return _skew(t_rel) @ R_rel


class PairDistances(NamedTuple):
    """Result of :func:`pairwise_epipolar_distances`.

    Fields:
        dist: (N, N) symmetric mean epipolar distance (fraction of the image diagonal) of
            the better of the two left/right orientations; ``inf`` for detections of the
            same view, the diagonal, and pairs with too few joints confident in both.
        mirrored: (N, N) bool, the better orientation mirrors one of the two detections.
        margin: (N, N) ≥ 0, |distance as detected − distance mirrored|: how sure the
            orientation decision is (0 where undecided).
    """

    dist: np.ndarray
    mirrored: np.ndarray
    margin: np.ndarray


def _mean_line_distance(xh: np.ndarray, E: np.ndarray, xh_b: np.ndarray,
                        scale: np.ndarray, both: np.ndarray, min_common: int) -> np.ndarray:
    """Symmetric epipolar distance of every pair, averaged over the joints valid in both.

    xh: (N, J, 3) homogeneous points of detection a; xh_b: (N, J, 3) of detection b (maybe
    mirrored); E: (N, N, 3, 3) pair essentials; scale: (N,) px-per-normalised-unit divided
    by the diagonal; both: (N, N, J) bool → (N, N).
    """
    line_b = np.einsum("abij,akj->abki", E, xh)  # (N, N, J, 3): E x_a, a line in view b
    line_a = np.einsum("abji,bkj->abki", E, xh_b)  # (N, N, J, 3): E^T x_b, in view a
    alg = np.abs(np.einsum("abki,bki->abk", line_b, xh_b))  # (N, N, J): |x_b^T E x_a|
    eps = 1e-12
    d_b = alg / np.maximum(np.linalg.norm(line_b[..., :2], axis=-1), eps) * scale[None, :, None]
    d_a = alg / np.maximum(np.linalg.norm(line_a[..., :2], axis=-1), eps) * scale[:, None, None]
    d = np.where(both, 0.5 * (d_a + d_b), 0.0)
    count = both.sum(-1)  # (N, N)
    return np.where(count >= min_common, d.sum(-1) / np.maximum(count, 1), np.inf)


def pairwise_epipolar_distances(xn: np.ndarray, valid: np.ndarray, view: np.ndarray,
                                E: np.ndarray, scale: np.ndarray, flip: np.ndarray,
                                min_common_joints: int = 3) -> PairDistances:
    """Mean symmetric epipolar distance between all detections of a frame.

    Each pair is also compared with one of its detections mirrored left↔right (``flip``);
    the better of the two is kept, so a swapped detection still matches its person.

    Args:
        xn: (N, J, 2) undistorted normalised coordinates.
        valid: (N, J) bool, the joints confident enough to use.
        view: (N,) int, the view of each detection.
        E: (V, V, 3, 3) from :func:`essential_matrices`.
        scale: (V,) focal length (px) / image diagonal (px) of each view.
        flip: (J,) left↔right joint permutation.
        min_common_joints: pairs with fewer joints valid in both get ``inf``.
    Returns:
        :class:`PairDistances`.
    """
    N, J = valid.shape
    if xn.shape != (N, J, 2) or view.shape != (N,) or flip.shape != (J,):
        raise ValueError(f"pairwise_epipolar_distances: expected xn (N, J, 2), valid (N, J), "
                         f"view (N,), flip (J,); got {xn.shape}, {valid.shape}, {view.shape}, "
                         f"{flip.shape}")
    xh = np.concatenate([xn, np.ones((N, J, 1))], -1)  # (N, J, 3)
    E_pair = E[view[:, None], view[None, :]]  # (N, N, 3, 3)
    s = scale[view]  # (N,)
    both = valid[:, None] & valid[None]  # (N, N, J)
    both_m = valid[:, None] & valid[None][:, :, flip]
    d_same = _mean_line_distance(xh, E_pair, xh, s, both, min_common_joints)
    d_flip = _mean_line_distance(xh, E_pair, xh[:, flip], s, both_m, min_common_joints)
    # the a→b and b→a evaluations of a mirrored pair differ only in which one is mirrored;
    # symmetrise so that dist and mirrored are symmetric
    d_flip = np.minimum(d_flip, d_flip.T)
    mirrored = d_flip < d_same
    dist = np.minimum(d_same, d_flip)
    both_finite = np.isfinite(d_same) & np.isfinite(d_flip)
    margin = np.abs(np.where(both_finite, d_same, 0.0) - np.where(both_finite, d_flip, 0.0))
    off = view[:, None] == view[None, :]  # same view, and the diagonal
    dist = np.where(off, np.inf, dist)
    return PairDistances(dist=dist, mirrored=mirrored & ~off, margin=np.where(off, 0.0, margin))


def greedy_cluster(dist: np.ndarray, view: np.ndarray, threshold: float) -> np.ndarray:
    """Group detections into people: greedy average-linkage merging, one detection per view.

    Pairs are visited in increasing distance; the clusters of a pair are merged when they
    hold no view in common and the mean distance over all their cross pairs (finite ones)
    is below ``threshold``.

    Args:
        dist: (N, N) symmetric distances (``inf`` = never together).
        view: (N,) int views.
        threshold: largest mean linkage distance to merge.
    Returns:
        (N,) int cluster labels (not consecutive; a label is the index of a member).
    """
    N = view.shape[0]
    if dist.shape != (N, N):
        raise ValueError(f"greedy_cluster: dist must be ({N}, {N}), got {dist.shape}")
    labels = np.arange(N)
    view_bits = (1 << view.astype(np.int64))  # (N,) one bit per view, indexed by label
    iu, ju = np.triu_indices(N, 1)
    d = dist[iu, ju]
    cand = np.nonzero(d < threshold)[0]
    for k in cand[np.argsort(d[cand], kind="stable")]:  # a few dozen pairs per frame
        la, lb = labels[iu[k]], labels[ju[k]]
        if la == lb or view_bits[la] & view_bits[lb]:
            continue
        ma, mb = labels == la, labels == lb
        cross = dist[np.ix_(ma, mb)]
        if cross[np.isfinite(cross)].mean() >= threshold:
            continue
        labels[mb] = la
        view_bits[la] |= view_bits[lb]
    return labels


def orientation_consensus(mirrored: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Left/right orientation of a cluster's detections that agrees best with the pairs.

    Each member in turn is taken as the reference (others oriented by their pair decision
    with it); the assignment with the largest margin-weighted agreement over all pairs
    wins, then the whole assignment is inverted if that flips fewer detections (the
    majority is taken to be as detected).

    Args:
        mirrored: (K, K) bool pair decisions among the K members; margin: (K, K) weights.
    Returns:
        (K,) bool, mirror this member.
    """
    K = mirrored.shape[0]
    cand = mirrored ^ mirrored.diagonal()[:, None]  # (K, K): row r = assignment, o_r = 0
    rel = cand[:, :, None] ^ cand[:, None, :]  # (K, K, K): o_a xor o_b per candidate
    agree = ((rel == mirrored[None]) * margin[None]).sum((1, 2))  # (K,)
    o = cand[int(np.argmax(agree))]
    return ~o if 2 * o.sum() > K else o
