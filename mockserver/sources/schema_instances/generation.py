"""Generating a value for a site: choices, strings, numbers, arrays, objects."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any, Iterator

from mockserver.sources.schema_instances.constraints import (
    _Ctx, _Eff, _allowed_types, _as_fraction, _kw, _lcm, _num, _py_multiple_ok,
)
from mockserver.sources.schema_instances.errors import Path, UnsatisfiableSchema, _unsat
from mockserver.sources.schema_instances.formats import (
    _FORMAT_WIDTH, _format_fit, _format_ok, _format_values, _pattern_ok,
)
from mockserver.sources.schema_instances.hints import (
    _NUM_HINTS, _STRING_HINT_KINDS, _hint_kind, _hint_strings, _singular,
)
from mockserver.sources.schema_instances.plan import _Plan
from mockserver.sources.schema_instances.pools import _pick
from mockserver.sources.schema_instances.regex import _parse_regex, _regex_impossible, _regex_strings
from mockserver.sources.schema_instances.values import (
    _MINIMAL_TYPE_ORDER, _NATURAL_TYPE_ORDER, _TYPES, _copy_value, _jkey, _type_ok,
)

# Integers orjson writes: 64-bit, signed or not. Beyond, a double holding the
# integer exactly is written instead (1e308 is an integer to JSON Schema).
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_UNWRITABLE = ("the integers near these bounds are beyond 64 bits and no double holds them exactly, so the mock "
               "cannot write them as JSON")


def _writable(v: int | float) -> int | float | None:
    """``v`` as JSON output can carry it, or None."""
    if not isinstance(v, int) or _INT_MIN <= v <= _INT_MAX:
        return v
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if f == v else None


class _Compiled(_Plan):
    """A compiled schema that generates values (the seed-dependent half)."""

    # ----------------------------------------------------------------- generation

    def gen(self, parts: tuple, depth: int, ctx: _Ctx, hint: str | None,
            resolved: frozenset = frozenset()) -> Any:
        ctx.limits.check_time(parts[0] if parts else ())
        ctx.budget -= 1
        if ctx.budget < 0:
            raise _unsat(parts[0] if parts else (), "search budget exhausted", soft=True)
        if depth > ctx.max_depth + 24:
            raise _unsat(parts[0] if parts else (),
                         f"recursion requires an instance nested deeper than {depth} levels")
        eff = self.flatten(parts)
        group = next((g for g in eff.groups if g[1] not in resolved), None)
        if group is not None:
            return self._gen_choice(parts, eff, group, depth, ctx, hint, resolved)
        tries = 6 if (eff.check or eff.not_values) else 1
        last: UnsatisfiableSchema | None = None
        for attempt in range(tries):
            saved = ctx.minimal, ctx.explore
            # Retry schedule: as asked; other types; the opposite size regime
            # (edge values like "" and 0 often escape a `not`); then wander.
            if attempt == 2:
                ctx.minimal = not saved[0]
            elif attempt >= 3:
                ctx.minimal = False
            if attempt >= 1:
                ctx.explore = True
            try:
                value = self._gen_plain(eff, parts, depth, ctx, hint)
            except UnsatisfiableSchema as exc:
                if tries == 1 or not exc.soft:
                    raise
                last = exc
                continue
            finally:
                ctx.minimal, ctx.explore = saved
            if tries == 1:
                return value
            bad = next((p for p in eff.nots if self.sub_valid(p, value)), None)
            if bad is None:
                bad = next((p for p in parts if not self.sub_valid(p, value)), None)
                if bad is None:
                    return value
                last = _unsat(bad, "could not generate a value for this schema", soft=True)
            else:
                last = _unsat(bad, "could not find a value that `not` does not match", soft=True)
        raise last  # type: ignore[misc]

    def _gen_choice(self, parts: tuple, eff: _Eff, group: tuple, depth: int, ctx: _Ctx,
                    hint: str | None, resolved: frozenset) -> Any:
        kind, key, options = group
        order = list(range(len(options)))
        cheap = ctx.minimal or depth >= ctx.max_depth
        if cheap:
            order.sort(key=lambda i: self.cost(parts + options[i], resolved | {key}))
        else:
            ctx.rng.shuffle(order)
            # null-only branches read poorly in a mock; keep them as fallbacks
            order.sort(key=lambda i: self._null_only(parts + options[i]))
        resolved = resolved | {key}
        errors: list[UnsatisfiableSchema] = []
        for i in order:
            sub = parts + options[i]
            for attempt in range(4 if kind == "oneOf" else 1):
                saved = ctx.minimal, ctx.explore
                if attempt >= 1:
                    ctx.minimal = False
                if attempt >= 2:
                    ctx.explore = True
                try:
                    value = self.gen(sub, depth, ctx, hint, resolved)
                except UnsatisfiableSchema as exc:
                    errors.append(exc)
                    break
                finally:
                    ctx.minimal, ctx.explore = saved
                if kind != "oneOf":
                    return value
                # The sibling negations in the option already steer away from
                # overlaps; counting matches is the authoritative check.
                matches = sum(1 for opt in options if self.sub_valid(opt[0], value))
                if matches == 1:
                    return value
        hard = [e for e in errors if not e.soft]
        if hard and len(hard) == len(options):
            first = hard[0]
            raise _unsat(key, f"no {kind} branch is satisfiable (first: {first.path}: {first.reason})")
        if kind == "oneOf":
            raise _unsat(key, "could not find a value matching exactly one oneOf branch", soft=True)
        first = errors[0] if errors else None
        raise _unsat(key, f"no {kind} branch could be satisfied" + (f" ({first.path}: {first.reason})" if first else ""),
                     soft=any(e.soft for e in errors))

    def _null_only(self, parts: tuple) -> bool:
        try:
            eff = self.flatten(parts)
        except UnsatisfiableSchema:
            return True
        return eff.types == frozenset({"null"})

    def _gen_plain(self, eff: _Eff, parts: tuple, depth: int, ctx: _Ctx, hint: str | None) -> Any:
        if eff.enum is not None:
            return self._gen_enum(eff, parts, ctx)
        types = self._type_order(eff, ctx, depth, hint)
        errors: list[UnsatisfiableSchema] = []
        for t in types:
            try:
                if t == "string":
                    return self._gen_string(eff, ctx, hint)
                if t in ("integer", "number"):
                    return self._gen_number(eff, ctx, t == "integer", hint)
                if t == "object":
                    return self._gen_object(eff, depth, ctx)
                if t == "array":
                    return self._gen_array(eff, depth, ctx, hint)
                if t == "boolean":
                    return self._gen_bool(eff, ctx)
                if _jkey(None) not in eff.not_values:
                    return None
                errors.append(_unsat(eff.nots[0] if eff.nots else parts[0], "null is excluded by `not`"))
            except UnsatisfiableSchema as exc:
                errors.append(exc)
        if errors:
            hard = [e for e in errors if not e.soft]
            raise (hard or errors)[0]
        path = eff.types_path if eff.types is not None else (eff.nots[0] if eff.nots else parts[0])
        raise _unsat(path, "every allowed type is excluded by `not` or by another oneOf branch")

    def _type_order(self, eff: _Eff, ctx: _Ctx, depth: int, hint: str | None) -> list[str]:
        allowed = _allowed_types(eff)
        if "number" in allowed and "integer" in allowed and not ctx.explore:
            allowed.discard("integer")  # the number generator covers integers too
        if not allowed:
            return []
        if ctx.minimal and eff.types is not None:
            return sorted(allowed, key=_MINIMAL_TYPE_ORDER.__getitem__)
        if ctx.explore:
            order = sorted(allowed, key=_MINIMAL_TYPE_ORDER.__getitem__)
            ctx.rng.shuffle(order)
            return order
        preferred: list[str] = []
        if eff.types is None:
            for fam in ("object", "array", "string", "number"):
                if fam in eff.kinds and fam in allowed:
                    preferred.append(fam)
            if not preferred and not ctx.minimal:
                kind = hint and _hint_kind(hint)
                if kind in _NUM_HINTS and "number" in allowed:
                    preferred.append("number")
                elif "string" in allowed:
                    preferred.append("string")
            if ctx.minimal:
                rest = sorted(allowed - set(preferred), key=_MINIMAL_TYPE_ORDER.__getitem__)
            else:
                rest = [t for t in _NATURAL_TYPE_ORDER if t in allowed and t not in preferred]
            return preferred + rest
        non_null = [t for t in _TYPES if t in allowed and t != "null"]
        ctx.rng.shuffle(non_null)
        if depth >= ctx.max_depth:
            non_null.sort(key=lambda t: t in ("array", "object"))
        return non_null + (["null"] if "null" in allowed else [])

    def _gen_enum(self, eff: _Eff, parts: tuple, ctx: _Ctx) -> Any:
        values = eff.enum or []
        order = list(range(len(values)))
        if not ctx.minimal:
            ctx.rng.shuffle(order)
        types = eff.types
        if types is not None:
            types = types - eff.not_types
        for i in order:
            v = values[i]
            if not _type_ok(v, types) or (eff.not_values and _jkey(v) in eff.not_values):
                continue
            if all(self.sub_valid(p, v) for p in parts):
                return _copy_value(v)
        if types is not None and not any(_type_ok(v, types) for v in values):
            raise _unsat(eff.enum_path, f"no {_kw(eff.enum_path)} value is of type {' or '.join(sorted(types))}")
        raise _unsat(eff.enum_path, f"no {_kw(eff.enum_path)} value satisfies the other constraints")

    def _gen_bool(self, eff: _Eff, ctx: _Ctx) -> bool:
        first = False if ctx.minimal else ctx.rng.random() < 0.5
        for v in (first, not first):
            if _jkey(v) not in eff.not_values:
                return v
        raise _unsat(eff.nots[0] if eff.nots else eff.types_path, "both booleans are excluded by `not`")

    # ----------------------------------------------------------------- strings

    def _gen_string(self, eff: _Eff, ctx: _Ctx, hint: str | None) -> str:
        lo = eff.min_len[0] if eff.min_len else 0
        hi = eff.max_len[0] if eff.max_len else None
        if hi is not None and lo > hi:
            raise _unsat(eff.max_len[1], f"minLength {lo} is greater than maxLength {hi}")
        rng = ctx.rng
        patterns = eff.patterns
        formats = [f for f, _ in eff.formats]
        if eff.min_len:
            ctx.limits.check_size(lo + 2, eff.min_len[1], f"minLength {lo:,}")
        for p, ppath in patterns:
            ast = _parse_regex(p)
            if ast is not None:
                ctx.limits.check_size(ast.mn + 2, ppath, f"pattern (matches of at least {ast.mn:,} characters)")

        def ok(s: str) -> bool:
            if len(s) < lo or (hi is not None and len(s) > hi):
                return False
            if eff.not_values and _jkey(s) in eff.not_values:
                return False
            return all(_pattern_ok(p, s) for p, _ in patterns) and all(_format_ok(f, s) for f in formats)

        def candidates() -> Iterator[str]:
            kind = _hint_kind(hint)
            if kind in _STRING_HINT_KINDS and not ctx.minimal:
                yield from _hint_strings(kind, rng)
            for f in formats:
                yield from _format_values(f, rng)
            if formats and (lo or hi is not None):
                for f in formats:
                    yield from _format_fit(f, rng, lo, hi)
            for p, _ in patterns:
                yield from _regex_strings(p, lo, hi, rng, ctx.minimal)
            if not patterns:
                yield self._text(rng, lo, hi, ctx.minimal, kind)
            for p, _ in patterns[1:] + patterns[:1]:
                yield from _regex_strings(p, lo, hi, rng, False, tries=8)

        where = (eff.min_len or eff.max_len or (None, eff.types_path))[1]
        for s in candidates():
            ctx.limits.check_time(where)  # one candidate can be a megabyte of text
            if ok(s):
                return s
        if patterns:
            p, path = patterns[0]
            bounds = f" with length in [{lo}, {'∞' if hi is None else hi}]" if (lo or hi is not None) else ""
            reason = (f"could not generate a string matching pattern {p!r}{bounds}"
                      + (" and the other patterns/formats" if len(patterns) > 1 or formats else ""))
            impossible = len(patterns) == 1 and not formats and _regex_impossible(p, lo, hi)
            raise _unsat(path, reason, soft=not impossible)
        if eff.formats:
            f, path = eff.formats[0]
            # Fixed-width formats are provably impossible outside their width.
            width = _FORMAT_WIDTH.get(f)
            impossible = width is not None and (width < lo or (hi is not None and width > hi))
            raise _unsat(path, f"no {f!r} string fits length [{lo}, {'∞' if hi is None else hi}]",
                         soft=not impossible)
        raise _unsat(eff.nots[0] if eff.nots else (eff.min_len or eff.max_len or ((),))[-1],
                     "could not generate a string for these constraints", soft=True)

    @staticmethod
    def _text(rng: random.Random, lo: int, hi: int | None, minimal: bool, kind: str | None) -> str:
        if minimal:
            return "a" * lo
        words = [_pick(rng, "word") for _ in range(rng.randint(1, 3))]
        if kind == "sentence":
            words = [_pick(rng, "sentence")]
        parts = [" ".join(words)]
        size = len(parts[0])
        while size < lo:  # joined once: += on a megabyte string copies it again and again
            parts.append(_pick(rng, "word"))
            size += 1 + len(parts[-1])
        s = " ".join(parts)
        if hi is not None and len(s) > hi:
            s = s[:hi].rstrip()
        if len(s) < lo:
            s += "x" * (lo - len(s))
        return s

    # ----------------------------------------------------------------- numbers

    def _gen_number(self, eff: _Eff, ctx: _Ctx, integer: bool, hint: str | None) -> int | float:
        lower, upper = eff.lower, eff.upper
        if lower and upper:
            a, ae, ap = lower
            b, be, bp = upper
            if a > b:
                raise _unsat(bp, f"{_kw(ap)} {_num(a)} is greater than {_kw(bp)} {_num(b)}")
            if a == b and (ae or be):
                raise _unsat(bp if be else ap, f"{_kw(ap)} {_num(a)} and {_kw(bp)} {_num(b)} leave no value")
        rng = ctx.rng
        kind = _hint_kind(hint)
        nh = _NUM_HINTS.get(kind) if kind else None
        step: Fraction | None = None
        for frac, _raw, _p in eff.mults:
            step = frac if step is None else _lcm(step, frac)
        if integer:
            step = Fraction(1) if step is None else _lcm(step, Fraction(1))

        no_integers = "integer" in eff.not_types

        def ok(v: int | float) -> bool:
            if no_integers and (isinstance(v, int) or v.is_integer()):
                return False
            if lower and (v < lower[0] or (lower[1] and v == lower[0])):
                return False
            if upper and (v > upper[0] or (upper[1] and v == upper[0])):
                return False
            if not all(_py_multiple_ok(v, raw) for _f, raw, _p in eff.mults):
                return False
            return not (eff.not_values and _jkey(v) in eff.not_values)

        wa, wb = self._window(lower, upper, nh)
        if step is not None:
            kmin = kmax = None
            if lower:
                q = _as_fraction(lower[0]) / step
                kmin = q + 1 if (lower[1] and q.denominator == 1) else Fraction(math.ceil(q))
                kmin = int(kmin)
            if upper:
                q = _as_fraction(upper[0]) / step
                kmax = q - 1 if (upper[1] and q.denominator == 1) else Fraction(math.floor(q))
                kmax = int(kmax)
            if kmin is not None and kmax is not None and kmin > kmax:
                if eff.mults:
                    f, raw, mp = eff.mults[0]
                    raise _unsat(mp, f"no multiple of {_num(raw)}{' that is an integer' if integer and f.denominator != 1 else ''} "
                                     f"lies between {_kw(lower[2])} {_num(lower[0])} and {_kw(upper[2])} {_num(upper[0])}")
                raise _unsat(upper[2] if upper[1] or not lower[1] else lower[2],
                             f"no integer satisfies {_kw(lower[2])} {_num(lower[0])} and {_kw(upper[2])} {_num(upper[0])}")

            def clamp(k: int) -> int:
                if kmin is not None and k < kmin:
                    k = kmin
                if kmax is not None and k > kmax:
                    k = kmax
                return k

            if ctx.minimal:
                ks = [clamp(0)]
            else:
                lo_k = clamp(math.ceil(Fraction(wa) / step))
                hi_k = clamp(math.floor(Fraction(wb) / step))
                if hi_k < lo_k:
                    lo_k, hi_k = hi_k, lo_k
                ks = [rng.randint(lo_k, hi_k) for _ in range(3)]
            span_lo = kmin if kmin is not None else ks[0] - 50
            ks += [clamp(ks[0] + d) for d in (1, -1, 2, -2, 5, -5, 10, 20, -20, 50)]
            ks += [clamp(span_lo + d) for d in range(0, 12)]
            unwritable = False
            for k in ks:
                val = k * step
                v: int | float | None = int(val) if val.denominator == 1 else float(val)
                if integer and not isinstance(v, int):
                    continue
                v = _writable(v)
                if v is None:
                    unwritable = True
                elif ok(v):
                    return v
            f, raw, mp = eff.mults[0] if eff.mults else (None, None, (upper or lower or (0, 0, ()))[2])
            if unwritable:
                raise _unsat(mp, _UNWRITABLE)
            raise _unsat(mp, "could not find a number satisfying bounds and multipleOf", soft=True)

        # floats without a step
        cands: list[float] = []
        if ctx.minimal:
            cands.append(0)
            if lower:
                cands += [lower[0], math.floor(lower[0]) + 1]
            if upper:
                cands += [upper[0], math.ceil(upper[0]) - 1]
        decimals = nh[2] if nh and nh[2] else 2
        for d in (decimals, decimals, 1, 4):
            cands.append(round(rng.uniform(wa, wb), d))
        if lower and upper:
            cands.append((lower[0] + upper[0]) / 2)
        if lower:
            cands.append(lower[0] + 1)
            cands.append(math.nextafter(float(lower[0]), math.inf))
        if upper:
            cands.append(upper[0] - 1)
            cands.append(math.nextafter(float(upper[0]), -math.inf))
        for c in cands:
            if isinstance(c, float) and (math.isinf(c) or math.isnan(c)):
                continue
            v = _writable(c)
            if v is not None and ok(v):
                return v
        raise _unsat((upper or lower or (0, 0, ()))[2], "could not find a number inside the bounds", soft=True)

    @staticmethod
    def _window(lower: tuple | None, upper: tuple | None, nh: tuple | None) -> tuple[float, float]:
        """A natural range to draw from: near zero, near a bound, or a hint's range."""
        a = lower[0] if lower else None
        b = upper[0] if upper else None
        if nh:
            ha, hb = nh[0], nh[1]
            if a is not None:
                ha = max(ha, a)
            if b is not None:
                hb = min(hb, b)
            if ha <= hb:
                return ha, hb
        if a is None and b is None:
            return 0, 100
        if a is None:
            return (b - 100, b) if b < 0 else (0, min(b, 100))
        if b is None:
            return (a, a + 100) if a > 0 else (0, 100)
        if a >= 0:
            return a, min(b, a + 100)
        if b <= 0:
            return max(a, b - 100), b
        return 0, min(b, 100)

    # ----------------------------------------------------------------- arrays

    def _gen_array(self, eff: _Eff, depth: int, ctx: _Ctx, hint: str | None) -> list:
        lo = eff.min_items[0] if eff.min_items else 0
        hi = eff.max_items[0] if eff.max_items else None
        if hi is not None and lo > hi:
            raise _unsat(eff.max_items[1], f"minItems {lo} is greater than maxItems {hi}")
        cap = hi
        prefix_len = 0
        for path, node in eff.arrays:
            prefix = node.get("prefixItems")
            plen = len(prefix) if isinstance(prefix, list) else 0
            prefix_len = max(prefix_len, plen)
            tail = node.get("items", node.get("unevaluatedItems", True))
            if tail is False:
                if lo > plen:
                    where = path + ("items",) if "items" in node else path + ("unevaluatedItems",)
                    raise _unsat(where, f"minItems {lo} but only {plen} item(s) are allowed before `items: false`")
                cap = plen if cap is None else min(cap, plen)
        need_contains = sum(c[1] for c in eff.contains)
        if cap is not None and need_contains > cap:
            raise _unsat(eff.contains[0][0], f"contains needs {need_contains} item(s) but at most {cap} are allowed")
        base = max(lo, need_contains)
        floor_path = eff.min_items[1] if eff.min_items and lo >= need_contains else \
            (eff.contains[0][0] if eff.contains else eff.types_path)
        ctx.limits.check_size(2 * base + 1, floor_path, f"{base:,} items at least")  # a digit and a comma each
        if ctx.minimal or depth >= ctx.max_depth:
            n = base
        else:
            n = max(base, min(prefix_len, cap if cap is not None else prefix_len))
            n = max(n, base + ctx.rng.randint(0 if base else 1, 2))
            if cap is not None:
                n = min(n, cap)
        # Items that must match `contains` go right after the prefix items.
        contains_slots: dict[int, Path] = {}
        slot = max(0, min(prefix_len, n - need_contains))
        for cpath, cmin, _cmax in eff.contains:
            for _ in range(cmin):
                contains_slots[slot] = cpath
                slot += 1
        last_needed = max([base - 1, *contains_slots])
        item_hint = _singular(hint)
        out: list = []
        seen: set = set()
        missing = object()
        for i in range(n):
            site = self.item_site(eff, i)
            if i in contains_slots:
                site = site + (contains_slots[i],)
            value: Any = missing
            err: UnsatisfiableSchema | None = None
            for attempt in range(10 if eff.unique else 1):
                saved = ctx.minimal, ctx.explore
                if attempt:
                    ctx.minimal = False
                if attempt >= 2:
                    ctx.explore = True  # e.g. objects then grow an extra property
                try:
                    cand = self.gen(site, depth + 1, ctx, item_hint) if site else self._any(ctx, item_hint)
                except UnsatisfiableSchema as exc:
                    err = exc
                    break
                finally:
                    ctx.minimal, ctx.explore = saved
                if eff.unique:
                    key = _jkey(cand)
                    if key in seen:
                        continue
                    seen.add(key)
                value = cand
                break
            if value is missing:
                if i > last_needed:
                    break  # an optional item we cannot make: the array ends here
                if err is not None:
                    raise err
                raise _unsat(eff.unique or (), f"could not find {base} distinct items", soft=True)
            out.append(value)
        return out

    def _any(self, ctx: _Ctx, hint: str | None) -> Any:
        kind = _hint_kind(hint)
        if ctx.minimal:
            return None
        if kind in _NUM_HINTS:
            return round(ctx.rng.uniform(*_NUM_HINTS[kind][:2]), _NUM_HINTS[kind][2] or None)
        if kind in _STRING_HINT_KINDS:
            return _hint_strings(kind, ctx.rng)[0]
        return _pick(ctx.rng, "word")

    # ----------------------------------------------------------------- objects

    def _gen_object(self, eff: _Eff, depth: int, ctx: _Ctx) -> dict:
        min_p = eff.min_props[0] if eff.min_props else 0
        max_p = eff.max_props[0] if eff.max_props else None
        if max_p is not None and min_p > max_p:
            raise _unsat(eff.max_props[1], f"minProperties {min_p} is greater than maxProperties {max_p}")
        if eff.min_props:
            ctx.limits.check_size(5 * min_p + 1, eff.min_props[1], f"minProperties {min_p:,}")  # '"":0,' each
        required = dict(eff.required)
        declared: list[str] = []
        for _path, node in eff.objs:
            props = node.get("properties")
            if isinstance(props, dict):
                declared.extend(n for n in props if n not in declared)
        # Required names: each must be allowed by every object source.
        for name, rpath in required.items():
            for part in self.prop_site(eff, name):
                node = self.node_at(part)
                if node is False:
                    if part[-1] in ("additionalProperties", "unevaluatedProperties"):
                        raise _unsat(part, f"required property {name!r} is not in properties and {part[-1]} is false")
                    raise _unsat(part, f"required property {name!r} has schema false, so it can never be present")
            for pn in eff.prop_names:
                if not self.sub_valid(pn, name):
                    raise _unsat(pn, f"required property name {name!r} does not satisfy propertyNames")
        if max_p is not None and len(required) > max_p:
            raise _unsat(eff.max_props[1], f"{len(required)} required properties but maxProperties is {max_p}")
        chosen = [n for n in declared if n in required] + [n for n in required if n not in declared]
        optional = [n for n in declared if n not in required and self._allowed(eff, n)]
        room = (max_p - len(chosen)) if max_p is not None else len(optional)
        if not ctx.minimal and depth < ctx.max_depth:
            rng = ctx.rng
            picked = [n for n in optional if rng.random() < 0.7][: max(room, 0)]
        else:
            picked = []
        extra_needed = max(0, min_p - len(chosen) - len(picked))
        for n in optional:
            if extra_needed <= 0:
                break
            if n not in picked:
                picked.append(n)
                extra_needed -= 1
        keys = set(chosen) | set(picked)
        ordered = [n for n in declared if n in keys] + [n for n in chosen if n not in declared]
        # dependentRequired pulls in more names.
        changed = bool(eff.dep_required)
        while changed:
            changed = False
            for deps in eff.dep_required:
                for trigger, needs in deps.items():
                    if trigger in keys and isinstance(needs, list):
                        for nn in needs:
                            if nn not in keys:
                                keys.add(nn)
                                ordered.append(nn)
                                required.setdefault(nn, ())
                                changed = True
        result: dict[str, Any] = {}
        for name in ordered:
            site = self.prop_site(eff, name)
            try:
                result[name] = self.gen(site, depth + 1, ctx, name) if site else self._any(ctx, name)
            except UnsatisfiableSchema:
                if name in required:
                    raise
        if len(result) < min_p:
            self._fill_props(eff, result, min_p, depth, ctx, declared)
        elif ctx.explore and (max_p is None or len(result) < max_p) and ctx.rng.random() < 0.5:
            # Retrying (uniqueness, oneOf, not): an extra property, if allowed, varies the shape.
            try:
                self._fill_props(eff, result, len(result) + 1, depth, ctx, declared)
            except UnsatisfiableSchema:
                pass
        return result

    def _allowed(self, eff: _Eff, name: str) -> bool:
        return all(self.node_at(p) is not False for p in self.prop_site(eff, name))

    def _fill_props(self, eff: _Eff, result: dict, min_p: int, depth: int, ctx: _Ctx,
                    declared: list[str]) -> None:
        """Invent extra property names until minProperties is met."""
        rng = ctx.rng
        names: list[str] = []
        for _path, node in eff.objs:
            pprops = node.get("patternProperties")
            if isinstance(pprops, dict):
                for pat in pprops:
                    names.extend(_regex_strings(pat, 1, 40, rng, False, tries=6))
        for pn in eff.prop_names:
            for _ in range(6):
                try:
                    cand = self.gen((pn,), depth + 1, ctx, None)
                except UnsatisfiableSchema:
                    break
                if isinstance(cand, str):
                    names.append(cand)
        names += [f"{_pick(rng, 'word')}_{i}" for i in range(min_p * 2 + 4)]
        for name in names:
            if len(result) >= min_p:
                return
            if name in result or name in declared:
                continue
            if not self._allowed(eff, name):
                continue
            if not all(self.sub_valid(pn, name) for pn in eff.prop_names):
                continue
            site = self.prop_site(eff, name)
            try:
                result[name] = self.gen(site, depth + 1, ctx, name) if site else self._any(ctx, name)
            except UnsatisfiableSchema:
                continue
        if len(result) < min_p:
            where = eff.min_props[1] if eff.min_props else (eff.objs[0][0] if eff.objs else ())
            raise _unsat(where, f"minProperties {min_p} cannot be met: only {len(result)} propert"
                                           f"{'y is' if len(result) == 1 else 'ies are'} allowed")
