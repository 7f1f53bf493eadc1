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
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import math
import random
import re
import string
import threading
import uuid
from collections import OrderedDict
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote, unquote

import jsonschema_rs
import orjson

__all__ = ["UnsatisfiableSchema", "generate"]


# --------------------------------------------------------------------------- errors

Path = tuple  # tuple[str | int, ...]; a location inside the (normalised) schema

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def _fmt_path(path: Iterable[Any]) -> str:
    """Render a path as ``properties.city.maxLength`` / ``allOf[1].type``.

    The root itself is ``#`` so an error about the whole schema still has a
    non-empty, recognisable location.
    """
    out: list[str] = []
    for tok in path:
        if isinstance(tok, int):
            out.append(f"[{tok}]")
        elif _IDENT.match(tok):
            out.append(("." if out else "") + tok)
        else:
            out.append("[" + json.dumps(tok) + "]")
    return "".join(out) or "#"


class UnsatisfiableSchema(ValueError):
    """Raised when no instance can satisfy the schema.

    ``path`` is where inside the schema the contradiction sits (dotted and
    bracketed, e.g. ``properties.city.maxLength`` or ``allOf[1].type``;
    ``#`` is the root) and ``reason`` a sentence a spec author can act on.
    """

    path: str
    reason: str

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        # Soft failures come from a bounded search (patterns, oneOf, not,
        # uniqueness); another seed may succeed, so generate() retries them.
        self.soft = False

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (self.path, self.reason))


def _unsat(path: Path, reason: str, *, soft: bool = False) -> UnsatisfiableSchema:
    err = UnsatisfiableSchema(_fmt_path(path), reason)
    err.soft = soft
    return err


# --------------------------------------------------------------------------- JSON helpers

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


# --------------------------------------------------------------------------- normalisation

# Keywords whose value is a schema, a map of schemas, or a list of schemas.
_SUB_ONE = (
    "additionalProperties", "additionalItems", "contains", "not", "if", "then", "else",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)
_SUB_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUB_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")

# Keywords that never constrain a value: a schema made only of these accepts anything.
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "example", "$comment", "deprecated",
    "readOnly", "writeOnly", "$id", "$schema", "$anchor", "$dynamicAnchor", "$defs",
    "definitions", "nullable", "discriminator", "xml", "externalDocs", "contentMediaType",
    "contentEncoding", "$vocabulary", "strict",
})


def _is_trivially_true(node: Any) -> bool:
    if node is True:
        return True
    if not isinstance(node, dict):
        return False
    return all(k in _ANNOTATIONS or k.startswith("x-") for k in node)


class _Normaliser:
    """Rewrites a schema into plain Draft 2020-12 and indexes every schema node."""

    def __init__(self) -> None:
        self.nodes: dict[Path, Any] = {}
        self.refs: list[tuple[Path, str]] = []
        self.anchors: dict[str, Path] = {}

    def convert(self, node: Any, path: Path) -> Any:
        if isinstance(node, bool) or not isinstance(node, dict):
            self.nodes[path] = node
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SUB_ONE:
                out[key] = self.convert(value, path + (key,))
            elif key in _SUB_MAP and isinstance(value, dict):
                out[key] = {n: self.convert(s, path + (key, n)) for n, s in value.items()}
            elif key in _SUB_LIST and isinstance(value, list):
                out[key] = [self.convert(s, path + (key, i)) for i, s in enumerate(value)]
            elif key == "items":
                if isinstance(value, list):  # draft-4..2019 tuple form
                    out["prefixItems"] = [
                        self.convert(s, path + ("prefixItems", i)) for i, s in enumerate(value)
                    ]
                else:
                    out["items"] = self.convert(value, path + ("items",))
            elif key == "dependencies" and isinstance(value, dict):
                for name, dep in value.items():
                    if isinstance(dep, list):
                        out.setdefault("dependentRequired", {})[name] = dep
                    else:
                        out.setdefault("dependentSchemas", {})[name] = self.convert(
                            dep, path + ("dependentSchemas", name)
                        )
            elif key == "components" and not path and isinstance(value, dict):
                comp = dict(value)
                if isinstance(value.get("schemas"), dict):
                    comp["schemas"] = {
                        n: self.convert(s, ("components", "schemas", n))
                        for n, s in value["schemas"].items()
                    }
                out[key] = comp
            elif key == "$schema":
                continue  # we always validate as 2020-12
            else:
                out[key] = value
        # Tuple-form items: additionalItems becomes items.
        if isinstance(node.get("items"), list):
            out.pop("items", None)
            if "additionalItems" in out:
                out["items"] = self.convert(node["additionalItems"], path + ("items",))
                del out["additionalItems"]
        # Draft-4 boolean exclusive bounds (OpenAPI 3.0).
        for ex, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            flag = out.get(ex)
            if isinstance(flag, bool):
                if flag and plain in out:
                    out[ex] = out.pop(plain)
                else:
                    del out[ex]
        if "$ref" in out and isinstance(out["$ref"], str):
            self.refs.append((path, out["$ref"]))
        if "$dynamicRef" in out and isinstance(out["$dynamicRef"], str):
            self.refs.append((path, out["$dynamicRef"]))
        for key in ("$anchor", "$dynamicAnchor"):
            if isinstance(out.get(key), str):
                self.anchors.setdefault(out[key], path)
        types = out.get("type")
        if types == []:
            raise _unsat(path + ("type",), "type is an empty list, so no value can match")
        # OpenAPI 3.0 nullable: adds "null" to the type.  A bare $ref/allOf with
        # nullable has no type to extend, so it becomes anyOf [that, null].
        if out.pop("nullable", False) is True:
            if isinstance(types, str):
                out["type"] = [types, "null"]
            elif isinstance(types, list):
                if "null" not in types:
                    out["type"] = [*types, "null"]
            elif any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf")):
                # Re-home the node one level down so paths stay honest.
                inner = self._rehome(out, path, path + ("anyOf", 0))
                out = {"anyOf": [inner, {"type": "null"}]}
                self.nodes[path + ("anyOf", 1)] = out["anyOf"][1]
        self.nodes[path] = out
        return out

    def _rehome(self, out: dict, old: Path, new: Path) -> dict:
        """Move the index entries of ``out``'s subtree from ``old`` to ``new``."""
        n = len(old)
        for p in [p for p in self.nodes if p[:n] == old and len(p) > n]:
            self.nodes[new + p[n:]] = self.nodes.pop(p)
        self.refs = [(new + p[n:] if p[:n] == old else p, r) for p, r in self.refs]
        self.anchors = {a: (new + p[n:] if p[:n] == old else p) for a, p in self.anchors.items()}
        self.nodes[new] = out
        return out


