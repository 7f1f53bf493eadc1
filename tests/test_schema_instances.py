"""Tests for mockserver.sources.schema_instances (the JSON Schema instance generator).

Every generated instance is checked with the pure-Python ``jsonschema``
Draft 2020-12 validator (with its format checker) - an implementation
independent of the ``jsonschema_rs`` check the generator runs on itself - and
with ``jsonschema_rs`` as well.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.sources.schema_instances import UnsatisfiableSchema, generate

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "schema_corpus"
FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


# --------------------------------------------------------------------------- helpers


def to_2020(node: Any) -> Any:
    """Test-side OpenAPI 3.0 -> 2020-12 conversion, written independently of the module."""
    if isinstance(node, list):
        return [to_2020(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("enum", "const", "default", "examples") else to_2020(v)) for k, v in node.items()}
    if out.pop("nullable", False):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif t is None:
            out = {"anyOf": [out, {"type": "null"}]}
    for ex, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(ex), bool):
            if out[ex] and plain in out:
                out[ex] = out.pop(plain)
            else:
                del out[ex]
    return out


def assert_valid(schema: Any, instance: Any) -> None:
    sch = to_2020(schema)
    try:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in
                  jsonschema.Draft202012Validator(sch, format_checker=FORMAT_CHECKER).iter_errors(instance)]
    except re.error:
        errors = []  # ECMA-only regex syntax (\p{..}, (?<name>..)): Python's re cannot judge it
    assert not errors, f"instance {json.dumps(instance)[:300]} is invalid: {errors[:3]}"
    rs = jsonschema_rs.Draft202012Validator(sch, validate_formats=True)
    assert rs.is_valid(instance), [e.message for e in rs.iter_errors(instance)][:3]


def obj(props: dict, required: list | None = None, **kw: Any) -> dict:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required, **kw}


def nesting(value: Any) -> int:
    """Container nesting depth: a scalar is 0, {"a": 1} is 1, {"a": {"b": 1}} is 2."""
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


# --------------------------------------------------------------------------- hypothesis: random satisfiable schemas

PROP_NAMES = ["city", "email", "name", "id", "title", "description", "price", "temperature", "unit",
              "query", "x", "y", "count", "tags", "zip", "country", "url", "created_at", "data", "value",
              "firstName", "location", "currency", "language", "summary", "phone"]
FIXED_PATTERNS = ["^[A-Z]{3}-\\d{2,4}$", "^(cat|dog|bird)$", "^\\w+@\\w+\\.com$", "^[a-f0-9]{8}$",
                  "^\\+?[0-9 ]{7,15}$", "^(?:[01]\\d|2[0-3]):[0-5]\\d$", "^ORD-[0-9]{6}$", "[0-9]",
                  "^[a-z]+(-[a-z]+)*$", "^\\d{5}(-\\d{4})?$"]
FLEX_PATTERNS = ["^[a-z]*$", "^[A-Za-z ]*$", "^\\S*$", "^[^@]*$"]
FORMATS = ["date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname"]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                         st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                         st.text(max_size=8))


@st.composite
def string_schemas(draw: Any) -> dict:
    kind = draw(st.sampled_from(["plain", "fixed", "flex", "format"]))
    if kind == "fixed":
        return {"type": "string", "pattern": draw(st.sampled_from(FIXED_PATTERNS))}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMATS))}
    lo = draw(st.integers(0, 12))
    hi = draw(st.one_of(st.none(), st.integers(lo, lo + 30)))
    out: dict = {"type": "string", "minLength": lo}
    if hi is not None:
        out["maxLength"] = hi
    if kind == "flex":
        out["pattern"] = draw(st.sampled_from(FLEX_PATTERNS))
    return out


@st.composite
def integer_schemas(draw: Any) -> dict:
    lo = draw(st.integers(-10**6, 10**6))
    width = draw(st.integers(0, 500))
    mult = draw(st.one_of(st.none(), st.sampled_from([2, 3, 5, 7, 10, 25])))
    if mult:
        width = max(width, mult * 2 + 2)
    style = draw(st.sampled_from(["inclusive", "exclusive", "draft4", "lower", "upper", "none"]))
    out: dict = {"type": "integer"}
    if style == "inclusive":
        out.update(minimum=lo, maximum=lo + width)
    elif style == "exclusive":
        out.update(exclusiveMinimum=lo - 1, exclusiveMaximum=lo + width + 1)
    elif style == "draft4":
        out.update(minimum=lo - 1, exclusiveMinimum=True, maximum=lo + width)
    elif style == "lower":
        out["minimum"] = lo
    elif style == "upper":
        out["maximum"] = lo
    if mult:
        out["multipleOf"] = mult
    return out


@st.composite
def number_schemas(draw: Any) -> dict:
    lo = draw(st.floats(-1e5, 1e5, allow_nan=False).map(lambda f: round(f, 3)))
    width = draw(st.floats(0.0, 1000.0, allow_nan=False))
    mult = draw(st.one_of(st.none(), st.sampled_from([0.5, 0.25, 0.1, 0.01, 1.5])))
    out: dict = {"type": "number"}
    if mult:
        width = max(width, 3.0)
    if draw(st.booleans()):
        out.update(minimum=lo, maximum=lo + width)
    else:
        width = max(width, 0.01)
        out.update(exclusiveMinimum=lo, exclusiveMaximum=lo + width)
    if mult:
        out["multipleOf"] = mult
    return out


@st.composite
def enum_schemas(draw: Any) -> dict:
    values = draw(st.lists(json_scalars, min_size=1, max_size=5, unique_by=lambda v: json.dumps(v)))
    if draw(st.booleans()):
        return {"const": values[0]}
    return {"enum": values}


leaf_schemas = st.one_of(
    string_schemas(), integer_schemas(), number_schemas(), enum_schemas(),
    st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.just({"type": ["string", "null"]}), st.just({}),
    st.builds(lambda s: {**s, "type": [s["type"], "null"]}, st.one_of(string_schemas(), integer_schemas())),
)


def object_of(children: Any) -> Any:
    @st.composite
    def build(draw: Any) -> dict:
        names = draw(st.lists(st.sampled_from(PROP_NAMES), max_size=5, unique=True))
        props = {n: draw(children) for n in names}
        required = [n for n in names if draw(st.booleans())]
        out: dict = {"type": "object", "properties": props, "required": required}
        extra = draw(st.sampled_from(["absent", "false", "true", "schema"]))
        if extra == "false":
            out["additionalProperties"] = False
        elif extra == "true":
            out["additionalProperties"] = True
        elif extra == "schema":
            out["additionalProperties"] = draw(leaf_schemas)
        if draw(st.integers(0, 3)) == 0:
            out["minProperties"] = draw(st.integers(0, len(props)))
        if draw(st.integers(0, 3)) == 0:
            out["maxProperties"] = draw(st.integers(max(len(required), out.get("minProperties", 0)), len(props) + 2))
        return out

    return build()


def array_of(children: Any) -> Any:
    @st.composite
    def build(draw: Any) -> dict:
        kind = draw(st.sampled_from(["items", "items", "prefix", "unique"]))
        lo = draw(st.integers(0, 3))
        out: dict = {"type": "array", "minItems": lo}
        if draw(st.booleans()):
            out["maxItems"] = lo + draw(st.integers(0, 3))
        if kind == "items":
            out["items"] = draw(children)
        elif kind == "unique":
            out["items"] = draw(st.sampled_from([
                {"type": "integer", "minimum": 0, "maximum": 10000},
                {"type": "string", "minLength": 3},
                {"type": "string", "format": "uuid"},
                obj({"id": {"type": "integer", "minimum": 1, "maximum": 10**6}}),
            ]))
            out["uniqueItems"] = True
        else:
            prefix = draw(st.lists(children, min_size=1, max_size=3))
            out["prefixItems"] = prefix
            if draw(st.booleans()):
                out["items"] = False
                out["minItems"] = min(lo, len(prefix))
                if "maxItems" in out:
                    out["maxItems"] = max(out["minItems"], min(out["maxItems"], len(prefix)))
        return out

    return build()


@st.composite
def one_of_disjoint(draw: Any, children: Any) -> dict:
    """oneOf whose branches can never overlap: distinct types or distinct discriminators."""
    if draw(st.booleans()):
        types = draw(st.lists(st.sampled_from(["string", "boolean", "null", "integer", "array", "object"]),
                              min_size=2, max_size=4, unique=True))
        branches = []
        for t in types:
            if t == "string":
                branches.append(draw(string_schemas()))
            elif t == "integer":
                branches.append(draw(integer_schemas()))
            elif t == "array":
                branches.append({"type": "array", "items": draw(children), "maxItems": 3})
            elif t == "object":
                branches.append(draw(object_of(children)))
            else:
                branches.append({"type": t})
        return {"oneOf": branches}
    kinds = draw(st.lists(st.sampled_from(["circle", "square", "line", "point"]), min_size=2, max_size=4, unique=True))
    return {"oneOf": [obj({"kind": {"const": k}, "size": draw(children)}, ["kind"]) for k in kinds]}


@st.composite
def all_of_compatible(draw: Any, children: Any) -> dict:
    if draw(st.booleans()):
        lo = draw(st.integers(0, 10))
        return {"allOf": [{"type": "string", "minLength": lo}, {"maxLength": lo + draw(st.integers(0, 10))},
                          {"description": "split constraints"}]}
    return {"allOf": [draw(children), {"description": "annotation only"}]}


def extend(children: Any) -> Any:
    return st.one_of(
        object_of(children), array_of(children),
        st.builds(lambda a, b: {"anyOf": [a, b]}, children, children),
        one_of_disjoint(children), all_of_compatible(children),
    )


schemas = st.recursive(leaf_schemas, extend, max_leaves=12)


@st.composite
def schemas_with_defs(draw: Any) -> dict:
    """A root schema that references $defs entries (and sometimes itself) by $ref."""
    defs = {f"D{i}": draw(schemas) for i in range(draw(st.integers(1, 3)))}
    refs = st.sampled_from([{"$ref": f"#/$defs/{name}"} for name in defs])
    main = draw(st.recursive(st.one_of(leaf_schemas, refs), extend, max_leaves=8))
    if not isinstance(main, dict):
        main = {"allOf": [main]}
    if draw(st.integers(0, 4)) == 0:
        main = obj({"self": {"$ref": "#"}, "label": {"type": "string"}}, ["label"])
    return {**main, "$defs": defs}


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(schema=st.one_of(schemas, schemas_with_defs()), seed=st.integers(0, 2**32))
def test_random_satisfiable_schemas_always_validate_and_are_deterministic(schema: dict, seed: int) -> None:
    first = generate(schema, seed=seed)
    assert_valid(schema, first)
    assert generate(schema, seed=seed) == first
    assert json.dumps(generate(schema, seed=seed)) == json.dumps(first)  # same key order too
    witness = generate(schema, seed=seed, minimal=True)
    assert_valid(schema, witness)


# --------------------------------------------------------------------------- corpus

CORPUS_FILES = sorted(CORPUS.glob("*.json"))


def test_corpus_is_big_enough() -> None:
    docs = [json.loads(p.read_text()) for p in CORPUS_FILES]
    assert len(docs) >= 50
    assert sum(1 for d in docs if not d["satisfiable"]) >= 8
    for d in docs:
        assert set(d) == {"description", "satisfiable", "schema"} and d["description"]


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus(path: Path) -> None:
    doc = json.loads(path.read_text())
    schema = doc["schema"]
    if doc["satisfiable"]:
        for seed in range(8):
            assert_valid(schema, generate(schema, seed=seed))
        for seed in range(3):
            assert_valid(schema, generate(schema, seed=seed, minimal=True))
    else:
        with pytest.raises(UnsatisfiableSchema) as info:
            generate(schema, seed=0)
        assert info.value.path and info.value.reason


# --------------------------------------------------------------------------- unsatisfiable: where and why

@pytest.mark.parametrize(("schema", "path", "reason"), [
    (obj({"city": {"type": "string", "minLength": 5, "maxLength": 2}}), "properties.city.maxLength",
     "minLength 5 is greater than maxLength 2"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "allOf[1].type", "contradicts"),
    ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, "exclusiveMaximum", "no integer"),
    ({"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 1, "exclusiveMaximum": True},
     "exclusiveMaximum", "no integer"),
    ({"type": "number", "minimum": 3, "maximum": 2}, "maximum", "greater than"),
    ({"type": "number", "minimum": 2, "exclusiveMaximum": 2}, "exclusiveMaximum", "leave no value"),
    ({"type": "integer", "multipleOf": 10, "minimum": 1, "maximum": 9}, "multipleOf", "no multiple of 10"),
    ({"type": "number", "multipleOf": 0.5, "exclusiveMinimum": 1, "exclusiveMaximum": 1.5}, "multipleOf", "no multiple"),
    ({"type": "array", "minItems": 3, "maxItems": 1}, "maxItems", "minItems 3"),
    ({"type": "object", "minProperties": 2, "maxProperties": 1}, "maxProperties", "minProperties 2"),
    ({"enum": []}, "enum", "empty"),
    (obj({"level": {"type": "integer", "enum": ["low", "high"]}}), "properties.level.enum", "type integer"),
    ({"type": "integer", "const": "v1"}, "const", "type integer"),
    ({"allOf": [{"enum": ["a", "b"]}, {"enum": ["c"]}]}, "allOf[1].enum", "no value"),
    ({"type": "string", "enum": ["ab", "cd"], "minLength": 3}, "enum", "other constraints"),
    (obj({"secret": False}), "properties.secret", "required property 'secret'"),
    (obj({"name": {"type": "string"}}, ["name", "email"], additionalProperties=False), "additionalProperties",
     "'email'"),
    ({"type": []}, "type", "empty"),
    (obj({"x": {"type": []}}), "properties.x.type", "empty"),
    (False, "#", "false"),
    ({"not": {}}, "not", "rejects every value"),
    ({"type": "string", "pattern": "^[0-9]{5}$", "maxLength": 3}, "pattern", "could not generate"),
    ({"type": "array", "items": {"type": "boolean"}, "minItems": 3, "uniqueItems": True}, "uniqueItems", "distinct"),
    ({"type": "array", "prefixItems": [{"type": "string"}], "items": False, "minItems": 2}, "items", "minItems 2"),
    ({"$defs": {"n": obj({"child": {"$ref": "#/$defs/n"}})}, "$ref": "#/$defs/n"}, "$defs.n.properties.child",
     "recursion"),
    ({"$ref": "#/$defs/missing"}, "$ref", "points to nothing"),
    ({"oneOf": [{"type": "string"}, {"type": "string"}]}, "oneOf", "no oneOf branch"),
])
def test_unsatisfiable_reports_path_and_reason(schema: Any, path: str, reason: str) -> None:
    with pytest.raises(UnsatisfiableSchema) as info:
        generate(schema, seed=1)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == path, (err.path, err.reason)
    assert reason in err.reason, err.reason


def test_unsatisfiable_in_optional_property_is_skipped_not_raised() -> None:
    schema = obj({"name": {"type": "string"}, "never": {"type": "string", "minLength": 3, "maxLength": 1}}, ["name"])
    for seed in range(10):
        value = generate(schema, seed=seed)
        assert "never" not in value and isinstance(value["name"], str)


def test_unsatisfiable_branch_of_anyof_is_avoided() -> None:
    schema = {"anyOf": [{"type": "integer", "minimum": 5, "maximum": 1}, {"type": "string", "const": "ok"}]}
    assert all(generate(schema, seed=s) == "ok" for s in range(5))
    with pytest.raises(UnsatisfiableSchema) as info:
        generate({"anyOf": [{"type": "integer", "minimum": 5, "maximum": 1}, {"enum": []}]})
    assert info.value.path == "anyOf"


# --------------------------------------------------------------------------- keywords, one by one

def test_nullable_openapi_30() -> None:
    schema = obj({"a": {"type": "string", "nullable": True}, "b": {"$ref": "#/$defs/B", "nullable": True}},
                 **{"$defs": {"B": obj({"x": {"type": "integer"}})}})
    for seed in range(5):
        value = generate(schema, seed=seed)
        assert_valid(schema, value)
        assert isinstance(value["a"], str)  # the natural mock prefers a value over null
    witness = generate(schema, minimal=True)
    assert witness == {"a": None, "b": None}


def test_type_lists_and_integer_number_overlap() -> None:
    seen = {type(generate({"type": ["string", "integer", "boolean"]}, seed=s)).__name__ for s in range(40)}
    assert seen == {"str", "int", "bool"}
    assert all(isinstance(generate({"type": "integer"}, seed=s), int) for s in range(20))
    assert not any(isinstance(generate({"type": "integer"}, seed=s), bool) for s in range(20))


def test_additional_and_pattern_properties() -> None:
    closed = obj({"a": {"type": "integer"}}, [], additionalProperties=False, minProperties=1)
    assert all(set(generate(closed, seed=s)) == {"a"} for s in range(10))
    typed_extra = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 7, "maximum": 7},
                   "minProperties": 3}
    for s in range(5):
        value = generate(typed_extra, seed=s)
        assert len(value) >= 3 and set(value.values()) == {7}
    pattern_only = {"type": "object", "patternProperties": {"^x-[a-z]{2,5}$": {"type": "boolean"}},
                    "additionalProperties": False, "minProperties": 2}
    for s in range(5):
        value = generate(pattern_only, seed=s)
        assert len(value) >= 2
        assert all(re.fullmatch("x-[a-z]{2,5}", k) and isinstance(v, bool) for k, v in value.items())
    # a declared property that a patternProperties entry also matches must satisfy both
    both = {"type": "object", "properties": {"x-id": {"type": "string"}},
            "patternProperties": {"^x-": {"maxLength": 4}}, "required": ["x-id"]}
    for s in range(10):
        assert len(generate(both, seed=s)["x-id"]) <= 4


@pytest.mark.parametrize("pattern", [
    "^[A-Z]{2}\\d{2} ?[A-Z0-9]{4}$", "^(\\+|00)[1-9][0-9]{7,12}$", "^#[0-9a-fA-F]{6}$", "^(GET|POST|PUT|DELETE)$",
    "^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$", "^v\\d+\\.\\d+\\.\\d+(-[a-z]+)?$", "^(\\w)\\w*\\1$",
    "^[^\\s@]+$", "^\\p{Lu}\\p{Ll}+$", "^(?<year>\\d{4})-(?<month>0[1-9]|1[0-2])$", "^[\\u0041-\\u005A]{3}$",
    "^\\x41+b?$", "ab{2,}c", "^(?:(?:25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1?\\d?\\d)$",
    "^(?=.*[0-9])(?=.*[a-z])(?=.*[A-Z]).{8,32}$", "^\\d+$", "^[^0-9]*$",
])
def test_patterns(pattern: str) -> None:
    schema = {"type": "string", "pattern": pattern}
    for seed in range(6):
        value = generate(schema, seed=seed)
        assert_valid(schema, value)
    bounded = {"type": "string", "pattern": pattern, "minLength": 6, "maxLength": 40}
    if pattern not in ("^(GET|POST|PUT|DELETE)$", "^#[0-9a-fA-F]{6}$", "^[\\u0041-\\u005A]{3}$",
                       "^(?<year>\\d{4})-(?<month>0[1-9]|1[0-2])$"):
        assert_valid(bounded, generate(bounded, seed=3))


def test_pattern_respects_length_bounds() -> None:
    schema = {"type": "string", "pattern": "^[a-z]+$", "minLength": 30, "maxLength": 32}
    for seed in range(5):
        value = generate(schema, seed=seed)
        assert 30 <= len(value) <= 32 and value.isalpha()
    unanchored = {"type": "string", "pattern": "abc", "minLength": 10}
    assert_valid(unanchored, generate(unanchored))


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats(fmt: str) -> None:
    schema = {"type": "string", "format": fmt}
    values = {generate(schema, seed=s) for s in range(10)}
    assert len(values) > 3  # varied, not one canned value
    for value in values:
        assert jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid(value)
        assert_valid(schema, value)
    if fmt == "uuid":
        assert all(uuid.UUID(v).version == 4 for v in values)


def test_numbers_bounds_and_multiple_of() -> None:
    for seed in range(30):
        v = generate({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, seed=seed)
        assert 0 < v <= 1
        m = generate({"type": "number", "multipleOf": 0.01, "minimum": 0, "maximum": 50}, seed=seed)
        assert 0 <= m <= 50 and abs(round(m * 100) - m * 100) < 1e-6
        i = generate({"type": "integer", "multipleOf": 3, "minimum": 10, "maximum": 20}, seed=seed)
        assert i in (12, 15, 18)
        big = generate({"type": "integer", "minimum": 10**15}, seed=seed)
        assert isinstance(big, int) and big >= 10**15
    assert generate({"type": "integer", "minimum": 5, "exclusiveMinimum": True, "maximum": 6}) == 6
    assert generate({"type": "number", "minimum": 2.5, "maximum": 2.5}) == 2.5


def test_arrays_items_prefix_unique_contains() -> None:
    for seed in range(20):
        value = generate({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3},
                          "minItems": 4, "maxItems": 4, "uniqueItems": True}, seed=seed)
        assert sorted(value) == [0, 1, 2, 3]
        tup = generate({"type": "array", "prefixItems": [{"const": "x"}, {"type": "integer"}], "items": False}, seed=seed)
        assert len(tup) <= 2 and (not tup or tup[0] == "x")
        schema = {"type": "array", "items": {"type": "string"}, "contains": {"const": "urgent"}, "maxItems": 3}
        assert "urgent" in generate(schema, seed=seed)
        assert "urgent" in generate(schema, seed=seed, minimal=True)


def test_if_then_else_and_not() -> None:
    schema = {"type": "object", "properties": {"country": {"enum": ["US", "NL"]}, "zip": {"type": "string"}},
              "required": ["country", "zip"],
              "if": {"properties": {"country": {"const": "US"}}},
              "then": {"properties": {"zip": {"pattern": "^[0-9]{5}$"}}},
              "else": {"properties": {"zip": {"pattern": "^[0-9]{4} [A-Z]{2}$"}}}}
    countries = set()
    for seed in range(20):
        value = generate(schema, seed=seed)
        assert_valid(schema, value)
        countries.add(value["country"])
    assert countries == {"US", "NL"}
    not_schema = {"type": "integer", "minimum": 1, "maximum": 3, "not": {"enum": [1, 2]}}
    assert {generate(not_schema, seed=s) for s in range(10)} == {3}
    not_complex = {"type": "string", "pattern": "^[ab]{2}$", "not": {"pattern": "a"}}
    assert {generate(not_complex, seed=s) for s in range(5)} == {"bb"}


def test_refs_to_defs_definitions_components_and_root() -> None:
    schema = {
        "$defs": {"A": {"type": "string", "const": "from-defs"}},
        "definitions": {"B": {"type": "string", "const": "from-definitions"}},
        "components": {"schemas": {"C": {"type": "string", "const": "from-components"}}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/definitions/B"},
                       "c": {"$ref": "#/components/schemas/C"}, "me": {"$ref": "#"}},
        "required": ["a", "b", "c"],
    }
    value = generate(schema, seed=2)
    assert (value["a"], value["b"], value["c"]) == ("from-defs", "from-definitions", "from-components")
    assert_valid(schema, value)


def test_enum_and_const_values_are_copies() -> None:
    schema = {"type": "object", "properties": {"cfg": {"const": {"k": [1, 2]}}}, "required": ["cfg"]}
    value = generate(schema)
    value["cfg"]["k"].append(3)
    assert schema["properties"]["cfg"]["const"] == {"k": [1, 2]}
    assert generate(schema)["cfg"] == {"k": [1, 2]}


def test_cache_is_keyed_by_content_not_identity() -> None:
    schema = {"type": "string", "minLength": 3, "maxLength": 3}
    assert len(generate(schema)) == 3
    schema["minLength"] = schema["maxLength"] = 9  # mutate the same dict
    assert len(generate(schema)) == 9


# --------------------------------------------------------------------------- oneOf: exactly one branch

def test_one_of_integer_or_number_gives_a_non_integer() -> None:
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    for seed in range(30):
        value = generate(schema, seed=seed)
        assert isinstance(value, float) and not value.is_integer()


def test_one_of_overlapping_objects_matches_exactly_one() -> None:
    schema = {"oneOf": [obj({"a": {"type": "string"}}, ["a"]), obj({"b": {"type": "string"}}, ["b"])]}
    branches = [jsonschema_rs.Draft202012Validator(b) for b in schema["oneOf"]]
    for seed in range(30):
        value = generate(schema, seed=seed)
        assert sum(v.is_valid(value) for v in branches) == 1, value
        assert not ("a" in value and "b" in value)


def test_one_of_nested_strings() -> None:
    schema = {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 5}]}
    for seed in range(20):
        assert len(generate(schema, seed=seed)) > 5
    schema_min = {"oneOf": [{"type": "string", "minLength": 2}, {"type": "string", "maxLength": 3}]}
    for seed in range(20):
        value = generate(schema_min, seed=seed, minimal=True)
        assert len(value) < 2 or len(value) > 3


# --------------------------------------------------------------------------- minimal witnesses

def test_minimal_only_required_and_smallest_values() -> None:
    schema = obj({
        "name": {"type": "string", "minLength": 2},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "count": {"type": "integer", "minimum": 5},
        "neg": {"type": "integer", "maximum": -3},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 4},
        "maybe": {"type": ["string", "null"]},
        "flag": {"type": "boolean"},
        "optional": {"type": "string"},
        "nested": obj({"x": {"type": "integer"}, "y": {"type": "integer"}}, ["x"]),
    }, ["name", "tags", "count", "neg", "ratio", "maybe", "flag", "nested"])
    for seed in range(5):
        value = generate(schema, seed=seed, minimal=True)
        assert_valid(schema, value)
        assert set(value) == {"name", "tags", "count", "neg", "ratio", "maybe", "flag", "nested"}
        assert len(value["name"]) == 2 and len(value["tags"]) == 2 and value["tags"] == ["", ""]
        assert (value["count"], value["neg"], value["maybe"], value["flag"]) == (5, -3, None, False)
        assert 0 < value["ratio"] <= 1
        assert value["nested"] == {"x": 0}


def test_minimal_prefers_the_cheapest_branch() -> None:
    big = obj({k: {"type": "string"} for k in "abcdef"})
    schema = {"oneOf": [big, {"type": "integer", "minimum": 1, "maximum": 1}]}
    assert generate(schema, minimal=True) == 1
    assert generate({"anyOf": [big, {"type": "null"}]}, minimal=True) is None


def test_minimal_is_smaller_than_default() -> None:
    schema = json.loads((CORPUS / "tool_create_calendar_event.json").read_text())["schema"]
    sizes = [(len(json.dumps(generate(schema, seed=s, minimal=True))), len(json.dumps(generate(schema, seed=s))))
             for s in range(10)]
    assert all(m <= d for m, d in sizes) and any(m < d for m, d in sizes)


# --------------------------------------------------------------------------- recursion

TREE = {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name"]}


@pytest.mark.parametrize("max_depth", [0, 1, 2, 4])
def test_recursion_is_bounded_by_max_depth(max_depth: int) -> None:
    depths = []
    for seed in range(25):
        value = generate(TREE, seed=seed, max_depth=max_depth)
        assert_valid(TREE, value)
        depths.append(nesting(value))
    # containers at depth >= max_depth get no optional properties, so the tree stops there
    assert max(depths) <= max_depth + 1
    if max_depth >= 2:
        assert max(depths) >= 3  # and the bound is what stops it, not a lack of recursion


def test_required_recursion_takes_the_cheap_branch_at_the_limit() -> None:
    linked = {"$defs": {"node": obj({"value": {"type": "integer"},
                                     "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}})},
              "$ref": "#/$defs/node"}
    for seed in range(10):
        value = generate(linked, seed=seed, max_depth=3)
        assert_valid(linked, value)
        length = 0
        while value is not None:
            value, length = value["next"], length + 1
        assert 1 <= length <= 4


def test_recursive_ui_tree_from_corpus() -> None:
    schema = json.loads((CORPUS / "so_ui_component_tree.json").read_text())["schema"]
    for seed in range(10):
        value = generate(schema, seed=seed, max_depth=4)
        assert_valid(schema, value)
        assert nesting(value) <= 6


# --------------------------------------------------------------------------- name hints

def _required(props: dict) -> dict:
    return obj(props)


def test_hint_city_is_a_faker_city() -> None:
    from faker.providers.address.en_US import Provider as Address

    prefixes = tuple(p + " " for p in Address.city_prefixes)
    suffixes = tuple(Address.city_suffixes)
    for seed in range(20):
        city = generate(_required({"city": {"type": "string"}}), seed=seed)["city"]
        assert city.startswith(prefixes) or city.endswith(suffixes), city
    # camelCase and snake_case names get the same hint
    from faker.providers.person.en_US import Provider as Person

    first_names = set(Person.first_names)
    for seed in range(10):
        assert generate(_required({"firstName": {"type": "string"}}), seed=seed)["firstName"] in first_names
        billing = generate(_required({"billing_city": {"type": "string"}}), seed=seed)["billing_city"]
        assert billing.startswith(prefixes) or billing.endswith(suffixes), billing
    # an unhinted name does not get city-shaped values
    plain = [generate(_required({"zzz": {"type": "string"}}), seed=s)["zzz"] for s in range(20)]
    assert sum(v.startswith(prefixes) or v.endswith(suffixes) for v in plain) < 10


def test_hint_email_phone_url_id_dates() -> None:
    schema = _required({"email": {"type": "string"}, "phone": {"type": "string"}, "website": {"type": "string"},
                        "user_id": {"type": "string"}, "created_at": {"type": "string"}, "birth_date": {"type": "string"},
                        "zip_code": {"type": "string"}, "company": {"type": "string"}})
    for seed in range(10):
        v = generate(schema, seed=seed)
        assert jsonschema_rs.Draft202012Validator({"format": "email"}, validate_formats=True).is_valid(v["email"])
        assert "@" in v["email"]
        assert sum(c.isdigit() for c in v["phone"]) >= 7
        assert v["website"].startswith(("http://", "https://"))
        uuid.UUID(v["user_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["created_at"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", v["birth_date"])
        assert re.fullmatch(r"\d{5}", v["zip_code"])
        assert v["company"] and v["company"][0].isupper()


def test_hint_location_temperature_price_currency_language_query_description() -> None:
    schema = _required({"location": {"type": "string"}, "temperature": {"type": "number"},
                        "price": {"type": "number"}, "currency": {"type": "string"},
                        "language": {"type": "string"}, "query": {"type": "string"},
                        "description": {"type": "string"}, "title": {"type": "string"}, "country": {"type": "string"}})
    for seed in range(10):
        v = generate(schema, seed=seed)
        assert re.fullmatch(r"[A-Z][\w .]+, [A-Z][\w .]+", v["location"]), v["location"]
        assert isinstance(v["temperature"], (int, float)) and -10 <= v["temperature"] <= 35
        assert 1 <= v["price"] <= 500 and round(v["price"], 2) == v["price"]
        assert re.fullmatch(r"[A-Z]{3}", v["currency"])
        assert v["language"][0].isupper() and len(v["language"]) > 2, v["language"]
        assert 1 <= len(v["query"].split()) <= 6
        assert v["description"].endswith(".") and len(v["description"].split()) >= 3
        assert not v["title"].endswith(".") and v["title"][0].isupper()
        assert v["country"][0].isupper()


def test_hint_unit_enum_always_wins() -> None:
    free = _required({"unit": {"type": "string"}})
    assert generate(free)["unit"] == "celsius"
    constrained = _required({"unit": {"type": "string", "enum": ["kelvin", "rankine"]}})
    assert {generate(constrained, seed=s)["unit"] for s in range(20)} == {"kelvin", "rankine"}


def test_hints_yield_to_constraints() -> None:
    short_city = _required({"city": {"type": "string", "maxLength": 3}})
    zip_pattern = _required({"zip": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}})
    bounded_temp = _required({"temperature": {"type": "integer", "minimum": 100, "maximum": 105}})
    email_fmt = _required({"city": {"type": "string", "format": "email"}})
    for seed in range(10):
        assert len(generate(short_city, seed=seed)["city"]) <= 3
        assert re.fullmatch(r"[A-Z]{2}-\d{3}", generate(zip_pattern, seed=seed)["zip"])
        assert 100 <= generate(bounded_temp, seed=seed)["temperature"] <= 105
        assert "@" in generate(email_fmt, seed=seed)["city"]


def test_array_items_inherit_singular_hint() -> None:
    schema = _required({"emails": {"type": "array", "items": {"type": "string"}, "minItems": 2}})
    for seed in range(5):
        assert all("@" in e for e in generate(schema, seed=seed)["emails"])


def test_hint_language_falls_back_to_the_pattern() -> None:
    schema = _required({"language": {"type": "string", "pattern": "^[a-z]{2}$"}})
    for seed in range(5):
        assert re.fullmatch("[a-z]{2}", generate(schema, seed=seed)["language"])


# --------------------------------------------------------------------------- negation

@pytest.mark.parametrize(("schema", "check"), [
    ({"not": {"minimum": 5}}, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v < 5),
    ({"type": "string", "not": {"type": "string", "minLength": 3}}, lambda v: isinstance(v, str) and len(v) < 3),
    ({"type": "integer", "not": {"type": "integer", "maximum": 50}}, lambda v: v > 50),
    ({"not": {"not": {"enum": ["a", "b"]}}}, lambda v: v in ("a", "b")),
    ({"not": {"type": ["string", "number", "object", "array", "boolean"]}}, lambda v: v is None),
    ({"type": "array", "not": {"minItems": 1}}, lambda v: v == []),
    ({"type": "number", "not": {"type": "integer"}}, lambda v: isinstance(v, float) and not v.is_integer()),
    ({"not": {"type": "number", "minimum": 3}}, lambda v: not (isinstance(v, (int, float)) and v >= 3)),
])
def test_not_is_honoured(schema: dict, check: Any) -> None:
    for seed in range(8):
        value = generate(schema, seed=seed)
        assert_valid(schema, value)
        assert check(value), value


def test_if_without_else_and_one_of_with_an_everything_branch() -> None:
    schema = {"if": {"type": ["string", "null"]}, "then": {"const": {"k": [1]}}}
    for seed in range(5):
        value = generate(schema, seed=seed)  # only a non-string, non-null value can satisfy it
        assert_valid(schema, value)
        assert not isinstance(value, str) and value is not None
    schema = {"oneOf": [{}, {"type": "string"}]}
    assert all(not isinstance(generate(schema, seed=s), str) for s in range(8))


@pytest.mark.parametrize(("fmt", "bounds"), [
    ("uri", {"maxLength": 4}), ("hostname", {"maxLength": 5}), ("email", {"maxLength": 5}),
    ("email", {"minLength": 70}), ("hostname", {"minLength": 100, "maxLength": 110}), ("ipv6", {"maxLength": 3}),
    ("uri", {"minLength": 60}), ("ipv4", {"minLength": 15}),
])
def test_formats_fit_tight_lengths(fmt: str, bounds: dict) -> None:
    schema = {"type": "string", "format": fmt, **bounds}
    for seed in range(4):
        assert_valid(schema, generate(schema, seed=seed))


def test_fixed_width_format_outside_its_width_is_unsatisfiable() -> None:
    with pytest.raises(UnsatisfiableSchema) as info:
        generate(obj({"day": {"type": "string", "format": "date", "maxLength": 8}}))
    assert info.value.path == "properties.day.format"


def test_relative_and_absolute_root_ids() -> None:
    for root_id in ("schema.json", "https://example.com/schemas/s.json"):
        schema = {"$id": root_id, "$defs": {"A": {"type": "string", "minLength": 3}},
                  "oneOf": [{"$ref": "#/$defs/A"}, {"type": "integer"}]}
        for seed in range(4):
            assert_valid(schema, generate(schema, seed=seed))


def test_non_schema_input_is_a_type_error_and_invalid_schema_is_reported() -> None:
    with pytest.raises(TypeError):
        generate("string")  # type: ignore[arg-type]
    with pytest.raises(UnsatisfiableSchema) as info:
        generate({"type": "object", "properties": {"n": {"type": "integer", "minimum": "zero"}}})
    assert info.value.path == "properties.n.minimum" and "invalid schema" in info.value.reason
    with pytest.raises(UnsatisfiableSchema) as info:
        generate({"$ref": "https://example.com/other.json"})
    assert info.value.path == "$ref"


# --------------------------------------------------------------------------- the final validator check

def test_final_validation_retries_other_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate the validator rejects is never returned: another derived seed is tried."""
    from mockserver.sources import schema_instances as mod

    schema = obj({"a": {"type": "string", "minLength": 2}})
    real_gen = mod._Compiled.gen
    calls: list[int] = []

    def flaky(self: Any, parts: tuple, depth: int, ctx: Any, hint: Any, resolved: frozenset = frozenset()) -> Any:
        if depth == 0:
            calls.append(1)
            if len(calls) <= 3:
                return {"a": 1}  # wrong type: must be caught by the final check
        return real_gen(self, parts, depth, ctx, hint, resolved)

    monkeypatch.setattr(mod._Compiled, "gen", flaky)
    value = generate(schema, seed=11)
    assert len(calls) == 4 and isinstance(value["a"], str) and len(value["a"]) >= 2


