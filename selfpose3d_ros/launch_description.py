"""The node lists of the rig and demo launches, as plain data (no ``launch`` import).

``launch/rig.launch.py`` and ``launch/demo.launch.py`` are thin wrappers: they declare
:data:`RIG_ARGUMENTS` / :data:`DEMO_ARGUMENTS` as launch arguments and turn the
:class:`NodeSpec` list of :func:`rig_nodes` / :func:`demo_nodes` into ``launch_ros``
``Node`` actions. :mod:`selfpose3d_ros.bringup` starts the same lists as subprocesses
(``ros2 launch`` is not available everywhere), so what is tested here is what both run.

- **rig**: the ``pose_estimator`` with the parameters file
  (``config/pose_estimator.yaml``), camera topic remaps (``cam0=/rig/cam0/color``), the
  device, checkpoint and rig YAML.
- **demo**: a source (the ``synthetic_rig_publisher`` playing the synthetic room, or the
  ``bag_replay`` tool playing a bag), the ``pose_estimator`` and RViz with
  ``rviz/selfpose3d.rviz``. For the synthetic source the estimator reads the synthetic
  room's rig YAML, written beforehand by :func:`prepare_demo`.

Every node gets ``FASTRTPS_DEFAULT_PROFILES_FILE`` / ``FASTDDS_DEFAULT_PROFILES_FILE`` =
``config/fastdds_large_images.xml`` (shared-memory transport with a 64 MiB segment: without
it Fast DDS loses large images) unless ``fastdds_profile`` is empty.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "PACKAGE",
    "NodeSpec",
    "LaunchArg",
    "RIG_ARGUMENTS",
    "DEMO_ARGUMENTS",
    "share_path",
    "fastdds_env",
    "parse_topic_map",
    "rig_nodes",
    "demo_nodes",
    "demo_rig_path",
    "prepare_demo",
    "nodes_from_launch_args",
]

PACKAGE = "selfpose3d"
_REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class NodeSpec:
    """One node to start (the fields of ``launch_ros.actions.Node``).

    Attributes:
        package: ROS package of the executable.
        executable: the executable (console script) name.
        name: the node name.
        namespace: node namespace ("" = none).
        parameters: parameter files (paths) and dicts, applied in order.
        remappings: ``(from, to)`` topic remaps.
        arguments: extra command-line arguments (before ``--ros-args``).
        env: extra environment variables.
    """

    package: str
    executable: str
    name: str
    namespace: str = ""
    parameters: tuple[Any, ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def parameter_dict(self) -> dict[str, Any]:
        """The dict parameters merged (files not read)."""
        out: dict[str, Any] = {}
        for p in self.parameters:
            if isinstance(p, Mapping):
                out.update(p)
        return out


@dataclass(frozen=True)
class LaunchArg:
    """A launch argument: name, default (a string, as launch passes it) and description."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


def share_path(*parts: str) -> str:
    """A file of the package's share directory (installed by colcon / pip), falling back
    to the source tree (``config/…``, ``rviz/…``)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory(PACKAGE), *parts)
        if installed.exists():
            return str(installed)
    except Exception:  # noqa: BLE001 - not installed through the ament index
        pass
    return str(_REPO.joinpath(*parts))


def fastdds_env(profile: str | None = None) -> tuple[tuple[str, str], ...]:
    """Environment that makes Fast DDS use ``profile`` (Jazzy reads the FASTRTPS name,
    newer releases the FASTDDS one: both are set). Empty ``profile`` → nothing."""
    if profile is None:
        profile = share_path("config", "fastdds_large_images.xml")
    if not profile:
        return ()
    return (("FASTRTPS_DEFAULT_PROFILES_FILE", profile),
            ("FASTDDS_DEFAULT_PROFILES_FILE", profile))


def parse_topic_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"cam0=/rig/cam0/color,cam1=/rig/cam1/color"`` (or a dict) → ``{camera: topic}``.

    Raises:
        ValueError: an entry without ``=`` or an empty side.
    """
    if not text:
        return {}
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    out = {}
    for entry in str(text).split(","):
        entry = entry.strip()
        if not entry:
            continue
        cam, sep, topic = entry.partition("=")
        if not sep or not cam.strip() or not topic.strip():
            raise ValueError(f"topic remap {entry!r}: expected camera=topic")
        out[cam.strip()] = topic.strip()
    return out


