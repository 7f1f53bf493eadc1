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

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, NoReturn

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


@dataclass(frozen=True)
class _Problem:
    """Why a schema is refused, apart from where it sits in the request, so it can be cached."""

    sentence: Callable[[str, str], str]  # (param, where) -> what follows "Invalid schema for '{param}': "
    at: tuple[Any, ...] | None = None  # the keyword's path, which then becomes the error's param

    def error(self, param: str) -> InvalidRequest:
        where = _where(param, list(self.at or ()))
        return InvalidRequest(f"Invalid schema for '{param}': {self.sentence(param, where)}.",
                              param=param if self.at is None else where, code="invalid_schema")


def _keyword_problem(path: list[Any], keyword: str, value: Any) -> _Problem | None:
    """Why ``keyword: value`` would make a validator look outside the schema, or None."""
    if not isinstance(value, str):
        return None  # the meta-schema says what is wrong with it
    at = (*path, keyword)
    if keyword == "$schema":
        if _draft_key(value) is not None:
            return None
        return _Problem(lambda _p, where: (
            f"$schema {_quote(value)} at '{where}' is not a JSON Schema draft URI the mock knows (draft-04, "
            f"draft-06, draft-07, 2019-09, 2020-12); {_OFFLINE}, so a custom meta-schema cannot be used"), at)
    if value.startswith("#"):
        return None
    return _Problem(lambda _p, where: (
        f"{keyword} {_quote(value)} at '{where}' does not point inside the schema; {_OFFLINE}: use a local "
        "reference such as '#/$defs/name'"), at)


def _walk(schema: Any) -> _Problem | None:
    """Depth bound and URI keywords, over every object and array of the document.

    Iterative, so a hostile nesting cannot overflow the interpreter's stack;
    depth counts containers as ``mockserver.nesting`` does (``{}`` is 1).
    """
    stack: list[tuple[Any, int, list[Any]]] = [(schema, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if depth > limits.MAX_SCHEMA_DEPTH:
            deep = tuple(path)
            return _Problem(lambda param, _w: (
                f"it nests more than {limits.MAX_SCHEMA_DEPTH} levels deep (objects and arrays both count) at "
                f"'{_where(param, list(deep))}', the mock's limit (limits.MAX_SCHEMA_DEPTH)"))
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$schema" or key in _REF_KEYWORDS:
                    problem = _keyword_problem(path, key, value)
                    if problem is not None:
                        return problem
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1, [*path, key]))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1, [*path, i]))
    return None


def check(schema: Any, param: str) -> bytes:
    """Refuse (400, ``invalid_schema``) a request schema the mock will not compile; its canonical JSON if fine.

    In order: not a schema at all; nested too deep; pointing outside itself;
    too big; not valid under its draft's meta-schema. The canonical JSON
    (sorted keys) is returned because callers key their caches by it, and
    the verdict is cached by it too: clients resend the same tools every turn.
    """
    if not isinstance(schema, (dict, bool)):
        raise InvalidRequest(f"Invalid schema for '{param}': a JSON Schema must be an object.", param=param,
                             code="invalid_schema")
    try:
        canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # deeper than orjson writes (254 levels): the walk says where
        problem = _walk(schema) or _Problem(lambda _p, _w: "it cannot be written as JSON")
        raise problem.error(param) from None
    problem = _problem(canonical)
    if problem is not None:
        raise problem.error(param)
    return canonical


@lru_cache(maxsize=1024)
def _problem(canonical: bytes) -> _Problem | None:
    schema = orjson.loads(canonical)
    problem = _walk(schema)
    if problem is not None:
        return problem
    if len(canonical) > limits.MAX_SCHEMA_BYTES:
        size = len(canonical)
        return _Problem(lambda _p, _w: (
            f"it is {size:,} bytes of JSON, above the mock's limit of {limits.MAX_SCHEMA_BYTES:,} bytes "
            "(limits.MAX_SCHEMA_BYTES)"))
    error = next(iter(_meta_validator(_draft_of(schema)).iter_errors(schema)), None)
    if error is None:
        return None
    at = "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in error.instance_path).lstrip(".")
    why = error.message + (f" (at {at})" if at else "")
    return _Problem(lambda _p, _w: why)


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
