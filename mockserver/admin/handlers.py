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
from pathlib import Path
from typing import Any, Callable

import orjson

from mockserver import __version__
from mockserver.errors import InvalidRequest, NotFound, PayloadTooLarge
from mockserver.fixtures.loader import FixtureLoadError
from mockserver.fixtures.matching import last_user_text
from mockserver.limits import MAX_FIXTURE_FILE_BYTES
from mockserver.outcome import JsonOutcome, StreamOutcome
from mockserver.stream import StreamPlan

SPEC = Path(__file__).with_name("admin.yaml")


def _session(call: Any) -> str | None:
    return call.headers.get("x-mock-session") or None


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    return str(value).lower() in ("1", "true", "yes")


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


def _keep(entry: dict[str, Any], rules: dict[str, Any]) -> bool:
    if rules.get("spec") is not None and entry.get("spec") != rules["spec"]:
        return False
    if rules.get("operation") is not None and entry.get("operation") != rules["operation"]:
        return False
    if rules.get("fixture") is not None:
        wanted = rules["fixture"]
        if (entry.get("source") != "generated") if wanted == "generated" else (entry.get("fixture") != wanted):
            return False
    if rules.get("unmatched") is not None and (entry.get("source") == "unmatched") != rules["unmatched"]:
        return False
    if rules.get("invalid") is not None:
        invalid = bool(entry.get("error")) and entry.get("source") is None
        if invalid != rules["invalid"]:
            return False
    if rules.get("since") is not None and entry.get("time", 0) < float(rules["since"]):
        return False
    if rules.get("status") is not None and entry.get("status") != rules["status"]:
        return False
    body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
    if rules.get("model") is not None and body.get("model") != rules["model"]:
        return False
    if rules.get("last_user_contains") is not None:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        if rules["last_user_contains"] not in (last_user_text(messages) or ""):
            return False
    if rules.get("stream") is not None and (entry.get("stream") is not None) != rules["stream"]:
        return False
    return True


async def list_requests(call: Any) -> JsonOutcome:
    p = call.params
    rules = {"spec": p.get("spec"), "operation": p.get("operation"), "fixture": p.get("fixture"),
             "unmatched": _flag(p.get("unmatched")), "invalid": _flag(p.get("invalid")), "since": p.get("since")}
    return JsonOutcome({"requests": [e for e in _entries(call) if _keep(e, rules)]})


async def stream_requests(call: Any) -> StreamOutcome:
    """The backlog, then every new entry, until the client goes away."""
    state, session = call.state, _session(call)
    backlog = int(call.params.get("backlog", 50))
    queue: asyncio.Queue = asyncio.Queue()
    state.listeners.add(queue)

    async def feed() -> Any:
        try:
            for entry in (_entries(call)[-backlog:] if backlog else []):
                yield entry
            while True:
                entry = await queue.get()
                if session is None or entry.get("session") == session:
                    yield entry
        finally:
            state.listeners.discard(queue)

    return StreamOutcome(feed(), StreamPlan(no_done=True))


async def clear_requests(call: Any) -> JsonOutcome:
    call.state.flush_journal()
    call.store.journal_clear(_session(call))
    return JsonOutcome({"cleared": True, "session": _session(call)})


async def count_requests(call: Any) -> JsonOutcome:
    return JsonOutcome({"count": sum(1 for e in _entries(call) if _keep(e, call.body or {}))})


async def list_fixtures(call: Any) -> JsonOutcome:
    registry = call.state.registry
    return JsonOutcome({
        "fixtures": [{"id": f.id, "file": f.file, "line": f.line, "priority": f.priority, "spec": f.spec,
                      "description": f.raw.get("description", ""), "responses": len(f.responses)}
                     for f in registry.active()],
        "errors": registry.errors,
    })


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
    if session is None:
        call.state.registry.delete_runtime()
        for thread_id, _ in call.store.threads():
            call.store.delete(thread_id)
    else:
        for thread_id, _ in call.store.threads():
            if thread_id.startswith(f"{session}/"):
                call.store.delete(thread_id)
    return JsonOutcome({"reset": True, "session": session})


async def list_threads(call: Any) -> JsonOutcome:
    return JsonOutcome({"threads": [{"thread_id": t, "messages": n} for t, n in call.store.threads()]})


async def get_thread(call: Any) -> JsonOutcome:
    thread_id = call.params["thread_id"]
    messages = call.store.messages(thread_id)
    if messages is None:
        raise NotFound(f"No thread {thread_id!r}.", param="thread_id")
    return JsonOutcome({"thread_id": thread_id, "messages": messages})


async def delete_thread(call: Any) -> JsonOutcome:
    thread_id = call.params["thread_id"]
    if not call.store.delete(thread_id):
        raise NotFound(f"No thread {thread_id!r}.", param="thread_id")
    return JsonOutcome({"thread_id": thread_id, "deleted": True})


HANDLERS: dict[str, Callable[[Any], Any]] = {
    "adminHealth": admin_health,
    "listRequests": list_requests,
    "clearRequests": clear_requests,
    "streamRequests": stream_requests,
    "countRequests": count_requests,
    "listFixtures": list_fixtures,
    "addFixtures": add_fixtures,
    "deleteFixtures": delete_fixtures,
    "deleteFixture": delete_fixture,
    "resetState": reset_state,
    "listThreads": list_threads,
    "getThread": get_thread,
    "deleteThread": delete_thread,
}
