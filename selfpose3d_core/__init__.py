"""selfpose3d core: self-supervised multi-view multi-person 3D pose (no ROS imports)."""

__version__ = "0.1.0"
