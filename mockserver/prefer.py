"""The ``Prefer`` request header, as Prism reads it, for per-request overrides.

``Prefer: code=429`` answers that error; ``fixture=ID`` (or ``example=ID``)
uses that fixture whatever it matches; ``ttft=MS``, ``tps=N`` and
``jitter=MS`` pace the stream; ``seed=N`` replaces the server seed. Items are
separated by commas or semicolons. Unknown or malformed items are a 400: a
preference silently ignored would be a lie. So are pacing values that are
not finite or past the limits in :mod:`mockserver.limits` (``ttft=inf``,
``tps=0.000001``): a mock stream must end.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.errors import InvalidRequest
from mockserver.stream import pacing_problem


@dataclass
class Preferences:
    code: int | None = None
    fixture: str | None = None
    ttft_ms: float | None = None
    tps: float | None = None
    jitter_ms: float | None = None
    seed: int | None = None


def parse_prefer(header: str | None) -> Preferences:
    prefs = Preferences()
    if not header:
        return prefs
    for item in header.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        try:
            if name == "code" and sep:
                prefs.code = int(value)
                if not 400 <= prefs.code <= 599:
                    raise ValueError("only error codes 400-599 can be asked for")
            elif name in ("fixture", "example") and sep and value:
                prefs.fixture = value
            elif name == "ttft" and sep:
                prefs.ttft_ms = _pacing("ttft", value)
            elif name == "tps" and sep:
                prefs.tps = _pacing("tps", value)
            elif name == "jitter" and sep:
                prefs.jitter_ms = _pacing("jitter", value)
            elif name == "seed" and sep:
                prefs.seed = int(value)
            else:
                raise ValueError("unknown preference (known: code, fixture, example, ttft, tps, jitter, seed)")
        except ValueError as exc:
            raise InvalidRequest(f"Invalid Prefer header item {item!r}: {exc}.", param="Prefer",
                                 code="invalid_prefer_header") from None
    return prefs


def _pacing(name: str, value: str) -> float:
    """A pacing value, refused when it could hold a stream open without end (see :func:`pacing_problem`)."""
    number = float(value)
    problem = pacing_problem(name, number)
    if problem is not None:
        raise ValueError(f"{name} {problem}")
    return number
