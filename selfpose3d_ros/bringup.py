"""Start the launch files' node lists as plain subprocesses (no ``ros2 launch`` needed).

``selfpose3d_bringup rig|demo [--<launch argument> VALUE ...]`` takes the same arguments as
``ros2 launch selfpose3d rig.launch.py`` / ``demo.launch.py``
(:data:`~selfpose3d_ros.launch_description.RIG_ARGUMENTS`, ``DEMO_ARGUMENTS``), builds the
same :class:`~selfpose3d_ros.launch_description.NodeSpec` list and runs each node as
``<executable> [arguments] --ros-args -r __node:=<name> [-r __ns:=<ns>] --params-file
<file> ... -r <from>:=<to> ...``. Dict parameters are written to a temporary
``/**: ros__parameters:`` file. An executable that cannot be found (e.g. ``rviz2`` on a
machine without it) is skipped with a warning. Ctrl-C (or a node exiting) stops all nodes
with SIGINT, then SIGKILL after a grace period.

Tests use :func:`start` / :func:`stop` directly.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

import yaml

from selfpose3d_ros.launch_description import (
    DEMO_ARGUMENTS,
    PACKAGE,
    RIG_ARGUMENTS,
    NodeSpec,
    nodes_from_launch_args,
)

__all__ = ["resolve_executable", "node_command", "RunningNode", "start", "stop", "main"]

_LOG = logging.getLogger("selfpose3d_bringup")


def _entry_point(name: str) -> str | None:
    for ep in metadata.entry_points(group="console_scripts"):
        if ep.name == name:
            return ep.value
    return None


def resolve_executable(spec: NodeSpec) -> list[str] | None:
    """The command that runs ``spec.executable``, or None when it cannot be found.

    Order: a console script beside this interpreter (the venv's ``bin/``), an installed
    console-script entry point run with this interpreter, then ``PATH``.
    """
    beside = Path(sys.executable).parent / spec.executable
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    if spec.package == PACKAGE:
        target = _entry_point(spec.executable)
        if target:
            module, _, func = target.partition(":")
            return [sys.executable, "-c",
                    f"import sys; from {module} import {func}; sys.exit({func}())"]
    found = shutil.which(spec.executable)
    return [found] if found else None


def _params_file(params: Mapping[str, Any], directory: Path, stem: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{stem}_", suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump({"/**": {"ros__parameters": dict(params)}}, f, sort_keys=False)
    return path


def node_command(spec: NodeSpec, params_dir: str | Path,
                 executable: Sequence[str] | None = None) -> list[str] | None:
    """The full command line of ``spec`` (None when the executable is missing)."""
    exe = list(executable) if executable is not None else resolve_executable(spec)
    if exe is None:
        return None
    cmd = exe + list(spec.arguments) + ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:={'/' + spec.namespace.lstrip('/')}"]
    for p in spec.parameters:
        path = _params_file(p, Path(params_dir), spec.name) if isinstance(p, Mapping) else p
        cmd += ["--params-file", str(path)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


@dataclass
class RunningNode:
    """A started node: its spec, process and log file (stdout + stderr)."""

    spec: NodeSpec
    process: subprocess.Popen
    log_path: str | None
    _log: IO | None = None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        return Path(self.log_path).read_text(errors="replace")


def start(specs: Sequence[NodeSpec], *, env: Mapping[str, str] | None = None,
          log_dir: str | Path | None = None, skip_missing: bool = True) -> list[RunningNode]:
    """Start every node of ``specs``; returns the running ones.

    Args:
        specs: the nodes.
        env: the base environment (default ``os.environ``); each spec's ``env`` is added.
        log_dir: write each node's output to ``<log_dir>/<name>.log`` (default: inherit
            this process's stdout/stderr); parameter files go there too.
        skip_missing: skip nodes whose executable is missing (warning) instead of raising.
    """
    base = dict(os.environ if env is None else env)
    params_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="selfpose3d_"))
    running: list[RunningNode] = []
    for spec in specs:
        cmd = node_command(spec, params_dir)
        if cmd is None:
            msg = (f"executable {spec.executable!r} of package {spec.package!r} not found: "
                   f"node {spec.name!r} not started")
            if not skip_missing:
                stop(running)
                raise FileNotFoundError(msg)
            _LOG.warning(msg)
            continue
        node_env = dict(base)
        node_env.update(dict(spec.env))
        log = log_path = None
        if log_dir:
            log_path = str(Path(log_dir) / f"{spec.name}.log")
            log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(cmd, env=node_env, stdout=log, stderr=subprocess.STDOUT
                                if log else None, stdin=subprocess.DEVNULL)
        _LOG.info("started %s (pid %d): %s", spec.name, proc.pid, " ".join(cmd))
        running.append(RunningNode(spec, proc, log_path, log))
    return running


def stop(running: Sequence[RunningNode], timeout: float = 10.0) -> dict[str, int]:
    """SIGINT every node, wait up to ``timeout`` s, then SIGKILL; returns exit codes."""
    for r in running:
        if r.alive:
            r.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    codes = {}
    for r in running:
        try:
            codes[r.spec.name] = r.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _LOG.warning("%s did not stop after SIGINT: killing it", r.spec.name)
            r.process.kill()
            codes[r.spec.name] = r.process.wait()
        if r._log is not None:
            r._log.close()
    return codes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfpose3d_bringup",
        description="Start the nodes of the rig or demo launch as subprocesses (what "
                    "`ros2 launch selfpose3d rig.launch.py|demo.launch.py` starts).")
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind, args in (("rig", RIG_ARGUMENTS), ("demo", DEMO_ARGUMENTS)):
        p = sub.add_parser(kind, help=f"the {kind} launch")
        for a in args:
            p.add_argument(f"--{a.name}", default=a.default, choices=a.choices,
                           help=f"{a.description} (default: {a.default!r})")
        p.add_argument("--log-dir", default=None, help="write each node's output there")
        p.add_argument("--dry-run", action="store_true",
                       help="print the commands and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``selfpose3d_bringup``."""
    logging.basicConfig(level=logging.INFO, format="[bringup] %(message)s")
    ns = _parser().parse_args(argv)
    args = RIG_ARGUMENTS if ns.kind == "rig" else DEMO_ARGUMENTS
    values = {a.name: getattr(ns, a.name) for a in args}
    try:
        specs = nodes_from_launch_args(ns.kind, values)
    except ValueError as e:
        _LOG.error("%s", e)
        return 2
    if ns.dry_run:
        tmp = Path(tempfile.mkdtemp(prefix="selfpose3d_"))
        for spec in specs:
            cmd = node_command(spec, tmp)
            _LOG.info("%s: %s", spec.name, "(not found)" if cmd is None else " ".join(cmd))
        return 0
    running = start(specs, log_dir=ns.log_dir)
    if not running:
        _LOG.error("no node could be started")
        return 1
    code = 0
    try:
        while all(r.alive for r in running):
            time.sleep(0.2)
        dead = [r for r in running if not r.alive]
        for r in dead:
            _LOG.warning("%s exited with code %s: stopping the others", r.spec.name,
                         r.process.returncode)
            code = code or (r.process.returncode or 0)
    except KeyboardInterrupt:
        pass
    finally:
        stop(running)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
