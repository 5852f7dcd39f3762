"""pip / colcon (ament_python) build of the selfpose3d ROS 2 package and its core library."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "selfpose3d"

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
        (f"share/{PACKAGE}/msg", glob("msg/*.msg")),
    ],
    install_requires=["numpy", "scipy", "torch", "opencv-python-headless", "pyyaml"],
    extras_require={
        "ros": ["rosbags"],
        "test": ["pytest", "ruff"],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "selfpose3d = selfpose3d_core.cli:main",
        ],
    },
)
