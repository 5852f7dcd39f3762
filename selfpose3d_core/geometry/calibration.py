"""Converters from other calibration conventions to :class:`~.camera.Camera`.

Every loader returns cameras in this project's convention (metres, world z up, OpenCV
camera, ``x_cam = R x_world + t``; see :mod:`selfpose3d_core.geometry.camera`) and raises
``ValueError`` naming the file and what was wrong. Each function's docstring states the
source convention once.

Supported sources:

* VoxelPose Shelf / Campus JSON (:func:`load_voxelpose_calibration`) and the Panoptic pizza
  demo in the same convention (:func:`load_pizza_demo_calibration`,
  :func:`pizza_demo_crop_cameras`).
* CMU Panoptic ``calibration_<seq>.json`` (:func:`load_panoptic_calibration`), with the
  fixed Panoptic → our world change :data:`PANOPTIC_TO_OURS` /
  :func:`panoptic_world_to_ours`.
* 4D Association ``calibration.json`` (:func:`load_4dassociation_calibration`).
* Qualisys ``.qca.txt`` as used by Pose2Sim (:func:`load_qualisys_calibration`).
* ROS ``sensor_msgs/CameraInfo`` (:func:`camera_from_camera_info`,
  :func:`camera_to_camera_info_dict`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .camera import Camera

__all__ = [
    "PANOPTIC_TO_OURS",
    "PIZZA_DEMO_FULL_SIZE",
    "PIZZA_DEMO_CROP_SIZE",
    "VOXELPOSE_IMAGE_SIZES",
    "panoptic_world_to_ours",
    "load_voxelpose_calibration",
    "load_panoptic_calibration",
    "load_4dassociation_calibration",
    "load_pizza_demo_calibration",
    "pizza_demo_crop_cameras",
    "load_qualisys_calibration",
    "camera_from_camera_info",
    "camera_to_camera_info_dict",
]

#: Image (width, height) of the VoxelPose datasets, keyed by the word in the file name.
VOXELPOSE_IMAGE_SIZES: dict[str, tuple[int, int]] = {"shelf": (1032, 776),
                                                     "campus": (360, 288)}

#: Panoptic world (centimetres, y down) → our world: ``X_ours = PANOPTIC_TO_OURS @ X_pan / 100``,
#: i.e. ``(x, y, z)_pan → (x, z, -y)_pan / 100`` (z up, right-handed: det = +1). This is the
#: world VoxelPose uses for Panoptic (its ``pose.dot(M)`` with ``M = PANOPTIC_TO_OURS.T``).
PANOPTIC_TO_OURS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
PANOPTIC_TO_OURS.setflags(write=False)

#: (width, height) of the pizza demo's calibrated HD frames and of its 960×512 input images.
PIZZA_DEMO_FULL_SIZE = (1920, 1080)
PIZZA_DEMO_CROP_SIZE = (960, 512)


def panoptic_world_to_ours(points_cm: np.ndarray) -> np.ndarray:
    """Panoptic world points (cm, y down) → our world (m, z up).

    points_cm: (..., 3) → (..., 3) float64, ``PANOPTIC_TO_OURS @ p / 100`` for each point.
    """
    points_cm = np.asarray(points_cm, dtype=np.float64)
    if points_cm.shape[-1:] != (3,):
        raise ValueError(f"panoptic_world_to_ours: points must be (..., 3), "
                         f"got {points_cm.shape}")
    return points_cm @ PANOPTIC_TO_OURS.T / 100.0


# ---------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read calibration file ({e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _array(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Numbers of any nesting with ``prod(shape)`` elements → float64 array of ``shape``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be {shape} numbers, got {value!r:.80}") from None
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{where} must have {int(np.prod(shape))} numbers {shape}, "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where} must be finite, got {arr.ravel().tolist()}")
    return arr.reshape(shape)


def _field(entry: Any, key: str, where: str) -> Any:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    if key not in entry:
        raise ValueError(f"{where}: missing key {key!r} (has {sorted(entry)})")
    return entry[key]


def _camera(where: str, **kw) -> Camera:
    try:
        return Camera(**kw)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _intrinsics(fx: float, fy: float, cx: float, cy: float, skew: float = 0.0) -> np.ndarray:
    return np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _voxelpose_camera(entry: Any, width: int, height: int, name: str, where: str) -> Camera:
    """One VoxelPose camera dict (R, T mm centre, fx fy cx cy, k, p) → :class:`Camera`."""
    R = _array(_field(entry, "R", where), (3, 3), f"{where}: 'R'")
    centre = _array(_field(entry, "T", where), (3,), f"{where}: 'T'") / 1000.0
    f = [float(_array(_field(entry, k, where), (1,), f"{where}: {k!r}")[0])
         for k in ("fx", "fy", "cx", "cy")]
    k = _array(_field(entry, "k", where), (3,), f"{where}: 'k'")
    p = _array(_field(entry, "p", where), (2,), f"{where}: 'p'")
    return _camera(where, K=_intrinsics(*f), R=R, t=-R @ centre,
                   dist=np.array([k[0], k[1], p[0], p[1], k[2]]), width=width,
                   height=height, name=name)


def _numeric_keys(data: Any, path: Path) -> list[str]:
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON object keyed by camera id, got "
                         f"{type(data).__name__}")
    keys = list(data)
    if not all(str(k).isdigit() for k in keys):
        raise ValueError(f"{path}: camera ids must be integers, got {keys}")
    return sorted(keys, key=int)


# ---------------------------------------------------------------------------- VoxelPose
def load_voxelpose_calibration(path: str | Path,
                               image_size: tuple[int, int] | None = None) -> list[Camera]:
    """VoxelPose Shelf / Campus ``calibration_*.json`` → cameras, ordered by id.

    Source convention: a JSON object keyed by camera id (``"0"``, ``"1"``, ...), each with
    ``R`` (3×3 world→camera), ``T`` (3×1 camera centre in the world, **millimetres**), so
    ``x_cam = R (X − T)``; intrinsics ``fx fy cx cy`` (pixels), ``k`` = (k1, k2, k3) radial
    and ``p`` = (p1, p2) tangential distortion (reordered here to OpenCV's
    (k1, k2, p1, p2, k3)). The file has no image size: pass ``image_size`` = (width,
    height), or leave it None for a file whose name contains ``shelf`` (1032×776) or
    ``campus`` (360×288). Cameras are named by their id.
    """
    path = Path(path)
    if image_size is None:
        found = [s for key, s in VOXELPOSE_IMAGE_SIZES.items() if key in path.name.lower()]
        if len(found) != 1:
            raise ValueError(f"{path}: cannot tell the image size from the file name (known: "
                             f"{sorted(VOXELPOSE_IMAGE_SIZES)}); pass image_size=(w, h)")
        image_size = found[0]
    data = _read_json(path)
    width, height = (int(v) for v in image_size)
    return [_voxelpose_camera(data[k], width, height, str(k), f"{path}: camera {k!r}")
            for k in _numeric_keys(data, path)]


def load_pizza_demo_calibration(path: str | Path) -> list[Camera]:
    """Panoptic pizza demo ``calibration.json`` → cameras of the 1920×1080 HD frames.

    Source convention: ``{"customized_sequence": [camera, ...]}``, one entry per view in
    the VoxelPose convention (``R`` world→camera, ``T`` camera centre in mm,
    ``x_cam = R (X − T)``, ``fx fy cx cy`` at 1920×1080, ``k`` 3 radial, ``p`` 2
    tangential). Its world is VoxelPose's Panoptic world, which is ours (z up; see
    :data:`PANOPTIC_TO_OURS`) in mm. Cameras are named ``view_<i>``. For the 960×512
    images use :func:`pizza_demo_crop_cameras`.
    """
    path = Path(path)
    data = _read_json(path)
    seq = _field(data, "customized_sequence", str(path))
    if not isinstance(seq, list) or not seq:
        raise ValueError(f"{path}: 'customized_sequence' must be a non-empty list, got "
                         f"{type(seq).__name__}")
    w, h = PIZZA_DEMO_FULL_SIZE
    return [_voxelpose_camera(e, w, h, f"view_{i}", f"{path}: customized_sequence[{i}]")
            for i, e in enumerate(seq)]


def pizza_demo_crop_cameras(cams: Sequence[Camera]) -> list[Camera]:
    """Cameras of the pizza demo's 960×512 input images from the 1920×1080 cameras.

    The images are VoxelPose's input warp: the frame scaled by ``s = 512/1080`` and centred
    with black bars of ``pad = (960 − 1920 s)/2 ≈ 24.89`` px left and right. VoxelPose
    warps with an affine that maps pixel centres as ``u' = s u + pad``, ``v' = s v`` (no
    half-pixel term); the images confirm it (column 24 is black, column 935 is ~20 %
    bright, the bilinear blend of source column 1919.8 with the black border). So this is
    ``cam.scaled(s)`` (``u' = s (u + ½) − ½``) followed by a pad of ``pad + ½ − s/2`` px
    on the left and ``½ − s/2`` px at the top (a ``cropped`` with negative origin).
    """
    (W, H), (w, h) = PIZZA_DEMO_FULL_SIZE, PIZZA_DEMO_CROP_SIZE
    s = h / H
    pad = (w - W * s) / 2.0
    out = []
    for cam in cams:
        if cam.image_size != (W, H):
            raise ValueError(f"pizza_demo_crop_cameras: expected {W}x{H} cameras, got "
                             f"{cam.width}x{cam.height} ({cam.name!r})")
        half = 0.5 * s - 0.5  # scaled() shifts pixel centres by this
        out.append(cam.scaled(s).cropped(x0=half - pad, y0=half, width=w, height=h))
    return out


# ---------------------------------------------------------------------------- Panoptic
def load_panoptic_calibration(path: str | Path, camera_names: Sequence[str] | None = None,
                              camera_type: str = "hd") -> list[Camera]:
    """CMU Panoptic ``calibration_<seq>.json`` → cameras in our world (m, z up).

    Source convention: ``{"cameras": [...]}``, each with ``name`` (``"00_03"`` = HD camera
    3), ``type`` (``"hd"``, ``"vga"``, ``"kinect-color"``), ``resolution`` [w, h], ``K``,
    ``distCoef`` (k1, k2, p1, p2, k3), ``R`` and ``t`` (cm) with
    ``x_cam = R X_pan + t`` in the Panoptic world (cm, y down). Converted with
    :data:`PANOPTIC_TO_OURS` (A): ``R_ours = R A^T``, ``t_ours = t / 100``.

    Args:
        camera_names: the cameras to return, in this order (any type); None → every camera
            of ``camera_type`` in file order.
        camera_type: the type selected when ``camera_names`` is None.
    """
    path = Path(path)
    data = _read_json(path)
    cams = _field(data, "cameras", str(path))
    if not isinstance(cams, list) or not cams:
        raise ValueError(f"{path}: 'cameras' must be a non-empty list")
    by_name: dict[str, tuple[int, Any]] = {}
    for i, c in enumerate(cams):
        by_name[str(_field(c, "name", f"{path}: cameras[{i}]"))] = (i, c)
    if camera_names is None:
        names = [n for n, (i, c) in by_name.items()
                 if _field(c, "type", f"{path}: cameras[{i}]") == camera_type]
        if not names:
            raise ValueError(f"{path}: no camera of type {camera_type!r}")
    else:
        names = [str(n) for n in camera_names]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"{path}: cameras {missing} not in the file")
    out = []
    for name in names:
        i, c = by_name[name]
        where = f"{path}: camera {name!r}"
        size = _array(_field(c, "resolution", where), (2,), f"{where}: 'resolution'")
        R = _array(_field(c, "R", where), (3, 3), f"{where}: 'R'")
        t = _array(_field(c, "t", where), (3,), f"{where}: 't'")
        out.append(_camera(where, K=_array(_field(c, "K", where), (3, 3), f"{where}: 'K'"),
                           R=R @ PANOPTIC_TO_OURS.T, t=t / 100.0,
                           dist=_array(_field(c, "distCoef", where), (5,),
                                       f"{where}: 'distCoef'"),
                           width=int(size[0]), height=int(size[1]), name=name))
    return out


# ---------------------------------------------------------------------------- 4D Association
def load_4dassociation_calibration(path: str | Path) -> list[Camera]:
    """4D Association ``calibration.json`` → cameras, ordered by id.

    Source convention: a JSON object keyed by camera id, each with ``K`` (9 numbers,
    row-major 3×3), ``RT`` (12 numbers, row-major 3×4 ``[R | t]`` world→camera, metres,
    our convention already) and ``imgSize`` [w, h]. No distortion. Named by id.
    """
    path = Path(path)
    data = _read_json(path)
    out = []
    for k in _numeric_keys(data, path):
        where = f"{path}: camera {k!r}"
        RT = _array(_field(data[k], "RT", where), (3, 4), f"{where}: 'RT'")
        size = _array(_field(data[k], "imgSize", where), (2,), f"{where}: 'imgSize'")
        out.append(_camera(where, K=_array(_field(data[k], "K", where), (3, 3),
                                           f"{where}: 'K'"),
                           R=RT[:, :3], t=RT[:, 3], width=int(size[0]), height=int(size[1]),
                           name=str(k)))
    return out


# ---------------------------------------------------------------------------- Qualisys
_QCA_DIVISOR = 64.0  # Qualisys intrinsics are in 1/64 sub-pixel sensor units
_ROT_X_PI = np.diag([1.0, -1.0, -1.0])  # rotation of π about the camera x axis


def _qca_floats(elem: ET.Element, keys: Sequence[str], where: str) -> list[float]:
    vals = []
    for k in keys:
        if k not in elem.attrib:
            raise ValueError(f"{where}: <{elem.tag}> lacks attribute {k!r}")
        try:
            vals.append(float(elem.attrib[k]))
        except ValueError:
            raise ValueError(f"{where}: <{elem.tag}> {k}={elem.attrib[k]!r} is not a "
                             f"number") from None
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{where}: <{elem.tag}> has non-finite values {vals}")
    return vals


def _qca_child(cam: ET.Element, tag: str, where: str) -> ET.Element:
    elem = cam.find(tag)
    if elem is None:
        raise ValueError(f"{where}: missing <{tag}>")
    return elem


def load_qualisys_calibration(path: str | Path) -> list[Camera]:
    """Qualisys ``.qca.txt`` (XML, as shipped with Pose2Sim) → cameras, in file order.

    Source convention: ``<camera serial=...>`` elements with

    * ``<fov_video left right top bottom>``: the video image's pixel range on the sensor
      (inclusive), so width = right − left + 1, height = bottom − top + 1;
    * ``<intrinsic>``: ``focalLengthU/V`` and ``centerPointU/V`` in 1/64 sensor pixels
      (the principal point is then shifted by the fov origin), ``radialDistortion1..3`` →
      k1 k2 k3, ``tangentalDistortion1..2`` → p1 p2;
    * ``<transform r11..r33 x y z>``: the camera pose in the world, position in mm. The
      r_ij are read row-major into A; A is world → Qualisys-camera (the pose rotation is
      A^T, i.e. stored column-major). Qualisys cameras look along −z with y up, so
      OpenCV's world→camera is ``R = Rx(π) A``, ``t = −R C / 1000`` (as Pose2Sim does).

    Units become metres. The Pose2Sim demo's world is already z up: cameras 1.7–2.1 m
    above the origin, every image's "down" within 35° of world −z, the origin in view.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise ValueError(f"{path}: not a readable Qualisys XML file ({e})") from None
    cams = root.findall("cameras/camera")
    if not cams:
        raise ValueError(f"{path}: no <cameras><camera> elements")
    out = []
    for i, cam in enumerate(cams):
        name = cam.attrib.get("serial", str(i))
        where = f"{path}: camera {name!r}"
        left, right, top, bottom = _qca_floats(_qca_child(cam, "fov_video", where),
                                               ("left", "right", "top", "bottom"), where)
        fu, fv, cu, cv, k1, k2, k3, p1, p2 = _qca_floats(
            _qca_child(cam, "intrinsic", where),
            ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV",
             "radialDistortion1", "radialDistortion2", "radialDistortion3",
             "tangentalDistortion1", "tangentalDistortion2"), where)
        tr = _qca_floats(_qca_child(cam, "transform", where),
                         [f"r{a}{b}" for a in "123" for b in "123"] + ["x", "y", "z"], where)
        A = np.array(tr[:9]).reshape(3, 3)
        R = _ROT_X_PI @ A
        centre = np.array(tr[9:]) / 1000.0
        K = _intrinsics(fu / _QCA_DIVISOR, fv / _QCA_DIVISOR, cu / _QCA_DIVISOR - left,
                        cv / _QCA_DIVISOR - top)
        out.append(_camera(where, K=K, R=R, t=-R @ centre, dist=[k1, k2, p1, p2, k3],
                           width=int(right - left + 1), height=int(bottom - top + 1),
                           name=name))
    return out


