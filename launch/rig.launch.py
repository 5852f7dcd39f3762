"""ros2 launch selfpose3d rig.launch.py checkpoint:=... rig_yaml:=... [camera_topics:=...]

The pose_estimator on a camera rig. A thin wrapper: the node list and its parameters come
from selfpose3d_ros.launch_description.rig_nodes (tested without `launch`), and
selfpose3d_bringup starts the same list where `ros2 launch` is not available.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from selfpose3d_ros.launch_description import RIG_ARGUMENTS, nodes_from_launch_args


def _nodes(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in RIG_ARGUMENTS}
    return [Node(package=s.package, executable=s.executable, name=s.name,
                 namespace=s.namespace, parameters=list(s.parameters),
                 remappings=list(s.remappings), arguments=list(s.arguments),
                 additional_env=dict(s.env), output="screen")
            for s in nodes_from_launch_args("rig", values)]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
         for a in RIG_ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
