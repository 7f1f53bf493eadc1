"""The admin API under ``/__admin``: health for now.

Kept apart from the contracts: it is the mock's own API, not the served one.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import Receive, Scope, Send

from mockserver import __version__
from mockserver.errors import MethodNotAllowed, NotFound
from mockserver.server.asgi import send_json


class AdminAPI:
    def __init__(self, state: Any) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/")
        if path == "/__admin/health":
            if scope["method"] not in ("GET", "HEAD"):
                raise MethodNotAllowed("Use GET /__admin/health.", headers={"allow": "GET"})
            await send_json(send, 200, {
                "status": "ok",
                "version": __version__,
                "uptime_s": round(time.monotonic() - self.state.started, 3),
                "active_streams": self.state.active_streams,
                "specs": [
                    {"name": c.name, "path": str(c.spec.path), "errata": c.spec.errata_applied,
                     "operations": [f"{o.method} {o.path}" for o in c.operations.values()]}
                    for c in self.state.contracts
                ],
            })
            return
        raise NotFound(f"Unknown admin path {scope['path']!r}.")