def test_final_validation_gives_up_with_the_validator_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.sources import schema_instances as mod

    calls: list[int] = []

    def always_wrong(self: Any, parts: tuple, depth: int, ctx: Any, hint: Any, resolved: frozenset = frozenset()) -> Any:
        calls.append(1)
        return {"a": 1}

    monkeypatch.setattr(mod._Compiled, "gen", always_wrong)
    with pytest.raises(UnsatisfiableSchema) as info:
        generate(obj({"a": {"type": "string"}}), seed=3)
    assert 1 < len(calls) <= 16  # bounded retries
    assert info.value.path == "properties.a.type"
    assert "not of type" in info.value.reason


# --------------------------------------------------------------------------- determinism

DETERMINISM_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"}, "email": {"type": "string", "format": "email"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"}, "when": {"type": "string", "format": "date-time"},
        "price": {"type": "number", "multipleOf": 0.01, "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "shape": {"oneOf": [obj({"kind": {"const": "a"}}), obj({"kind": {"const": "b"}, "r": {"type": "integer"}})]},
        "extra": {"type": ["string", "integer", "boolean", "null"]},
    },
    "required": ["city", "code"],
}


def test_same_seed_same_instance_and_seeds_vary() -> None:
    for seed in (0, 1, "req-42", b"\x00\xff"):
        assert generate(DETERMINISM_SCHEMA, seed=seed) == generate(DETERMINISM_SCHEMA, seed=seed)
    outputs = {json.dumps(generate(DETERMINISM_SCHEMA, seed=s), sort_keys=True) for s in range(10)}
    assert len(outputs) >= 8
    assert generate(DETERMINISM_SCHEMA, seed="1") != generate(DETERMINISM_SCHEMA, seed=1) or \
        generate(DETERMINISM_SCHEMA, seed=b"1") != generate(DETERMINISM_SCHEMA, seed=1)


