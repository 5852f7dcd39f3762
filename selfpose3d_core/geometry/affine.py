"""2×3 affine transforms from image pixels to network-input pixels.

The network sees each view through an affine ``A`` (2, 3): ``p_in = A[:, :2] @ p_img +
A[:, 2]``. It covers the resize/letterbox to the network size and the rotation/scale
augmentation of SelfPose3d (±45°, ±0.35 scale, each with probability 0.5). Projection into
the network input is ``affine ∘ camera`` (:func:`project_to_input`).

Pixel convention: OpenCV (centre of the top-left pixel is (0, 0)), for images and
heatmaps alike; :func:`input_to_heatmap` maps input pixels to heatmap pixels of a
1/stride-size map with the same convention.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .camera import CameraTensors
from .projection import in_image, project

__all__ = [
    "affine_matrix",
    "letterbox_affine",
    "random_augment_affine",
    "invert_affine",
    "apply_affine",
    "compose_affine",
    "input_to_heatmap",
    "InputProjection",
    "project_to_input",
    "warp_image",
]


def affine_matrix(center, scale, rotation_deg: float, out_size) -> np.ndarray:
    """The affine that maps a rotated box of the image onto the whole output.

    Args:
        center: (2,) box centre in image pixels.
        scale: (2,) box (width, height) in image pixels; it fills ``out_size``.
        rotation_deg: rotation of the image content, counter-clockwise in the image as
            displayed (positive = content turns left), in degrees.
        out_size: (width, height) of the output in pixels.
    Returns:
        (2, 3) float64 affine image → output pixels.
    """
    cx, cy = np.asarray(center, dtype=np.float64)
    sw, sh = np.asarray(scale, dtype=np.float64)
    ow, oh = out_size
    if sw <= 0 or sh <= 0:
        raise ValueError(f"affine_matrix: scale must be positive, got {(sw, sh)}")
    a = np.deg2rad(rotation_deg)
    c, s = np.cos(a), np.sin(a)
    # image v points down, so a CCW turn as displayed is a clockwise matrix in (u, v)
    rot = np.array([[c, s], [-s, c]])
    lin = np.diag([ow / sw, oh / sh]) @ rot
    # centre of the box → centre of the output (pixel-centre convention)
    out_c = np.array([(ow - 1) / 2.0, (oh - 1) / 2.0])
    trans = out_c - lin @ np.array([cx, cy])
    return np.concatenate([lin, trans[:, None]], axis=1)


def letterbox_affine(image_size, out_size) -> np.ndarray:
    """(2, 3) aspect-preserving resize of the whole image into ``out_size`` (padded).

    image_size, out_size: (width, height).
    """
    iw, ih = image_size
    ow, oh = out_size
    s = min(ow / iw, oh / ih)
    return affine_matrix(((iw - 1) / 2, (ih - 1) / 2), (ow / s, oh / s), 0.0, out_size)


def random_augment_affine(rng: np.random.Generator, image_size, out_size,
                          max_rotation_deg: float = 45.0, max_scale: float = 0.35,
                          p_rotation: float = 0.5, p_scale: float = 0.5) -> np.ndarray:
    """A random letterbox + rotation/scale augmentation affine (2, 3), as SelfPose3d.

    With probability ``p_scale`` the box is scaled by ``1 + U(-max_scale, max_scale)``
    and with probability ``p_rotation`` rotated by ``U(-max_rotation_deg, +max)``.
    """
    iw, ih = image_size
    ow, oh = out_size
    s = min(ow / iw, oh / ih)
    box = np.array([ow / s, oh / s])
    scale = 1.0 + rng.uniform(-max_scale, max_scale) if rng.random() < p_scale else 1.0
    rot = rng.uniform(-max_rotation_deg, max_rotation_deg) if rng.random() < p_rotation else 0.0
    return affine_matrix(((iw - 1) / 2, (ih - 1) / 2), box * scale, rot, out_size)


def invert_affine(A):
    """(*, 2, 3) → (*, 2, 3) inverse affine (numpy or torch)."""
    lin, tr = A[..., :2, :2], A[..., :2, 2:]
    if isinstance(A, torch.Tensor):
        inv = torch.linalg.inv(lin)
        return torch.cat([inv, -inv @ tr], dim=-1)
    inv = np.linalg.inv(lin)
    return np.concatenate([inv, -inv @ tr], axis=-1)


def compose_affine(A2, A1):
    """(*, 2, 3) affine equal to applying A1 then A2 (numpy or torch)."""
    lin = A2[..., :2, :2] @ A1[..., :2, :2]
    tr = A2[..., :2, :2] @ A1[..., :2, 2:] + A2[..., :2, 2:]
    if isinstance(A1, torch.Tensor):
        return torch.cat([lin, tr], dim=-1)
    return np.concatenate([lin, tr], axis=-1)


def apply_affine(points, A):
    """points (*, N, 2), A (*, 2, 3) → (*, N, 2) (numpy or torch, broadcasting)."""
    lin = A[..., :2, :2].swapaxes(-1, -2) if not isinstance(A, torch.Tensor) \
        else A[..., :2, :2].transpose(-1, -2)
    return points @ lin + A[..., None, :2, 2]


def input_to_heatmap(uv, input_size, heatmap_size):
    """Network-input pixels (*, 2) → heatmap pixels (*, 2), pixel-centre convention.

    input_size, heatmap_size: (width, height); ``h = (u + 0.5) * hw / iw - 0.5``.
    """
    iw, ih = input_size
    hw, hh = heatmap_size
    if isinstance(uv, torch.Tensor):
        s = uv.new_tensor([hw / iw, hh / ih])
    else:
        s = np.array([hw / iw, hh / ih])
    return (uv + 0.5) * s - 0.5


class InputProjection(NamedTuple):
    """World points seen in the network input of every view.

    Fields:
        uv: (*, V, N, 2) network-input pixels.
        valid: (*, V, N) bool — in front of the camera, trusted distortion radius, and
            inside the *original* camera image.
        depth: (*, V, N) metres.
    """

    uv: torch.Tensor
    valid: torch.Tensor
    depth: torch.Tensor


def project_to_input(points: torch.Tensor, cams: CameraTensors,
                     affines: torch.Tensor) -> InputProjection:
    """Project world points through camera then input affine, for every view.

    Args:
        points: (*, N, 3) world points (m); ``*`` e.g. (B,).
        cams: V cameras (leading dims (V,)).
        affines: (*, V, 2, 3) image → input affines.
    Returns:
        :class:`InputProjection` with uv (*, V, N, 2).
    """
    proj = project(points.unsqueeze(-3), cams)  # (*, 1, N, 3) with (V,) → (*, V, N, ...)
    valid = proj.valid & in_image(proj.uv, cams.size)
    return InputProjection(uv=apply_affine(proj.uv, affines), valid=valid, depth=proj.depth)


def warp_image(image: np.ndarray, A: np.ndarray, out_size) -> np.ndarray:
    """Warp an (H, W, C) image by the (2, 3) affine into ``out_size`` (w, h), zero border."""
    import cv2

    return cv2.warpAffine(image, np.asarray(A, dtype=np.float64), tuple(int(s) for s in out_size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
