"""Server-sent events: framing and pacing, with no knowledge of HTTP.

OpenAI framing: each event is ``data: <json>`` followed by a blank line; the
stream ends with ``data: [DONE]``. An error mid-stream is an ``error`` event
carrying an OpenAI error body, after which the stream ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable

import orjson

DONE = b"data: [DONE]\n\n"


def event(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def error_event(body: dict[str, Any]) -> bytes:
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


@dataclass(frozen=True)
class Pacing:
    """Time to first token and tokens per second; zero means no delay."""

    ttft_ms: float = 0.0
    tps: float = 0.0

    @property
    def idle(self) -> bool:
        return self.ttft_ms <= 0 and self.tps <= 0

    def gap(self) -> float:
        return 1.0 / self.tps if self.tps > 0 else 0.0


async def paced(items: Iterable[Any], pacing: Pacing) -> AsyncIterator[Any]:
    """Yield ``items``: the first after the time to first token, the others
    one token-interval apart. The first item (the role delta) carries no
    token, so the wait for the first *token* happens before the second item."""
    if pacing.idle:
        for item in items:
            yield item
        return
    gap = pacing.gap()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, item in enumerate(items):
        if n == 0:
            yield item
            continue
        due = start + pacing.ttft_ms / 1000.0 + (n - 1) * gap
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield item
