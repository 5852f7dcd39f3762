"""`selfpose3d <command>`: the command-line interface of the core library.

Every command has ``--help``. Heavy modules are imported inside the command that needs
them, so ``selfpose3d --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import yaml

log = logging.getLogger("selfpose3d")

DEFAULT_DEMO_DIR = Path("out/demo")


# ---------------------------------------------------------------------------- synth
def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic operating-room rig dataset",
        description="Generate the synthetic operating-room rig (cameras, people, RGB images, "
                    "simulated 2D detections, separate 3D ground truth) in the dataset format "
                    "documented in the README. Deterministic by --seed.")
    p.add_argument("--out", required=True, type=Path, help="output dataset directory")
    p.add_argument("--config", type=Path,
                   help="YAML file of SynthConfig fields (command-line flags override it)")
    p.add_argument("--cameras", type=int, help="number of cameras, 3-8 (default 5)")
    p.add_argument("--people", type=int, help="people in the room at most at once, 1-6 "
                                               "(default 3)")
    p.add_argument("--frames", type=int, help="number of frames")
    p.add_argument("--fps", type=float, help="frame rate of the sequence (Hz)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--width", type=int, help="image width in pixels")
    p.add_argument("--height", type=int, help="image height in pixels")
    p.add_argument("--no-images", action="store_true",
                   help="skip the RGB images (keypoints, cameras and GT only; much faster)")
    p.set_defaults(func=_cmd_synth)


def _synth_config(args):
    from .synthetic import SynthConfig

    fields = {}
    if args.config is not None:
        data = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{args.config}: expected a mapping of SynthConfig fields")
        fields.update(data)
    flags = {"num_cameras": args.cameras, "num_people": args.people,
             "num_frames": args.frames, "fps": args.fps, "seed": args.seed,
             "image_width": args.width, "image_height": args.height}
    fields.update({k: v for k, v in flags.items() if v is not None})
    return SynthConfig.from_dict(fields)


def _cmd_synth(args) -> int:
    from .synthetic import synthesize

    cfg = _synth_config(args)
    t0 = time.perf_counter()
    out = synthesize(cfg, args.out, write_images=not args.no_images, progress=True)
    log.info("wrote %s (%d frames, %d cameras) in %.1f s", out, cfg.num_frames,
             cfg.num_cameras, time.perf_counter() - t0)
    return 0


# ---------------------------------------------------------------------------- show
def _add_show(sub) -> None:
    p = sub.add_parser(
        "show", help="draw one frame of a dataset as a PNG mosaic",
        description="Mosaic of every view with the 2D pseudo poses and the projected ground "
                    "truth (when the dataset has it), plus a top view of the room.")
    p.add_argument("dataset", type=Path, help="dataset directory")
    p.add_argument("--frame", type=int, default=0, help="frame index (default 0)")
    p.add_argument("--out", type=Path, help="output PNG (default <dataset>/show_<frame>.png)")
    p.add_argument("--no-gt", action="store_true", help="do not draw the ground truth")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args) -> int:
    from .synthetic import render_show

    out = args.out or args.dataset / f"show_{args.frame:06d}.png"
    render_show(args.dataset, args.frame, out, draw_gt=not args.no_gt)
    log.info("wrote %s", out)
    return 0


# ---------------------------------------------------------------------------- room
def _add_room(sub) -> None:
    p = sub.add_parser(
        "room", help="propose the room voxel grid for a rig",
        description="Propose the whole-room voxel grid (centre, size, voxel counts) from the "
                    "cameras' view frusta and the floor plane; prints YAML to paste into a "
                    "model config.")
    p.add_argument("cameras", type=Path,
                   help="rig YAML (cameras.yaml of a dataset, or the dataset directory)")
    p.add_argument("--floor-z", type=float, default=0.0, help="floor height in metres")
    p.add_argument("--height", type=float, default=2.0, help="grid height in metres")
    p.add_argument("--min-views", type=int, default=2,
                   help="cameras that must see a point for it to count (default 2)")
    p.add_argument("--pitch", type=float, default=0.1, help="target voxel pitch in metres")
    p.set_defaults(func=_cmd_room)


def _cmd_room(args) -> int:
    from .geometry import load_rig_yaml
    from .geometry.grid import propose_room

    path = args.cameras / "cameras.yaml" if args.cameras.is_dir() else args.cameras
    rig = load_rig_yaml(path)
    grid = propose_room(rig.cameras, floor_z=args.floor_z, height=args.height,
                        min_views=args.min_views, pitch=args.pitch)
    out = {"room_grid": {"center": [round(v, 3) for v in grid.center],
                         "size": [round(v, 3) for v in grid.size],
                         "shape": list(grid.shape)}}
    sys.stdout.write(yaml.safe_dump(out, default_flow_style=None, sort_keys=False))
    return 0


# ---------------------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="the main job on the embedded default rig",
        description="Synthesise the default operating-room rig and draw a few frames "
                    "(the README's first command runs this).")
    p.add_argument("--out", type=Path, default=DEFAULT_DEMO_DIR,
                   help=f"working directory (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--frames", type=int, default=60, help="frames to synthesise (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from .synthetic import SynthConfig, render_show, synthesize

    cfg = SynthConfig.from_dict({"num_frames": args.frames, "seed": args.seed})
    data_dir = args.out / "dataset"
    t0 = time.perf_counter()
    synthesize(cfg, data_dir, write_images=True, progress=True)
    log.info("synthesised %d frames x %d cameras in %.1f s -> %s", cfg.num_frames,
             cfg.num_cameras, time.perf_counter() - t0, data_dir)
    shows = []
    for k in sorted({0, cfg.num_frames // 2, cfg.num_frames - 1}):
        out = args.out / f"show_{k:06d}.png"
        render_show(data_dir, k, out)
        shows.append(out)
    log.info("overlays: %s", ", ".join(str(s) for s in shows))
    return 0


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfpose3d",
        description="Self-supervised multi-view multi-person 3D human pose (SelfPose3d).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in (_add_demo, _add_synth, _add_show, _add_room):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
