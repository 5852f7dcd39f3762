"""ros2 launch selfpose3d demo.launch.py checkpoint:=CKPT [source:=bag bag:=...]

(CKPT e.g. the shipped checkpoints/selfpose3d_small_synthetic.pt.)

The demo: the synthetic operating room (or a bag replay) → pose_estimator → RViz. A thin
wrapper: the node list comes from selfpose3d_ros.launch_description (demo_nodes, tested
without `launch`); selfpose3d_bringup demo starts the same list as plain processes.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from selfpose3d_ros.launch_description import DEMO_ARGUMENTS, nodes_from_launch_args


def _nodes(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in DEMO_ARGUMENTS}
    return [Node(package=s.package, executable=s.executable, name=s.name,
                 namespace=s.namespace, parameters=list(s.parameters),
                 remappings=list(s.remappings), arguments=list(s.arguments),
                 additional_env=dict(s.env), output="screen")
            for s in nodes_from_launch_args("demo", values)]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
         for a in DEMO_ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
