"""Fallback load generator (asyncio + httpx) for machines without wrk.

Closed loop like wrk: `concurrency` workers, each on its own connection, send
the next request as soon as the previous one is answered, until the deadline.
It is much slower than wrk, so its absolute numbers understate fast servers;
ratios between servers measured the same way remain comparable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx

from load import Cell
from stats import percentile


async def _load(url: str, body: bytes, concurrency: int, duration_s: float, accept: str) -> Cell:
    latencies: list[float] = []
    non_2xx = errors = 0
    headers = {"Content-Type": "application/json", "Accept": accept}
    deadline = 0.0  # set once the clients are warm

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal non_2xx, errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status_code >= 400:  # same rule as wrk
                non_2xx += 1

    # One client per worker, built and connected before the clock starts: a
    # shared pool serialises on its lock, and building a client costs ~15 ms.
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(timeout=10.0)) for _ in range(concurrency)]
        await asyncio.gather(*(client.post(url, content=body, headers=headers) for client in clients),
                             return_exceptions=True)
        start = time.perf_counter()
        deadline = start + duration_s
        await asyncio.wait_for(asyncio.gather(*(worker(client) for client in clients)), duration_s + 30)
        elapsed = time.perf_counter() - start
    return Cell(requests=len(latencies), rps=len(latencies) / elapsed,
                p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
                non_2xx=non_2xx, socket_errors=errors, tool="httpx")


def run_httpx(url: str, body_file: Path, concurrency: int, duration_s: float,
              accept: str = "application/json") -> Cell:
    return asyncio.run(_load(url, body_file.read_bytes(), concurrency, duration_s, accept))
