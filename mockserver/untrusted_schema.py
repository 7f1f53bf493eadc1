"""JSON Schemas that arrive in a request: checked and compiled without reaching outside them.

Why a module of its own: jsonschema_rs resolves what a schema points at.
``meta.validate`` reads the document a ``$schema`` names (``file:///etc/...``
is read from disk, and its error quotes it back; a missing file answers "os
error 2"), and a validator compiled with the defaults fetches ``$schema``,
``$ref``, ``$id``-relative references and nested ``$schema`` over HTTP, on
the event loop. A mock has no business reading files or calling hosts for
its clients, so every schema from a request (``tools[].function.parameters``,
``response_format.json_schema.schema``) goes through here:

* :func:`check` refuses, with a 400 naming the keyword, what would make a
  validator look outside the schema: a ``$schema`` other than the well-known
  draft URIs, and a ``$ref``/``$dynamicRef``/``$recursiveRef`` that is not a
  local fragment (``#...``). It bounds the schema's nesting and size
  (``limits.MAX_SCHEMA_DEPTH``, ``limits.MAX_SCHEMA_BYTES``) and checks it
  against its draft's meta-schema with validators compiled once from the
  meta-schemas jsonschema_rs bundles, never through ``meta.validate``.
* :func:`validator` and :func:`registry` compile with a retriever that
  refuses every URI. (jsonschema_rs refuses ``offline=True`` together with a
  ``retriever``; the refusing retriever replaces the default one, so it is
  the stronger of the two.) That is the second line: a reference the walk
  let through still reads nothing.

The walk covers the whole document, ``const``/``enum``/``default`` values
included: a ``$ref`` can point anywhere inside the document (``#/default``),
and whatever it points at is compiled as a schema.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, NoReturn

import jsonschema_rs
import orjson

from mockserver import limits
from mockserver.errors import InvalidRequest

# The drafts a request may name in $schema: jsonschema_rs bundles their
# meta-schemas, so naming one reads nothing. Keyed by the URI without its
# scheme and trailing '#', as clients write it both ways (zod-to-json-schema
# sends "http://json-schema.org/draft-07/schema#").
_DRAFTS: dict[str, tuple[str, type]] = {
    "json-schema.org/draft-04/schema": ("http://json-schema.org/draft-04/schema#", jsonschema_rs.Draft4Validator),
    "json-schema.org/draft-06/schema": ("http://json-schema.org/draft-06/schema#", jsonschema_rs.Draft6Validator),
    "json-schema.org/draft-07/schema": ("http://json-schema.org/draft-07/schema#", jsonschema_rs.Draft7Validator),
    "json-schema.org/draft/2019-09/schema": ("https://json-schema.org/draft/2019-09/schema",
                                             jsonschema_rs.Draft201909Validator),
    "json-schema.org/draft/2020-12/schema": ("https://json-schema.org/draft/2020-12/schema",
                                             jsonschema_rs.Draft202012Validator),
}
_DEFAULT_DRAFT = "json-schema.org/draft/2020-12/schema"  # what OpenAI accepts, when $schema is absent
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_OFFLINE = "the mock resolves nothing outside the schema (it is offline by design)"
_QUOTE_MAX = 200  # of a refused URI, in the message


class RetrievalRefused(ValueError):
    """A compiled schema tried to load a document; nothing is ever loaded."""


def refuse(uri: str) -> NoReturn:
    """The retriever of every request schema: no file, no host, whatever the URI."""
    raise RetrievalRefused(f"{uri!r} was not loaded: {_OFFLINE}")


def _draft_key(uri: str) -> str | None:
    """The key of a well-known draft URI (http or https, '#' or not), else None."""
    for scheme in ("https://", "http://"):
        if uri.startswith(scheme):
            key = uri[len(scheme):]
            key = key[:-1] if key.endswith("#") else key
            return key if key in _DRAFTS else None
    return None


def _where(param: str, path: list[Any]) -> str:
    """``tools[0].function.parameters`` + ``["properties", "a", "$ref"]`` -> ``...properties.a.$ref``."""
    out = param
    for tok in path:
        if isinstance(tok, int):
            out += f"[{tok}]"
        elif tok and all(c.isalnum() or c in "_$-" for c in tok):
            out += f".{tok}"
        else:
            out += "[" + orjson.dumps(tok).decode() + "]"
    return out


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE_MAX else text[:_QUOTE_MAX] + "...")


def _refuse_keyword(param: str, path: list[Any], keyword: str, value: Any) -> None:
    """400 if ``keyword: value`` would make a validator look outside the schema."""
    where = _where(param, [*path, keyword])
    if keyword == "$schema":
        if isinstance(value, str) and _draft_key(value) is None:
            raise InvalidRequest(
                f"Invalid schema for '{param}': $schema {_quote(value)} at '{where}' is not a JSON Schema draft "
                f"URI the mock knows (draft-04, draft-06, draft-07, 2019-09, 2020-12); {_OFFLINE}, so a custom "
                "meta-schema cannot be used.", param=where, code="invalid_schema")
    elif isinstance(value, str) and not value.startswith("#"):
        raise InvalidRequest(
            f"Invalid schema for '{param}': {keyword} {_quote(value)} at '{where}' does not point inside the "
            f"schema; {_OFFLINE}: use a local reference such as '#/$defs/name'.", param=where, code="invalid_schema")


def _walk(schema: Any, param: str) -> None:
    """Depth bound and URI keywords, over every object and array of the document.

    Iterative, so a hostile nesting cannot overflow the interpreter's stack;
    depth counts containers as ``mockserver.nesting`` does (``{}`` is 1).
    """
    stack: list[tuple[Any, int, list[Any]]] = [(schema, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if depth > limits.MAX_SCHEMA_DEPTH:
            raise InvalidRequest(
                f"Invalid schema for '{param}': it nests more than {limits.MAX_SCHEMA_DEPTH} levels deep (objects "
                f"and arrays both count) at '{_where(param, path)}', the mock's limit "
                f"(limits.MAX_SCHEMA_DEPTH).", param=param, code="invalid_schema")
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$schema" or key in _REF_KEYWORDS:
                    _refuse_keyword(param, path, key, value)
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1, [*path, key]))
        else:
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1, [*path, i]))


def check(schema: Any, param: str) -> bytes:
    """Refuse (400, ``invalid_schema``) a request schema the mock will not compile; its canonical JSON if fine.

    In order: not a schema at all; nested too deep; pointing outside itself;
    too big; not valid under its draft's meta-schema. The canonical JSON
    (sorted keys) is returned because callers key their caches by it.
    """
    if not isinstance(schema, (dict, bool)):
        raise InvalidRequest(f"Invalid schema for '{param}': a JSON Schema must be an object.", param=param,
                             code="invalid_schema")
    if isinstance(schema, dict):
        _walk(schema, param)
    canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    if len(canonical) > limits.MAX_SCHEMA_BYTES:
        raise InvalidRequest(
            f"Invalid schema for '{param}': it is {len(canonical):,} bytes of JSON, above the mock's limit of "
            f"{limits.MAX_SCHEMA_BYTES:,} bytes (limits.MAX_SCHEMA_BYTES).", param=param, code="invalid_schema")
    problem = _meta_problem(canonical)
    if problem is not None:
        raise InvalidRequest(f"Invalid schema for '{param}': {problem}.", param=param, code="invalid_schema")
    return canonical


@lru_cache(maxsize=1024)
def _meta_problem(canonical: bytes) -> str | None:
    """Why the schema fails its draft's meta-schema, or None; clients resend the same schemas every turn."""
    schema = orjson.loads(canonical)
    error = next(iter(_meta_validator(_draft_of(schema)).iter_errors(schema)), None)
    if error is None:
        return None
    at = "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in error.instance_path).lstrip(".")
    return error.message + (f" (at {at})" if at else "")


