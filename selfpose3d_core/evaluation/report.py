"""Metric tables: markdown for people, JSON for machines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["markdown_table", "write_json"]


def _fmt(v) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.1f}"
    return str(v)


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """Rows of equal-keyed mappings → a markdown table (floats to 1 decimal, NaN as –)."""
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: str | Path, data) -> Path:
    """Write ``data`` as indented JSON (NaN → null) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(x):
        if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(clean(data), indent=2))
    tmp.replace(path)
    return path
