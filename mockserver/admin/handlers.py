"""Handlers of the admin API (``admin.yaml``), routed by Connexion like the chat operations.

Each takes a :class:`mockserver.outcome.Call` and returns a JsonOutcome;
the dispatcher validates it against ``admin.yaml`` before it is sent. This
module and the chat handler never import each other: both speak the types of
:mod:`mockserver.outcome`, and :mod:`mockserver.app` joins their tables.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import orjson
import yaml

from mockserver import __version__, live_settings
from mockserver.admin import har, journal_query
from mockserver.errors import InvalidRequest, NotFound, PayloadTooLarge
from mockserver.fixtures.loader import FixtureLoadError
from mockserver.limits import MAX_FIXTURE_FILE_BYTES
from mockserver.outcome import JsonOutcome, StreamOutcome
from mockserver.stream import StreamPlan

SPEC = Path(__file__).with_name("admin.yaml")
DEFAULT_SESSION = "default"  # the session of a request without X-Mock-Session


def _session(call: Any) -> str | None:
    return call.headers.get("x-mock-session") or None


@lru_cache(maxsize=None)
def declared_query(operation_id: str) -> tuple[str, ...]:
    """The query parameters ``admin.yaml`` declares for an operation: the one list of what is accepted."""
    for item in yaml.safe_load(SPEC.read_text(encoding="utf-8"))["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return tuple(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
    raise LookupError(f"admin.yaml has no operation {operation_id!r}")


def process_stats() -> dict[str, Any]:
    """What a leak shows in: open file descriptors, asyncio tasks, resident memory."""
    stats: dict[str, Any] = {"pid": os.getpid()}
    try:
        stats["open_fds"] = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    stats[line.split(":")[0].lower() + "_kib"] = int(line.split()[1])
    except OSError:
        pass  # not Linux: the counts are optional
    try:
        stats["asyncio_tasks"] = len(asyncio.all_tasks())
    except RuntimeError:
        pass
    # the collector's settings (mockserver.server.runtime tunes them in `serve`) and its work so far
    stats["gc"] = {"threshold": list(gc.get_threshold()), "frozen": gc.get_freeze_count(),
                   "collections": [g["collections"] for g in gc.get_stats()]}
    return stats


async def admin_health(call: Any) -> JsonOutcome:
    state = call.state
    return JsonOutcome({
        "status": "ok",
        "version": __version__,
        "uptime_s": round(time.monotonic() - state.started, 3),
        "active_streams": state.active_streams,
        "process": process_stats(),
        "specs": [
            {"name": c.name, "path": str(c.spec.path), "errata": c.spec.errata_applied,
             "operations": [f"{o.method} {o.path}" for o in c.operations.values()]}
            for c in state.contracts if c.name != "admin"
        ],
        "fixtures": {"active": len(state.registry.active()), "errors": len(state.registry.errors)},
    })


def _entries(call: Any) -> list[dict[str, Any]]:
    return call.state.journal(_session(call))


def _matching(call: Any, rules: dict[str, Any]) -> list[dict[str, Any]]:
    """The journal entries (of the session, if one is named) that ``rules`` select."""
    defaults = {(op.spec, op.operation_id): op.stream_default
                for c in call.state.contracts for op in c.operations.values()}
    keep = journal_query.compile_matcher(rules, lambda e: defaults.get((e.get("spec"), e.get("operation"))))
    return [e for e in _entries(call) if keep(e)]


async def list_requests(call: Any) -> JsonOutcome:
    rules = journal_query.from_query(call.params, declared_query("listRequests"))
    return JsonOutcome({"requests": _matching(call, rules)})


async def export_har(call: Any) -> JsonOutcome:
    """The journal (the same filters as listRequests) as a HAR 1.2 archive, offered as a download."""
    rules = journal_query.from_query(call.params, declared_query("exportHar"))
    return JsonOutcome(har.har(_matching(call, rules), __version__),
                       headers={"content-disposition": 'attachment; filename="mockserver.har"'})


async def find_requests(call: Any) -> JsonOutcome:
    return JsonOutcome({"requests": _matching(call, call.body or {})})


async def stream_requests(call: Any) -> StreamOutcome:
    """The backlog and the streams running now, then every new entry and each running
    stream's progress (:mod:`mockserver.journal_live`), until the client goes away."""
    state, session = call.state, _session(call)
    backlog = int(call.params.get("backlog", 50))
    feed = state.feed
    queue = feed.subscribe()  # before the backlog is read: an entry may be in both, never in neither

    def mine(entry: dict[str, Any]) -> bool:
        return session is None or entry.get("session") == session

    def recent() -> list[dict[str, Any]]:
        if not backlog:
            return []
        if session is None:  # the newest entries only, not the whole journal (each with its answer)
            state.flush_journal()
            return call.store.journal(None, limit=min(backlog, state.settings.journal_size))
        return _entries(call)[-backlog:]

    async def items() -> Any:
        try:
            for entry in recent():
                yield entry
            for entry in feed.running():
                if mine(entry):
                    yield entry
            while True:
                entry = await queue.get()
                if mine(entry):
                    yield entry
        finally:
            feed.unsubscribe(queue)

    return StreamOutcome(items(), StreamPlan(no_done=True))


async def clear_requests(call: Any) -> JsonOutcome:
    call.state.flush_journal()
    call.store.journal_clear(_session(call))
    return JsonOutcome({"cleared": True, "session": _session(call)})


async def count_requests(call: Any) -> JsonOutcome:
    return JsonOutcome({"count": len(_matching(call, call.body or {}))})


