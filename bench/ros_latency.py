"""End-to-end figures of the ROS pipeline: synthetic_rig_publisher → pose_estimator.

Starts both nodes as processes (selfpose3d_ros.bringup; isolated loopback ROS domain,
the package's Fast DDS profile) and a probe node in this process, plays the synthetic room
(5 cameras 640×480 at 10 Hz by default) for ``--seconds`` and prints:

- latency image stamp → skeletons (median, p95): measured by the probe when the
  SkeletonArray arrives (publish + a small-message hop), and as the estimator's own
  diagnostics report it (publish time − stamp, last 5 s window);
- sustained output rate (results/s after the warm-up) vs the camera rate;
- sets: published frames, complete/partial sets formed, superseded while the model was
  busy (dropped by design), unusable;
- RSS of the estimator (and publisher) process at ``--early`` s and at the end.

The model is the ``small`` preset, untrained, with 3 person proposals per frame (the
work of a frame with 3 people), unless ``--checkpoint`` names a trained one.

Usage: python bench/ros_latency.py [--seconds 120] [--rate 10] [--cameras 5]
       [--threads 0] [--device cpu] [--checkpoint model.pt]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` (MiB) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="measured run time")
    ap.add_argument("--rate", type=float, default=10.0, help="camera rate (Hz)")
    ap.add_argument("--cameras", type=int, default=5, help="number of cameras (3-8)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--threads", type=int, default=0, help="estimator torch threads "
                    "(0 = torch's default)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--checkpoint", default="", help="model (default: untrained small)")
    ap.add_argument("--early", type=float, default=10.0, help="first RSS sample (s)")
    ap.add_argument("--warmup", type=float, default=5.0, help="outputs ignored (s)")
    args = ap.parse_args()

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from selfpose3d_core.geometry.rig_yaml import save_rig_yaml
    from selfpose3d_ros import bringup
    from selfpose3d_ros.launch_description import NodeSpec
    from selfpose3d_ros.messages import SkeletonArray
    from selfpose3d_ros.sync import stamp_to_ns
    from selfpose3d_ros.synthetic_publisher import synthetic_rig
    from selfpose3d_ros.testing import isolated_ros_env, untrained_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="ros_latency_"))
    rig = synthetic_rig(args.cameras, 0, args.width, args.height)
    save_rig_yaml(tmp / "rig.yaml", rig)
    ckpt = args.checkpoint or str(untrained_checkpoint(tmp / "model.pt", rig.cameras))
    env = isolated_ros_env(tmp / "roslog")
    os.environ.update(env)
    estimator = NodeSpec("selfpose3d", "pose_estimator", "pose_estimator", parameters=({
        "checkpoint": ckpt, "rig_yaml": str(tmp / "rig.yaml"), "device": args.device,
        "threads": args.threads, "expected_rate": args.rate, "latency_warn": 5.0,
        "latency_error": 10.0, "drop_warn": 1.0},))
    publisher = NodeSpec("selfpose3d", "synthetic_rig_publisher", "synthetic_rig_publisher",
                         parameters=({"rate": args.rate, "num_cameras": args.cameras,
                                      "image_width": args.width, "image_height": args.height,
                                      "num_frames": 30, "cache_frames": True},))

    arrivals: list[tuple[int, int, int]] = []  # (receive ns, stamp ns, people)
    diags: list[DiagnosticArray] = []
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env["ROS_DOMAIN_ID"]))
    running = []
    try:
        node = rclpy.create_node("ros_latency_probe", context=context)
        clock = node.get_clock()
        node.create_subscription(
            SkeletonArray, "skeletons",
            lambda m: arrivals.append((clock.now().nanoseconds, stamp_to_ns(m.header.stamp),
                                       len(m.skeletons))), 100)
        node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(node)
        running = bringup.start([estimator], env=env, log_dir=tmp / "logs")
        deadline = time.monotonic() + 120
        while not diags and time.monotonic() < deadline:  # the estimator is up
            ex.spin_once(timeout_sec=0.1)
            if not running[0].alive:
                raise RuntimeError(running[0].log_text())
        running += bringup.start([publisher], env=env, log_dir=tmp / "logs")
        while not arrivals and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
        if not arrivals:
            raise RuntimeError("no output: " + running[0].log_text()[-2000:])
        t0 = time.monotonic()
        rss_early = None
        while (elapsed := time.monotonic() - t0) < args.seconds:
            ex.spin_once(timeout_sec=0.05)
            if rss_early is None and elapsed >= args.early:
                rss_early = [rss_mib(r.process.pid) for r in running]
        rss_end = [rss_mib(r.process.pid) for r in running]
        start_ns = arrivals[0][0]
        node.destroy_node()
    finally:
        bringup.stop(running)
        rclpy.try_shutdown(context=context)

    arr = np.array(arrivals, dtype=np.int64)
    keep = arr[:, 0] >= start_ns + int(args.warmup * 1e9)
    lat = (arr[keep, 0] - arr[keep, 1]) / 1e9
    span = (arr[keep, 0].max() - arr[keep, 0].min()) / 1e9 if keep.sum() > 1 else float("nan")
    rate = (keep.sum() - 1) / span if span > 0 else float("nan")
    values = {kv.key: kv.value for kv in diags[-1].status[0].values}
    print(f"\nROS pipeline: {args.cameras} cameras {args.width}x{args.height} at {args.rate:g} "
          f"Hz, model {'untrained small (3 proposals)' if not args.checkpoint else ckpt}, "
          f"device {args.device}, torch threads {args.threads or 'default'}, "
          f"{os.cpu_count()} CPUs, run {args.seconds:g} s (warm-up {args.warmup:g} s)")
    print(f"{'latency stamp → skeletons received, median':48s} {np.median(lat) * 1e3:8.1f} ms")
    print(f"{'latency stamp → skeletons received, p95':48s} "
          f"{np.percentile(lat, 95) * 1e3:8.1f} ms")
    print(f"{'latency (estimator diagnostics, last 5 s) median':48s} "
          f"{values['latency median (ms)']:>8s} ms")
    print(f"{'latency (estimator diagnostics, last 5 s) p95':48s} "
          f"{values['latency p95 (ms)']:>8s} ms")
    print(f"{'sustained output rate':48s} {rate:8.2f} Hz  (cameras {args.rate:g} Hz)")
    print(f"{'results published':48s} {values['published']:>8s}")
    print(f"{'sets formed: complete / partial':48s} {values['sets (complete)']:>8s} / "
          f"{values['sets (partial)']}")
    print(f"{'sets dropped: model busy (superseded)':48s} "
          f"{values['sets superseded (estimator busy)']:>8s}")
    print(f"{'sets dropped: unusable / messages sync-dropped':48s} "
          f"{values['sets unusable (< min_views)']:>8s} / "
          f"{values['messages dropped by the synchroniser']}")
    print(f"{'people per result (mean)':48s} {arr[keep, 2].mean():8.2f}")
    names = [r.spec.name for r in running]
    for name, early, end in zip(names, rss_early or [float("nan")] * len(names), rss_end):
        print(f"{'RSS ' + name + f' at {args.early:g} s / at {args.seconds:g} s':48s} "
              f"{early:8.1f} / {end:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