def _cameras(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return [str(c) for c in value]


def _estimator_spec(params_file: str, overrides: dict[str, Any], namespace: str,
                    image_topics: Mapping[str, str], info_topics: Mapping[str, str],
                    transport: str, env: tuple) -> NodeSpec:
    suffix = "/compressed" if transport == "compressed" else ""
    image_pattern = str(overrides.get("image_topic", "{camera}/image_raw"))
    info_pattern = str(overrides.get("camera_info_topic", "{camera}/camera_info"))
    remaps = [(image_pattern.replace("{camera}", cam) + suffix, topic)
              for cam, topic in image_topics.items()]
    remaps += [(info_pattern.replace("{camera}", cam), topic)
               for cam, topic in info_topics.items()]
    params: list[Any] = [params_file] if params_file else []
    if overrides:
        params.append(dict(overrides))
    return NodeSpec(PACKAGE, "pose_estimator", "pose_estimator", namespace=namespace,
                    parameters=tuple(params), remappings=tuple(remaps), env=env)


def rig_nodes(*, params_file: str | None = None, checkpoint: str = "", rig_yaml: str = "",
              device: str = "", cameras: str | Sequence[str] = "",
              camera_topics: str | Mapping[str, str] = "",
              camera_info_topics: str | Mapping[str, str] = "", image_transport: str = "",
              calibration: str = "", world_frame: str = "", namespace: str = "",
              fastdds_profile: str | None = None) -> list[NodeSpec]:
    """The rig launch: one ``pose_estimator``.

    Empty arguments leave the value of the parameters file; others override it.

    Args:
        params_file: ``pose_estimator`` parameters (default ``config/pose_estimator.yaml``).
        checkpoint, rig_yaml, device, image_transport, calibration, world_frame: parameter
            overrides.
        cameras: camera names (comma-separated or a list).
        camera_topics: image topic per camera (``cam0=/rig/cam0/color,...``): remaps of
            the node's ``<cam>/image_raw`` (``…/compressed`` with compressed transport).
        camera_info_topics: CameraInfo topic per camera, likewise.
        namespace: the node's namespace.
        fastdds_profile: Fast DDS XML profile ("" = none; default the package's).
    """
    if params_file is None:
        params_file = share_path("config", "pose_estimator.yaml")
    overrides: dict[str, Any] = {}
    for key, value in (("checkpoint", checkpoint), ("rig_yaml", rig_yaml), ("device", device),
                       ("image_transport", image_transport), ("calibration", calibration),
                       ("world_frame", world_frame)):
        if value:
            overrides[key] = str(value)
    cams = _cameras(cameras)
    if cams:
        overrides["cameras"] = cams
    if overrides.get("device") not in (None, "cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if overrides.get("image_transport") not in (None, "raw", "compressed"):
        raise ValueError(f"image_transport must be 'raw' or 'compressed', got "
                         f"{image_transport!r}")
    return [_estimator_spec(params_file, overrides, namespace, parse_topic_map(camera_topics),
                            parse_topic_map(camera_info_topics), image_transport or "raw",
                            fastdds_env(fastdds_profile))]


def demo_rig_path(num_cameras: int = 5, seed: int = 0, image_width: int = 640,
                  image_height: int = 480) -> str:
    """Where :func:`prepare_demo` writes the synthetic room's rig YAML."""
    return str(Path(tempfile.gettempdir()) / (f"selfpose3d_demo_rig_{num_cameras}cams_seed"
                                              f"{seed}_{image_width}x{image_height}.yaml"))


def prepare_demo(*, source: str = "synthetic", num_cameras: int = 5, seed: int = 0,
                 image_width: int = 640, image_height: int = 480, rig_yaml: str = "",
                 **_: Any) -> str:
    """Write the synthetic room's rig YAML (what the estimator needs to calibrate) unless
    ``rig_yaml`` is given; returns the path ("" for a bag without ``rig_yaml``)."""
    if rig_yaml or source != "synthetic":
        return rig_yaml
    from selfpose3d_core.geometry.rig_yaml import save_rig_yaml
    from selfpose3d_ros.synthetic_publisher import synthetic_rig

    path = demo_rig_path(num_cameras, seed, image_width, image_height)
    save_rig_yaml(path, synthetic_rig(num_cameras, seed, image_width, image_height))
    return path


def demo_nodes(*, checkpoint: str, source: str = "synthetic", bag: str = "",
               device: str = "cpu", rate: float = 10.0, num_cameras: int = 5, seed: int = 0,
               image_width: int = 640, image_height: int = 480, rig_yaml: str = "",
               rviz: bool = True, rviz_config: str | None = None,
               params_file: str | None = None, fastdds_profile: str | None = None,
               estimator_overrides: Mapping[str, Any] | None = None,
               publisher_overrides: Mapping[str, Any] | None = None) -> list[NodeSpec]:
    """The demo launch: source + ``pose_estimator`` + RViz.

    Args:
        checkpoint: the model (e.g. ``checkpoints/selfpose3d_small_synthetic.pt``).
        source: ``synthetic`` (``synthetic_rig_publisher``) or ``bag`` (``bag_replay BAG
            --loop --restamp``: the stamps start now and keep increasing over loops).
        bag: the bag to replay (``source: bag``).
        device: ``cpu`` or ``cuda``.
        rate, num_cameras, seed, image_width, image_height: the synthetic room.
        rig_yaml: calibration for the estimator; default: the synthetic room's (written by
            :func:`prepare_demo`), or for a bag CameraInfo + /tf_static from the bag.
        rviz: start RViz (``rviz2 -d rviz_config``).
        estimator_overrides, publisher_overrides: more parameters of either node.
    """
    if not checkpoint:
        raise ValueError("demo: `checkpoint` is required (e.g. "
                         "checkpoints/selfpose3d_small_synthetic.pt)")
    if source not in ("synthetic", "bag"):
        raise ValueError(f"demo: source must be 'synthetic' or 'bag', got {source!r}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"demo: device must be 'cpu' or 'cuda', got {device!r}")
    env = fastdds_env(fastdds_profile)
    nodes: list[NodeSpec] = []
    est: dict[str, Any] = {"checkpoint": checkpoint, "device": device}
    if source == "synthetic":
        pub = {"rate": float(rate), "num_cameras": int(num_cameras), "seed": int(seed),
               "image_width": int(image_width), "image_height": int(image_height)}
        pub.update(publisher_overrides or {})
        nodes.append(NodeSpec(PACKAGE, "synthetic_rig_publisher", "synthetic_rig_publisher",
                              parameters=(pub,), env=env))
        est.update(calibration="rig_yaml",
                   rig_yaml=rig_yaml or demo_rig_path(num_cameras, seed, image_width,
                                                      image_height),
                   cameras=[f"cam{i}" for i in range(int(num_cameras))],
                   expected_rate=float(rate))
    else:
        if not bag:
            raise ValueError("demo: source 'bag' needs `bag` (a rosbag2 directory)")
        nodes.append(NodeSpec(PACKAGE, "bag_replay", "bag_replay",
                              arguments=(bag, "--loop", "--restamp"), env=env))
        est["calibration"] = "camera_info"
        if rig_yaml:
            est["rig_yaml"] = rig_yaml
    est.update(estimator_overrides or {})
    if params_file is None:
        params_file = share_path("config", "pose_estimator.yaml")
    nodes.append(_estimator_spec(params_file, est, "", {}, {}, "raw", env))
    if rviz:
        cfg = rviz_config or share_path("rviz", "selfpose3d.rviz")
        nodes.append(NodeSpec("rviz2", "rviz2", "rviz2", arguments=("-d", cfg), env=env))
    return nodes


# --------------------------------------------------------------------------- launch args
RIG_ARGUMENTS: tuple[LaunchArg, ...] = (
    LaunchArg("params_file", "", "pose_estimator parameters YAML (default: the package's "
              "config/pose_estimator.yaml)"),
    LaunchArg("checkpoint", "", "model checkpoint (overrides the params file)"),
    LaunchArg("rig_yaml", "", "rig YAML calibration (overrides the params file)"),
    LaunchArg("device", "", "cuda or cpu (overrides the params file)",
              choices=("", "cuda", "cpu")),
    LaunchArg("cameras", "", "comma-separated camera names (overrides the params file)"),
    LaunchArg("camera_topics", "", "image topic per camera: cam0=/rig/cam0/image,..."),
    LaunchArg("camera_info_topics", "", "CameraInfo topic per camera: "
              "cam0=/rig/cam0/camera_info,..."),
    LaunchArg("image_transport", "", "raw or compressed (overrides the params file)",
              choices=("", "raw", "compressed")),
    LaunchArg("calibration", "", "rig_yaml or camera_info (overrides the params file)",
              choices=("", "rig_yaml", "camera_info")),
    LaunchArg("world_frame", "", "TF frame of the output (overrides the params file)"),
    LaunchArg("namespace", "", "namespace of the pose_estimator node"),
    LaunchArg("fastdds_profile", "default", "Fast DDS XML profile for large images; "
              "'default' = the package's, '' = leave Fast DDS alone"),
)

DEMO_ARGUMENTS: tuple[LaunchArg, ...] = (
    LaunchArg("checkpoint", "", "model checkpoint (required; e.g. the shipped "
              "checkpoints/selfpose3d_small_synthetic.pt, which has an image backbone)"),
    LaunchArg("source", "synthetic", "synthetic (the synthetic room) or bag (bag_replay)",
              choices=("synthetic", "bag")),
    LaunchArg("bag", "", "rosbag2 to replay when source:=bag"),
    LaunchArg("device", "cpu", "cuda or cpu", choices=("cuda", "cpu")),
    LaunchArg("rate", "10.0", "synthetic room: frames per second"),
    LaunchArg("num_cameras", "5", "synthetic room: number of cameras (3-8)"),
    LaunchArg("seed", "0", "synthetic room: seed"),
    LaunchArg("image_width", "640", "synthetic room: image width (px)"),
    LaunchArg("image_height", "480", "synthetic room: image height (px)"),
    LaunchArg("rig_yaml", "", "calibration for the estimator (default: the synthetic "
              "room's, written to the temp dir; for a bag: CameraInfo + /tf_static)"),
    LaunchArg("rviz", "true", "start RViz with rviz/selfpose3d.rviz",
              choices=("true", "false")),
    LaunchArg("rviz_config", "", "RViz config (default: the package's)"),
    LaunchArg("params_file", "", "pose_estimator parameters YAML (default: the package's)"),
    LaunchArg("fastdds_profile", "default", "Fast DDS XML profile for large images; "
              "'default' = the package's, '' = leave Fast DDS alone"),
)

_INT_ARGS = {"num_cameras", "seed", "image_width", "image_height"}
_FLOAT_ARGS = {"rate"}
_BOOL_ARGS = {"rviz"}


def _typed(name: str, value: str) -> Any:
    if name in _INT_ARGS:
        return int(value)
    if name in _FLOAT_ARGS:
        return float(value)
    if name in _BOOL_ARGS:
        v = str(value).strip().lower()
        if v not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return v in ("true", "1")
    return value


def nodes_from_launch_args(kind: str, values: Mapping[str, str]) -> list[NodeSpec]:
    """Launch-argument strings (as ``LaunchConfiguration(...).perform`` gives them) →
    the node list of ``kind`` (``"rig"`` or ``"demo"``). For the demo, the synthetic
    room's rig YAML is written first (:func:`prepare_demo`).

    Raises:
        ValueError: an unknown argument, a value outside its choices, a bad number.
    """
    args = {"rig": RIG_ARGUMENTS, "demo": DEMO_ARGUMENTS}.get(kind)
    if args is None:
        raise ValueError(f"kind must be 'rig' or 'demo', got {kind!r}")
    known = {a.name: a for a in args}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} launch arguments {unknown}; known: {sorted(known)}")
    kw: dict[str, Any] = {}
    for a in args:
        value = str(values.get(a.name, a.default))
        if a.choices is not None and value not in a.choices:
            raise ValueError(f"{a.name} must be one of {list(a.choices)}, got {value!r}")
        kw[a.name] = _typed(a.name, value)
    for key in ("params_file", "rviz_config"):
        if key in kw and not kw[key]:
            kw[key] = None
    if kw.get("fastdds_profile") == "default":
        kw["fastdds_profile"] = None
    if kind == "rig":
        return rig_nodes(**kw)
    if not kw["checkpoint"]:
        raise ValueError("demo: `checkpoint` is required (e.g. "
                         "checkpoints/selfpose3d_small_synthetic.pt)")
    kw["rig_yaml"] = prepare_demo(**kw)
    return demo_nodes(**kw)

