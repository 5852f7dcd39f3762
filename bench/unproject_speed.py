"""Benchmark: heatmap → voxel unprojection on this machine (CPU by default).

Prints the time to build a sampling grid, to fetch it from the cache, and to unproject
(5 views): the room grid (root channel) and 3 person cubes (15 joints), for the small and
the paper-size grids.

    .venv/bin/python bench/unproject_speed.py [--device cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from selfpose3d_core.geometry import Camera, stack_cameras
from selfpose3d_core.geometry.affine import letterbox_affine
from selfpose3d_core.geometry.grid import VoxelGrid, cube_points
from selfpose3d_core.geometry.unproject import SamplingGridCache, sampling_grid, unproject

CONFIGS = {
    "small": dict(inp=(320, 256), hm=(80, 64), room=(48, 48, 12), cube=(32, 32, 32)),
    "paper": dict(inp=(960, 512), hm=(240, 128), room=(80, 80, 20), cube=(64, 64, 64)),
}


def _timed(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    cams = [Camera.look_at([3.5 * np.cos(a), 3.5 * np.sin(a), 2.7], [0, 0, 1.0], fx=1000,
                           width=1280, height=720, dist=[-0.15, 0.03, 0, 0, 0])
            for a in np.linspace(0, 2 * np.pi, 5, endpoint=False)]
    ct = stack_cameras(cams, device=dev)
    print(f"device={dev} threads={torch.get_num_threads()} views=5 "
          f"torch={torch.__version__}")
    print(f"{'config':<7}{'what':<34}{'ms':>10}")
    for name, c in CONFIGS.items():
        _bench_config(name, c, ct, dev, args.repeats)


def _bench_config(name: str, c: dict, ct, dev: str, repeats: int) -> None:
    A = torch.as_tensor(np.stack([letterbox_affine((1280, 720), c["inp"])] * 5),
                        dtype=torch.float32, device=dev)[None]
    room = VoxelGrid(center=(0, 0, 1), size=(8, 8, 2), shape=c["room"]).points(dev)[None]
    hm_root = torch.rand(1, 5, 1, c["hm"][1], c["hm"][0], device=dev)
    hm_all = torch.rand(1, 5, 15, c["hm"][1], c["hm"][0], device=dev)
    cube = VoxelGrid(center=(0, 0, 0), size=(2, 2, 2), shape=c["cube"])
    roots = torch.tensor([[[0.0, 0, 1], [1, 0.5, 1], [-1, -0.5, 1]]], device=dev)
    cache = SamplingGridCache()
    sg = cache.get(room, ct, A, c["inp"], c["hm"])
    rows = [
        ("room sampling grid, computed", lambda: sampling_grid(room, ct, A, c["inp"], c["hm"])),
        ("room sampling grid, cached", lambda: cache.get(room, ct, A, c["inp"], c["hm"])),
        ("room unproject (1 channel)", lambda: unproject(hm_root, sg)),
        ("3 cubes grid + unproject (15 ch)", lambda: unproject(
            hm_all, sampling_grid(cube_points(roots, cube).reshape(1, -1, 3), ct, A,
                                  c["inp"], c["hm"]))),
    ]
    for what, fn in rows:
        with torch.no_grad():
            print(f"{name:<7}{what:<34}{_timed(fn, repeats, dev):>10.2f}")

if __name__ == "__main__":
    main()
