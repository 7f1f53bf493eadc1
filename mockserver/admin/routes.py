"""The admin API under ``/__admin``: health and ARK threads.

Kept apart from the contracts: it is the mock's own API, not the served one.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from starlette.types import Receive, Scope, Send

from mockserver import __version__
from mockserver.errors import MethodNotAllowed, NotFound
from mockserver.server.asgi import send_json

THREADS = "/__admin/threads"


def _allow(scope: Scope, *methods: str) -> None:
    if scope["method"] not in methods:
        raise MethodNotAllowed(
            f"Method {scope['method']} is not allowed on {scope['path']}; allowed: {', '.join(methods)}.",
            headers={"allow": ", ".join(methods)},
        )


def process_stats() -> dict[str, Any]:
    """What a leak shows in: open file descriptors, asyncio tasks, resident memory."""
    import asyncio
    import os

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
    return stats


class AdminAPI:
    def __init__(self, state: Any) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/")
        if path == "/__admin/health":
            _allow(scope, "GET", "HEAD")
            await send_json(send, 200, self.health())
        elif path == THREADS:
            _allow(scope, "GET")
            await send_json(send, 200, {"threads": [
                {"thread_id": tid, "messages": count} for tid, count in self.state.store.threads()]})
        elif path.startswith(THREADS + "/"):
            await self.thread(scope, send, unquote(path[len(THREADS) + 1:]))
        else:
            raise NotFound(f"Unknown admin path {scope['path']!r}.")

    async def thread(self, scope: Scope, send: Send, thread_id: str) -> None:
        _allow(scope, "GET", "DELETE")
        store = self.state.store
        if scope["method"] == "DELETE":
            if not store.delete(thread_id):
                raise NotFound(f"No thread {thread_id!r}.", param="thread_id")
            await send_json(send, 200, {"thread_id": thread_id, "deleted": True})
            return
        messages = store.messages(thread_id)
        if messages is None:
            raise NotFound(f"No thread {thread_id!r}.", param="thread_id")
        await send_json(send, 200, {"thread_id": thread_id, "messages": messages})

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.state.started, 3),
            "active_streams": self.state.active_streams,
            "process": process_stats(),
            "specs": [
                {"name": c.name, "path": str(c.spec.path), "errata": c.spec.errata_applied,
                 "operations": [f"{o.method} {o.path}" for o in c.operations.values()]}
                for c in self.state.contracts
            ],
        }
