"""String formats and patterns: checking a value, and candidate values for a format."""

from __future__ import annotations

import ipaddress
import random
import re
import string
import threading
import uuid
from datetime import date, timedelta
from typing import Any

from mockserver import untrusted_schema
from mockserver.sources.schema_instances.pools import _pick


_FORMAT_VALIDATORS: dict[str, Any] = {}
_PATTERN_VALIDATORS: dict[str, Any] = {}
_VALIDATOR_LOCK = threading.Lock()


def _format_ok(fmt: str, value: str) -> bool:
    v = _FORMAT_VALIDATORS.get(fmt)
    if v is None:
        v = untrusted_schema.validator({"format": fmt}, validate_formats=True)
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
            rs: Any = untrusted_schema.validator({"pattern": pattern})
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

