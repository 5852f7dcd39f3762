"""The package's messages (msg/*.msg): generated types, converters, and a real DDS round trip.

The types come from ``scripts/setup.sh`` (rosidl into .venv) or from ``colcon build``.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from selfpose3d.msg import Skeleton, SkeletonArray
from std_msgs.msg import Header

from selfpose3d_ros.messages import msg_to_arrays, skeletons_to_msg

REPO = Path(__file__).resolve().parents[1]
# Panoptic-15 (selfpose3d_core.skeleton.PANOPTIC15), spelled out: that module imports torch.
PANOPTIC15 = ("neck", "nose", "mid_hip", "l_shoulder", "l_elbow", "l_wrist", "l_hip", "l_knee",
              "l_ankle", "r_shoulder", "r_elbow", "r_wrist", "r_hip", "r_knee", "r_ankle")


def sample_people(num_people: int, num_joints: int = 15, seed: int = 0) -> SimpleNamespace:
    """Skeletons-like arrays (the fields of selfpose3d_core.models.estimator.Skeletons)."""
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        joints=rng.uniform(-3.0, 3.0, (num_people, num_joints, 3)),
        confidence=rng.uniform(0.0, 1.0, (num_people, num_joints)),
        root_scores=np.sort(rng.uniform(0.3, 1.0, num_people))[::-1].copy(),
        roots=rng.uniform(-3.0, 3.0, (num_people, 3)),
    )


def stamped(frame_id: str = "world", sec: int = 1_700_000_000, nanosec: int = 123_456_789):
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def assert_matches(data, people, ids, names=PANOPTIC15):
    np.testing.assert_array_equal(data.joints, people.joints)  # float64 both ways: exact
    np.testing.assert_array_equal(data.confidence, people.confidence.astype(np.float32))
    np.testing.assert_array_equal(data.root_scores, people.root_scores.astype(np.float32))
    np.testing.assert_array_equal(data.ids, np.asarray(ids, np.int32))
    assert data.joint_names == tuple(names)
    assert data.joints.dtype == np.float64 and data.confidence.dtype == np.float32
    assert data.ids.dtype == np.int32


# --- generated types and build files -----------------------------------------------------

def test_generated_types_have_the_msg_fields():
    assert Skeleton.get_fields_and_field_types() == {
        "id": "int32", "root_score": "float", "joints": "sequence<geometry_msgs/Point>",
        "confidence": "sequence<float>"}
    assert SkeletonArray.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "joint_names": "sequence<string>",
        "skeletons": "sequence<selfpose3d/Skeleton>"}
    assert Skeleton().id == 0 and len(SkeletonArray().skeletons) == 0


def test_cmake_lists_every_msg_file_and_package_xml_declares_an_interface_package():
    cmake = (REPO / "CMakeLists.txt").read_text()
    block = re.search(r"rosidl_generate_interfaces\((.*?)\)", cmake, re.S).group(1)
    listed = sorted(re.findall(r'"(msg/\w+\.msg)"', block))
    assert listed == sorted(f"msg/{p.name}" for p in (REPO / "msg").glob("*.msg"))
    assert listed == ["msg/Skeleton.msg", "msg/SkeletonArray.msg"]

    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "selfpose3d"
    assert root.findtext("export/build_type") == "ament_cmake"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    buildtool = {e.text for e in root.findall("buildtool_depend")}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= buildtool
    run = {e.text for e in root.findall("exec_depend")} | {e.text for e in root.findall("depend")}
    assert {"rclpy", "rosidl_default_runtime", "std_msgs", "geometry_msgs"} <= run


# --- converters ----------------------------------------------------------------------------

def test_round_trip_through_the_converters():
    people = sample_people(3, seed=1)
    ids = [7, -1, 2_000_000_000]
    msg = skeletons_to_msg(people, PANOPTIC15, stamped(), ids=ids)
    assert isinstance(msg, SkeletonArray)
    assert msg.header.frame_id == "world" and msg.header.stamp.nanosec == 123_456_789
    assert list(msg.joint_names) == list(PANOPTIC15)
    assert len(msg.skeletons) == 3 and all(len(s.joints) == 15 for s in msg.skeletons)
    s1 = msg.skeletons[1]
    assert (s1.joints[4].x, s1.joints[4].y, s1.joints[4].z) == tuple(people.joints[1, 4])
    assert_matches(msg_to_arrays(msg), people, ids)


def test_round_trip_through_the_cdr_serialisation():
    from rclpy.serialization import deserialize_message, serialize_message

    people = sample_people(2, seed=2)
    msg = skeletons_to_msg(people, PANOPTIC15, stamped(), ids=[3, 4])
    back = deserialize_message(serialize_message(msg), SkeletonArray)
    assert back == msg
    assert_matches(msg_to_arrays(back), people, [3, 4])


def test_defaults_empty_frame_and_joint_set_objects():
    people = sample_people(2, seed=3)
    joint_set = SimpleNamespace(name="panoptic15", joints=PANOPTIC15)  # JointSet-like
    data = msg_to_arrays(skeletons_to_msg(people, joint_set, stamped()))
    assert_matches(data, people, [-1, -1])

    empty = msg_to_arrays(skeletons_to_msg(sample_people(0), PANOPTIC15, stamped()))
    assert empty.joints.shape == (0, 15, 3) and empty.confidence.shape == (0, 15)
    assert empty.root_scores.shape == (0,) and empty.ids.shape == (0,)
    assert empty.joint_names == PANOPTIC15


@pytest.mark.parametrize("change, match", [
    (dict(joints=np.zeros((2, 14, 3))), r"joints must be \(P, 15, 3\)"),
    (dict(joints=np.zeros((2, 15))), r"joints must be"),
    (dict(confidence=np.zeros((2, 14))), r"confidence must be \(2, 15\)"),
    (dict(root_scores=np.zeros(3)), r"root_scores must be \(2,\)"),
    (dict(joints=np.full((2, 15, 3), np.nan)), r"joints has non-finite"),
    (dict(confidence=np.full((2, 15), np.inf)), r"confidence has non-finite"),
])
def test_bad_arrays_raise_clear_errors(change, match):
    people = sample_people(2)
    for k, v in change.items():
        setattr(people, k, v)
    with pytest.raises(ValueError, match=match):
        skeletons_to_msg(people, PANOPTIC15, stamped())


def test_bad_names_ids_and_header_raise_clear_errors():
    people = sample_people(2)
    with pytest.raises(ValueError, match="duplicates"):
        skeletons_to_msg(people, PANOPTIC15[:-1] + ("neck",), stamped())
    with pytest.raises(ValueError, match="sequence of non-empty strings"):
        skeletons_to_msg(people, "neck", stamped())
    with pytest.raises(ValueError, match="sequence of non-empty strings"):
        skeletons_to_msg(people, None, stamped())
    with pytest.raises(ValueError, match=r"ids must be \(2,\) integers"):
        skeletons_to_msg(people, PANOPTIC15, stamped(), ids=[1])
    with pytest.raises(ValueError, match=r"ids must be \(2,\) integers"):
        skeletons_to_msg(people, PANOPTIC15, stamped(), ids=[1.5, 2.0])
    with pytest.raises(ValueError, match="int32"):
        skeletons_to_msg(people, PANOPTIC15, stamped(), ids=[1, 2**31])
    with pytest.raises(ValueError, match="std_msgs.msg.Header"):
        skeletons_to_msg(people, PANOPTIC15, None)

    msg = skeletons_to_msg(people, PANOPTIC15, stamped())
    msg.skeletons[1].joints = msg.skeletons[1].joints[:-1]
    with pytest.raises(ValueError, match="skeleton 1 .* 14 joints .* 15 joint_names"):
        msg_to_arrays(msg)


# --- across processes over DDS ------------------------------------------------------------

PUBLISHER = r"""
import json, sys
from types import SimpleNamespace
import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from selfpose3d.msg import SkeletonArray
from selfpose3d_ros.messages import skeletons_to_msg

