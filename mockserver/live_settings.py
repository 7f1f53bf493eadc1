"""The settings an admin call may change while serving: pacing (``ttft_ms``,
``tps``, ``jitter_ms``), ``unmatched`` and ``seed``.

Three layers, the last that sets a field wins: the command line (the
process's :class:`~mockserver.config.Settings`), the changes made without
``X-Mock-Session`` (every request), and a session's own changes (that
session's requests only). ``POST /__admin/reset`` forgets them.

Why in the store: with ``--workers N`` (or several servers on one
``--state``) a change reaches one process, and every process must answer by
it. Why a version counter: a chat request must not pay a store round-trip to
learn that nothing changed. Each process keeps what it last read and looks at
the counter at most every :data:`POLL_S` seconds (its own changes at once), as
the fixture registry does for runtime fixtures.

Values are checked as the command line checks them (the pacing limits of
:func:`mockserver.stream.pacing_problem`), and a refusal names the field.
Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from mockserver.config import Settings
from mockserver.errors import InvalidRequest
from mockserver.stream import pacing_problem

FIELDS = ("ttft_ms", "tps", "jitter_ms", "unmatched", "seed")
PACING = {"ttft_ms": "ttft", "tps": "tps", "jitter_ms": "jitter"}  # field -> pacing_problem's name
UNMATCHED = ("generate", "error")
SEED_RANGE = (-(2**63), 2**63 - 1)  # what the JSON encoders (journal, admin answers) can write back
PREFIX = "settings:"
VERSION = "settings-version"  # outside PREFIX: deleting the settings must not delete the counter
PROCESS = "*"  # the scope of changes made without a session
POLL_S = 0.25


def _key(scope: str, name: str) -> str:
    # One key per field, so two changes of different fields never overwrite each other; the
    # terminator keeps a prefix delete of session "a" from taking session "ab" too.
    return f"{PREFIX}{scope}\x1f{name}"


def _scope(session: str | None) -> str:
    return PROCESS if session is None else f"s:{session}"


def check(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes, checked; ``None`` for a field means "back to the layer below".
    Raises InvalidRequest naming the first field that is not acceptable."""
    for name, value in changes.items():
        if name not in FIELDS:
            raise InvalidRequest(f"Unknown setting {name!r}; the settings are {', '.join(FIELDS)}.",
                                 param=name, code="unknown_parameter")
        if value is None:
            continue
        problem = None
        if name in PACING:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problem = f"must be a number, not {value!r}"
            else:
                problem = pacing_problem(PACING[name], float(value))
        elif name == "unmatched":
            if value not in UNMATCHED:
                problem = f"must be one of {list(UNMATCHED)}, not {value!r}"
        elif isinstance(value, bool) or not isinstance(value, int):
            problem = f"must be an integer, not {value!r}"
        elif not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
            problem = f"must be a 64-bit integer, between {SEED_RANGE[0]} and {SEED_RANGE[1]}"
        if problem:
            raise InvalidRequest(f"Invalid setting {name!r}: {problem}.", param=name, code="invalid_value")
    return dict(changes)


def _normal(name: str, value: Any) -> Any:
    return float(value) if name in PACING else value


@dataclass
class LiveSettings:
    """One process's view of the changed settings of one store, refreshed by its version counter."""

    store_ref: "weakref.ref[Any]"  # weak: this object is the value of a dictionary keyed by the store
    base: Settings
    _changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # scope -> field -> value
    _effective: dict[str, Settings] = field(default_factory=dict)  # scope -> settings, built on demand
    _version: str | None = None
    _checked: float = float("-inf")

    def effective(self, session: str) -> Settings:
        """The settings a request of ``session`` runs with: ``base`` itself while nothing is changed."""
        self._sync()
        if not self._changes:
            return self.base
        scope = _scope(session) if _scope(session) in self._changes else PROCESS
        found = self._effective.get(scope)
        if found is None:
            layers = {**self._changes.get(PROCESS, {}), **self._changes.get(scope, {})}
            found = self._effective[scope] = replace(self.base, **layers) if layers else self.base
        return found

    def view(self, session: str | None) -> dict[str, Any]:
        """What ``GET /__admin/settings`` shows, read afresh: the settings in force and what was changed
        at this level (the session's own changes, or those made without a session)."""
        self._sync(force=True)
        settings = self.effective(session) if session is not None else self._process()
        return {"session": session, "settings": {name: _normal(name, getattr(settings, name)) for name in FIELDS},
                "changed": dict(self._changes.get(_scope(session), {}))}

    def update(self, session: str | None, changes: Mapping[str, Any]) -> None:
        changes = check(changes)
        scope = _scope(session)
        for name, value in changes.items():
            if value is None:
                self.store.kv_delete_prefix(_key(scope, name))
            else:
                self.store.kv_set(_key(scope, name), json.dumps(_normal(name, value)))
        self._bump()

    def version(self) -> str:
        """The store's change counter: moves with every change made by any process."""
        return str(self.store.kv_get(VERSION) or 0)

    def reset(self, session: str | None) -> None:
        """Forget a session's changes, or (``None``) every change, the sessions' included."""
        self.store.kv_delete_prefix(PREFIX if session is None else _key(_scope(session), ""))
        self._bump()

    @property
    def store(self) -> Any:
        store = self.store_ref()
        assert store is not None, "the app's store is gone"
        return store

    def _process(self) -> Settings:
        layers = self._changes.get(PROCESS, {})
        return replace(self.base, **layers) if layers else self.base

    def _bump(self) -> None:
        self.store.kv_incr(VERSION)
        self._checked = float("-inf")  # this process sees its own change at once

    def _sync(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < POLL_S:
            return
        self._checked = now
        version = self.store.kv_get(VERSION)
        if version == self._version:
            return
        changes: dict[str, dict[str, Any]] = {}
        for key, value in self.store.kv_items(PREFIX):
            scope, _, name = key[len(PREFIX):].rpartition("\x1f")
            if name in FIELDS:
                changes.setdefault(scope, {})[name] = json.loads(value)
        self._changes, self._effective, self._version = changes, {}, version


_BY_STORE: "weakref.WeakKeyDictionary[Any, LiveSettings]" = weakref.WeakKeyDictionary()


def of(store: Any, base: Settings) -> LiveSettings:
    """The live settings of ``store``, one object per store (that is, per app): the chat handler and
    the admin API both reach it from what a call carries, and it goes when the app's store does."""
    live = _BY_STORE.get(store)
    if live is None:
        live = _BY_STORE[store] = LiveSettings(weakref.ref(store), base)
    return live


def effective(store: Any, base: Settings, session: str) -> Settings:
    """The settings of one chat request (``base`` when there is no store: nothing can be changed)."""
    return base if store is None else of(store, base).effective(session)