# --------------------------------------------------------------------------- formats

_FORMAT_VALIDATORS: dict[str, Any] = {}
_PATTERN_VALIDATORS: dict[str, Any] = {}
_VALIDATOR_LOCK = threading.Lock()


def _format_ok(fmt: str, value: str) -> bool:
    v = _FORMAT_VALIDATORS.get(fmt)
    if v is None:
        v = jsonschema_rs.Draft202012Validator({"format": fmt}, validate_formats=True)
        with _VALIDATOR_LOCK:
            if len(_FORMAT_VALIDATORS) > 256:
                _FORMAT_VALIDATORS.clear()
            _FORMAT_VALIDATORS[fmt] = v
    return v.is_valid(value)


def _pattern_ok(pattern: str, value: str) -> bool:
    """Does ``value`` match ``pattern`` (a search, not a full match)?

    Judged by the final validator's own ECMA-262-style engine, and also by
    Python's ``re.search`` whenever Python can compile the pattern, so the
    value satisfies the pure-Python validator too.  Patterns only the ECMA
    engine understands (``\\p{L}``, ``(?<name>..)``) are judged by it alone.
    """
    hit = _PATTERN_VALIDATORS.get(pattern)
    if hit is None:
        try:
            rs: Any = jsonschema_rs.Draft202012Validator({"pattern": pattern})
        except ValueError:
            rs = None
        try:
            py: Any = re.compile(pattern)
        except (re.error, ValueError, OverflowError):
            py = None
        hit = (rs, py)
        with _VALIDATOR_LOCK:
            if len(_PATTERN_VALIDATORS) > 2048:
                _PATTERN_VALIDATORS.clear()
            _PATTERN_VALIDATORS[pattern] = hit
    rs, py = hit
    if rs is None or not rs.is_valid(value):
        return False
    return py is None or py.search(value) is not None


def _rand_date(rng: random.Random) -> date:
    return date(2020, 1, 1) + timedelta(days=rng.randrange(0, 2200))


def _rand_time(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"


def _format_values(fmt: str, rng: random.Random) -> list[str]:
    """Candidate strings for a format, most natural first (empty if unknown)."""
    if fmt == "date":
        return [_rand_date(rng).isoformat()]
    if fmt == "date-time":
        return [f"{_rand_date(rng).isoformat()}T{_rand_time(rng)}Z"]
    if fmt == "time":
        return [f"{_rand_time(rng)}Z"]
    if fmt in ("email", "idn-email"):
        return [_pick(rng, "email"), "user@example.com"]
    if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
        return [_pick(rng, "url"), "https://example.com/"]
    if fmt == "uuid":
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4))]
    if fmt == "ipv4":
        return [".".join(str(rng.randint(1, 254)) for _ in range(4))]
    if fmt == "ipv6":
        return [str(ipaddress.IPv6Address(rng.getrandbits(128))), "::1"]
    if fmt in ("hostname", "idn-hostname"):
        return [_pick(rng, "domain"), "example.com"]
    if fmt == "duration":
        return [f"P{rng.randint(1, 30)}D", "PT1H"]
    if fmt == "json-pointer":
        return ["/" + _pick(rng, "word")]
    if fmt == "relative-json-pointer":
        return ["0"]
    if fmt == "regex":
        return ["^[a-z]+$"]
    if fmt == "uri-template":
        return ["https://example.com/items/{id}"]
    if fmt in ("int32", "int64"):
        return [str(rng.randint(1, 100000))]
    if fmt == "byte":
        import base64

        return [base64.b64encode(rng.getrandbits(64).to_bytes(8, "big")).decode()]
    if fmt == "password":
        return ["".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))]
    return []


