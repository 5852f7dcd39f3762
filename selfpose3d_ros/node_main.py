"""The console entry point every node shares: init, spin, clean shutdown, exit codes."""

from __future__ import annotations

import logging
from typing import Callable

__all__ = ["run_node"]


def run_node(factory: Callable[[], object], name: str, args: list[str] | None = None,
             quiet: tuple[type[BaseException], ...] = ()) -> int:
    """Create the node with ``factory`` and spin it until shutdown.

    Returns 0 after a normal shutdown (Ctrl-C, an external shutdown or one of the
    ``quiet`` exceptions), 2 when the node cannot be configured (a ValueError,
    FileNotFoundError or ParameterException while it is built, logged as one FATAL line
    under ``name``). Errors after construction propagate, except those raised while the
    context is already shut down: a SIGINT can invalidate the context while the executor
    is taking a message (rclpy then raises a RuntimeError from ``take_message``), and that
    is the shutdown the signal asked for, not a node failure.
    """
    import rclpy
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException, *quiet):
        pass
    except Exception as e:
        if node is None and isinstance(e, (ValueError, FileNotFoundError, ParameterException)):
            rclpy.logging.get_logger(name).fatal(f"configuration error: {e}")
            return 2
        if node is None or rclpy.ok():
            raise
        # the shutdown raced the executor; rosout is gone, so Python logging (stderr)
        logging.getLogger(name).warning("shut down while spinning: %s: %s",
                                        type(e).__name__, e)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
