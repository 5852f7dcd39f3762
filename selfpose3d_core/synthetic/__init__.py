"""The synthetic operating room: the project's embedded default dataset.

A procedural scene — a 6 × 6 × 3 m operating room with a draped table, furniture and a
surgical lamp, 3–8 distorted ceiling cameras, and up to 6 people in scrubs who enter,
work (stand, bend over the table, reach, crouch), walk around and leave — rendered to
images, with a simulated 2D detector producing COCO-17 pseudo poses with a measurable
noise model, and exact PANOPTIC15 3D ground truth.

Entry points (used by the CLI):

* :class:`SynthConfig` (``SynthConfig.from_dict``) — the settings; the defaults are the
  "default rig".
* :func:`synthesize` — write a scene as a dataset (:mod:`selfpose3d_core.data.dataset`).
* :func:`render_show` — a PNG overview of one frame of any dataset.
* :class:`SyntheticScene` — the scene in memory (frames with images, occlusion,
  detections and ground truth).
"""

from .config import DetectorConfig, SynthConfig
from .scene import SceneFrame, SyntheticScene, synthesize
from .show import render_show

__all__ = ["SynthConfig", "DetectorConfig", "synthesize", "render_show", "SyntheticScene",
           "SceneFrame"]
