"""The budgets of one generation: the size a schema demands, and the time generating may take.

Why: a schema from a request may ask for a string of a billion characters or
an array of a billion items. Generating that froze the server and grew its
memory by megabytes a second, and "unsatisfiable" would be the wrong answer:
such a value exists, the mock just will not make it. So, before any value is
made, :func:`check_demand` estimates a lower bound of the JSON size every
instance must have (``minLength``, ``minItems`` times the smallest item,
required properties, nested, in saturating arithmetic) and refuses it above
``max_bytes``, naming the keyword that asks for it. The estimate never
exceeds the truth (cycles, cut-offs and unknowns count nothing), so no
instance that fits is refused. What it cannot see (a demand past the sites
it visits, or nested deeper than it follows) is caught while generating:
each string, array and object checks its own floor (:meth:`Limits.check_size`),
and every site, the estimate's included, checks the deadline
(:meth:`Limits.check_time`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from mockserver import limits
from mockserver.sources.schema_instances.constraints import _NEG, _Eff, _allowed_types
from mockserver.sources.schema_instances.errors import (
    GenerationBudgetExceeded, Path, UnsatisfiableSchema, _over_budget,
)
from mockserver.sources.schema_instances.regex import _parse_regex
from mockserver.sources.schema_instances.values import _TYPES

_CAP = 2**53  # saturation: sizes past any limit, still printable exactly
_WORK = 20_000  # sites the estimate visits at most; the rest count nothing
_NESTING = 64  # sites nested inside one another the estimate follows (its own recursion)
# How deep one site's merge may follow $ref/allOf/not (each hop is a Python frame).
MAX_MERGE_DEPTH = 2 * limits.MAX_SCHEMA_DEPTH


class Limits:
    """The budgets of one ``generate()`` call, shared by its attempts."""

    __slots__ = ("max_bytes", "seconds", "deadline", "late")

    def __init__(self, max_bytes: int | None, seconds: float | None) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.late: Path | None = None

    def check_time(self, path: Path) -> None:
        """Raise once the deadline has passed, and at every check after that.

        Sticky on purpose: the generator skips an optional part that fails,
        so a single raise could be swallowed; every later site raising too
        unwinds the whole generation quickly, and ``generate()`` reports it.
        """
        if self.late is None:
            if self.deadline is None or time.monotonic() <= self.deadline:
                return
            self.late = path
        raise self.too_late()

    def too_late(self) -> GenerationBudgetExceeded:
        return _over_budget(self.late or (), f"generating an instance took longer than the mock's limit of "
                                             f"{self.seconds:g} s (limits.MAX_GENERATION_SECONDS)")

    def check_size(self, size: int, path: Path, what: str) -> None:
        """Raise if one value must be at least ``size`` bytes of JSON, above the limit."""
        if self.max_bytes is not None and size > self.max_bytes:
            raise _too_big(path, what, size, self.max_bytes)


def _too_big(path: Path, what: str, size: int, limit: int) -> GenerationBudgetExceeded:
    return _over_budget(path, f"{what or 'this schema'} makes every instance at least {size:,} bytes of JSON, "
                              f"above the mock's limit of {limit:,} bytes (limits.MAX_GENERATED_BYTES)")


def check_demand(plan: Any, budgets: Limits) -> None:
    """Refuse, before generating, a schema whose every instance is bigger than ``budgets.max_bytes``.

    The estimate is kept on the plan (per limit), and it runs under the
    deadline too: it visits every schema location once, which is the whole
    of a big schema.
    """
    limit = budgets.max_bytes
    if limit is None:
        return
    hit = plan.demand.get(limit)
    if hit is None:
        hit = plan.demand[limit] = _Demand(plan, limit, budgets).site(((),))
    size, path, what = hit
    if size > limit:
        raise _too_big(path, what, size, limit)


def _add(*sizes: int) -> int:
    return min(sum(sizes), _CAP)


def _mul(a: int, b: int) -> int:
    return min(a * b, _CAP)


def _size(demand: tuple) -> int:
    return demand[0]


Demand = tuple  # (bytes at least, path of the keyword asking for them, what it is)


class _Demand:
    """A lower bound of the JSON size of a site's instances, and the keyword behind it.

    Kept per JSON type (a "vector"), because a choice group is bounded by its
    options each taken alone, never merged with the site: an instance of type
    T satisfies the site and some option allowing T, so its size is at least
    the larger of the site's floor for T and the smallest option floor for T.
    Each schema location is thus estimated once, with no combinations of
    branches to enumerate; negations are left out (they only exclude values).
    """

    def __init__(self, plan: Any, limit: int, budgets: Limits) -> None:
        self.plan = plan
        self.limit = limit
        self.budgets = budgets
        self.memo: dict[tuple, dict[str, Demand]] = {}
        self.active: set[tuple] = set()
        self.work = _WORK

    def site(self, parts: tuple) -> Demand:
        """The floor over every type the site allows."""
        where = parts[0] if parts else ()
        floors = self.vector(parts)
        return min(floors.values(), key=_size) if floors else (0, where, "")

    def vector(self, parts: tuple) -> dict[str, Demand]:
        """type -> floor for the types the site allows (none: no instance at all)."""
        hit = self.memo.get(parts)
        if hit is not None:
            return hit
        where = parts[0] if parts else ()
        if parts in self.active or self.work <= 0 or len(self.active) >= _NESTING:
            return {t: (0, where, "") for t in _TYPES}  # a cycle or a cut-off counts nothing
        self.budgets.check_time(where)
        self.work -= 1
        self.active.add(parts)
        try:
            floors = self._vector(parts, where)
        finally:
            self.active.discard(parts)
        if "number" in floors:
            floors.setdefault("integer", floors["number"])  # every integer is a number
        self.memo[parts] = floors
        return floors

    def _vector(self, parts: tuple, where: Path) -> dict[str, Demand]:
        try:
            eff = self.plan.flatten(parts)
        except UnsatisfiableSchema:
            return {}  # no instance: generation says why, with its path
        floors = {t: (1, where, "") if eff.enum is not None else self._of_type(t, eff, where)
                  for t in _allowed_types(eff)}  # enum values are the schema's own, and it is bounded
        for _kind, _key, options in eff.groups:
            cheapest: dict[str, Demand] = {}
            for option in options:
                alone = tuple(p for p in option if not (p and p[0] == _NEG))
                for t, floor in self.vector(alone).items():
                    if t not in cheapest or floor[0] < cheapest[t][0]:
                        cheapest[t] = floor
            floors = {t: max(floor, cheapest[t], key=_size) for t, floor in floors.items() if t in cheapest}
        return floors

    def _of_type(self, kind: str, eff: _Eff, where: Path) -> Demand:
        if kind in ("null", "boolean"):
            return (4, where, "")
        if kind in ("integer", "number"):
            return (1, where, "")
        if kind == "string":
            return self._string(eff, where)
        if kind == "array":
            return self._array(eff, where)
        return self._object(eff, where)

    @staticmethod
    def _string(eff: _Eff, where: Path) -> Demand:
        floor, path, what = 0, where, ""
        if eff.min_len:
            floor, path, what = eff.min_len[0], eff.min_len[1], f"minLength {eff.min_len[0]:,}"
        for pattern, ppath in eff.patterns:
            ast = _parse_regex(pattern)
            if ast is not None and ast.mn > floor:  # the shortest match is a lower bound, lookarounds or not
                floor, path, what = ast.mn, ppath, f"pattern (matches of at least {ast.mn:,} characters)"
        return (_add(2, floor), path, what)

    def _child(self, parts: tuple) -> Demand:
        return self.site(parts) if parts else (1, (), "")

    def _array(self, eff: _Eff, where: Path) -> Demand:
        n, path, what = 0, where, ""
        if eff.min_items:
            n, path, what = eff.min_items[0], eff.min_items[1], f"minItems {eff.min_items[0]:,}"
        contains = sum(c[1] for c in eff.contains if isinstance(c[1], int))
        if contains > n:
            n, path, what = contains, eff.contains[0][0], f"contains (at least {contains:,} items)"
        if n <= 0:
            return (2, where, "")
        prefix = max((len(node["prefixItems"]) for _p, node in eff.arrays
                      if isinstance(node.get("prefixItems"), list)), default=0)
        total = _add(2, n - 1)  # brackets and commas
        biggest: Demand = (0, where, "")
        for i in range(min(n, prefix)):
            item = self._child(self.plan.item_site(eff, i))
            total = _add(total, item[0])
            biggest = max(biggest, item, key=_size)
        if n > prefix:
            item = self._child(self.plan.item_site(eff, prefix))
            total = _add(total, _mul(n - prefix, item[0]))
            biggest = max(biggest, item, key=_size)
            what = f"{what} times at least {item[0]:,} bytes per item" if item[0] > 1 else what
        if biggest[0] > self.limit:
            return (total, biggest[1], biggest[2])  # one item is too big already: name its keyword
        return (total, path, what)

    def _object(self, eff: _Eff, where: Path) -> Demand:
        total, count = 2, 0
        biggest: Demand = (0, where, "")
        for name in eff.required:
            value = self._child(self.plan.prop_site(eff, name))
            total = _add(total, len(orjson.dumps(name)) + 1, value[0])
            count += 1
            biggest = max(biggest, value, key=_size)
        path = eff.required[next(iter(eff.required))][:-1] if eff.required else where
        what = f"required ({count:,} properties)"
        if eff.min_props and eff.min_props[0] > count:
            extra = eff.min_props[0] - count
            total = _add(total, _mul(extra, 4))  # '"":0' is the smallest property
            count = eff.min_props[0]
            path, what = eff.min_props[1], f"minProperties {count:,}"
        total = _add(total, max(count - 1, 0))
        if biggest[0] > self.limit:
            return (total, biggest[1], biggest[2])
        return (total, path, what)