def _format_fit(fmt: str, rng: random.Random, lo: int, hi: int | None) -> list[str]:
    """Format values built to a target length, for tight minLength/maxLength.

    Natural values (``https://www.example.com/``) are tried first; these are
    the fallbacks that still satisfy the format at unusual lengths.
    """
    cap = hi if hi is not None else max(lo, 1) + 20
    target = max(lo, min(cap, lo + rng.randint(0, 4)))

    def letters(n: int) -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(max(n, 0)))

    def host(n: int) -> str:
        # labels of at most 63 characters, ending in a two-letter TLD
        if n < 4:
            return ""
        body = n - 3
        labels, rest = [], body
        while rest > 0:
            size = min(rest, 63)
            if rest - size == 1:  # never leave a trailing 1-char gap needing an empty label
                size -= 1
            labels.append(letters(size))
            rest -= size + 1
        name = ".".join(labels)
        return (name + "." + letters(2))[:n] if len(name) + 3 == n else ""

    out: list[str] = []
    if fmt in ("hostname", "idn-hostname"):
        out += [host(target), host(max(lo, 4)), "a.io", "localhost"[: max(lo, 1)]]
        if lo <= 1 <= cap:
            out.append("a")
    elif fmt in ("email", "idn-email"):
        for n in (target, max(lo, 6)):
            local = max(1, min(64, n - 5))
            out.append(letters(local) + "@b.io" if n - 5 <= 64 else letters(64) + "@" + host(n - 65))
        out += ["a@b.io", "a@b"]
    elif fmt in ("uri", "iri", "url"):
        out += ["https://a.io/" + letters(target - 13), "a:" + letters(max(target - 2, 1)), "a:b", "a:"]
    elif fmt in ("uri-reference", "iri-reference"):
        out += [letters(max(target, 1)), "/" + letters(target - 1)]
    elif fmt == "ipv4":
        n = min(max(target, 7), 15)
        octets = [1, 1, 1, 1]
        for i in range(n - 7):
            octets[i % 4] += 1
        out.append(".".join(str(rng.randint(10 ** (d - 1) if d > 1 else 1, 10**d - 1 if d < 3 else 254))
                            for d in octets))
    elif fmt == "ipv6":
        out += ["::1", "::", "::" + "abcd"[: max(1, min(4, target - 2))], str(ipaddress.IPv6Address(rng.getrandbits(128))).upper(),
                ":".join("%04x" % rng.getrandbits(16) for _ in range(8))]
    return [c for c in out if c and lo <= len(c) <= cap]


_FORMAT_WIDTH = {"date": 10, "uuid": 36}


# --------------------------------------------------------------------------- Faker pools

_POOL_SIZE = 200
_faker = None
_faker_lock = threading.Lock()
_pools: dict[str, tuple[str, ...]] = {}

_POOL_MAKERS: dict[str, Callable[[Any], str]] = {
    "city": lambda f: f.city(),
    "country": lambda f: f.country(),
    "country_code": lambda f: f.country_code(),
    "state": lambda f: f.state(),
    "name": lambda f: f.name(),
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "user_name": lambda f: f.user_name(),
    "email": lambda f: f.email(),
    "phone": lambda f: f.phone_number(),
    "street": lambda f: f.street_address(),
    "address": lambda f: f.address().replace("\n", ", "),
    "postcode": lambda f: f.postcode(),
    "company": lambda f: f.company(),
    "url": lambda f: f.url(),
    "domain": lambda f: f.domain_name(),
    "title": lambda f: f.sentence(nb_words=4).rstrip("."),
    "sentence": lambda f: f.sentence(nb_words=8),
    "currency": lambda f: f.currency_code(),
    "language": lambda f: f.language_name(),
    "language_code": lambda f: f.language_code(),
    "color": lambda f: f.color_name(),
    "timezone": lambda f: f.timezone(),
    "job": lambda f: f.job(),
    "file_name": lambda f: f.file_name(),
    "file_path": lambda f: f.file_path(depth=2),
    "word": lambda f: f.word(),
    "query": lambda f: " ".join(f.words(nb=3)),
}


def _pool(kind: str) -> tuple[str, ...]:
    """Values of one kind, built once by Faker seeded from the kind's name.

    Building is deterministic and order-independent (each pool has its own
    seed), and picking from a pool costs one ``randrange`` instead of a Faker
    formatter call (tens of microseconds each).
    """
    pool = _pools.get(kind)
    if pool is None:
        global _faker
        with _faker_lock:
            pool = _pools.get(kind)
            if pool is None:
                if _faker is None:
                    from faker import Faker

                    _faker = Faker("en_US")
                seed = int.from_bytes(hashlib.blake2b(kind.encode(), digest_size=8).digest(), "big")
                _faker.seed_instance(seed)
                maker = _POOL_MAKERS[kind]
                pool = tuple(maker(_faker) for _ in range(_POOL_SIZE))
                _pools[kind] = pool
    return pool


def _pick(rng: random.Random, kind: str) -> str:
    pool = _pool(kind)
    return pool[rng.randrange(len(pool))]


# --------------------------------------------------------------------------- name hints

_LOCATIONS = (
    "Paris, France", "Tokyo, Japan", "New York, USA", "London, UK", "Berlin, Germany",
    "Sydney, Australia", "Toronto, Canada", "Madrid, Spain", "Rome, Italy", "Lisbon, Portugal",
    "Amsterdam, Netherlands", "Seoul, South Korea", "Mumbai, India", "Cairo, Egypt",
    "Mexico City, Mexico", "Buenos Aires, Argentina", "Nairobi, Kenya", "Oslo, Norway",
    "Dublin, Ireland", "Singapore, Singapore",
)
_SQL = (
    "SELECT id, name FROM customers WHERE country = 'France' LIMIT 10",
    "SELECT COUNT(*) FROM orders WHERE status = 'shipped'",
    "SELECT product_id, SUM(quantity) FROM order_items GROUP BY product_id",
    "SELECT * FROM invoices ORDER BY created_at DESC LIMIT 5",
)

