"""The seed-independent half of a compiled schema: addressing, ``$ref``, flattening, sites, cost."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, unquote

from mockserver import untrusted_schema
from mockserver.sources.schema_instances.budget import MAX_MERGE_DEPTH
from mockserver.sources.schema_instances.constraints import (
    _Eff, _INVERT_LENGTH, _INVERT_NUMBER, _NEG, _OBJECT_KEYS, _allowed_types, _as_fraction,
    _intersect_types, _kw,
)
from mockserver.sources.schema_instances.errors import Path, UnsatisfiableSchema, _fmt_path, _over_budget, _unsat
from mockserver.sources.schema_instances.formats import _pattern_ok
from mockserver.sources.schema_instances.normaliser import _ANNOTATIONS, _Normaliser, _is_trivially_true
from mockserver.sources.schema_instances.values import _jkey


class _Plan:
    """Everything derived from one schema that does not depend on the seed."""

    def __init__(self, schema: Any, digest: bytes) -> None:
        self.digest = digest
        norm = _Normaliser()
        self.root = norm.convert(schema, ())
        self.nodes = norm.nodes
        self.anchors = norm.anchors
        self.root_id = self.root.get("$id") if isinstance(self.root, dict) else None
        self._refs: dict[str, Path] = {}
        self._flat: dict[tuple, _Eff] = {}
        self._subv: dict[Path, Any] = {}
        self._sites: dict[tuple, tuple] = {}
        self._cost: dict[tuple, float] = {}
        self.demand: dict[int, tuple] = {}  # max_bytes -> the size estimate (budget.check_demand)
        for at, ref in norm.refs:
            self.resolve(ref, at)  # unresolvable refs fail here, with their path
        try:
            self.validator = untrusted_schema.validator(self.root, validate_formats=True)
        except ValueError as exc:
            where = tuple(getattr(exc, "instance_path", ()) or ())
            msg = getattr(exc, "message", None) or str(exc).splitlines()[0]
            raise _unsat(where, f"invalid schema: {msg}") from None
        self._registry = None
        self._base = self.root_id if isinstance(self.root_id, str) and ":" in self.root_id else "urn:mockserver:schema"

    # ----------------------------------------------------------------- addressing

    def node_at(self, path: Path) -> Any:
        node = self.nodes.get(path)
        if node is None and path not in self.nodes:
            node = self.root
            for tok in path:
                node = node[tok]
            self.nodes[path] = node
        return node

    def resolve(self, ref: str, at: Path) -> Path:
        hit = self._refs.get(ref)
        if hit is not None:
            return hit
        base, _, frag = ref.partition("#")
        if base and base != self.root_id:
            raise _unsat(at + ("$ref",), f"cannot resolve $ref {ref!r}: only references inside the schema are supported")
        if frag.startswith("/") or frag == "":
            path: list[Any] = []
            node = self.root
            for raw in frag.split("/")[1:] if frag else []:
                tok = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and tok in node:
                    node = node[tok]
                    path.append(tok)
                elif isinstance(node, list) and tok.isdigit() and int(tok) < len(node):
                    node = node[int(tok)]
                    path.append(int(tok))
                else:
                    raise _unsat(at + ("$ref",), f"$ref {ref!r} points to nothing in the schema")
            if not (isinstance(node, (dict, bool))):
                raise _unsat(at + ("$ref",), f"$ref {ref!r} does not point to a schema")
            result = tuple(path)
        elif frag in self.anchors:
            result = self.anchors[frag]
        else:
            raise _unsat(at + ("$ref",), f"$ref {ref!r}: no $anchor {frag!r} in the schema")
        self._refs[ref] = result
        return result

    def sub_valid(self, part: Path, value: Any) -> bool:
        """Does ``value`` satisfy the schema at ``part`` (``_NEG`` parts: not satisfy)?"""
        if part and part[0] == _NEG:
            return not self.sub_valid(part[1:], value)
        v = self._subv.get(part)
        if v is None:
            if not part:
                v = self.validator
            else:
                if self._registry is None:
                    doc = self.root
                    if self._base != self.root_id and isinstance(doc, dict) and "$id" in doc:
                        # a relative $id cannot be resolved against our synthetic base
                        doc = {k: v for k, v in doc.items() if k != "$id"}
                    self._registry = untrusted_schema.registry([(self._base, doc)])
                pointer = "".join(
                    "/" + quote(str(t).replace("~", "~0").replace("/", "~1"), safe="")
                    for t in part
                )
                v = untrusted_schema.validator(
                    {"$ref": f"{self._base}#{pointer}"}, registry=self._registry, validate_formats=True,
                )
            self._subv[part] = v
        return v.is_valid(value)

    # ----------------------------------------------------------------- flattening

    def flatten(self, parts: tuple) -> _Eff:
        eff = self._flat.get(parts)
        if eff is None:
            eff = _Eff()
            visited: set = set()
            for part in parts:
                self._collect(part, eff, visited)
            for path, ntypes, kw, v in eff.typed_nots:
                # not {type: T, bound}: once the value must be a T, only the bound is negated
                if eff.types is not None and all(
                    t in ntypes or (t == "integer" and "number" in ntypes) for t in eff.types
                ):
                    self._invert(eff, path, kw, v)
            if len(self._flat) > 8192:
                self._flat.clear()
            self._flat[parts] = eff
        return eff

    def _collect(self, part: Path, eff: _Eff, visited: set, hops: int = 0) -> None:
        if part in visited:
            return
        if hops > MAX_MERGE_DEPTH:  # a $ref/allOf/not chain: each hop is a Python frame
            raise _over_budget(part, f"$ref, allOf and not nest more than {MAX_MERGE_DEPTH} levels deep here, the "
                                     "mock's limit (2 x limits.MAX_SCHEMA_DEPTH)")
        visited.add(part)
        if part and part[0] == _NEG:
            target = self.node_at(part[1:])
            if _is_trivially_true(target):
                raise _unsat(part[1:], "a value must fail this schema, but it accepts everything")
            self._negate(target, part[1:], eff, visited, hops + 1)
            return
        node = self.node_at(part)
        if node is True:
            return
        if node is False:
            raise _unsat(part, "schema is false, so no value is allowed here")
        if not isinstance(node, dict):
            raise _unsat(part, "a schema must be an object or a boolean")

        for ref_kw in ("$ref", "$dynamicRef"):
            ref = node.get(ref_kw)
            if isinstance(ref, str):
                self._collect(self.resolve(ref, part), eff, visited, hops + 1)

        t = node.get("type")
        if t is not None:
            self._merge_types(eff, frozenset([t] if isinstance(t, str) else t), part + ("type",))

        for kw in ("enum", "const"):
            if kw not in node:
                continue
            values = node[kw] if kw == "enum" else [node[kw]]
            if not isinstance(values, list):
                continue
            if not values:
                raise _unsat(part + (kw,), "enum is empty, so no value can match")
            if eff.enum is None:
                eff.enum, eff.enum_path = list(values), part + (kw,)
            else:
                keys = {_jkey(v) for v in values}
                merged_vals = [v for v in eff.enum if _jkey(v) in keys]
                if not merged_vals:
                    raise _unsat(part + (kw,), f"{kw} shares no value with the {_kw(eff.enum_path)} at {_fmt_path(eff.enum_path)}")
                eff.enum, eff.enum_path = merged_vals, part + (kw,)

        # numbers
        for kw, excl, is_lower in (("minimum", False, True), ("exclusiveMinimum", True, True),
                                   ("maximum", False, False), ("exclusiveMaximum", True, False)):
            v = node.get(kw)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                eff.kinds.add("number")
                self._bound(eff, v, excl, part + (kw,), is_lower)
        m = node.get("multipleOf")
        if isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0:
            eff.kinds.add("number")
            eff.mults.append((_as_fraction(m), m, part + ("multipleOf",)))
        fmt = node.get("format")
        if fmt in ("int32", "int64"):
            lim = 2**31 if fmt == "int32" else 2**63
            if eff.lower is None or eff.lower[0] < -lim:
                eff.lower = (-lim, False, part + ("format",))
            if eff.upper is None or eff.upper[0] > lim - 1:
                eff.upper = (lim - 1, False, part + ("format",))

        # strings
        for kw, attr, take_max in (("minLength", "min_len", True), ("maxLength", "max_len", False),
                                   ("minItems", "min_items", True), ("maxItems", "max_items", False),
                                   ("minProperties", "min_props", True), ("maxProperties", "max_props", False)):
            v = node.get(kw)
            if isinstance(v, float) and v.is_integer():
                v = int(v)  # JSON has one number type: 1e9 and 5.0 are integers to a validator
            if isinstance(v, int) and not isinstance(v, bool):
                eff.kinds.add("string" if "Length" in kw else "array" if "Items" in kw else "object")
                self._size(eff, attr, v, part + (kw,), take_max)
        if isinstance(node.get("pattern"), str):
            eff.kinds.add("string")
            eff.patterns.append((node["pattern"], part + ("pattern",)))
        if isinstance(fmt, str):
            eff.formats.append((fmt, part + ("format",)))
            if fmt not in ("int32", "int64", "float", "double"):
                eff.kinds.add("string")

        # arrays
        if "prefixItems" in node or "items" in node or "unevaluatedItems" in node:
            eff.kinds.add("array")
            eff.arrays.append((part, node))
        if node.get("uniqueItems") is True:
            eff.kinds.add("array")
            eff.unique = part + ("uniqueItems",)
        if "contains" in node:
            eff.kinds.add("array")
            mc = node.get("minContains", 1)
            xc = node.get("maxContains")
            if xc is not None and mc > xc:
                raise _unsat(part + ("maxContains",), f"minContains {mc} is greater than maxContains {xc}")
            eff.contains.append((part + ("contains",), mc, xc))
            if xc is not None:
                eff.check = True

        # objects
        if any(k in node for k in _OBJECT_KEYS):
            eff.kinds.add("object")
            eff.objs.append((part, node))
            if "patternProperties" in node or "unevaluatedProperties" in node:
                eff.check = True
        req = node.get("required")
        if isinstance(req, list):
            eff.kinds.add("object")
            for i, name in enumerate(req):
                if isinstance(name, str):
                    eff.required.setdefault(name, part + ("required", i))
        if "propertyNames" in node:
            eff.prop_names.append(part + ("propertyNames",))
            eff.check = True
        if isinstance(node.get("dependentRequired"), dict):
            eff.dep_required.append(node["dependentRequired"])
            eff.check = True
        if "dependentSchemas" in node or "$dynamicRef" in node:
            eff.check = True

        # negation: cheap exclusions first, then a real check afterwards
        if "not" in node:
            neg = node["not"]
            if _is_trivially_true(neg):
                raise _unsat(part + ("not",), "`not` of a schema that accepts everything rejects every value")
            self._negate(neg, part + ("not",), eff, visited, hops + 1)

        for kw in ("allOf",):
            subs = node.get(kw)
            if isinstance(subs, list):
                for i in range(len(subs)):
                    self._collect(part + (kw, i), eff, visited, hops + 1)

        subs = node.get("anyOf")
        if isinstance(subs, list) and subs:
            eff.groups.append(("anyOf", part + ("anyOf",), tuple((part + ("anyOf", i),) for i in range(len(subs)))))
        subs = node.get("oneOf")
        if isinstance(subs, list) and subs:
            # Branch i, and none of the others: generation then steers away
            # from overlaps (excluded types, values, inverted bounds).
            branches = [part + ("oneOf", i) for i in range(len(subs))]
            eff.groups.append(("oneOf", part + ("oneOf",), tuple(
                (b,) + tuple((_NEG,) + o for o in branches if o != b) for b in branches)))
        if "if" in node and ("then" in node or "else" in node):
            yes = (part + ("if",),) + ((part + ("then",),) if "then" in node else ())
            no = ((_NEG,) + part + ("if",),) + ((part + ("else",),) if "else" in node else ())
            eff.groups.append(("if", part + ("if",), (yes, no)))

    def _negate(self, neg: Any, path: Path, eff: _Eff, visited: set, hops: int = 0) -> None:
        """Record that the value must NOT match ``neg`` (at ``path``).

        Simple negations become positive constraints the generators honour
        directly: ``not {type}`` excludes types, ``not {enum/const}`` excludes
        values, and ``not`` of a single bound is inverted (``not {minimum: 5}``
        is "a number below 5", because non-numbers satisfy ``minimum``).
        Everything is also checked with a validator after generation.
        """
        eff.nots.append(path)
        eff.check = True
        if not isinstance(neg, dict):
            return
        keys = {k for k in neg if k not in _ANNOTATIONS and not k.startswith("x-")}
        if keys == {"not"}:  # not {not: X} is X
            self._collect(path + ("not",), eff, visited, hops + 1)
            return
        nt = neg.get("type")
        if keys == {"type"} and isinstance(nt, (str, list)):
            eff.not_types |= {nt} if isinstance(nt, str) else set(nt)
            return
        for kw in ("enum", "const"):
            if kw in keys and keys <= {kw, "type"}:
                vals = neg[kw] if kw == "enum" else [neg[kw]]
                if isinstance(vals, list):
                    eff.not_values |= {_jkey(v) for v in vals}
                return
        # Only a lone bound inverts cleanly: not (type AND bound) is a disjunction,
        # unless the value is known to have that type - decided after flattening.
        if len(keys) == 2 and "type" in keys and isinstance(nt, (str, list)):
            (kw,) = keys - {"type"}
            if kw in _INVERT_NUMBER or kw in _INVERT_LENGTH:
                eff.typed_nots.append((path, frozenset([nt] if isinstance(nt, str) else nt), kw, neg[kw]))
            return
        if len(keys) != 1:
            return
        (kw,) = keys
        self._invert(eff, path, kw, neg[kw])

    def _invert(self, eff: _Eff, path: Path, kw: str, v: Any) -> None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return
        if kw in _INVERT_NUMBER:
            self._merge_types(eff, frozenset(["number"]), path + (kw,))
            is_lower, excl = _INVERT_NUMBER[kw]
            self._bound(eff, v, excl, path + (kw,), is_lower)
        elif kw in _INVERT_LENGTH:
            family, attr, delta, take_max = _INVERT_LENGTH[kw]
            if v + delta < 0:
                return
            self._merge_types(eff, frozenset([family]), path + (kw,))
            self._size(eff, attr, int(v) + delta, path + (kw,), take_max)

    @staticmethod
    def _merge_types(eff: _Eff, tset: frozenset, path: Path) -> None:
        if eff.types is None:
            eff.types, eff.types_path = tset, path
            return
        merged = _intersect_types(eff.types, tset)
        if not merged:
            raise _unsat(path, f"type {sorted(tset)} contradicts type {sorted(eff.types)} at {_fmt_path(eff.types_path)}")
        eff.types, eff.types_path = merged, path

    @staticmethod
    def _bound(eff: _Eff, v: Any, excl: bool, path: Path, is_lower: bool) -> None:
        cur = eff.lower if is_lower else eff.upper
        tighter = cur is None or (v > cur[0] if is_lower else v < cur[0]) or (v == cur[0] and excl and not cur[1])
        if tighter:
            if is_lower:
                eff.lower = (v, excl, path)
            else:
                eff.upper = (v, excl, path)

    @staticmethod
    def _size(eff: _Eff, attr: str, v: int, path: Path, take_max: bool) -> None:
        cur = getattr(eff, attr)
        if cur is None or (v > cur[0] if take_max else v < cur[0]):
            setattr(eff, attr, (v, path))

    # ----------------------------------------------------------------- sites

    def prop_site(self, eff: _Eff, name: str) -> tuple:
        """Schema locations a property value must satisfy, across all object sources."""
        key = (tuple(p for p, _ in eff.objs), name)
        site = self._sites.get(key)
        if site is None:
            parts: list[Path] = []
            for path, node in eff.objs:
                matched = False
                props = node.get("properties")
                if isinstance(props, dict) and name in props:
                    parts.append(path + ("properties", name))
                    matched = True
                pprops = node.get("patternProperties")
                if isinstance(pprops, dict):
                    for pat in pprops:
                        if _pattern_ok(pat, name):
                            parts.append(path + ("patternProperties", pat))
                            matched = True
                if not matched:
                    if "additionalProperties" in node:
                        parts.append(path + ("additionalProperties",))
                    elif "unevaluatedProperties" in node:
                        parts.append(path + ("unevaluatedProperties",))
            site = tuple(parts)
            if len(self._sites) > 8192:
                self._sites.clear()
            self._sites[key] = site
        return site

    def item_site(self, eff: _Eff, index: int) -> tuple:
        parts: list[Path] = []
        for path, node in eff.arrays:
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and index < len(prefix):
                parts.append(path + ("prefixItems", index))
            elif "items" in node:
                parts.append(path + ("items",))
            elif "unevaluatedItems" in node:
                parts.append(path + ("unevaluatedItems",))
        return tuple(parts)

    # ----------------------------------------------------------------- cost

    def cost(self, parts: tuple, resolved: frozenset = frozenset(), _walk: dict | None = None) -> float:
        """A rough size of the smallest instance of ``parts``, to pick cheap branches.

        Choice groups are resolved one at a time, exactly as :meth:`gen` does,
        so the estimate matches what generation will do.  Recursion is cut at
        a cycle (counted as expensive); results computed below a cut are not
        memoised because they depend on where the walk started.
        """
        key = (parts, resolved)
        hit = self._cost.get(key)
        if hit is not None:
            return hit
        walk = _walk if _walk is not None else {"active": set(), "cut": False}
        active = walk["active"]
        if key in active or len(active) > 16:
            walk["cut"] = True
            return 1000.0
        active.add(key)
        try:
            c = self._cost_of(parts, resolved, walk)
        finally:
            active.discard(key)
        if _walk is None or not walk["cut"]:
            if len(self._cost) > 8192:
                self._cost.clear()
            self._cost[key] = c
        return c

    def _cost_of(self, parts: tuple, resolved: frozenset, walk: dict) -> float:
        try:
            eff = self.flatten(parts)
        except UnsatisfiableSchema:
            return math.inf
        group = next((g for g in eff.groups if g[1] not in resolved), None)
        if group is not None:
            inner = resolved | {group[1]}
            return min((self.cost(parts + opt, inner, walk) for opt in group[2]), default=math.inf)
        if eff.enum is not None:
            return 1.0
        types = _allowed_types(eff)
        if not types:
            return math.inf
        if types - {"array", "object"}:
            return 1.0
        if "array" in types:
            n = eff.min_items[0] if eff.min_items else 0
            return 1.0 + (n * self.cost(self.item_site(eff, 0), frozenset(), walk) if n else 0.0)
        return 1.0 + sum(self.cost(self.prop_site(eff, r), frozenset(), walk) for r in eff.required)
