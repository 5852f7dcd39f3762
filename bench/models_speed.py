"""Forward-time of the networks on this machine (CPU by default).

Usage: python bench/models_speed.py [--preset small|paper|both] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from selfpose3d_core.models import build_model, count_parameters, model_preset

log = logging.getLogger("models_speed")


def _time(fn, repeats: int, device: str) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def bench(preset: str, views: int, people: int, repeats: int, device: str) -> None:
    cfg = model_preset(preset)
    model = build_model(cfg, load_pretrained=False).to(device).eval()
    W, H = cfg.input_size
    images = torch.rand(views, 3, H, W, device=device)
    room = torch.rand(1, *cfg.room.shape, device=device)
    cubes = torch.rand(people, cfg.num_joints, *cfg.cube.shape, device=device)
    centers = torch.zeros(people, 3, device=device)
    rows = [
        (f"backbone {cfg.backbone} {views}×{W}×{H}", model.backbone, lambda: model.backbone(
            images)),
        (f"root_net room {cfg.room.shape}", model.root_net, lambda: model.root_net(room)),
        (f"pose_net {people} cubes {cfg.cube.shape}", model.pose_net,
         lambda: model.pose_net(cubes, centers)),
    ]
    if model.attn_net is not None:
        rows.append((f"attn_net {cfg.attention_backbone} {views} views", model.attn_net,
                     lambda: model.attn_net(images)))
    for name, net, fn in rows:
        t = _time(fn, repeats, device)
        log.info("%-7s %-45s %9d params  %8.3f s", preset, name, count_parameters(net), t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="small", choices=["small", "paper", "both"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    log.info("torch %s, %d threads, device %s", torch.__version__, torch.get_num_threads(),
             args.device)
    for p in (["small", "paper"] if args.preset == "both" else [args.preset]):
        bench(p, args.views, args.people, args.repeats, args.device)


if __name__ == "__main__":
    main()