_HINT_ALIASES: dict[str, str] = {}
for _kind, _names in {
    "city": "city town city_name",
    "country": "country country_name nation",
    "country_code": "country_code",
    "state": "state region province state_name",
    "name": "name full_name fullname display_name customer_name contact_name person author",
    "first_name": "first_name firstname given_name forename",
    "last_name": "last_name lastname surname family_name",
    "user_name": "username user_name login handle screen_name",
    "email": "email email_address mail e_mail recipient sender",
    "phone": "phone phone_number telephone mobile tel cell phonenumber",
    "street": "street street_address address_line address_line1 address1 line1",
    "address": "address full_address postal_address mailing_address",
    "postcode": "zip zip_code zipcode postal_code postcode post_code postalcode",
    "company": "company company_name organization organisation employer business",
    "url": "url website homepage link href web_site site_url uri",
    "domain": "domain domain_name hostname host",
    "date": "date birthday birth_date dob day due_date start_date end_date",
    "datetime": "datetime timestamp created updated date_time",
    "time": "time start_time end_time",
    "id": "id uuid guid identifier",
    "title": "title subject headline heading",
    "sentence": "description summary details bio about notes note comment message "
                "content text body reason explanation instructions feedback review",
    "unit": "unit units unit_system temperature_unit",
    "location": "location place destination origin venue where",
    "temperature": "temperature temp",
    "price": "price amount cost total subtotal balance fee charge refund_amount",
    "currency": "currency currency_code",
    "language": "language lang",
    "language_code": "language_code lang_code source_language target_language locale",
    "query": "query search search_query keywords q search_term term prompt question",
    "sql": "sql sql_query statement",
    "latitude": "latitude lat",
    "longitude": "longitude lon lng long",
    "age": "age",
    "quantity": "quantity qty count limit num_results max_results page_size top_k n guests nights",
    "year": "year",
    "rating": "rating stars score",
    "percent": "percent percentage",
    "color": "color colour",
    "timezone": "timezone time_zone tz",
    "job": "job job_title occupation position",
    "file_name": "file_name filename",
    "file_path": "path file_path filepath directory dir",
    "ipv4": "ip ip_address ipv4",
}.items():
    for _n in _names.split():
        _HINT_ALIASES[_n] = _kind

# Numeric hints: (low, high, decimals; 0 means an integer reads best).
_NUM_HINTS = {
    "temperature": (-10, 35, 1), "price": (1, 500, 2), "latitude": (-90, 90, 4),
    "longitude": (-180, 180, 4), "age": (18, 90, 0), "quantity": (1, 10, 0),
    "year": (1990, 2030, 0), "rating": (1, 5, 1), "percent": (0, 100, 1), "id": (1, 99999, 0),
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _hint_kind(name: str | None) -> str | None:
    """What a property name suggests its value is, or None."""
    if not name:
        return None
    hit = _HINT_CACHE.get(name)
    if hit is not None or name in _HINT_CACHE:
        return hit
    key = _CAMEL.sub("_", name).lower().replace("-", "_").replace(" ", "_").strip("_")
    kind = _HINT_ALIASES.get(key)
    if kind is None:
        toks = key.split("_")
        if len(toks) > 1:
            kind = _HINT_ALIASES.get("_".join(toks[-2:]))
            last = toks[-1]
            if kind is None and last not in ("name", "type", "code", "long"):
                kind = _HINT_ALIASES.get(last)
            if kind is None:
                if last == "id":
                    kind = "id"
                elif last in ("at", "on") or last == "timestamp":
                    kind = "datetime"
                elif last == "date":
                    kind = "date"
    if len(_HINT_CACHE) > 4096:
        _HINT_CACHE.clear()
    _HINT_CACHE[name] = kind
    return kind


_HINT_CACHE: dict[str, str | None] = {}


def _singular(name: str | None) -> str | None:
    """``cities`` -> ``city`` so array items inherit their property's hint."""
    if not name:
        return None
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "shes", "ches", "xes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return None


def _hint_strings(kind: str, rng: random.Random) -> list[str]:
    if kind == "language":  # a name reads best; a code fits `^[a-z]{2}$`-style constraints
        return [_pick(rng, "language"), _pick(rng, "language_code"), "en"]
    if kind in _POOL_MAKERS:
        pool = _pool(kind)
        n = len(pool)
        i = rng.randrange(n)
        return [pool[i], pool[(i + 7) % n], pool[(i + 31) % n]]
    if kind == "id":
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4))]
    if kind == "date":
        return [_rand_date(rng).isoformat()]
    if kind == "datetime":
        return [f"{_rand_date(rng).isoformat()}T{_rand_time(rng)}Z"]
    if kind == "time":
        return [_rand_time(rng)[:5]]
    if kind == "location":
        i = rng.randrange(len(_LOCATIONS))
        return [_LOCATIONS[i], _LOCATIONS[(i + 1) % len(_LOCATIONS)]]
    if kind == "unit":
        return ["celsius", "metric"]
    if kind == "sql":
        return [_SQL[rng.randrange(len(_SQL))]]
    if kind == "ipv4":
        return _format_values("ipv4", rng)
    return []


_STRING_HINT_KINDS = frozenset(_POOL_MAKERS) | {
    "id", "date", "datetime", "time", "location", "unit", "sql", "ipv4",
}


# --------------------------------------------------------------------------- regex generator

