"""Frozen-dataclass configs from/to plain dicts (YAML): nested, typed, unknown keys rejected.

``from_dict(Cls, data)`` builds ``Cls`` from a mapping: absent keys take the defaults,
unknown keys raise ``ValueError`` naming them (with the dotted path), nested dataclass
fields are built recursively from nested mappings, lists become tuples where the field is
annotated as a tuple. ``to_dict(obj)`` is the inverse (lists, numbers, strings, None).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

__all__ = ["from_dict", "to_dict", "load_yaml_config"]

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Dataclasses → dicts, tuples → lists, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return obj.to_dict()
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_dict(tp, value, where)
    if origin is typing.Union or str(origin) == "types.UnionType":
        if value is None:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except (ValueError, TypeError):
                continue
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where) for v in value)
        if args and len(args) == len(value):
            return tuple(_convert(a, v, where) for a, v in zip(args, value))
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str | None = None) -> T:
    """Build the dataclass ``cls`` from ``data`` (see module docstring)."""
    where = where or cls.__name__
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}: {data!r}")
    if hasattr(cls, "from_dict"):  # a class with its own reader (e.g. ModelConfig)
        return cls.from_dict(data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None


def load_yaml_config(cls: type[T], path: str | Path) -> T:
    """Read a YAML file into the dataclass ``cls``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return from_dict(cls, yaml.safe_load(path.read_text()) or {}, where=str(path))
