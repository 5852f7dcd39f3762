"""``selfpose3d-ros <command>``: the ROS-side tools (bags); the core CLI is ``selfpose3d``.

Commands (``selfpose3d-ros <command> --help`` documents every option):

* ``bag-record DATASET --out BAG``: record a dataset (e.g. the synthetic rig,
  ``--synth``) as a camera bag (sqlite3 or mcap);
* ``bag-to-dataset BAG --out DIR``: synchronised frames + calibration of any camera bag
  → a dataset directory;
* ``train-from-bag BAG --out DIR``: extraction → 2D pseudo labels → self-supervised
  training;
* ``bag-replay BAG``: publish a bag's camera topics with rclpy (the only command that
  needs a ROS 2 runtime; ROS arguments follow ``--ros-args``).

Heavy modules are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

log = logging.getLogger("selfpose3d_ros")


# ---------------------------------------------------------------------------- bag-record
def _add_record(sub) -> None:
    p = sub.add_parser(
        "bag-record", help="record a dataset (e.g. the synthetic rig) as a camera bag",
        description="Write a dataset's images as per-camera sensor_msgs/Image (or "
                    "CompressedImage) + CameraInfo topics and its rig as /tf_static into a "
                    "new rosbag2, header stamps = bag time. Topics: <ns>/<cam>/image_raw "
                    "(or image_raw/compressed), <ns>/<cam>/camera_info; frame_id "
                    "<cam>_optical_frame.")
    p.add_argument("dataset", type=Path, help="dataset directory (selfpose3d format, with "
                                              "images)")
    p.add_argument("--out", type=Path, required=True, help="bag directory to create")
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3",
                   help="rosbag2 storage (default sqlite3)")
    p.add_argument("--format", dest="image_format", choices=("raw", "jpeg", "png"),
                   default="raw", help="raw Image or CompressedImage (default raw)")
    p.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8",
                   help="raw image encoding (default rgb8)")
    p.add_argument("--fps", type=float, help="frame rate in bag time (default: the "
                                             "dataset's timestamps)")
    p.add_argument("--start-time", type=float, default=None,
                   help="first stamp, seconds since the epoch (default 1700000000)")
    p.add_argument("--frames", help="START:STOP[:STEP] frames of the dataset (default all)")
    p.add_argument("--namespace", default="", help="prefix of the camera topics")
    p.add_argument("--row-padding", type=int, default=0,
                   help="padding bytes at the end of each raw image row (default 0)")
    p.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality (default 90)")
    p.add_argument("--no-tf", action="store_true", help="do not write /tf_static")
    g = p.add_argument_group("synthetic rig (--synth: write DATASET first)")
    g.add_argument("--synth", action="store_true",
                   help="(re)generate DATASET as the synthetic operating room first")
    g.add_argument("--cameras", type=int, help="number of cameras, 3-8 (default 5)")
    g.add_argument("--people", type=int, help="people at most at once (default 3)")
    g.add_argument("--num-frames", type=int, help="frames to synthesise (default 200)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--width", type=int, help="image width (default 640)")
    g.add_argument("--height", type=int, help="image height (default 480)")
    p.set_defaults(func=_cmd_record)


def _frames_arg(spec: str | None, n: int) -> list[int] | None:
    if spec is None:
        return None
    try:
        parts = [int(x) if x else None for x in spec.split(":")]
        if not 1 <= len(parts) <= 3:
            raise ValueError
    except ValueError:
        raise ValueError(f"--frames must be START:STOP[:STEP], got {spec!r}") from None
    if len(parts) == 1:
        return [parts[0]]
    return list(range(n))[slice(*parts)]


def _cmd_record(args) -> int:
    from .bags import DEFAULT_START_TIME, record_dataset_to_bag

    if args.synth:
        from selfpose3d_core.synthetic import SynthConfig, synthesize

        fields = {"num_cameras": args.cameras, "num_people": args.people,
                  "num_frames": args.num_frames, "seed": args.seed,
                  "image_width": args.width, "image_height": args.height,
                  "fps": args.fps}
        cfg = SynthConfig.from_dict({k: v for k, v in fields.items() if v is not None})
        synthesize(cfg, args.dataset, progress=True)
    from selfpose3d_core.data.dataset import MultiViewDataset

    ds = MultiViewDataset(args.dataset)
    record_dataset_to_bag(
        ds, args.out, storage=args.storage, image_format=args.image_format,
        encoding=args.encoding, fps=args.fps,
        start_time=DEFAULT_START_TIME if args.start_time is None else args.start_time,
        frames=_frames_arg(args.frames, ds.num_frames), namespace=args.namespace,
        row_padding=args.row_padding, jpeg_quality=args.jpeg_quality, tf_static=not args.no_tf)
    return 0


# ---------------------------------------------------------------------------- extraction
def _add_extract_args(p) -> None:
    g = p.add_argument_group("extraction")
    g.add_argument("--topics", nargs="+", metavar="TOPIC",
                   help="image topics (Image or CompressedImage), in view order (default: "
                        "every readable image topic, raw preferred over compressed)")
    g.add_argument("--names", nargs="+", metavar="NAME",
                   help="view names, one per topic (default: the topic namespaces)")
    g.add_argument("--stamps", choices=("header", "bag"), default="header",
                   help="form sets on the images' header stamps (default) or on the bag's "
                        "receive times (drivers that leave header stamps unset)")
    g.add_argument("--rig", type=Path,
                   help="rig YAML (selfpose3d-rig/1) with the extrinsics: needed when the bag "
                        "has no /tf_static for the cameras (CameraInfo has intrinsics only); "
                        "cameras matched by view name or CameraInfo frame_id; also gives the "
                        "intrinsics of views without CameraInfo")
    g.add_argument("--world-frame", help="world frame of /tf_static extrinsics (default: "
                                         "world, map or odom)")
    g.add_argument("--slop", type=float, help="largest stamp span of a set, s (default half a "
                                              "frame period)")
    g.add_argument("--min-views", type=int,
                   help="keep sets with at least this many views (default: all views; "
                        "frames with a view missing are skipped)")
    g.add_argument("--gap", type=float,
                   help="with --min-views: a camera lacks frames where its stamps are more "
                        "than this apart, s (default 1.5 frame periods)")
    g.add_argument("--every", type=int, default=1, help="keep every Nth set (default 1)")
    g.add_argument("--max-frames", type=int, help="stop after this many frames")
    g.add_argument("--jpeg-quality", type=int, default=95,
                   help="JPEG quality of the dataset images (default 95)")


def _extract_kwargs(args) -> dict:
    return {"topics": args.topics, "names": args.names, "stamps": args.stamps, "rig": args.rig,
            "world_frame": args.world_frame, "slop": args.slop, "min_views": args.min_views,
            "gap": args.gap, "every": args.every,
            "max_frames": args.max_frames, "jpeg_quality": args.jpeg_quality}


def _add_to_dataset(sub) -> None:
    p = sub.add_parser(
        "bag-to-dataset", help="extract synchronised frames + calibration from a camera bag",
        description="Read any rosbag2 (sqlite3/mcap) with sensor_msgs/Image or "
                    "CompressedImage (+ CameraInfo) topics, form approximately synchronised "
                    "multi-view sets on the header stamps and write them with the cameras "
                    "as a dataset directory (images + cameras.yaml; keypoints empty). "
                    "Intrinsics come from CameraInfo, extrinsics from /tf_static or --rig.")
    p.add_argument("bag", type=Path, help="rosbag2 directory (or .mcap/.db3 file)")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    _add_extract_args(p)
    p.set_defaults(func=_cmd_to_dataset)


def _cmd_to_dataset(args) -> int:
    from .bags import bag_to_dataset

    bag_to_dataset(args.bag, args.out, overwrite=args.overwrite, **_extract_kwargs(args))
    return 0


# ---------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train-from-bag", help="extract a bag, add 2D pseudo labels and train",
        description="bag-to-dataset into OUT/dataset (reused while the bag and options are "
                    "unchanged), 2D pseudo labels (--keypoints-from; a detector backend, the "
                    "planned `selfpose3d pseudo-label`, is not available yet), then "
                    "`selfpose3d train` into OUT/run (resumable).")
    p.add_argument("bag", type=Path, help="rosbag2 directory (or .mcap/.db3 file)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--keypoints-from", type=Path, metavar="DIR",
                   help="copy 2D keypoints from this dataset (same cameras; frames matched by "
                        "timestamp), e.g. the dataset the bag was recorded from")
    p.add_argument("--keypoints-offset", type=float,
                   help="bag time − DIR time in s (default: found automatically)")
    p.add_argument("--re-extract", action="store_true",
                   help="extract and label again even if OUT/dataset matches")
    _add_extract_args(p)
    g = p.add_argument_group("training (as `selfpose3d train`)")
    g.add_argument("--model", default="small", help="model preset or ModelConfig YAML")
    g.add_argument("--schedule", default="small-cpu",
                   help="training preset or TrainConfig YAML (default small-cpu)")
    g.add_argument("--heatmap-source", choices=("images", "detections"),
                   help="override the schedule's heatmap source")
    g.add_argument("--device", choices=("cpu", "cuda"), help="override the device")
    g.add_argument("--seed", type=int, help="override the seed")
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    g.add_argument("--max-minutes", type=float,
                   help="stop (with a checkpoint) after this much wall time; rerun to resume")
    g.add_argument("--max-steps", type=int,
                   help="shorten the schedule to at most this many steps (stages keep their "
                        "shares; a quick run)")
    g.add_argument("--no-resume", action="store_true", help="start the training from scratch")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from .train_from_bag import DETECTOR_MISSING, keypoints_from_dataset, train_from_bag

    if args.keypoints_from is None:
        raise ValueError(DETECTOR_MISSING)
    fn = keypoints_from_dataset(args.keypoints_from, time_offset=args.keypoints_offset)
    train_from_bag(args.bag, args.out, pseudo_label_fn=fn, extract=_extract_kwargs(args),
                   re_extract=args.re_extract, model=args.model, schedule=args.schedule,
                   heatmap_source=args.heatmap_source, device=args.device, seed=args.seed,
                   threads=args.threads, max_minutes=args.max_minutes,
                   max_steps=args.max_steps, resume=not args.no_resume,
                   show_progress=not args.no_progress)
    return 0


# ---------------------------------------------------------------------------- replay
def _add_replay(sub) -> None:
    p = sub.add_parser(
        "bag-replay", help="publish a bag's camera topics with rclpy",
        description="Publish the camera topics (Image, CompressedImage, CameraInfo, "
                    "/tf_static) of a bag on a ROS 2 node `bag_replay`, in bag time × --rate "
                    "or as fast as possible, optionally looping and restamping. ROS "
                    "arguments (remapping, domain...) go after --ros-args.")
    p.add_argument("bag", type=Path, help="rosbag2 directory (or .mcap/.db3 file)")
    p.add_argument("--topics", nargs="+", metavar="TOPIC",
                   help="bag topics to publish (default: camera topics and /tf_static)")
    p.add_argument("--rate", type=float, default=1.0,
                   help="speed factor over bag time (default 1 = real time)")
    p.add_argument("--fast", action="store_true", help="as fast as possible (--rate 0)")
    p.add_argument("--loop", action="store_true", help="start over at the end")
    p.add_argument("--restamp", action="store_true",
                   help="shift header stamps so the bag starts now (keeps sets together; "
                        "use with --loop)")
    p.add_argument("--prefix", default="", help="namespace prepended to every topic")
    p.add_argument("--clock", action="store_true", help="also publish /clock")
    p.add_argument("--best-effort", action="store_true",
                   help="best-effort camera publishers (default reliable, which matches "
                        "both kinds of subscriber)")
    p.add_argument("--wait-subscribers", type=int, default=0,
                   help="wait until every image topic has this many subscribers")
    p.add_argument("--wait-timeout", type=float, default=30.0,
                   help="seconds to wait for them (default 30)")
    p.add_argument("--linger", type=float, default=0.5,
                   help="seconds to stay up after the last message (default 0.5)")
    p.set_defaults(func=_cmd_replay)


def _cmd_replay(args, ros_args: Sequence[str] = ()) -> int:
    import time

    import rclpy
    from rclpy.executors import ExternalShutdownException

    from .bag_replay import BagReplayer

    rclpy.init(args=["selfpose3d-ros", *ros_args])
    replayer = None
    try:
        node = rclpy.create_node("bag_replay")
        replayer = BagReplayer(node, args.bag, topics=args.topics,
                               rate=0.0 if args.fast else args.rate, loop=args.loop,
                               restamp=args.restamp, prefix=args.prefix, clock=args.clock,
                               reliable=not args.best_effort,
                               wait_subscribers=args.wait_subscribers,
                               wait_timeout=args.wait_timeout)
        replayer.run()
        time.sleep(max(0.0, args.linger))
        node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if replayer is not None:
            replayer.close()
        rclpy.try_shutdown()
    return 0


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfpose3d-ros",
        description="selfpose3d's ROS 2 tools: camera bags (record, extract, train, replay).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in (_add_record, _add_to_dataset, _add_train, _add_replay):
        add(sub)
    return parser


def _split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our arguments, ROS arguments): ``--ros-args ...`` up to an optional ``--``."""
    if "--ros-args" not in argv:
        return argv, []
    i = argv.index("--ros-args")
    rest = argv[i:]
    j = rest.index("--") if "--" in rest else len(rest)
    return argv[:i] + rest[j + 1:], rest[:j]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, ros_args = _split_ros_args(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        if args.func is _cmd_replay:
            return int(_cmd_replay(args, ros_args) or 0)
        if ros_args:
            log.warning("ignoring --ros-args: only bag-replay uses ROS")
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TimeoutError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
