"""Which journal entries a matcher selects: the admin API's ``requests`` filters
and its ``count`` / ``find`` matchers, and so the pytest plugin's ``count()``,
``assert_called()`` and ``requests()``.

One vocabulary with fixtures: a matcher's ``match`` is a fixture's ``match``
(``model``, ``last_user``, ``messages``, ``headers``, ``jsonpath``...),
checked against the fixture format's schema and compiled by
:mod:`mockserver.fixtures.matching`, so a rule means here exactly what it
means in a fixture (a plain string is "equals", a mapping has ``contains``,
``regex``, ``ignore_case``). ``spec``, ``model`` and ``stream`` may also sit
at the top, as they always could. Next to them, what only the journal knows:
``operation``, ``fixture``, ``unmatched``, ``invalid``, ``status``, ``since``
and ``last_user_contains``. One difference, and it is the journal's: a
matcher sees the request as it was sent, so an ARK thread's history is not
part of ``messages``, ``message_count`` or ``last_user`` here.

Why ``match`` is nested in the admin API: a top-level ``messages`` would
make the matcher look like a chat request body to the code that tells chat
operations by the ``messages`` they declare.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Callable, Mapping

import jsonschema

from mockserver.errors import InvalidRequest
from mockserver.fixtures.loader import SCHEMA_PATH
from mockserver.fixtures.matching import RequestView, compile_match, last_user_text
from mockserver.fixtures.model import Condition

# What only the journal knows, with the type a query string's text is read as.
JOURNAL_KEYS: dict[str, type] = {"operation": str, "fixture": str, "unmatched": bool, "invalid": bool,
                                 "status": int, "since": float, "last_user_contains": str}
# Rules of a fixture's match that a matcher also takes at its top.
TOP_MATCH_KEYS = ("spec", "model", "stream")

Entry = dict[str, Any]


@lru_cache(maxsize=1)
def _match_schema() -> dict[str, Any]:
    root = json.loads(SCHEMA_PATH.read_text())
    return {"$ref": "#/$defs/match", "$defs": root["$defs"]}


@lru_cache(maxsize=1)
def _match_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_match_schema())


def match_keys() -> tuple[str, ...]:
    """The keys of a fixture's ``match``, read off the fixture format (one list, not two)."""
    return tuple(_match_schema()["$defs"]["match"]["properties"])


