"""Generate the package's ROS 2 message types into this virtual environment (no ROS install).

Run by ``scripts/setup.sh`` with the venv's interpreter. It builds ``CMakeLists.txt`` with
``-DSELFPOSE3D_INTERFACES_ONLY=ON`` (rosidl only: the Python code comes from pip), using the
ament / rosidl CMake packages that the ``ros-jazzy-*`` PyPI wheels install under the venv
prefix, and installs the result into that prefix — the same layout colcon gives on a rig:
``<venv>/lib/python3.X/site-packages/selfpose3d/msg`` (``from selfpose3d.msg import ...``)
and the C type-support libraries in ``<venv>/lib``, which the wheels' start-up hook already
puts on ``LD_LIBRARY_PATH``. Build files go to ``build/msgs`` (git-ignored), made anew on
every run.

The wheels' exported CMake files name the Python and NumPy include directories of the
machine that built them (``/opt/python/cp3XX-cp3XX/...``); they are rewritten to this
interpreter's before configuring (idempotent).

    .venv/bin/python scripts/build_msgs.py [--build-dir DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "selfpose3d"

log = logging.getLogger("build_msgs")

# Include directories baked into the wheels' CMake exports at their build time.
_BUILD_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
_BUILD_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_?core/include")


def fix_wheel_cmake_paths(prefix: Path) -> int:
    """Point the wheels' ``share/**/*.cmake`` files at this interpreter's include dirs.

    Returns the number of files rewritten (0 when already done).
    """
    import numpy

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    if not Path(python_include, "Python.h").is_file():
        raise RuntimeError(f"Python headers not found in {python_include} (Python.h): "
                           "install the Python development headers")
    changed = 0
    for path in sorted((prefix / "share").glob("**/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = _BUILD_NUMPY_INCLUDE.sub(numpy_include, text)
        new = _BUILD_PYTHON_INCLUDE.sub(python_include, new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def _run(cmd: list[str], env: dict[str, str], log_file: Path) -> None:
    """Run ``cmd``, appending its output to ``log_file``; on failure show the log's tail."""
    with log_file.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, env=env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-40:])
        raise RuntimeError(f"{cmd[0]} failed (exit {r.returncode}); end of {log_file}:\n{tail}")


def build(build_dir: Path, jobs: int) -> None:
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix):
        raise RuntimeError("run this with the virtual environment's interpreter "
                           "(.venv/bin/python scripts/build_msgs.py)")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("cmake not found on PATH (Debian: apt-get install cmake)")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else ["-G", "Unix Makefiles"]

    n = fix_wheel_cmake_paths(prefix)
    if n:
        log.info("rewrote the build machine's include paths in %d wheel CMake files", n)

    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    log_file = build_dir / "build.log"
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = str(prefix)
    env["CMAKE_PREFIX_PATH"] = str(prefix)
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The generators import rosidl_* from the venv; never let a sourced ROS leak in.
    env.pop("PYTHONPATH", None)

    t0 = time.perf_counter()
    _run([cmake, "-S", str(REPO), "-B", str(build_dir), *generator,
          "-DSELFPOSE3D_INTERFACES_ONLY=ON", "-DBUILD_TESTING=OFF",
          "-DCMAKE_BUILD_TYPE=Release",
          f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_INSTALL_PREFIX={prefix}",
          f"-DPython3_EXECUTABLE={sys.executable}"], env, log_file)
    log.info("configured (%.1f s); compiling the type support (%d jobs)",
             time.perf_counter() - t0, jobs)
    _run([cmake, "--build", str(build_dir), "--parallel", str(jobs)], env, log_file)
    # Generated only: clear it so that a removed message leaves no stale module behind.
    site = Path(sysconfig.get_paths()["purelib"])
    for generated in (site / PACKAGE, prefix / "share" / PACKAGE / "msg"):
        if generated.is_dir():
            shutil.rmtree(generated)
    _run([cmake, "--install", str(build_dir)], env, log_file)
    # rosidl_generator_py also installs egg-info metadata named after the package
    # ("selfpose3d"), which would shadow pip's own record of the editable `selfpose3d`
    # distribution (two installs of one name; pip could no longer replace it). Only the
    # import package is needed here.
    for egg in site.glob(f"{PACKAGE}-*.egg-info"):
        shutil.rmtree(egg)
    log.info("built and installed into %s in %.1f s (log: %s)", prefix,
             time.perf_counter() - t0, log_file.relative_to(REPO))

    # A fresh interpreter, as every user of the venv gets it.
    check = (f"from {PACKAGE}.msg import Skeleton, SkeletonArray; "
             "m = SkeletonArray(skeletons=[Skeleton(id=1)]); assert m.skeletons[0].id == 1")
    r = subprocess.run([sys.executable, "-c", check], cwd=build_dir, capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"the generated messages do not import:\n{r.stdout}{r.stderr}")
    log.info("`from %s.msg import SkeletonArray` works", PACKAGE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build" / "msgs",
                        help="CMake build directory, deleted and made anew (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="parallel compile jobs (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[setup] %(message)s")
    try:
        build(args.build_dir.resolve(), max(1, args.jobs))
    except RuntimeError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
