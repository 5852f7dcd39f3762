"""run_node's exit codes: configuration errors, Ctrl-C, and a shutdown that races the
executor (a SIGINT invalidating the context while a message is being taken)."""

from __future__ import annotations

import pytest
import rclpy

from selfpose3d_ros.node_main import run_node


class FakeNode:
    """Stands in for a node: run_node only spins and destroys it (no DDS traffic)."""

    def __init__(self) -> None:
        self.destroyed = False

    def destroy_node(self) -> None:
        self.destroyed = True


@pytest.fixture()
def spin_with(monkeypatch):
    """Replace rclpy.spin with ``behaviour(node)``."""
    def install(behaviour):
        monkeypatch.setattr(rclpy, "spin", behaviour)
    return install


def test_shutdown_racing_the_executor_is_a_clean_exit(spin_with, caplog):
    node = FakeNode()

    def spin(_node):
        rclpy.shutdown()  # what rclpy's SIGINT handler does
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    spin_with(spin)
    assert run_node(lambda: node, "racer", args=[]) == 0
    assert node.destroyed and not rclpy.ok()
    assert "shut down while spinning: RuntimeError" in caplog.text


def test_errors_while_running_propagate(spin_with):
    node = FakeNode()

    def spin(_node):
        raise RuntimeError("a real bug")

    spin_with(spin)
    with pytest.raises(RuntimeError, match="a real bug"):
        run_node(lambda: node, "buggy", args=[])
    assert node.destroyed and not rclpy.ok()


def test_ctrl_c_is_a_clean_exit(spin_with):
    node = FakeNode()

    def spin(_node):
        raise KeyboardInterrupt

    spin_with(spin)
    assert run_node(lambda: node, "stopped", args=[]) == 0
    assert node.destroyed


def test_configuration_error_exits_2(spin_with):
    def factory():
        raise ValueError("rig_yaml: no such camera 'cam9'")

    spin_with(lambda _node: pytest.fail("spun a node that was never built"))
    assert run_node(factory, "misconfigured", args=[]) == 2
    assert not rclpy.ok()
