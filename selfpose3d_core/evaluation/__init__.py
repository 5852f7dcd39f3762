"""Evaluation: Panoptic AP / Recall / MPJPE, Shelf/Campus PCP, report tables."""

from .panoptic import AP_THRESHOLDS_MM, FramePoses, PanopticResult, evaluate_panoptic
from .pcp import LIMB_GROUPS, PCPResult, evaluate_pcp
from .report import markdown_table, write_json

__all__ = ["AP_THRESHOLDS_MM", "FramePoses", "PanopticResult", "evaluate_panoptic",
           "LIMB_GROUPS", "PCPResult", "evaluate_pcp", "markdown_table", "write_json"]