spec = json.loads(sys.argv[1])
people = SimpleNamespace(**{k: np.array(spec[k]) for k in ("joints", "confidence",
                                                            "root_scores")})
rclpy.init()
try:
    node = rclpy.create_node("skeleton_test_publisher")
    pub = node.create_publisher(SkeletonArray, spec["topic"],
                                QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    clock = node.get_clock()
    deadline = clock.now() + Duration(seconds=spec["timeout"])
    while pub.get_subscription_count() < 1:        # wait for the test's subscriber
        if clock.now() > deadline:
            sys.exit("no subscriber matched")
        rclpy.spin_once(node, timeout_sec=0.05)
    header = Header(stamp=Time(sec=spec["sec"], nanosec=spec["nanosec"]),
                    frame_id=spec["frame_id"])
    pub.publish(skeletons_to_msg(people, spec["names"], header, ids=spec["ids"]))
    sys.stdin.read()  # stay alive (DDS resends if needed) until the test closes our stdin
    node.destroy_node()
finally:
    rclpy.try_shutdown()
"""


@pytest.fixture
def ros_env(monkeypatch, tmp_path):
    """Loopback-only discovery, a random domain and a private log dir (before rclpy.init)."""
    domain = random.randint(1, 101)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOG_DIR", str(tmp_path / "ros_log"))
    return domain


def test_skeleton_array_crosses_processes_over_dds(ros_env):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    timeout = 20.0
    people = sample_people(2, seed=4)
    spec = dict(topic=f"/skeletons_test_{os.getpid()}_{random.randrange(1 << 30)}",
                timeout=timeout, names=list(PANOPTIC15), ids=[11, -1], frame_id="world",
                sec=42, nanosec=7, joints=people.joints.tolist(),
                confidence=people.confidence.tolist(), root_scores=people.root_scores.tolist())

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_env)
    received: list[SkeletonArray] = []
    publisher = None
    try:
        node = rclpy.create_node("skeleton_test_subscriber", context=context)
        node.create_subscription(SkeletonArray, spec["topic"], received.append,
                                 QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, json.dumps(spec)],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        output, _ = publisher.communicate(timeout=timeout)  # closes its stdin: it exits
        assert publisher.returncode == 0, f"publisher failed:\n{output}"
        assert len(received) == 1, f"got {len(received)} messages; publisher said:\n{output}"
        executor.remove_node(node)
        node.destroy_node()
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        rclpy.try_shutdown(context=context)

    msg = received[0]
    assert msg.header.frame_id == "world"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (42, 7)
    assert_matches(msg_to_arrays(msg), people, [11, -1])
