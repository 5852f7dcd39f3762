"""The core library never imports ROS."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_importing_core_does_not_import_rclpy():
    code = (
        "import sys, pkgutil, importlib\n"
        "import selfpose3d_core\n"
        "for m in pkgutil.walk_packages(selfpose3d_core.__path__, 'selfpose3d_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "             ('rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs', 'rosbags'))\n"
        "print('IMPORTED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_ros_import_statement_in_core_sources():
    offenders = [str(p) for p in (REPO / "selfpose3d_core").rglob("*.py")
                 if any(line.strip().startswith(("import rclpy", "from rclpy"))
                        for line in p.read_text().splitlines())]
    assert offenders == []
