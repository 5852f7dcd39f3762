"""The synthetic scene: room + cameras + people + renderer + detector, and the writer.

:class:`SyntheticScene` builds everything from a :class:`SynthConfig` (deterministic in
``config.seed``; independent random streams for the rig, the people, and the detector,
the latter re-seeded per frame from ``(seed, frame)``), and yields :class:`SceneFrame`.
:func:`synthesize` writes a scene as a dataset (:mod:`selfpose3d_core.data.dataset`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from ..data.dataset import DatasetMeta, DatasetWriter, ViewKeypoints
from ..data.frames import SkeletonFrame
from ..geometry.camera import Camera
from .body import COCO_FROM_POINTS, Body
from .config import SynthConfig
from .detector import ViewDetections, detect_view
from .motion import Motion, PeopleFrame, pose_frame, simulate_people
from .renderer import SceneRenderer, ViewRender
from .room import Room, make_cameras, make_room

__all__ = ["SceneFrame", "SyntheticScene", "synthesize"]

log = logging.getLogger(__name__)


class SceneFrame(NamedTuple):
    """One generated frame.

    Fields:
        index: frame number.
        timestamp: seconds since the first frame.
        people: the people's state (ids, angles, ...).
        body: their posed bodies; ``body.points[:, :15]`` is the PANOPTIC15 ground truth.
        views: per view: image (or None) and the (P, 17) occlusion of the COCO-17 joints.
        detections: per view: the simulated detector's output.
    """

    index: int
    timestamp: float
    people: PeopleFrame
    body: Body
    views: tuple[ViewRender, ...]
    detections: tuple[ViewDetections, ...]

    @property
    def ids(self) -> np.ndarray:
        """(P,) person ids."""
        return self.people.ids

    @property
    def joints(self) -> np.ndarray:
        """(P, 15, 3) PANOPTIC15 ground truth (m)."""
        return self.body.points[:, :15]

    @property
    def coco_joints(self) -> np.ndarray:
        """(P, 17, 3) COCO-17 ground truth (m), as the detector sees it."""
        return self.body.points[:, COCO_FROM_POINTS]


class SyntheticScene:
    """The operating room of ``config``; index it or iterate over it for frames."""

    def __init__(self, config: SynthConfig):
        self.config = config
        rig_seq, people_seq = np.random.SeedSequence([config.seed, 0x5E1F]).spawn(2)
        if config.rig_seed is not None:
            rig_seq = np.random.SeedSequence([config.rig_seed, 0x5E1F]).spawn(2)[0]
        self.room: Room = make_room(config)
        self.cameras: tuple[Camera, ...] = make_cameras(config, np.random.default_rng(rig_seq))
        self.motion: Motion = simulate_people(config, self.room,
                                              np.random.default_rng(people_seq))
        self._appearance = {p.pid: p.appearance for p in self.motion.people}
        self._renderer: SceneRenderer | None = None

    @property
    def renderer(self) -> SceneRenderer:
        if self._renderer is None:  # building the backgrounds takes ~0.1 s per view
            seed = self.config.seed if self.config.rig_seed is None else self.config.rig_seed
            self._renderer = SceneRenderer(self.cameras, self.room, seed)
        return self._renderer

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def __len__(self) -> int:
        return self.config.num_frames

    def frame(self, index: int, render_images: bool = True) -> SceneFrame:
        """Generate frame ``index`` (images only when ``render_images``)."""
        if not 0 <= index < len(self):
            raise ValueError(f"frame index {index} out of range [0, {len(self)})")
        people = self.motion.frames[index]
        body = pose_frame(people)
        views = tuple(self.renderer.render(body, people.shapes,
                                           [self._appearance[int(i)] for i in people.ids],
                                           render_images))
        rng = np.random.default_rng([self.config.seed, 0xDE7, index])  # per-frame stream
        coco = body.points[:, COCO_FROM_POINTS]
        half = self.room.half
        dets = tuple(detect_view(rng, self.config.detector, cam, coco, v.occlusion, half)
                     for cam, v in zip(self.cameras, views))
        return SceneFrame(index=index, timestamp=index / self.config.fps, people=people,
                          body=body, views=views, detections=dets)

    def __iter__(self) -> Iterator[SceneFrame]:
        for i in range(len(self)):
            yield self.frame(i)


def synthesize(config: SynthConfig, out_dir: str | Path, write_images: bool = True,
               progress: bool = False) -> Path:
    """Generate the synthetic scene of ``config`` and write it as a dataset.

    Args:
        config: the scene (rig, people, detector noise, seed).
        out_dir: dataset directory; created, or replaced if it already holds a dataset
            (a non-empty directory that is not a dataset → ValueError).
        write_images: also write the JPEG images (else keypoints, cameras and GT only).
        progress: log progress at INFO level.
    Returns:
        The dataset directory. The same config gives byte-identical keypoint and
        ground-truth files.
    """
    scene = SyntheticScene(config)
    meta = DatasetMeta(fps=config.fps, joint_set="coco17",
                       source={"type": "synthetic", "generator": "selfpose3d_core.synthetic",
                               "seed": config.seed, "config": config.to_dict()},
                       description="synthetic operating room (selfpose3d)")
    t0 = time.perf_counter()
    step = max(1, len(scene) // 10)
    with DatasetWriter(out_dir, scene.cameras, meta, overwrite=True,
                       jpeg_quality=config.jpeg_quality) as writer:
        for i in range(len(scene)):
            fr = scene.frame(i, render_images=write_images)
            kps = [ViewKeypoints(keypoints=d.keypoints, conf=d.conf, scores=d.scores)
                   for d in fr.detections]
            images = [v.image for v in fr.views] if write_images else None
            gt = SkeletonFrame(ids=fr.ids, joints=fr.joints,
                               valid=np.ones(fr.joints.shape[:2], bool))
            writer.add_frame(fr.timestamp, kps, images, gt)
            if progress and ((i + 1) % step == 0 or i + 1 == len(scene)):
                el = time.perf_counter() - t0
                log.info("synthesize: frame %d/%d (%.3f s/frame)", i + 1, len(scene),
                         el / (i + 1))
    return Path(out_dir)
