"""Compiled validators for the schemas of a served spec.

OpenAPI 3.0 schemas are converted once to JSON Schema (Draft 4, which shares
3.0's boolean ``exclusiveMinimum`` and its formats) and compiled with
``jsonschema_rs``: validating a valid document costs about a microsecond, so
both the request and the response path can afford it on every request.

Only when a document is *invalid* do we pay for an explanation: the pure
Python ``jsonschema`` walks the same schema to find the offending field and
phrase an OpenAI-style message (``Invalid value for 'messages[1].role': ...``).
The fast validator has the last word on validity; the slow one only explains.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import jsonschema
import jsonschema_rs

from mockserver.errors import ContractViolation, InvalidRequest

log = logging.getLogger("mockserver.validation")

# Keywords of the OpenAPI 3.0 Schema Object that JSON Schema does not know or
# that must not take part in validation.
_OAS_ONLY = frozenset(
    {"nullable", "example", "examples", "discriminator", "xml", "externalDocs",
     "deprecated", "readOnly", "writeOnly"}
)

# Keys whose value is a map of name -> schema (not a schema itself).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs", "dependencies"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_VALUES = frozenset({"items", "additionalProperties", "not", "additionalItems", "contains"})


def oas_to_json_schema(schema: Any) -> Any:
    """Return a JSON Schema equivalent of an OpenAPI 3.0 Schema Object.

    ``nullable: true`` adds ``"null"`` to ``type`` (and ``None`` to ``enum``)
    only where ``type`` is given, as OpenAPI 3.0.3 clarifies; extensions and
    documentation-only keywords are dropped.
    """
    if isinstance(schema, list):
        return [oas_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OAS_ONLY or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: oas_to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_VALUES:
            out[key] = oas_to_json_schema(value)
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("nullable") is True and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def convert_components(components: dict) -> dict:
    """The ``components`` object with every schema converted, so that
    ``#/components/schemas/X`` references resolve to JSON Schema."""
    schemas = (components or {}).get("schemas") or {}
    return {"schemas": {name: oas_to_json_schema(schema) for name, schema in schemas.items()}}


