"""Deterministic instances of JSON Schemas: mock payloads and linter witnesses.

The mock server needs a value for every schema it serves (tool-call
arguments, structured outputs, response bodies), and the spec linter needs a
*witness* proving a schema can be satisfied at all.  Both want the same
thing: a value that validates, is the same for the same (schema, seed) in
every process, reads like real data, and fails loudly - with the location in
the schema - when no value can exist.

How it works, and why:

* The schema is first normalised to Draft 2020-12 (OpenAPI 3.0 ``nullable``,
  draft-4 boolean ``exclusiveMinimum``/``exclusiveMaximum``, array-form
  ``items``, ``dependencies``) so generation and validation agree on one
  dialect.  The result is cached per schema *content* (a blake2b digest of its
  canonical JSON), never per ``id()``, so a mutated dict cannot serve a stale
  plan.
* Every schema location is addressed by a path tuple.  A value is generated
  for a *site*: the set of schema locations it must satisfy at once (a
  property's schema plus matching ``patternProperties``, the branches merged
  from ``allOf``/``$ref``...).  Sites are flattened into one set of merged
  constraints (intersected types and enums, tightest bounds) - that is where
  contradictions are detected and reported with their path.
* ``anyOf``/``oneOf``/``if`` are choices: a branch is merged into the site and
  the value generated from the result; ``oneOf`` and ``not`` are then checked
  with real validators of the exact schema locations (jsonschema_rs, built
  through a registry so ``$ref`` inside them keeps working).
* Strings for ``pattern`` come from a small length-aware regex generator.
  Text that should read naturally (cities, e-mails, sentences) comes from
  pools built once per kind by a module-level Faker seeded through its own
  random instance - cheap after warm-up and independent of call order.
  Randomness is a ``random.Random`` per call, derived with hashlib from the
  seed; the global ``random`` is never touched.
* Finally the whole instance is validated with the Draft 2020-12 validator
  (formats on); on failure other derived seeds are tried, then
  :class:`UnsatisfiableSchema` carries the validator's reason.

Limits (deliberate, and covered by the final check):

* Only references inside the schema (``#``, ``#/json/pointer``, ``#anchor``,
  or the root ``$id``) resolve; anything else raises at the ``$ref``.  Nested
  ``$id`` scopes are not followed; ``$dynamicRef`` is treated as ``$ref``.
* ``if/then/else`` becomes a choice between (if and then) and (not-if and
  else); ``dependentSchemas``, ``unevaluated*``, ``maxContains`` and
  ``propertyNames`` are honoured by local validation and retries only.
* ``not`` is exact for types, ``const``/``enum``, a lone bound (inverted),
  double negation, and ``not {type: T, bound}`` once the value must be a T;
  otherwise it is a bounded search.  A verdict reached by search ("could not
  ...") means none was found, not a proof that none exists.
* The regex generator ignores lookarounds, ``\\b`` and backreferences while
  generating (the result is verified); inline flags and unknown ``\\p{..}``
  classes fall back to a few canned guesses.

Budgets (``budget``): schemas also arrive in requests, so an instance whose
every value is bigger than ``limits.MAX_GENERATED_BYTES`` is refused before
generating, a generation running past ``limits.MAX_GENERATION_SECONDS`` stops,
and ``$ref``/``allOf`` chains stop at ``2 x limits.MAX_SCHEMA_DEPTH``, each
with :class:`GenerationBudgetExceeded` (an :class:`UnsatisfiableSchema`).
Every validator is compiled through ``mockserver.untrusted_schema``: nothing a
schema names is ever loaded.

Layout: ``errors`` (the exception, paths), ``values`` (JSON helpers),
``normaliser``, ``formats``, ``pools`` and ``hints`` (natural-reading values),
``regex``, ``constraints`` (a site's merged constraints), ``plan`` (the
seed-independent half of a compiled schema), ``generation`` (values), and
``budget``; this module keeps the compile cache and :func:`generate`.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import OrderedDict
from typing import Any

import orjson

from mockserver import limits
from mockserver.sources.schema_instances.budget import Limits, check_demand
from mockserver.sources.schema_instances.constraints import _Ctx
from mockserver.sources.schema_instances.errors import GenerationBudgetExceeded, UnsatisfiableSchema, _fmt_path
from mockserver.sources.schema_instances.generation import _Compiled

__all__ = ["GenerationBudgetExceeded", "UnsatisfiableSchema", "generate"]


# --------------------------------------------------------------------------- cache & entry point

_CACHE: "OrderedDict[bytes, _Compiled]" = OrderedDict()
_CACHE_MAX = 256
_CACHE_LOCK = threading.Lock()


def _compile(schema: Any) -> _Compiled:
    """The compiled plan for ``schema``, keyed by a digest of its canonical JSON."""
    try:
        blob = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        blob = json.dumps(schema, sort_keys=True, default=repr).encode()
    key = hashlib.blake2b(blob, digest_size=16).digest()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    compiled = _Compiled(schema, key)
    with _CACHE_LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return compiled


def _seed_bytes(seed: int | str | bytes) -> bytes:
    if isinstance(seed, (bytes, bytearray)):
        return b"b" + bytes(seed)
    if isinstance(seed, str):
        return b"s" + seed.encode("utf-8", "surrogatepass")
    if isinstance(seed, int):
        return b"i" + str(int(seed)).encode()
    raise TypeError(f"seed must be int, str or bytes, not {type(seed).__name__}")


_ATTEMPTS = 8


def generate(schema: dict | bool, *, seed: int | str | bytes = 0, max_depth: int = 6,
             minimal: bool = False, max_bytes: int | None = limits.MAX_GENERATED_BYTES,
             max_seconds: float | None = limits.MAX_GENERATION_SECONDS) -> Any:
    """Return an instance that validates against `schema`; same schema + seed -> same instance.

    ``max_depth`` bounds recursion: at that nesting depth optional properties
    are dropped, arrays shrink to ``minItems`` and the cheapest branch of a
    choice is taken.  ``minimal=True`` asks for the smallest instance (only
    required properties, ``minItems`` items, shortest strings, numbers closest
    to zero, ``null`` where allowed) - a witness for a spec linter.

    ``max_bytes`` and ``max_seconds`` are the budgets (see ``budget``): a schema
    whose every instance is bigger, or whose generation takes longer, raises
    :class:`GenerationBudgetExceeded`; ``None`` lifts a budget.

    Raises :class:`UnsatisfiableSchema` (a ``ValueError``) when no instance
    exists, or none could be found and verified.
    """
    if not isinstance(schema, (dict, bool)):
        raise TypeError(f"schema must be a dict or a bool, not {type(schema).__name__}")
    budgets = Limits(max_bytes, max_seconds)
    try:
        return _generate(schema, _seed_bytes(seed), max_depth, minimal, budgets)
    except RecursionError:
        # A last line behind MAX_SCHEMA_DEPTH and MAX_MERGE_DEPTH: never a 500.
        raise GenerationBudgetExceeded("#", "the schema nests too deeply to generate an instance (Python's "
                                            "recursion limit)") from None


def _generate(schema: dict | bool, seed_b: bytes, max_depth: int, minimal: bool, budgets: Limits) -> Any:
    compiled = _compile(schema)
    check_demand(compiled, budgets)
    seed_b += compiled.digest
    last_value: Any = None
    have_value = False
    last_error: UnsatisfiableSchema | None = None
    for attempt in range(_ATTEMPTS):
        digest = hashlib.blake2b(seed_b + bytes([attempt]), digest_size=8).digest()
        ctx = _Ctx(random.Random(int.from_bytes(digest, "big")), minimal and attempt < 2, max_depth, budgets)
        try:
            value = compiled.gen(((),), 0, ctx, None)
        except UnsatisfiableSchema as exc:
            if budgets.late is not None:  # whatever failed on the way out, time ran out first
                raise budgets.too_late() from None
            if not exc.soft:
                raise
            last_error = exc
            continue
        if budgets.late is not None:  # an optional part was skipped for lack of time: not this seed's value
            raise budgets.too_late()
        if compiled.validator.is_valid(value):
            return value
        last_value, have_value = value, True
    if have_value:
        err = next(iter(compiled.validator.iter_errors(last_value)), None)
        if err is not None:
            where = tuple(err.schema_path)
            raise UnsatisfiableSchema(_fmt_path(where), f"no valid instance found: {err.message}")
    assert last_error is not None
    raise last_error
