"""The merged constraints of a site (:class:`_Eff`), the per-call context, and number helpers."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from mockserver.sources.schema_instances.errors import Path
from mockserver.sources.schema_instances.values import _TYPES

if TYPE_CHECKING:  # budget imports this module
    from mockserver.sources.schema_instances.budget import Limits


_NEG = "!not"  # first element of a part that means "must NOT match this path"


class _Eff:
    """The merged constraints of a site (a set of schema locations).

    Bounds carry the path they came from so a contradiction can name the
    keyword that caused it.
    """

    __slots__ = (
        "types", "types_path", "not_types", "enum", "enum_path", "not_values",
        "lower", "upper", "mults", "min_len", "max_len", "patterns", "formats",
        "min_items", "max_items", "unique", "arrays", "contains",
        "objs", "required", "min_props", "max_props", "prop_names", "dep_required",
        "nots", "groups", "check", "kinds", "typed_nots",
    )

    def __init__(self) -> None:
        self.types: frozenset | None = None
        self.types_path: Path = ()
        self.not_types: set = set()
        self.enum: list | None = None
        self.enum_path: Path = ()
        self.not_values: set = set()
        self.lower: tuple | None = None   # (value, exclusive, path)
        self.upper: tuple | None = None
        self.mults: list = []             # (Fraction, raw, path)
        self.min_len: tuple | None = None  # (value, path)
        self.max_len: tuple | None = None
        self.patterns: list = []          # (pattern, path)
        self.formats: list = []           # (format, path)
        self.min_items: tuple | None = None
        self.max_items: tuple | None = None
        self.unique: Path | None = None
        self.arrays: list = []            # (path, node) with prefixItems/items
        self.contains: list = []          # (path, min, max)
        self.objs: list = []              # (path, node) with properties & co
        self.required: dict = {}          # name -> path
        self.min_props: tuple | None = None
        self.max_props: tuple | None = None
        self.prop_names: list = []        # paths of propertyNames schemas
        self.dep_required: list = []      # dicts
        self.nots: list = []              # paths of `not` schemas (or negated `if`)
        self.groups: list = []            # (kind, key, options[tuple of parts])
        self.check = False                # validate locally after generation
        self.kinds: set = set()           # keyword families seen, for type inference
        self.typed_nots: list = []        # (path, types, keyword, value): not {type, one bound}


def _intersect_types(a: frozenset, b: frozenset) -> frozenset:
    out = set(a & b)
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        out.add("integer")
    return frozenset(out)


def _as_fraction(x: Any) -> Fraction:
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def _lcm(a: Fraction, b: Fraction) -> Fraction:
    num = a.numerator * b.numerator // math.gcd(a.numerator, b.numerator)
    return Fraction(num, math.gcd(a.denominator, b.denominator))


def _py_multiple_ok(value: Any, raw: Any) -> bool:
    """python-jsonschema's multipleOf check (stricter on floats than jsonschema_rs)."""
    if isinstance(raw, float):
        try:
            q = value / raw
            return q == int(q)
        except (OverflowError, ZeroDivisionError):
            return False
    return value % raw == 0


def _kw(path: Path) -> str:
    return str(path[-1]) if path else "bound"


def _num(x: Any) -> str:
    return repr(x) if isinstance(x, float) else str(x)


# --------------------------------------------------------------------------- compiled schema

_ALL_TYPES = frozenset(_TYPES)
# not {kw: v} for a single numeric bound -> (is a lower bound, exclusive) of the inverse
_INVERT_NUMBER = {
    "minimum": (False, True), "exclusiveMinimum": (False, False),
    "maximum": (True, True), "exclusiveMaximum": (True, False),
}
# not {kw: n} for a single size -> (type, attribute, delta, is a minimum) of the inverse
_INVERT_LENGTH = {
    "minLength": ("string", "max_len", -1, False), "maxLength": ("string", "min_len", 1, True),
    "minItems": ("array", "max_items", -1, False), "maxItems": ("array", "min_items", 1, True),
    "minProperties": ("object", "max_props", -1, False), "maxProperties": ("object", "min_props", 1, True),
}
_OBJECT_KEYS = ("properties", "patternProperties", "additionalProperties", "unevaluatedProperties")


class _Ctx:
    """Per-call state: the random stream, the mode, and bounds on total work, size and time."""

    __slots__ = ("rng", "minimal", "max_depth", "budget", "explore", "limits")

    def __init__(self, rng: random.Random, minimal: bool, max_depth: int, limits: Limits) -> None:
        self.rng = rng
        self.minimal = minimal
        self.max_depth = max_depth
        self.budget = 20000
        self.limits = limits  # size and time, shared by the attempts of one generate() call
        # Set while retrying after a failed check: untyped schemas then try
        # every type in random order instead of the most natural one.
        self.explore = False


def _allowed_types(eff: "_Eff") -> set:
    allowed = set(eff.types if eff.types is not None else _ALL_TYPES) - eff.not_types
    if "number" in eff.not_types:
        allowed.discard("integer")  # every integer is a number
    return allowed

