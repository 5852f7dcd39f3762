"""Node parameters as plain data: declared with descriptions and ranges, documented from
the same table.

A node lists its parameters as :class:`ParamSpec` (name, default, description, numeric
range or allowed strings, read-only). :func:`declare_parameters` declares them on an
``rclpy`` node with a ``ParameterDescriptor`` (``FloatingPointRange`` / ``IntegerRange``,
``read_only``) and returns the values; :func:`check_value` validates a value against its
spec (used at start and in the on-set-parameters callbacks); :func:`markdown_table` renders
the README table. Nothing here imports rclpy at module level.

Example:
    >>> spec = ParamSpec("rate", 10.0, "frames per second", range=(0.1, 120.0))
    >>> check_value(spec, 500.0)
    'rate = 500.0 is outside [0.1, 120.0]'
    >>> check_value(spec, 5.0) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["ParamSpec", "check_value", "declare_parameters", "markdown_table", "spec_by_name"]


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Attributes:
        name: parameter name.
        default: default value; its Python type fixes the ROS type (bool, int, float, str,
            list of str). An empty list declares a string array without a default.
        description: what it does, with units.
        range: inclusive (min, max) for int and float parameters.
        choices: allowed values of a string parameter.
        read_only: structural: set at start (launch / params file), not at run time.
    """

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    def __post_init__(self):
        if self.range is not None:
            if not isinstance(self.default, (int, float)) or isinstance(self.default, bool):
                raise ValueError(f"{self.name}: a range needs an int or float default")
            lo, hi = self.range
            if not lo <= self.default <= hi:
                raise ValueError(f"{self.name}: default {self.default} outside {self.range}")
        if self.choices is not None and self.default not in self.choices:
            raise ValueError(f"{self.name}: default {self.default!r} not in {self.choices}")

    @property
    def type_name(self) -> str:
        """``bool``, ``int``, ``double``, ``string`` or ``string[]``."""
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, int):
            return "int"
        if isinstance(self.default, float):
            return "double"
        if isinstance(self.default, (list, tuple)):
            return "string[]"
        return "string"


def spec_by_name(specs: Sequence[ParamSpec]) -> dict[str, ParamSpec]:
    return {s.name: s for s in specs}


def check_value(spec: ParamSpec, value: Any) -> str | None:
    """A readable reason why ``value`` is not acceptable for ``spec``, or None."""
    if spec.range is not None:
        lo, hi = spec.range
        if not lo <= value <= hi:
            return f"{spec.name} = {value} is outside [{lo}, {hi}]"
    if spec.choices is not None and value not in spec.choices:
        return f"{spec.name} = {value!r} is not one of {list(spec.choices)}"
    return None


def _descriptor(spec: ParamSpec):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    desc = ParameterDescriptor(description=text, read_only=spec.read_only)
    if spec.range is not None:
        lo, hi = spec.range
        if spec.type_name == "int":
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                            to_value=float(hi), step=0.0)]
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    return desc


def declare_parameters(node: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare ``specs`` on ``node`` and return ``{name: value}`` (overrides applied).

    Raises:
        ValueError: a value (e.g. from a params file) fails :func:`check_value`.
    """
    from rclpy.parameter import Parameter

    values: dict[str, Any] = {}
    for spec in specs:
        default = spec.default
        if isinstance(default, (list, tuple)):
            default = list(default) if default else Parameter.Type.STRING_ARRAY
        param = node.declare_parameter(spec.name, default, _descriptor(spec))
        value = param.value
        if spec.type_name == "string[]":
            value = [str(v) for v in (value or [])]
        why = check_value(spec, value)
        if why:
            raise ValueError(f"parameter {why}")
        values[spec.name] = value
    return values


def markdown_table(specs: Sequence[ParamSpec]) -> str:
    """The README table: name, type, default, range/choices, read-only, description."""
    rows = ["| parameter | type | default | range | description |", "|---|---|---|---|---|"]
    for s in specs:
        if s.range is not None and s.type_name == "int":
            rng = f"[{int(s.range[0])}, {int(s.range[1])}]"
        elif s.range is not None:
            rng = f"[{s.range[0]:g}, {s.range[1]:g}]"
        elif s.choices:
            rng = " \\| ".join(s.choices)
        else:
            rng = ""
        default = repr(s.default) if isinstance(s.default, str) else str(s.default).lower() \
            if isinstance(s.default, bool) else str(s.default)
        ro = " (read-only)" if s.read_only else ""
        rows.append(f"| `{s.name}` | {s.type_name} | `{default}` | {rng} | "
                    f"{s.description}{ro} |")
    return "\n".join(rows)