def format_param(path: Iterable[Any]) -> str | None:
    """``["messages", 1, "role"]`` -> ``"messages[1].role"`` (OpenAI's ``param``)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


@dataclass(frozen=True)
class Violation:
    """One reason a document does not match its schema."""

    path: tuple[Any, ...]
    message: str
    rule: str  # the schema keyword path, e.g. "properties/messages/items/oneOf"
    code: str = "invalid_value"  # or invalid_type, missing_required_parameter, ambiguous_value

    @property
    def param(self) -> str | None:
        return format_param(self.path)


_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "a boolean",
    list: "an array", dict: "an object", type(None): "null",
}


def _describe_type(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fast_format(name: str) -> Any:
    check = jsonschema_rs.Draft4Validator({"format": name}, validate_formats=True)
    return lambda value: check.is_valid(value)


# The explaining validator must judge formats as the fast one does (python's
# jsonschema skips "uri" without an optional package), or it would not find
# the error the fast validator reported.
_FORMATS = jsonschema.FormatChecker()
for _name in ("uri", "uri-reference", "email", "date-time", "date", "time", "ipv4", "ipv6", "hostname", "uuid"):
    _FORMATS.checks(_name)(_fast_format(_name))


class SchemaValidator:
    """One schema of a served spec, compiled once at start-up.

    ``components`` are the spec's already converted ``components`` so that
    ``#/components/schemas/X`` references resolve inside the compiled root.
    """

    def __init__(self, schema: dict, components: dict, *, name: str) -> None:
        self.name = name
        self.schema = schema
        self._root = {**schema, "components": components} if isinstance(schema, dict) else schema
        self._fast = jsonschema_rs.Draft4Validator(self._root, validate_formats=True)
        self._slow = jsonschema.Draft4Validator(self._root, format_checker=_FORMATS)

    def is_valid(self, instance: Any) -> bool:
        return self._fast.is_valid(instance)

    def violation(self, instance: Any) -> Violation | None:
        """The most useful violation, or None when the document is valid."""
        if self._fast.is_valid(instance):
            return None
        errors = list(self._slow.iter_errors(instance))
        if errors:
            return _explain(_deepest(errors))
        # The fast validator knows a rule the slow one does not check (a format).
        err = next(iter(self._fast.iter_errors(instance)))
        path = tuple(err.instance_path)
        return Violation(path, _with_field(path, err.message), "/".join(map(str, err.schema_path)))

    def check_request(self, instance: Any) -> None:
        """Raise a 400 naming the offending field if ``instance`` is invalid."""
        found = self.violation(instance)
        if found is not None:
            raise InvalidRequest(found.message, param=found.param, code=found.code)

    def check_response(self, instance: Any, *, what: str) -> None:
        """Raise a ContractViolation (logged) if the mock is about to lie."""
        found = self.violation(instance)
        if found is not None:
            where = found.param or "(root)"
            log.error(
                "contract violation in %s (%s): at %s: %s [rule %s]",
                what, self.name, where, found.message, found.rule,
            )
            raise ContractViolation(
                f"The mock produced a {what} that violates the contract ({self.name}) "
                f"at {where}: {found.message} [schema rule: {found.rule}]. "
                "This is a bug of the mock or of a fixture, not of your request."
            )


def _with_field(path: Sequence[Any], message: str) -> str:
    param = format_param(path)
    return f"Invalid value for '{param}': {message}." if param else f"Invalid request body: {message}."


def _deepest(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    # Prefer the error deepest in the document: it names the most precise field.
    return max(errors, key=lambda e: len(e.absolute_path))


def _is_discriminator_miss(err: jsonschema.ValidationError, depth: int) -> bool:
    """A branch failed on a tag property (``role``, ``type``) of the object itself."""
    return err.validator in ("enum", "const") and len(err.absolute_path) == depth + 1


def _explain(err: jsonschema.ValidationError) -> Violation:
    """Turn one jsonschema error into a Violation, descending into oneOf/anyOf."""
    path = tuple(err.absolute_path)
    rule = "/".join(str(p) for p in err.absolute_schema_path)
    if err.validator in ("oneOf", "anyOf") and err.context:
        return _explain_branches(err, path, rule)
    if err.validator == "oneOf":
        names = _branch_names(err.validator_value)
        return Violation(
            path,
            f"The value at '{format_param(path) or '(root)'}' matches more than one of {names} "
            "although the contract's oneOf requires exactly one. This is an ambiguity in the "
            "contract itself; run `mockserver lint` to see it and the erratum that fixes it.",
            rule,
            "ambiguous_value",
        )
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else str(err.validator_value)
        full = (*path, missing)
        return Violation(full, f"Missing required parameter: '{format_param(full)}'.", rule,
                         "missing_required_parameter")
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Violation(
            path,
            f"Invalid type for '{format_param(path) or 'body'}': expected {expected}, "
            f"but got {_describe_type(err.instance)} instead.",
            rule,
            "invalid_type",
        )
    if err.validator == "minItems" and err.instance == []:
        # OpenAI's own wording and code for an empty list where items are required
        return Violation(
            path,
            f"Invalid '{format_param(path) or 'body'}': empty array. Expected an array with minimum length "
            f"{err.validator_value}, but got an empty array instead.",
            rule,
            "empty_array",
        )
    if err.validator == "enum":
        return Violation(
            path,
            f"Invalid value for '{format_param(path) or 'body'}': {_short(err.instance)} is not "
            f"one of {list(err.validator_value)}.",
            rule,
        )
    return Violation(path, _with_field(path, err.message), rule)


def _branch_names(branches: Any) -> list[str]:
    names = []
    for i, b in enumerate(branches or []):
        ref = b.get("$ref", "") if isinstance(b, dict) else ""
        names.append(ref.rsplit("/", 1)[-1] if ref else f"#{i}")
    return names


def _explain_branches(err: jsonschema.ValidationError, path: tuple, rule: str) -> Violation:
    depth = len(path)
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    types = [e for v in branches.values() for e in v if e.validator == "type" and len(e.absolute_path) == depth]
    if len(types) == len(branches):
        # Every branch wants another type here: name them all.
        expected: list[str] = []
        for e in types:
            vals = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            expected += [v for v in vals if v not in expected]
        return Violation(
            path,
            f"Invalid type for '{format_param(path) or 'body'}': expected {' or '.join(expected)}, "
            f"but got {_describe_type(err.instance)} instead.",
            rule,
            "invalid_type",
        )
    tagged = {k: v for k, v in branches.items() if not any(_is_discriminator_miss(e, depth) for e in v)}
    if tagged and len(tagged) < len(branches):
        # The branch whose tag matched: its own error is the real one.
        best = min(tagged.values(), key=len)
        return _explain(_deepest(best))
    misses = [e for v in branches.values() for e in v if _is_discriminator_miss(e, depth)]
    fields = {e.absolute_path[-1] for e in misses}
    if misses and len(fields) == 1 and not tagged:
        allowed: list[Any] = []
        for e in misses:
            values = e.validator_value if e.validator == "enum" else [e.validator_value]
            allowed += [v for v in values if v not in allowed]
        sub = misses[0]
        full = tuple(sub.absolute_path)
        return Violation(
            full,
            f"Invalid value for '{format_param(full)}': {_short(sub.instance)} is not one of {allowed}.",
            rule,
        )
    every = [e for v in branches.values() for e in v]
    return _explain(_deepest(every))