_PRINTABLE = "".join(chr(c) for c in range(32, 127))
_NICE = string.ascii_letters + string.digits
_EXTRA_CHARS = "éüñçøåßÉ€£"
_R_DIGIT = ((48, 57),)
_R_WORD = ((48, 57), (65, 90), (95, 95), (97, 122))
_R_SPACE = ((9, 13), (32, 32), (160, 160), (0x2028, 0x2029), (0xFEFF, 0xFEFF))
_UNICODE_CLASSES = {
    "L": ((65, 90), (97, 122), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F)),
    "Lu": ((65, 90), (0xC0, 0xD6), (0xD8, 0xDE)),
    "Ll": ((97, 122), (0xDF, 0xF6), (0xF8, 0xFF)),
    "N": _R_DIGIT, "Nd": _R_DIGIT,
    "P": ((33, 35), (37, 42), (44, 47), (58, 59), (63, 64), (91, 93), (95, 95), (123, 123), (125, 125)),
    "Zs": ((32, 32),), "Z": ((32, 32),),
    "S": ((36, 36), (43, 43), (60, 62), (94, 94), (96, 96), (124, 124), (126, 126)),
}
for _alias, _canon in (("Letter", "L"), ("Alphabetic", "L"), ("Alpha", "L"),
                       ("Uppercase_Letter", "Lu"), ("Lowercase_Letter", "Ll"),
                       ("Number", "N"), ("Decimal_Number", "Nd"), ("digit", "Nd"),
                       ("Punctuation", "P"), ("Space_Separator", "Zs"), ("Symbol", "S")):
    _UNICODE_CLASSES[_alias] = _UNICODE_CLASSES[_canon]


class _RegexUnsupported(Exception):
    """The pattern uses syntax the generator does not model."""


class _R:
    """A regex AST node with the min/max length of what it can match."""

    __slots__ = ("kind", "a", "lo", "hi", "mn", "mx")

    def __init__(self, kind: str, a: Any = None, lo: int = 0, hi: int | None = 0,
                 mn: int = 0, mx: int | None = 0) -> None:
        self.kind, self.a, self.lo, self.hi, self.mn, self.mx = kind, a, lo, hi, mn, mx


def _r_lit(ch: str) -> _R:
    return _R("lit", ch, mn=1, mx=1)


def _r_set(chars: str) -> _R:
    return _R("set", chars, mn=1, mx=1)


def _r_seq(items: list[_R]) -> _R:
    if len(items) == 1:
        return items[0]
    mn = sum(i.mn for i in items)
    mx = None if any(i.mx is None for i in items) else sum(i.mx for i in items)
    return _R("seq", items, mn=mn, mx=mx)


def _r_alt(branches: list[_R]) -> _R:
    if len(branches) == 1:
        return branches[0]
    mn = min(b.mn for b in branches)
    mx = None if any(b.mx is None for b in branches) else max(b.mx for b in branches)
    return _R("alt", branches, mn=mn, mx=mx)


def _r_rep(child: _R, lo: int, hi: int | None) -> _R:
    mn = lo * child.mn
    if child.mx == 0 or hi == 0:
        mx: int | None = 0
    elif hi is None or child.mx is None:
        mx = None
    else:
        mx = hi * child.mx
    return _R("rep", child, lo=lo, hi=hi, mn=mn, mx=mx)


