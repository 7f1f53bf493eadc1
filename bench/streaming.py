"""Streaming cell: time to first byte, time to [DONE] and chunks/s of SSE answers.

wrk measures only whole responses, so streams get their own closed-loop client
(asyncio + httpx): `concurrency` workers, each on its own connection opened by
one untimed request, open a stream, read it to `data: [DONE]`, and start the
next, until the deadline. The client is Python on the same two cores as the
server, so at high concurrency it is part of what is measured; it is the same
client for every server, which keeps ratios fair.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from stats import percentile

DONE = b"data: [DONE]"


@dataclass
class StreamCell:
    streams: int  # streams read to [DONE]
    streams_per_s: float
    chunks_per_s: float  # SSE data events (without [DONE]) delivered per second, all streams together
    chunks_per_stream: float
    ttfb_p50_ms: float  # request sent -> first body byte
    ttfb_p99_ms: float
    done_p50_ms: float  # request sent -> data: [DONE] received
    done_p99_ms: float
    non_2xx: int
    incomplete: int  # 2xx streams that ended without [DONE]
    errors: int  # connection errors and timeouts

    def as_dict(self) -> dict:
        return asdict(self)


async def _stream_load(url: str, body: bytes, concurrency: int, duration_s: float) -> StreamCell:
    ttfb: list[float] = []
    to_done: list[float] = []
    chunks = non_2xx = incomplete = errors = 0
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    deadline = 0.0  # set once the clients are warm

    async def one_stream(client: httpx.AsyncClient) -> None:
        nonlocal chunks, non_2xx, incomplete
        sent = time.perf_counter()
        first: float | None = None
        finished: float | None = None
        body_so_far = b""
        async with client.stream("POST", url, content=body, headers=headers) as response:
            # read to the end even after [DONE]: an unread tail would cost the keep-alive connection
            async for raw in response.aiter_raw():
                if first is None:
                    first = time.perf_counter() - sent
                body_so_far += raw
                if finished is None and DONE in body_so_far[-len(raw) - len(DONE):]:
                    finished = time.perf_counter() - sent
        if response.status_code >= 300:
            non_2xx += 1
            return
        if finished is None:
            incomplete += 1
            return
        to_done.append(finished)
        ttfb.append(first or 0.0)
        chunks += body_so_far.count(b"data: ") - 1  # every data event but [DONE]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                await one_stream(client)
            except httpx.HTTPError:
                errors += 1

    # One client (one keep-alive connection) per worker: a shared httpx pool
    # serialises on its lock and caps the client near 100 streams/s at c=64.
    # Clients are built and connected before the clock starts, because building
    # one (an SSL context each) costs ~15 ms of CPU and would show up as a
    # second-long p99 at c=64 that belongs to the client, not the server.
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(timeout=10.0)) for _ in range(concurrency)]
        warm = await asyncio.gather(*(client.post(url, content=body, headers=headers) for client in clients),
                                    return_exceptions=True)
        errors += sum(isinstance(w, Exception) for w in warm)
        start = time.perf_counter()
        deadline = start + duration_s
        await asyncio.wait_for(asyncio.gather(*(worker(client) for client in clients)), duration_s + 30)
        elapsed = time.perf_counter() - start
    done = len(to_done)
    return StreamCell(
        streams=done, streams_per_s=done / elapsed, chunks_per_s=chunks / elapsed,
        chunks_per_stream=chunks / done if done else 0.0,
        ttfb_p50_ms=percentile(ttfb, 50) * 1000, ttfb_p99_ms=percentile(ttfb, 99) * 1000,
        done_p50_ms=percentile(to_done, 50) * 1000, done_p99_ms=percentile(to_done, 99) * 1000,
        non_2xx=non_2xx, incomplete=incomplete, errors=errors,
    )


def run_streams(url: str, body_file: Path, concurrency: int, duration_s: float) -> StreamCell:
    return asyncio.run(_stream_load(url, body_file.read_bytes(), concurrency, duration_s))
