"""Typed config fields: the one error type for a wrong value, and the one way text becomes a typed value.

The run config (`training.config.RunConfig`), the analysis settings (`analysis.settings.AnalysisSettings`)
and the Slurm options (`slurm.options.SlurmOptions`) are frozen dataclasses. Values reach them from TOML,
`--set FIELD=V`, the dashboard's form or a checkpoint's stored config; `coerce` turns each into the field's
declared type with the same rules and the same one-line messages everywhere.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from thermoscope.env import flag


class ConfigError(ValueError):
    """A config value is wrong; the message says which field and what to do, in one line."""


def _is_optional(kind: Any) -> tuple[bool, Any]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return True, args[0]
    return False, kind


def type_name(kind: Any) -> str:
    optional, inner = _is_optional(kind)
    if typing.get_origin(inner) is tuple:
        base = f"list of {typing.get_args(inner)[0].__name__} (a+b on the command line)"
    else:
        base = getattr(inner, "__name__", str(inner))
    return f"{base} or none" if optional else base


def coerce(name: str, kind: Any, value: Any) -> Any:
    """`value` (from TOML, a CLI string or JSON) as type `kind`; ConfigError naming `name` if it cannot be.

    Lists on the command line are written 'a+b' (commas separate grid values). A float must be finite;
    an int may be given as an integral float (TOML 3.0); `int | None` accepts 'none'. Ranges (positive,
    finite, ...) are the owning dataclass's to check, with its own message.
    """
    optional, inner = _is_optional(kind)
    try:
        if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
            return None
        if inner is bool:
            return value if isinstance(value, bool) else flag(str(value))
        if inner is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if inner is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)  # the owner's validation names a non-finite value with its own rule
        if inner is str:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError
            return str(value)
        if typing.get_origin(inner) is tuple:
            item = typing.get_args(inner)[0]
            items = value if isinstance(value, list | tuple) else [v for v in str(value).split("+") if v.strip()]
            return tuple(coerce(name, item, v.strip() if isinstance(v, str) else v) for v in items)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ConfigError(f"field {name!r} wants {type_name(kind)}, got {value!r}")


def field_types(cls: type) -> dict[str, Any]:
    """{field name: resolved type} of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def doc(cls: type, name: str) -> str:
    """A field's documentation: its `metadata['doc']`."""
    return next(f.metadata.get("doc", "") for f in dataclasses.fields(cls) if f.name == name)


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per field of a dataclass: name, type, default and meaning (for --list and the docs)."""
    types_ = field_types(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        lines.append(f"{prefix}{f.name} ({type_name(types_[f.name])}, default {default!r}): {f.metadata.get('doc', '')}")
    return lines


def check_type(name: str, kind: Any, value: Any) -> None:
    """ConfigError unless `value` already has type `kind` (an int counts as a float, a bool as no number)."""
    optional, inner = _is_optional(kind)
    if optional and value is None:
        return
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        ok = isinstance(value, tuple) and all(_is_a(item, v) for v in value)
    else:
        ok = _is_a(inner, value)
    if not ok:
        raise ConfigError(f"field {name!r} wants {type_name(kind)}, got {value!r}")


def _is_a(kind: Any, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)