class _RegexParser:
    """Recursive-descent parser for the common subset of ECMA-262 patterns.

    Supported: literals and escapes, ``.``, classes (ranges, negation,
    ``\\d\\w\\s`` and their negations, a few ``\\p{..}``), groups (capturing,
    ``(?:``, named), alternation, quantifiers ``* + ? {n} {n,} {n,m}`` (lazy and
    possessive suffixes ignored), anchors ``^ $ \\b \\B``, backreferences;
    lookarounds are parsed and ignored (the result is verified anyway).
    """

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.groups = 0
        self.names: dict[str, int] = {}
        self.approx = False  # lookarounds, \\b, backrefs: lengths are only estimates

    def parse(self) -> _R:
        node = self.alt()
        if self.i != len(self.p):
            raise _RegexUnsupported("unbalanced parenthesis")
        return node

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alt(self) -> _R:
        branches = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq())
        return _r_alt(branches)

    def seq(self) -> _R:
        items: list[_R] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self.quant(self.atom()))
        if not items:
            return _R("empty")
        return _r_seq(items)

    def quant(self, atom: _R) -> _R:
        c = self.peek()
        if c == "*":
            lo, hi = 0, None
            self.i += 1
        elif c == "+":
            lo, hi = 1, None
            self.i += 1
        elif c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.p, self.i)
            if not m:
                return atom
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            if hi is not None and hi < lo:
                raise _RegexUnsupported("numbers out of order in {} quantifier")
            self.i = m.end()
        else:
            return atom
        if self.peek() in ("?", "+"):
            self.i += 1
        if atom.kind in ("bol", "eol", "empty"):
            return atom
        return _r_rep(atom, lo, hi)

    def atom(self) -> _R:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c == ".":
            return _r_set(_NICE)
        if c == "^":
            return _R("bol")
        if c == "$":
            return _R("eol")
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?":
            raise _RegexUnsupported("nothing to repeat")
        return _r_lit(c)

    def group(self) -> _R:
        p = self.p
        index: int | None = None
        if p.startswith("?:", self.i):
            self.i += 2
        elif p.startswith(("?=", "?!"), self.i) or p.startswith(("?<=", "?<!"), self.i):
            self.i += 3 if p[self.i + 1] == "<" else 2
            self.alt()
            self.expect(")")
            self.approx = True
            return _R("empty")
        elif p.startswith(("?<", "?P<"), self.i):
            j = p.index(">", self.i)
            name = p[self.i + (3 if p[self.i + 1] == "P" else 2): j]
            self.i = j + 1
            self.groups += 1
            index = self.groups
            self.names[name] = index
        elif self.peek() == "?":
            raise _RegexUnsupported("inline flags or extensions")
        else:
            self.groups += 1
            index = self.groups
        inner = self.alt()
        self.expect(")")
        return _R("group", (inner, index), mn=inner.mn, mx=inner.mx)

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise _RegexUnsupported(f"expected {ch!r}")
        self.i += 1

    def _hex(self, n: int) -> str:
        s = self.p[self.i: self.i + n]
        if len(s) != n or not all(c in string.hexdigits for c in s):
            raise _RegexUnsupported("bad hex escape")
        self.i += n
        return chr(int(s, 16))

    def _prop_ranges(self) -> tuple[tuple[int, int], ...]:
        if self.peek() != "{":
            raise _RegexUnsupported("bad \\p escape")
        j = self.p.index("}", self.i)
        name = self.p[self.i + 1: j].split("=")[-1]
        self.i = j + 1
        ranges = _UNICODE_CLASSES.get(name)
        if ranges is None:
            raise _RegexUnsupported(f"unicode property {name}")
        return ranges

    def class_escape(self) -> tuple[str, Any]:
        """One escape inside or outside a class: ('char', c) / ('ranges', r) / ('neg', r)."""
        c = self.p[self.i] if self.i < len(self.p) else ""
        if not c:
            raise _RegexUnsupported("trailing backslash")
        self.i += 1
        table = {"d": _R_DIGIT, "w": _R_WORD, "s": _R_SPACE}
        if c in table:
            return ("ranges", table[c])
        if c.lower() in table:
            return ("neg", table[c.lower()])
        if c in "pP":
            r = self._prop_ranges()
            return ("ranges" if c == "p" else "neg", r)
        simple = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "0": "\0"}
        if c in simple:
            return ("char", simple[c])
        if c == "x":
            return ("char", self._hex(2))
        if c == "u":
            if self.peek() == "{":
                j = self.p.index("}", self.i)
                cp = int(self.p[self.i + 1: j], 16)
                self.i = j + 1
                return ("char", chr(cp))
            return ("char", self._hex(4))
        if c == "c" and self.peek().isalpha():
            ch = self.p[self.i]
            self.i += 1
            return ("char", chr(ord(ch.upper()) % 32))
        return ("char", c)

    def escape(self, *, in_class: bool) -> _R:
        c = self.peek()
        if c in ("b", "B"):
            self.i += 1
            self.approx = True
            return _R("empty")
        if c.isdigit() and c != "0":
            m = re.compile(r"\d+").match(self.p, self.i)
            self.i = m.end()
            self.approx = True
            return _R("bref", int(m.group()), mn=0, mx=None)
        if c == "k" and self.p.startswith("k<", self.i):
            j = self.p.index(">", self.i)
            name = self.p[self.i + 2: j]
            self.i = j + 1
            if name not in self.names:
                raise _RegexUnsupported("unknown group name")
            self.approx = True
            return _R("bref", self.names[name], mn=0, mx=None)
        kind, val = self.class_escape()
        if kind == "char":
            return _r_lit(val)
        return _r_set(_chars_for([] if kind == "neg" else list(val), [val] if kind == "neg" else [], False))

    def char_class(self) -> _R:
        negate = False
        if self.peek() == "^":
            negate = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        negs: list[tuple[tuple[int, int], ...]] = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise _RegexUnsupported("unterminated class")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            if c == "]" and first:  # ECMA: [] matches nothing, [^] matches anything
                self.i += 1
                return _r_set(_NICE if negate else "")
            first = False
            self.i += 1
            if c == "\\":
                if self.peek() == "b":
                    self.i += 1
                    lo_item: tuple[str, Any] = ("char", "\b")
                else:
                    lo_item = self.class_escape()
            else:
                lo_item = ("char", c)
            if lo_item[0] == "ranges":
                ranges.extend(lo_item[1])
                continue
            if lo_item[0] == "neg":
                negs.append(lo_item[1])
                continue
            lo_ch = lo_item[1]
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                self.i += 1
                c2 = self.p[self.i]
                self.i += 1
                if c2 == "\\":
                    hi_item = self.class_escape()
                    if hi_item[0] != "char":
                        # [a-\d]: '-' is literal in ECMA annex B
                        ranges.extend(((ord(lo_ch), ord(lo_ch)), (45, 45)))
                        (ranges.extend if hi_item[0] == "ranges" else (lambda r: negs.append(r)))(hi_item[1])
                        continue
                    hi_ch = hi_item[1]
                else:
                    hi_ch = c2
                if ord(hi_ch) < ord(lo_ch):
                    raise _RegexUnsupported("range out of order")
                ranges.append((ord(lo_ch), ord(hi_ch)))
            else:
                ranges.append((ord(lo_ch), ord(lo_ch)))
        return _r_set(_chars_for(ranges, negs, negate))


def _chars_for(ranges: list, negs: list, negate: bool) -> str:
    """Concrete characters a class can produce, printable ASCII preferred."""

    def member(ch: str) -> bool:
        cp = ord(ch)
        if any(lo <= cp <= hi for lo, hi in ranges):
            return True
        return any(not any(lo <= cp <= hi for lo, hi in neg) for neg in negs)

    if negate:
        chars = [c for c in _PRINTABLE if not member(c)]
        if not chars:
            chars = [c for c in _EXTRA_CHARS if not member(c)]
    else:
        chars = [c for c in _PRINTABLE if member(c)]
        if not chars:
            chars = [chr(cp) for lo, hi in ranges for cp in range(lo, min(hi, lo + 63) + 1)]
            chars += [c for c in _EXTRA_CHARS if member(c) and c not in chars]
    # Prefer letters/digits when the class allows them, for readable output.
    nice = [c for c in chars if c in _NICE]
    if len(nice) >= 5 and len(chars) > 40:
        return "".join(nice)
    return "".join(chars)


