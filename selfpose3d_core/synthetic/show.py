"""A one-PNG overview of a dataset frame: every view with its 2D poses (and the projected
ground truth), plus a top view of the room with the cameras and the people.

Works on any dataset of :mod:`selfpose3d_core.data.dataset`; the drawing lives in
:mod:`selfpose3d_core.visualize` (which also draws predicted skeletons:
:func:`~selfpose3d_core.visualize.render_overlay`). This is the ``selfpose3d show`` entry.
"""

from __future__ import annotations

from pathlib import Path

from ..visualize import render_overlay

__all__ = ["render_show"]


def render_show(dataset_dir: str | Path, frame: int, out_png: str | Path,
                draw_gt: bool = True) -> Path:
    """Write a PNG mosaic of one frame of a dataset.

    Each view shows its image (grey if none), its 2D pseudo poses (COCO skeletons, one
    colour per detection, confidence < 0.3 faded, ``d<k> <score>`` labels) and, with
    ``draw_gt`` and ground truth present, the projected 3D ground truth (thin white
    PANOPTIC15 limbs with crosses, ``id<n>`` labels). One more panel is a top view: room
    and furniture (synthetic datasets), cameras with their horizontal field of view,
    ground-truth skeletons by id.

    Returns:
        ``out_png``.
    Raises:
        ValueError: frame out of range, or the PNG cannot be written.
    """
    return render_overlay(dataset_dir, frame, out_png, predictions=None, draw_gt=draw_gt)
