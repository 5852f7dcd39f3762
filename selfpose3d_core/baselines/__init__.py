"""Baselines without learning: the lower bounds the self-supervised network must beat.

* :mod:`.triangulation_baseline` — cross-view matching of the pseudo 2D poses and robust
  triangulation (:func:`run_triangulation_baseline`).
* :mod:`.matching` — epipolar affinities, clustering and left/right consensus.
"""

from .triangulation_baseline import (
    Poses3D,
    TriangulationBaseline,
    TriangulationBaselineConfig,
    run_triangulation_baseline,
)

__all__ = ["Poses3D", "TriangulationBaseline", "TriangulationBaselineConfig",
           "run_triangulation_baseline"]