_REGEX_CACHE: dict[str, tuple[_R | None, bool]] = {}


def _parse_regex_ex(pattern: str) -> tuple[_R | None, bool]:
    """(AST or None if unsupported, whether the AST's lengths are exact)."""
    hit = _REGEX_CACHE.get(pattern)
    if hit is None:
        parser = _RegexParser(pattern)
        try:
            hit = (parser.parse(), not parser.approx)
        except (_RegexUnsupported, ValueError, IndexError):
            hit = (None, False)
        if len(_REGEX_CACHE) > 2048:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = hit
    return hit


def _parse_regex(pattern: str) -> _R | None:
    return _parse_regex_ex(pattern)[0]


def _regex_impossible(pattern: str, lo: int, hi: int | None) -> bool:
    """True only when the pattern provably has no match within [lo, hi]."""
    ast, exact = _parse_regex_ex(pattern)
    if ast is None or not exact:
        return False
    if hi is not None and ast.mn > hi:
        return True
    if ast.mx is not None and ast.mx < lo and _anchored(ast, True) and _anchored(ast, False):
        return True
    return False


def _anchored(node: _R, end: bool) -> bool:
    if node.kind == ("eol" if end else "bol"):
        return True
    if node.kind == "seq":
        items = [i for i in node.a if i.kind != "empty"]
        return bool(items) and _anchored(items[-1] if end else items[0], end)
    if node.kind == "alt":
        return all(_anchored(b, end) for b in node.a)
    if node.kind == "group":
        return _anchored(node.a[0], end)
    return False


def _split(rng: random.Random, total: int, mins: list[int], maxs: list[int | None]) -> list[int]:
    """Share ``total`` among parts within their [min, max], randomly."""
    alloc = list(mins)
    extra = total - sum(mins)
    if extra <= 0:
        return alloc
    order = [i for i in range(len(mins)) if maxs[i] is None or maxs[i] > mins[i]]
    rng.shuffle(order)
    for k, i in enumerate(order):
        cap = extra if maxs[i] is None else min(extra, maxs[i] - mins[i])
        give = cap if k == len(order) - 1 else rng.randint(0, cap)
        alloc[i] += give
        extra -= give
    for i in order:  # leftovers after the random pass
        if extra <= 0:
            break
        cap = extra if maxs[i] is None else min(extra, maxs[i] - alloc[i])
        alloc[i] += cap
        extra -= cap
    return alloc


