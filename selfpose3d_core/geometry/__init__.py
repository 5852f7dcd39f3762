"""Camera geometry: camera model, projection, calibration I/O, affines, triangulation,
voxel grids and unprojection. Convention: :mod:`selfpose3d_core.geometry.camera`."""

from .camera import Camera, CameraTensors, stack_cameras
from .projection import Projection, project, project_numpy, undistort_points_numpy
from .rig_yaml import Rig, load_rig_yaml, save_rig_yaml

__all__ = ["Camera", "CameraTensors", "stack_cameras", "Projection", "project",
           "project_numpy", "undistort_points_numpy", "Rig", "load_rig_yaml", "save_rig_yaml"]
