"""End-to-end inference speed: V camera images → 3D skeletons of P people, per frame.

Times :meth:`Estimator.estimate` (letterbox warps, 2D backbone, root unprojection +
root_net + NMS, cube unprojection + pose_net for P proposals, copies back to the host) on
random-weight models of the ``small`` and ``paper`` presets, with P proposals forced
(threshold −∞, ``max_people`` = P), so the figure does not depend on what a model finds.
On CUDA the estimator's autocast (bf16 by default) is used and every timed call ends with
the host copy of its results (a real synchronisation).

    .venv/bin/python bench/estimator_speed.py [--preset small|paper|both] [--device cpu|cuda]
        [--views 5] [--people 3] [--repeats 10] [--threads 2] [--autocast bf16|fp16|none]

Prints one line per preset: median ms per frame, frames/s, and the image size.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

import numpy as np
import torch

from selfpose3d_core.geometry.camera import Camera
from selfpose3d_core.models import build_model, model_preset
from selfpose3d_core.models.estimator import Estimator

log = logging.getLogger("estimator_speed")


def ring_rig(views: int, width: int = 1920, height: int = 1080) -> list[Camera]:
    """``views`` cameras on a 4 m circle, 2.5 m up, looking at (0, 0, 1)."""
    return [Camera.look_at([4.0 * np.cos(a), 4.0 * np.sin(a), 2.5], [0.0, 0.0, 1.0],
                           fx=0.8 * width, width=width, height=height, name=f"cam{v}")
            for v, a in enumerate(2 * np.pi * np.arange(views) / views)]


def time_preset(preset: str, device: str, views: int, people: int, repeats: int,
                autocast: str | None) -> tuple[float, Estimator]:
    cfg = dataclasses.replace(model_preset(preset), max_people=people)
    model = build_model(cfg, load_pretrained=False)
    est = Estimator(model, ring_rig(views), device=device, autocast=autocast,
                    threshold=float("-inf"))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8) for _ in range(views)]
    for _ in range(2):  # warm-up (cuDNN autotuning, allocator)
        out = est.estimate(images)
    if out.num_people != people:
        raise RuntimeError(f"expected {people} proposals, got {out.num_people}")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        est.estimate(images)  # ends with .cpu() of the results: synchronised
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), est


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="both", choices=["small", "paper", "both"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--autocast", default="bf16", choices=["bf16", "fp16", "none"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available on this machine")
    autocast = None if args.autocast == "none" else args.autocast
    where = torch.cuda.get_device_name() if args.device == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    presets = ["small", "paper"] if args.preset == "both" else [args.preset]
    for p in presets:
        t, est = time_preset(p, args.device, args.views, args.people, args.repeats, autocast)
        w, h = est.config.input_size
        log.info("%-5s %d views 1920x1080 → input %dx%d, %d people, %s%s: %.1f ms/frame, "
                 "%.1f frames/s (median of %d)", p, args.views, w, h, args.people, where,
                 f", autocast {args.autocast}" if args.device == "cuda" else "", 1e3 * t,
                 1.0 / t, args.repeats)


if __name__ == "__main__":
    main()
