"""The live journal feed: who is listening, and the streams still being sent.

``GET /__admin/requests/stream`` (the inspector page) subscribes a queue
here. A finished exchange is published once, as the journal stores it. A
stream is published when its status line has gone out (its entry with
``stream.state: "streaming"``), then as it goes: at most every
:data:`UPDATE_S` per stream, one partial entry with the events sent since
the last (``update: true``), and finally its stored entry, which replaces
the others (same ``id``).

Why coalesced and pulled: a stream may send hundreds of events a second.
One timer for all streams reads each one's progress off its record
(:meth:`mockserver.journal.Record.progress`) every tenth of a second, and
runs only while someone listens and a stream is open; with no listener, a
stream costs this module two dictionary operations, none per event.
Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mockserver.journal import Record

log = logging.getLogger("mockserver.journal")

UPDATE_S = 0.1  # a running stream's progress reaches the feed at most this often
QUEUE_MAX = 1000  # a stalled listener must not make the server hold every entry


class LiveFeed:
    def __init__(self) -> None:
        self.listeners: set[asyncio.Queue] = set()
        self.inflight: dict[str, Record] = {}  # id -> the record of a stream being sent
        self._ticker: asyncio.Task | None = None

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.listeners.add(queue)
        self._tick_if_needed()
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.listeners.discard(queue)

    def publish(self, entry: dict[str, Any]) -> None:
        for queue in list(self.listeners):
            if queue.qsize() < QUEUE_MAX:
                queue.put_nowait(entry)

    def running(self) -> list[dict[str, Any]]:
        """The streams being sent now, as full entries (what a new listener starts from)."""
        return [record.entry(live=True) for record in self.inflight.values()]

    def opened(self, record: Record) -> None:
        """A stream's status line went out: it is shown from now on."""
        self.inflight[record.id] = record
        if self.listeners:
            self.publish(record.entry(live=True))
            self._tick_if_needed()

    def closed(self, record: Record) -> None:
        """The exchange is over (its stored entry is published by the caller)."""
        self.inflight.pop(record.id, None)

    def _tick_if_needed(self) -> None:
        if self._ticker is None and self.listeners and self.inflight:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        try:
            while self.listeners and self.inflight:
                await asyncio.sleep(UPDATE_S)
                for record in list(self.inflight.values()):
                    update = record.progress()
                    if update is not None:
                        self.publish(update)
        except Exception:  # noqa: BLE001 - the feed must not take anything down with it; the log says why
            log.exception("live journal feed update failed")
        finally:
            self._ticker = None