def test_global_random_is_untouched() -> None:
    random.seed(1234)
    state = random.getstate()
    generate(DETERMINISM_SCHEMA, seed=5)
    assert random.getstate() == state


def test_determinism_across_processes() -> None:
    code = (
        "import json, sys; from mockserver.sources.schema_instances import generate; "
        "schema = json.loads(sys.argv[1]); "
        "print(json.dumps([generate(schema, seed=s) for s in (0, 7, 'abc')]))"
    )
    outputs = []
    for hash_seed in ("1", "98765"):
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(DETERMINISM_SCHEMA)],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
            env={"PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    here = json.dumps([generate(DETERMINISM_SCHEMA, seed=s) for s in (0, 7, "abc")])
    assert outputs[0].strip() == here


# --------------------------------------------------------------------------- API surface

def test_exception_shape_and_bad_seed() -> None:
    err = UnsatisfiableSchema("properties.a.maxLength", "minLength 5 is greater than maxLength 2")
    assert isinstance(err, ValueError) and err.path == "properties.a.maxLength"
    assert "maxLength" in str(err)
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.reason) == (err.path, err.reason)
    with pytest.raises(TypeError):
        generate({"type": "string"}, seed=1.5)  # type: ignore[arg-type]


def test_true_and_empty_schemas() -> None:
    assert generate(True, seed=1) is not None or generate(True, seed=2) is not None
    assert generate({}, minimal=True) is None
    assert not math.isnan(float(generate({"type": "number"}) or 0))
