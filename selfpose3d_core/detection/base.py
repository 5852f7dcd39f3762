"""The 2D detector interface and the registry of backends.

A detector turns one RGB image into the COCO-17 poses of every person in it
(:class:`Detections2D`). Backends register a factory under a name
(:func:`register_detector`); :func:`create_detector` builds one by name. A backend whose
optional packages are missing raises :class:`DetectorUnavailableError`, naming the pip
extra that provides them — the core itself never needs them.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..skeleton import COCO17

__all__ = ["Detections2D", "Detector", "DetectorUnavailableError", "register_detector",
           "create_detector", "available_detectors", "check_image"]


class Detections2D(NamedTuple):
    """The people one detector found in one image (P people, COCO-17 joints).

    Fields:
        keypoints: (P, 17, 2) float64 full-image pixels (OpenCV: (0, 0) = centre of the
            top-left pixel), :data:`~selfpose3d_core.skeleton.COCO17` order.
        scores: (P, 17) float64 joint confidences in [0, 1].
        person_scores: (P,) float64 person (box) confidences in [0, 1].
    """

    keypoints: np.ndarray
    scores: np.ndarray
    person_scores: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.person_scores.shape[0])

    @staticmethod
    def empty() -> Detections2D:
        J = COCO17.num_joints
        return Detections2D(np.zeros((0, J, 2)), np.zeros((0, J)), np.zeros(0))


@runtime_checkable
class Detector(Protocol):
    """A multi-person 2D pose detector.

    A backend may also offer ``detect_batch(images: list) -> list[Detections2D]`` (several
    images in one forward pass); :func:`~.pseudo_label.pseudo_label_dataset` uses it when
    present.

    Attributes:
        name: the registry name of the backend.
        joint_set: always ``"coco17"``.
    """

    name: str
    joint_set: str

    def detect(self, image: np.ndarray) -> Detections2D:
        """Poses of every person in ``image``, an (H, W, 3) uint8 RGB array."""
        ...


class DetectorUnavailableError(ImportError):
    """A detector backend's optional packages are not installed (the message says how)."""


_REGISTRY: dict[str, tuple[Callable[..., Detector], str]] = {}


def register_detector(name: str, factory: Callable[..., Detector],
                      description: str = "") -> None:
    """Register ``factory(**kwargs) -> Detector`` under ``name`` (replaces an existing one)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_detector: name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = (factory, description)


def available_detectors() -> dict[str, str]:
    """Registered backend names → one-line descriptions (installed or not)."""
    return {k: d for k, (_, d) in sorted(_REGISTRY.items())}


def create_detector(name: str, **kwargs: Any) -> Detector:
    """Build the backend registered as ``name`` with its keyword arguments.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        DetectorUnavailableError: the backend's optional packages are not installed.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name][0](**kwargs)


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as a contiguous (H, W, 3) uint8 array; ValueError naming what is wrong."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 \
            or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"detector input must be an (H, W, 3) uint8 RGB image, got "
                         f"{image.shape} {image.dtype}")
    return np.ascontiguousarray(image)