async def list_fixtures(call: Any) -> JsonOutcome:
    registry = call.state.registry
    return JsonOutcome({
        "fixtures": [{"id": f.id, "file": f.file, "line": f.line, "priority": f.priority, "spec": f.spec,
                      "description": f.raw.get("description", ""), "responses": len(f.responses)}
                     for f in registry.active()],
        "errors": registry.errors,
    })


async def admin_versions(call: Any) -> JsonOutcome:
    """Cheap change markers: a page polls these and reloads a panel only when its marker moves."""
    return JsonOutcome({"fixtures": call.state.registry.version(), "settings": _live(call).version()})


async def add_fixtures(call: Any) -> JsonOutcome:
    # As large as a fixture file may be, at most: every worker recompiles each runtime fixture.
    size = len(orjson.dumps(call.body))
    if size > MAX_FIXTURE_FILE_BYTES:
        raise PayloadTooLarge(f"The runtime fixtures are {size} bytes of JSON, more than the limit of "
                              f"{MAX_FIXTURE_FILE_BYTES} bytes for a fixture file or body "
                              "(limits.MAX_FIXTURE_FILE_BYTES); send them in several requests.", param="fixtures")
    try:
        added = call.state.registry.add_runtime(call.body)
    except FixtureLoadError as exc:
        raise InvalidRequest(f"Fixture rejected: {exc.reason}", param="fixtures", code="invalid_fixture") from None
    return JsonOutcome({"added": [f.id for f in added]}, status=201)


async def delete_fixtures(call: Any) -> JsonOutcome:
    return JsonOutcome({"deleted": call.state.registry.delete_runtime()})


async def delete_fixture(call: Any) -> JsonOutcome:
    fixture_id = call.params["fixture_id"]
    if not call.state.registry.delete_runtime(fixture_id):
        raise NotFound(f"No runtime fixture {fixture_id!r} (file fixtures are removed by editing their file).",
                       param="fixture_id")
    return JsonOutcome({"deleted": 1})


async def reset_state(call: Any) -> JsonOutcome:
    session = _session(call)
    call.state.flush_journal()
    call.store.journal_clear(session)
    call.state.registry.reset(session)
    _live(call).reset(session)
    if session is None:
        call.state.registry.delete_runtime()
        for thread_id, _ in call.store.threads():
            call.store.delete(thread_id)
    else:
        for key, _ in call.store.threads():
            if _own_thread(session, key) is not None:
                call.store.delete(key)
    return JsonOutcome({"reset": True, "session": session})


# --- ARK threads ---------------------------------------------------------------------------------
# The chat handler keys a thread by session: a thread of the default session (no header) by its
# id, another session's as "SESSION/ID". With X-Mock-Session these endpoints are that session's
# view: its threads under their plain ids, and nothing of any other session. Without the header,
# every thread under its stored key (the default session's are plain ids).


def _thread_key(session: str | None, thread_id: str) -> str:
    return thread_id if session in (None, DEFAULT_SESSION) else f"{session}/{thread_id}"


def _own_thread(session: str, key: str) -> str | None:
    """The plain id of stored thread ``key`` if it belongs to ``session``, else None."""
    if session == DEFAULT_SESSION:
        return None if "/" in key else key  # another session's key always has one
    prefix = f"{session}/"
    return key[len(prefix):] if key.startswith(prefix) else None


async def list_threads(call: Any) -> JsonOutcome:
    session = _session(call)
    threads = [(key if session is None else _own_thread(session, key), n) for key, n in call.store.threads()]
    return JsonOutcome({"threads": [{"thread_id": t, "messages": n} for t, n in threads if t is not None]})


async def get_thread(call: Any) -> JsonOutcome:
    thread_id = call.params["thread_id"]
    messages = call.store.messages(_thread_key(_session(call), thread_id))
    if messages is None:
        raise NotFound(f"No thread {thread_id!r}{_in_session(call)}.", param="thread_id")
    return JsonOutcome({"thread_id": thread_id, "messages": messages})


async def delete_thread(call: Any) -> JsonOutcome:
    thread_id = call.params["thread_id"]
    if not call.store.delete(_thread_key(_session(call), thread_id)):
        raise NotFound(f"No thread {thread_id!r}{_in_session(call)}.", param="thread_id")
    return JsonOutcome({"thread_id": thread_id, "deleted": True})


def _in_session(call: Any) -> str:
    session = _session(call)
    return f" in session {session!r}" if session else ""


# --- settings changed at runtime -------------------------------------------------------------------


def _live(call: Any) -> live_settings.LiveSettings:
    return live_settings.of(call.store, call.settings)


async def get_settings(call: Any) -> JsonOutcome:
    return JsonOutcome(_live(call).view(_session(call)))


async def put_settings(call: Any) -> JsonOutcome:
    body = call.body if isinstance(call.body, dict) else {}
    _live(call).update(_session(call), body)
    return JsonOutcome(_live(call).view(_session(call)))


HANDLERS: dict[str, Callable[[Any], Any]] = {
    "adminHealth": admin_health,
    "listRequests": list_requests,
    "clearRequests": clear_requests,
    "streamRequests": stream_requests,
    "countRequests": count_requests,
    "findRequests": find_requests,
    "exportHar": export_har,
    "adminVersions": admin_versions,
    "listFixtures": list_fixtures,
    "addFixtures": add_fixtures,
    "deleteFixtures": delete_fixtures,
    "deleteFixture": delete_fixture,
    "resetState": reset_state,
    "listThreads": list_threads,
    "getThread": get_thread,
    "deleteThread": delete_thread,
    "getSettings": get_settings,
    "putSettings": put_settings,
}
