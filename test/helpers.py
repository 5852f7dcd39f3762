"""Shared test helpers (no pytest fixtures: plain functions)."""

from __future__ import annotations

from pathlib import Path

from selfpose3d_core.geometry.checks import random_camera, ring_rig

__all__ = ["REPO", "SHARED_DATA", "random_camera", "ring_rig"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