def _refuse(param: str, reason: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(f"Invalid request matcher {param!r}: {reason}", param=param, code=code)


def split(rules: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the journal's rules, the fixture match rules) of a matcher; unknown keys raise InvalidRequest."""
    journal = {k: v for k, v in rules.items() if v is not None}
    match = dict(journal.pop("match", None) or {})
    for key in TOP_MATCH_KEYS:
        if key in journal:
            if key in match:
                raise _refuse(key, f"given twice, at the top and in match; give {key!r} once")
            match[key] = journal.pop(key)
    unknown = sorted(set(journal) - set(JOURNAL_KEYS))
    if unknown:
        raise _refuse(unknown[0], f"unknown; a matcher takes {', '.join(JOURNAL_KEYS)} and match (the rules "
                      f"of a fixture's match: {', '.join(match_keys())})", code="unknown_parameter")
    strange = sorted(set(match) - set(match_keys()))
    if strange:
        raise _refuse(f"match.{strange[0]}", f"{strange[0]!r} is not a rule of a fixture's match; the rules are "
                      f"{', '.join(match_keys())}", code="unknown_parameter")
    return journal, {k: v for k, v in match.items() if v is not None}


def compile_matcher(rules: Mapping[str, Any],
                    stream_default: Callable[[Entry], bool | None]) -> Callable[[Entry], bool]:
    """A predicate over journal entries; a rule that is not valid raises InvalidRequest naming it.

    ``stream_default(entry)`` is whether the entry's operation streams when
    the body does not say (the contracts differ); None when it is not known.
    """
    journal, match = split(rules)
    errors = sorted(_match_validator().iter_errors(match), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise _refuse("match." + ".".join(str(p) for p in err.absolute_path), err.message)
    conditions: list[Condition] = []
    for key in match:
        if key == "spec":
            continue  # a fixture's spec is checked beside its conditions; so is it here
        try:
            conditions += compile_match({key: match[key]})
        except Exception as exc:  # noqa: BLE001 - a bad regex or JSONPath, named like a fixture's
            raise _refuse(f"match.{key}", str(exc)) from None
    spec = match.get("spec")

    def keep(entry: Entry) -> bool:
        if spec not in (None, "any") and entry.get("spec") != spec:
            return False
        if not _journal_rules_hold(entry, journal):
            return False
        if not conditions:
            return True
        view = _view(entry, stream_default)
        return all(condition.test(view)[0] for condition in conditions)

    return keep


def unknown_route(entry: Entry) -> bool:
    """Refused because no operation is served there: an unknown path (404) or a wrong method (405)."""
    return entry.get("status") in (404, 405) and not entry.get("operation") and entry.get("source") is None


def refused_as_invalid(entry: Entry) -> bool:
    """Refused before a source was chosen (validation, size, media type...), a path nobody serves aside:
    a typo in a URL is not an invalid request. The inspector page applies the same rule."""
    return bool(entry.get("error")) and entry.get("source") is None and not unknown_route(entry)


def _journal_rules_hold(entry: Entry, rules: dict[str, Any]) -> bool:
    if "operation" in rules and entry.get("operation") != rules["operation"]:
        return False
    if "fixture" in rules:
        wanted = rules["fixture"]
        if (entry.get("source") != "generated") if wanted == "generated" else (entry.get("fixture") != wanted):
            return False
    if "unmatched" in rules and (entry.get("source") == "unmatched") != rules["unmatched"]:
        return False
    if "invalid" in rules and refused_as_invalid(entry) != rules["invalid"]:
        return False
    if "since" in rules and entry.get("time", 0) < float(rules["since"]):
        return False
    if "status" in rules and entry.get("status") != rules["status"]:
        return False
    if "last_user_contains" in rules:
        if rules["last_user_contains"] not in (last_user_text(_messages(entry)) or ""):
            return False
    return True


def _body(entry: Entry) -> dict[str, Any]:
    return entry["body"] if isinstance(entry.get("body"), dict) else {}


def _messages(entry: Entry) -> list[Any]:
    messages = _body(entry).get("messages")
    return messages if isinstance(messages, list) else []


def _view(entry: Entry, stream_default: Callable[[Entry], bool | None]) -> RequestView:
    """A journaled request as matching sees a live one (no HTTP objects, as there)."""
    body = _body(entry)
    asked = body.get("stream")
    if isinstance(asked, bool):
        streaming = asked
    else:
        default = stream_default(entry)
        streaming = default if default is not None else entry.get("stream") is not None
    headers = {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()}
    return RequestView(str(entry.get("spec")), body, _messages(entry), headers, streaming)


def from_query(params: Mapping[str, str], accepted: tuple[str, ...]) -> dict[str, Any]:
    """``GET /__admin/requests`` filters as a matcher. A filter the admin contract does not
    declare is refused, never ignored: ``?status=429`` must not list every request."""
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidRequest(f"Unknown filter {unknown[0]!r} for GET /__admin/requests; the filters are "
                             f"{', '.join(accepted)} (POST /__admin/requests/find takes every request "
                             "matcher, the rules of a fixture's match included).",
                             param=unknown[0], code="unknown_parameter")
    rules: dict[str, Any] = {}
    for key, text in params.items():
        kind = JOURNAL_KEYS.get(key, str)
        if kind is bool:
            rules[key] = str(text).lower() in ("1", "true", "yes")
        elif kind is float:
            rules[key] = float(text)
        else:
            rules[key] = text
    return rules
