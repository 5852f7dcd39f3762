"""Helpers shared by the ROS tests and benchmarks: an isolated loopback ROS environment
and an untrained small-model checkpoint for the synthetic rig.

- :func:`isolated_ros_env`: a random ``ROS_DOMAIN_ID`` (1–101), discovery limited to
  localhost, ``ROS_LOG_DIR`` in a given directory and the package's Fast DDS profile for
  large images. Set it before ``rclpy.init()`` and give it to every subprocess.
- :func:`untrained_checkpoint`: the ``small`` model preset with its room grid proposed
  from the cameras (``selfpose3d_core.cli.auto_room``), randomly initialised and saved
  like ``selfpose3d_core.cli.export_model`` saves an inference checkpoint. Its root
  threshold is lowered so that the random root volume still yields ``max_people``
  proposals: the pipeline then does the work of a frame with people in it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Mapping, Sequence

from selfpose3d_ros.launch_description import fastdds_env

__all__ = ["isolated_ros_env", "untrained_checkpoint"]


def isolated_ros_env(log_dir: str | Path, domain_id: int | None = None,
                     base: Mapping[str, str] | None = None,
                     fastdds_profile: str | None = None) -> dict[str, str]:
    """An environment for ROS processes that stay on this machine and apart from others.

    Args:
        log_dir: ``ROS_LOG_DIR`` (created).
        domain_id: ``ROS_DOMAIN_ID``; default a random one in 1–101.
        base: the environment to start from (default ``os.environ``).
        fastdds_profile: Fast DDS XML profile (default the package's; "" = none).
    """
    env = dict(os.environ if base is None else base)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else random.randint(1, 101))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_LOG_DIR"] = str(log_dir)
    env["RCUTILS_COLORIZED_OUTPUT"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(dict(fastdds_env(fastdds_profile)))
    return env


def untrained_checkpoint(path: str | Path, cameras: Sequence, *, preset: str = "small",
                         root_threshold: float = 0.0, max_people: int = 3,
                         seed: int = 0) -> Path:
    """Save a randomly initialised model for ``cameras`` as an inference checkpoint.

    Args:
        path: the ``.pt`` file to write.
        cameras: the rig (core ``Camera`` objects): the room grid is proposed from them.
        preset: model preset (``small`` or ``paper``).
        root_threshold: the model's root threshold (0 keeps every local maximum of the
            random root volume: ``max_people`` proposals per frame).
        max_people: proposals per frame.
        seed: torch seed of the initialisation.
    """
    import dataclasses

    import torch

    from selfpose3d_core.cli import auto_room
    from selfpose3d_core.models import PRESETS, build_model
    from selfpose3d_core.training.checkpoint import make_payload, save_checkpoint

    cfg = auto_room(PRESETS[preset], list(cameras))
    cfg = dataclasses.replace(cfg, root_threshold=float(root_threshold),
                              max_people=int(max_people))
    torch.manual_seed(seed)
    model = build_model(cfg, load_pretrained=False)
    # like export_model: the attention net is only needed for training
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("attn_net.")}
    payload = make_payload(cfg.to_dict(), state, stage="untrained", rng={},
                           extra={"untrained": True})
    return save_checkpoint(path, payload)