# ---------------------------------------------------------------------------- ROS CameraInfo
_ROI_KEYS = ("x_offset", "y_offset", "width", "height")
_DIST_MODELS = ("plumb_bob", "rational_polynomial")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for a mapping, ``obj.key`` otherwise; ``default`` when absent."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def camera_from_camera_info(info: Any, R: np.ndarray, t: np.ndarray,
                            name: str = "") -> Camera:
    """A ROS 2 ``sensor_msgs/msg/CameraInfo`` (message or dict) + extrinsics → Camera.

    Source convention (REP 104, image_geometry): ``width``/``height``, ``k`` (9, row-major
    K) and ``d`` describe the full-resolution *raw* image the camera was calibrated at;
    ``distortion_model`` is ``plumb_bob`` (k1 k2 p1 p2 k3) or ``rational_polynomial``
    (k1 k2 p1 p2 k3 k4 k5 k6; accepted only when k4..k6 are 0). ``r`` and ``p`` (rectified
    image) are validated but not used: the returned camera models the raw image. The
    published image is that calibration with the ROI applied first (``roi.x_offset``,
    ``y_offset``, ``width``, ``height`` in full-resolution pixels; width/height 0 = full
    image), then binning (``binning_x/y`` 0 or 1 = none). Binning uses
    :meth:`Camera.scaled` (pixel centres: ``u' = (u + ½)/b − ½``), which is exact for
    pixel binning; image_geometry divides ``cx`` by ``b`` instead (¼ px apart at b = 2).
    CameraInfo has no extrinsics: ``R`` (3, 3) and ``t`` (3,) are world→camera (m).

    ``info`` is a mapping with the message's snake-case field names (``roi`` a mapping
    too) or an object with those attributes (a real message).
    """
    where = f"CameraInfo {name!r}" if name else "CameraInfo"
    for key in ("width", "height", "k"):
        if _get(info, key) is None:
            raise ValueError(f"{where}: missing field {key!r}")
    width, height = int(_get(info, "width")), int(_get(info, "height"))
    K = _array(_get(info, "k"), (3, 3), f"{where}: 'k'")
    if not np.any(K):
        raise ValueError(f"{where}: 'k' is all zeros (uncalibrated camera)")
    d_raw = _get(info, "d")
    d = np.asarray([] if d_raw is None else d_raw, dtype=np.float64).ravel()
    model = str(_get(info, "distortion_model", "") or "")
    if d.size and model not in _DIST_MODELS:
        raise ValueError(f"{where}: distortion_model {model!r} is not supported (only "
                         f"{_DIST_MODELS})")
    if d.size not in (0, 5, 8) or (d.size > 5 and np.any(d[5:] != 0)):
        raise ValueError(f"{where}: 'd' must be 5 OpenCV coefficients (k1 k2 p1 p2 k3), or "
                         f"more with the rest 0; got {d.tolist()} ({model!r})")
    for key, n in (("r", 9), ("p", 12)):
        val = _get(info, key)
        size = 0 if val is None else np.asarray(val).size
        if size not in (0, n):
            raise ValueError(f"{where}: {key!r} must have {n} numbers, got {size}")
    bins = []
    for key in ("binning_x", "binning_y"):
        b = int(_get(info, key, 0) or 0)
        if b < 0:
            raise ValueError(f"{where}: {key} must be >= 0, got {b}")
        bins.append(max(b, 1))
    cam = _camera(where, K=K, R=R, t=t, dist=d[:5] if d.size else np.zeros(5), width=width,
                  height=height, name=name)
    roi = _get(info, "roi")
    if roi is not None:
        x0, y0, rw, rh = (int(_get(roi, k, 0) or 0) for k in _ROI_KEYS)
        if rw or rh or x0 or y0:
            rw, rh = rw or width - x0, rh or height - y0
            if x0 < 0 or y0 < 0 or rw <= 0 or rh <= 0 or x0 + rw > width or y0 + rh > height:
                raise ValueError(f"{where}: roi (x_offset={x0}, y_offset={y0}, width={rw}, "
                                 f"height={rh}) is not inside the {width}x{height} image")
            cam = cam.cropped(x0, y0, rw, rh)
    bx, by = bins
    if bx > 1 or by > 1:
        cam = cam.scaled(1.0 / bx, 1.0 / by).replace(width=cam.width // bx,
                                                     height=cam.height // by)
    return cam


def camera_to_camera_info_dict(cam: Camera) -> dict:
    """A camera as a ROS 2 CameraInfo-shaped dict (no header; extrinsics are not in it).

    Keys: ``width``, ``height``, ``distortion_model`` (``plumb_bob``), ``d`` (5), ``k``
    (9), ``r`` (identity, 9), ``p`` (``[K | 0]``, 12), ``binning_x/y`` (0), ``roi`` (all
    zero: full image). Inverse of :func:`camera_from_camera_info` given ``cam.R, cam.t``.
    """
    P = np.concatenate([cam.K, np.zeros((3, 1))], axis=1)
    return {
        "width": cam.width, "height": cam.height, "distortion_model": "plumb_bob",
        "d": cam.dist.tolist(), "k": cam.K.ravel().tolist(), "r": np.eye(3).ravel().tolist(),
        "p": P.ravel().tolist(), "binning_x": 0, "binning_y": 0,
        "roi": {"x_offset": 0, "y_offset": 0, "width": 0, "height": 0, "do_rectify": False},
    }