def _draft_of(schema: Any) -> str:
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    return (_draft_key(declared) if isinstance(declared, str) else None) or _DEFAULT_DRAFT


@lru_cache(maxsize=None)
def _meta_validator(draft: str) -> Any:
    """A validator of one draft's meta-schema, compiled once from the copy jsonschema_rs bundles."""
    uri, cls = _DRAFTS[draft]
    return cls({"$schema": uri, "$ref": uri}, retriever=refuse)


def validator(schema: Any, **options: Any) -> Any:
    """A jsonschema_rs validator of a request schema (or of a part of one) that loads nothing.

    The draft is the one the root's ``$schema`` names (2020-12 when absent),
    written as the URI jsonschema_rs bundles, so not even an ``https://``
    spelling of draft-07 is looked up. ``options`` go to the validator
    (``validate_formats``, ``registry``...); a ``retriever`` cannot be passed.
    """
    cls = jsonschema_rs.Draft202012Validator
    if isinstance(schema, dict) and isinstance(schema.get("$schema"), str):
        key = _draft_key(schema["$schema"])
        if key is not None:
            uri, cls = _DRAFTS[key]
            schema = {**schema, "$schema": uri}
    return cls(schema, retriever=refuse, **options)


def registry(resources: Iterable[tuple[str, Any]]) -> Any:
    """A jsonschema_rs registry of in-memory documents that loads nothing else."""
    return jsonschema_rs.Registry(list(resources), retriever=refuse)
