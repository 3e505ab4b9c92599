"""Values of OTLP attributes as plain Python: what the OTLP receiver (otel/) and the
agents' telemetry handlers (agents/) both read, kept apart so neither imports the other."""

from __future__ import annotations

from typing import Any

import msgspec

from .events import now_iso

_decode_json = msgspec.json.Decoder().decode


def value_of(any_value: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [value_of(v) for v in value.values]
    if kind == "kvlist_value":
        return attributes(value.values)
    if kind == "bytes_value":
        return value.hex()
    return value


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})


def attributes(key_values: Any) -> dict[str, Any]:
    found = {}
    for kv in key_values:  # the hot loop of ingest: scalars, nearly all of them, read inline
        value = kv.value
        kind = value.WhichOneof("value")
        found[kv.key] = getattr(value, kind) if kind in _SCALARS else value_of(value)
    return found


def iso_of(nanos: int) -> str:
    return now_iso(nanos / 1e9) if nanos else now_iso()


def as_int(value: Any) -> int | None:
    if type(value) is int:  # what OTLP int attributes decode to: no conversion to try
        return value
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    if type(value) is float:
        return value
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_or_text(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _decode_json(value)
        except msgspec.DecodeError:
            pass
    return value