def _emit(node: _R, target: int, rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
    """Append a match of ``node`` whose length is as close to ``target`` as it can be."""
    kind = node.kind
    if kind == "lit":
        out.append(node.a)
    elif kind == "set":
        if not node.a:
            raise _RegexUnsupported("empty class")
        out.append(node.a[rng.randrange(len(node.a))])
    elif kind == "seq":
        items = node.a
        sizes = _split(rng, target, [i.mn for i in items], [i.mx for i in items])
        for item, size in zip(items, sizes):
            _emit(item, size, rng, out, groups)
    elif kind == "alt":
        fits = [b for b in node.a if b.mn <= target and (b.mx is None or target <= b.mx)]
        if not fits:
            fits = sorted(node.a, key=lambda b: abs(b.mn - target))[:1]
        _emit(fits[rng.randrange(len(fits))], target, rng, out, groups)
    elif kind == "rep":
        child, lo, hi = node.a, node.lo, node.hi
        cmn, cmx = child.mn, child.mx
        # Feasible counts c: lo <= c <= hi and c*cmn <= target <= c*cmx.
        c_lo = lo
        if cmx is not None and cmx > 0:
            c_lo = max(lo, -(-target // cmx))
        c_hi = hi if hi is not None else None
        if cmn > 0:
            c_hi = target // cmn if c_hi is None else min(c_hi, target // cmn)
        if c_hi is None:
            c_hi = c_lo + 1
        if cmx == 0:
            count = lo
        elif c_lo <= c_hi:
            count = rng.randint(c_lo, min(c_hi, c_lo + 1))
        elif target < lo * cmn:
            count = lo
        else:
            count = hi if hi is not None else c_lo
        count = min(count, 10000)
        sizes = _split(rng, target, [cmn] * count, [cmx] * count)
        for size in sizes:
            _emit(child, size, rng, out, groups)
    elif kind == "group":
        inner, index = node.a
        start = len(out)
        _emit(inner, target, rng, out, groups)
        if index is not None:
            groups[index] = "".join(out[start:])
    elif kind == "bref":
        out.append(groups.get(node.a, ""))
    # bol / eol / empty produce nothing


def _regex_strings(pattern: str, lo: int, hi: int | None, rng: random.Random,
                   minimal: bool, tries: int = 12) -> Iterator[str]:
    """Candidate strings for ``pattern`` within [lo, hi] characters (unverified)."""
    ast = _parse_regex(pattern)
    if ast is None:
        yield from _fallback_strings(lo, hi)
        return
    pmx = ast.mx if ast.mx is not None else max(lo, ast.mn) + 64
    L = max(lo, ast.mn)
    H = pmx if hi is None else min(hi, pmx)
    pad_end = not _anchored(ast, True)
    pad_start = not _anchored(ast, False)
    if L > H:
        # Too long a string is wanted: only padding around an unanchored match helps.
        if not (pad_end or pad_start) or (hi is not None and ast.mn > hi):
            return
        L = H = min(pmx, hi) if hi is not None else pmx
    spread = 0 if minimal else 8
    for attempt in range(tries):
        if attempt == 0:
            target = L if minimal else rng.randint(L, min(H, L + spread))
        else:
            target = rng.randint(L, min(H, L + 2 + attempt * 4))
        out: list[str] = []
        try:
            _emit(ast, target, rng, out, {})
        except _RegexUnsupported:
            return
        s = "".join(out)
        if len(s) < lo and (pad_end or pad_start):
            fill = "x" * (lo - len(s))
            s = s + fill if pad_end else fill + s
        yield s


def _fallback_strings(lo: int, hi: int | None) -> Iterator[str]:
    """Blind guesses for patterns the regex generator cannot model."""
    for base in ("a", "abc", "A1", "example", "test123", "ABC", "1", "12345", "a-b_c",
                 "2024-01-01", "user@example.com", "https://example.com", "Hello World"):
        if len(base) < lo:
            base = base + "a" * (lo - len(base))
        if hi is None or len(base) <= hi:
            yield base


# --------------------------------------------------------------------------- merged constraints

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
    """Per-call state: the random stream, the mode, and a bound on total work."""

    __slots__ = ("rng", "minimal", "max_depth", "budget", "explore")

    def __init__(self, rng: random.Random, minimal: bool, max_depth: int) -> None:
        self.rng = rng
        self.minimal = minimal
        self.max_depth = max_depth
        self.budget = 20000
        # Set while retrying after a failed check: untyped schemas then try
        # every type in random order instead of the most natural one.
        self.explore = False


def _allowed_types(eff: "_Eff") -> set:
    allowed = set(eff.types if eff.types is not None else _ALL_TYPES) - eff.not_types
    if "number" in eff.not_types:
        allowed.discard("integer")  # every integer is a number
    return allowed


class _Compiled:
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
        for at, ref in norm.refs:
            self.resolve(ref, at)  # unresolvable refs fail here, with their path
        try:
            self.validator = jsonschema_rs.Draft202012Validator(
                self.root, validate_formats=True, offline=True
            )
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
                    self._registry = jsonschema_rs.Registry([(self._base, doc)])
                pointer = "".join(
                    "/" + quote(str(t).replace("~", "~0").replace("/", "~1"), safe="")
                    for t in part
                )
                v = jsonschema_rs.Draft202012Validator(
                    {"$ref": f"{self._base}#{pointer}"}, registry=self._registry,
                    validate_formats=True, offline=True,
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

    def _collect(self, part: Path, eff: _Eff, visited: set) -> None:
        if part in visited:
            return
        visited.add(part)
        if part and part[0] == _NEG:
            target = self.node_at(part[1:])
            if _is_trivially_true(target):
                raise _unsat(part[1:], "a value must fail this schema, but it accepts everything")
            self._negate(target, part[1:], eff, visited)
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
                self._collect(self.resolve(ref, part), eff, visited)

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
            self._negate(neg, part + ("not",), eff, visited)

        for kw in ("allOf",):
            subs = node.get(kw)
            if isinstance(subs, list):
                for i in range(len(subs)):
                    self._collect(part + (kw, i), eff, visited)

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

    def _negate(self, neg: Any, path: Path, eff: _Eff, visited: set) -> None:
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
            self._collect(path + ("not",), eff, visited)
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

    # ----------------------------------------------------------------- generation

    def gen(self, parts: tuple, depth: int, ctx: _Ctx, hint: str | None,
            resolved: frozenset = frozenset()) -> Any:
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

        for s in candidates():
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
        s = " ".join(words)
        while len(s) < lo:
            s += " " + _pick(rng, "word")
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
            for k in ks:
                val = k * step
                v: int | float = int(val) if val.denominator == 1 else float(val)
                if integer and not isinstance(v, int):
                    continue
                if ok(v):
                    return v
            f, raw, mp = eff.mults[0] if eff.mults else (None, None, (upper or lower or (0, 0, ()))[2])
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
        for v in cands:
            if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
                continue
            if ok(v):
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
             minimal: bool = False) -> Any:
    """Return an instance that validates against `schema`; same schema + seed -> same instance.

    ``max_depth`` bounds recursion: at that nesting depth optional properties
    are dropped, arrays shrink to ``minItems`` and the cheapest branch of a
    choice is taken.  ``minimal=True`` asks for the smallest instance (only
    required properties, ``minItems`` items, shortest strings, numbers closest
    to zero, ``null`` where allowed) - a witness for a spec linter.

    Raises :class:`UnsatisfiableSchema` (a ``ValueError``) when no instance
    exists, or none could be found and verified.
    """
    if not isinstance(schema, (dict, bool)):
        raise TypeError(f"schema must be a dict or a bool, not {type(schema).__name__}")
    seed_b = _seed_bytes(seed)
    compiled = _compile(schema)
    seed_b += compiled.digest
    last_value: Any = None
    have_value = False
    last_error: UnsatisfiableSchema | None = None
    for attempt in range(_ATTEMPTS):
        digest = hashlib.blake2b(seed_b + bytes([attempt]), digest_size=8).digest()
        ctx = _Ctx(random.Random(int.from_bytes(digest, "big")), minimal and attempt < 2, max_depth)
        try:
            value = compiled.gen(((),), 0, ctx, None)
        except UnsatisfiableSchema as exc:
            if not exc.soft:
                raise
            last_error = exc
            continue
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
