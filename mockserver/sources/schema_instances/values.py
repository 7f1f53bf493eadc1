"""JSON value helpers: type names, JSON equality keys, safe copies of schema values."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson


_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
_MINIMAL_TYPE_ORDER = {t: i for i, t in enumerate(_TYPES)}
_NATURAL_TYPE_ORDER = ("string", "number", "integer", "boolean", "object", "array", "null")


def _type_of(value: Any) -> str:
    """JSON type name; bool before int because bool is an int in Python."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _type_ok(value: Any, types: frozenset | None) -> bool:
    if types is None:
        return True
    t = _type_of(value)
    return t in types or (t == "integer" and "number" in types)


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _jkey(value: Any) -> bytes:
    """A key equal for JSON-equal values (1 == 1.0, true != 1, key order ignored)."""
    v = _norm(value)
    try:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(v, sort_keys=True, default=repr).encode()


def _copy_value(value: Any) -> Any:
    """Enum/const values are shared with the schema: never hand them out aliased."""
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value

