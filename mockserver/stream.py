"""Server-sent events: framing and pacing, with no knowledge of HTTP.

OpenAI framing: each event is ``data: <json>`` followed by a blank line; the
stream ends with ``data: [DONE]``. An error mid-stream is an ``error`` event
carrying an OpenAI error body, after which the stream ends.
"""

from __future__ import annotations

import asyncio
import random
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
    """Time to first token, tokens per second and jitter; zero means no delay."""

    ttft_ms: float = 0.0
    tps: float = 0.0
    jitter_ms: float = 0.0

    @property
    def idle(self) -> bool:
        return self.ttft_ms <= 0 and self.tps <= 0 and self.jitter_ms <= 0

    def gap(self) -> float:
        return 1.0 / self.tps if self.tps > 0 else 0.0


@dataclass(frozen=True)
class StreamPlan:
    """How a stream is sent: pacing, and the faults a fixture asks for.

    Events are counted from 1 (the role delta is event 1). ``cut_after`` closes
    the connection after that many events (the client sees a broken stream);
    ``no_done`` ends cleanly without ``data: [DONE]``; ``error_after`` sends an
    ``error`` event after that many events, then ends; ``pause_after`` waits
    ``pause_ms`` after that event; ``delay_ms`` delays the status line.
    """

    pacing: Pacing = Pacing()
    seed: int = 0  # drives jitter, so a seeded run replays the same timings
    delay_ms: float = 0.0
    pause_after: int | None = None
    pause_ms: float = 0.0
    cut_after: int | None = None
    no_done: bool = False
    error_after: int | None = None
    error: dict[str, Any] | None = None
    schedule: tuple[float, ...] | None = None  # a recording's own clock: seconds from the start, per event


async def paced(items: Iterable[Any], plan: StreamPlan) -> AsyncIterator[Any]:
    """Yield ``items`` on the plan's schedule: the first (the role delta) at
    once, the first token after the time to first token, the others one
    token interval apart, each shifted by up to +/- jitter (never before the
    previous one), with the plan's pause."""
    pacing = plan.pacing
    if hasattr(items, "__aiter__"):  # a live feed (the journal): it paces itself
        async for item in items:  # type: ignore[union-attr]
            yield item
        return
    if plan.schedule is not None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, item in enumerate(items):
            if n < len(plan.schedule):
                delay = start + plan.schedule[n] - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield item
        return
    if pacing.idle and not plan.pause_ms:
        for item in items:
            yield item
        return
    rng = random.Random(plan.seed)
    gap = pacing.gap()
    jitter = pacing.jitter_ms / 1000.0
    loop = asyncio.get_running_loop()
    start = loop.time()
    extra = 0.0
    for n, item in enumerate(items):
        if n > 0:
            due = start + extra + pacing.ttft_ms / 1000.0 + (n - 1) * gap
            if jitter:
                due += rng.uniform(-jitter, jitter)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield item
        if plan.pause_after is not None and n + 1 == plan.pause_after and plan.pause_ms > 0:
            await asyncio.sleep(plan.pause_ms / 1000.0)
            extra += plan.pause_ms / 1000.0
