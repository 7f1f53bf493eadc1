"""The `--streams N` scenario: N SSE streams held open at once, timed on arrival.

Each of N keep-alive connections runs ARK `"stream": true` requests back to
back, so about N streams are open at every moment. Connections start spread
over a ramp of about one stream's length (the server is not asked to accept N
connections in the same millisecond); streams that *start* in the measuring
window that follows are measured, the earlier ones are warm-up (their errors
still count).

The client is built so that it is not what is measured:

* raw asyncio Protocols on uvloop (no HTTP library): `data_received` takes the
  arrival timestamp before anything else and only counts event ends
  (``\\n\\n``; the JSON of an event holds no raw newline, and HTTP chunk
  framing uses ``\\r\\n``), so a read costs a few microseconds;
* it watches itself: a ticker measures how late the event loop wakes (loop
  lag) and the process's CPU time is reported, so a saturated client shows;
* it can run in P processes (``procs``), each taking every P-th connection.

Timestamps are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, shared by
all processes), so processes can agree on the schedule.

    python bench/sse_load.py [--port 8080] [--streams 1000] [--procs 2] [--duration 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import HealthPoller, Server, free_port, mock_command, reference_command, wait_workers  # noqa: E402
from stats import percentile  # noqa: E402

HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
BODY = b'{"model":"ark","messages":[{"role":"user","content":"hi"}],"stream":true}'
STREAM_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
TICK_S = 0.005
CLIENT_CPU_LIMIT_PCT = 80.0  # a client process busier than this may be late to read


def raise_nofile(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def request_bytes(port: int) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(BODY)}\r\n\r\n").encode() + BODY


class StreamProtocol(asyncio.Protocol):
    """One keep-alive connection; one stream at a time, begun with `begin()`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def begin(self, sent: float) -> asyncio.Future:
        self.sent = sent
        self.first: float | None = None
        self.head = b""
        self.in_body = False
        self.status = 0
        self.events: list[float] = []  # arrival time of each SSE event (the last is [DONE])
        self.last_byte = 0
        self.tail = b""
        self.done_seen = False
        self.waiter = self.loop.create_future()
        return self.waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()  # first thing: the arrival timestamp
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # bytes after the end of a stream: cannot happen with a well-framed answer
        if self.first is None:
            self.first = now
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.head[9:12])
            data, self.head, self.in_body = self.head[end + 4:], b"", True
            if self.status != 200:
                waiter.set_result("non2xx")  # the connection is dropped; its framing is not followed
                return
            if not data:
                return
        count = data.count(b"\n\n")
        if self.last_byte == 10 and data[0] == 10:
            count += 1
        if count:
            self.events.extend([now] * count)
        self.last_byte = data[-1]
        window = self.tail + data
        if not self.done_seen and b"data: [DONE]" in window:
            self.done_seen = True
        self.tail = window[-32:]
        if self.done_seen and self.tail.endswith(b"0\r\n\r\n"):
            waiter.set_result("ok")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result("lost")


async def _run(port: int, indices: list[int], total: int, start_at: float, ramp_s: float,
               measure_from: float, stop_at: float) -> dict:
    loop = asyncio.get_running_loop()
    request = request_bytes(port)
    out: dict = {"ttfb": [], "ttft": [], "done": [], "gaps": [], "events": [], "streams_all": 0,
                 "non_2xx": 0, "incomplete": 0, "errors": 0, "loop_lag": []}
    running = True

    async def ticker() -> None:
        while running:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            out["loop_lag"].append(time.perf_counter() - before - TICK_S)

    async def connection(index: int) -> None:
        await asyncio.sleep(max(0.0, start_at + ramp_s * index / total - time.perf_counter()))
        proto: StreamProtocol | None = None
        while time.perf_counter() < stop_at:
            if proto is None or proto.lost:
                try:
                    _, proto = await asyncio.wait_for(
                        loop.create_connection(lambda: StreamProtocol(loop), HOST, port), CONNECT_TIMEOUT_S)
                except (OSError, asyncio.TimeoutError):
                    out["errors"] += 1
                    proto = None
                    await asyncio.sleep(0.1)
                    continue
            sent = time.perf_counter()
            waiter = proto.begin(sent)
            proto.transport.write(request)
            try:
                outcome = await asyncio.wait_for(waiter, STREAM_TIMEOUT_S)
            except asyncio.TimeoutError:
                outcome = "timeout"
            out["streams_all"] += 1
            if outcome != "ok":
                key = {"non2xx": "non_2xx", "lost": "incomplete"}.get(outcome, "errors")
                out[key] += 1
                proto.transport.close()
                proto = None
                continue
            if sent < measure_from:
                continue  # warm-up stream
            events = proto.events
            out["ttfb"].append(proto.first - sent)
            out["done"].append(events[-1] - sent)
            out["events"].append(len(events) - 1)  # data events, without [DONE]
            if len(events) >= 3:
                out["ttft"].append(events[1] - sent)  # events[0] is the role delta, sent at once
                # the paced part: first content event .. last data event ([DONE] follows at once)
                out["gaps"].extend(b - a for a, b in zip(events[1:-2], events[2:-1]))
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    tick = asyncio.create_task(ticker())
    cpu0, wall0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(connection(i) for i in indices))
    running = False
    await tick
    out["cpu_s"], out["wall_s"] = _cpu() - cpu0, time.perf_counter() - wall0
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(args: tuple) -> dict:
    """One client process: its own event loop (uvloop if installed) over its share of connections."""
    port, indices, total, start_at, ramp_s, measure_from, stop_at = args
    raise_nofile(len(indices) + 64)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(_run(port, indices, total, start_at, ramp_s, measure_from, stop_at))


def run(port: int, streams: int, duration_s: float, procs: int = 1, ramp_s: float = 2.0) -> dict:
    """Hold `streams` streams open against 127.0.0.1:port; merged raw results of all client processes.

    Time is bounded: connections start over `ramp_s`, streams begun in the next
    `duration_s` are measured, then no new stream starts and the last ones
    (each bounded by STREAM_TIMEOUT_S) finish.
    """
    start_at = time.perf_counter() + 1.0  # time for the client processes to start
    measure_from = start_at + ramp_s
    stop_at = measure_from + duration_s
    shares = [(port, list(range(p, streams, procs)), streams, start_at, ramp_s, measure_from, stop_at)
              for p in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.map_async(_worker, shares).get(timeout=ramp_s + duration_s + STREAM_TIMEOUT_S + 60)
    merged: dict = {"procs": procs, "streams": streams, "ramp_s": ramp_s, "duration_s": duration_s,
                    "window": (measure_from, stop_at), "client_cpu_pct": [], "loop_lag": []}
    for part in parts:
        for key, value in part.items():
            if key in ("cpu_s", "wall_s"):
                continue
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = merged.get(key, 0) + value
        merged["client_cpu_pct"].append(100.0 * part["cpu_s"] / part["wall_s"])
    return merged


def summarize(raw: dict, gap_ms: float, ttft_ms: float) -> dict:
    """Percentiles of the raw samples, and the verdict on the inter-chunk gap."""
    ms = lambda values, pct: round(percentile(values, pct) * 1000, 2)
    gaps = raw["gaps"]
    p99 = ms(gaps, 99)
    measured = len(raw["done"])
    return {
        "streams": raw["streams"], "client_procs": raw["procs"],
        "streams_measured": measured, "streams_all": raw["streams_all"],
        "streams_per_s": round(measured / raw["duration_s"], 1),
        "events_per_stream": round(sum(raw["events"]) / measured, 1) if measured else 0,
        "non_2xx": raw["non_2xx"], "incomplete": raw["incomplete"], "errors": raw["errors"],
        "ttfb_p50_ms": ms(raw["ttfb"], 50), "ttfb_p99_ms": ms(raw["ttfb"], 99),
        "ttft_p50_ms": ms(raw["ttft"], 50), "ttft_p99_ms": ms(raw["ttft"], 99), "ttft_configured_ms": ttft_ms,
        "done_p50_ms": ms(raw["done"], 50), "done_p99_ms": ms(raw["done"], 99),
        "gaps": len(gaps), "gap_configured_ms": gap_ms,
        "gap_p1_ms": ms(gaps, 1), "gap_p50_ms": ms(gaps, 50), "gap_p99_ms": p99,
        "gap_max_ms": round(max(gaps) * 1000, 2) if gaps else 0.0,
        "gap_p99_within_10pct": bool(gaps) and abs(p99 - gap_ms) <= 0.1 * gap_ms,
        "client_cpu_pct": [round(c, 1) for c in raw["client_cpu_pct"]],
        "client_loop_lag_p99_ms": ms(raw["loop_lag"], 99),
        "client_loop_lag_max_ms": round(max(raw["loop_lag"], default=0.0) * 1000, 2),
    }


def client_distorts(summary: dict) -> str | None:
    """Why the client may have distorted the gaps it measured, or None: its loop woke
    late by more than 10 % of the gap (p99), or a client process was nearly saturated."""
    if summary["client_loop_lag_p99_ms"] > 0.1 * summary["gap_configured_ms"]:
        return f"client loop lag p99 {summary['client_loop_lag_p99_ms']:.1f} ms"
    busiest = max(summary["client_cpu_pct"], default=0.0)
    if busiest > CLIENT_CPU_LIMIT_PCT:
        return f"client process at {busiest:.0f} % CPU"
    return None


def scenario(streams: int, duration_s: float, workers: int = 1, procs: int = 1,
             tps: float = 20, ttft_ms: float = 200, target: str = "mock") -> dict:
    """Start a fresh server with --tps/--ttft (and --workers), hold `streams` streams
    against it, and summarize. If one client process distorts (see
    client_distorts), the measurement is repeated with the client in two
    processes, and the summary says so.

    ``target`` is ``mock`` or ``reference``: the bare Starlette app pacing the
    same schedule with one ``asyncio.sleep`` per event, the floor of the stack
    (it has no health endpoint, so its open-streams column stays empty)."""
    raise_nofile(streams + 256)
    port = free_port()
    extra = ["--tps", f"{tps:g}", "--ttft", f"{ttft_ms:g}"] + (["--workers", str(workers)] if workers > 1 else [])
    command = mock_command if target == "mock" else reference_command
    server = Server(f"{target} w{workers} streams", command(port, *extra), port)
    server.start()
    try:
        server.wait_ready(60.0)
        if workers > 1 and target == "mock":
            wait_workers(port, workers)
        elif workers > 1:
            time.sleep(1.0)  # the reference's workers: no way to ask them, give them a moment
        while True:
            poller = HealthPoller(port, every_s=0.5) if target == "mock" else None
            if poller is not None:
                poller.start()
            try:
                raw = run(port, streams, duration_s, procs)
            finally:
                if poller is not None:
                    poller.stop()
            summary = summarize(raw, 1000.0 / tps, ttft_ms)
            distortion = client_distorts(summary)
            if distortion is None or procs >= 2:
                break
            print(f"    {distortion} with 1 client process: measuring again with the client in 2 processes")
            summary["retried_because"] = distortion
            procs = 2
        low, high, polls = (poller.active_streams(*raw["window"], workers=workers) if poller is not None
                            else None) or (None, None, 0)
        rss, hwm = server.rss_kb(rescan=True)
        summary.update(server=target, workers=workers, server_args=" ".join(extra), client_distortion=distortion,
                       active_streams_min=low, active_streams_max=high, active_streams_polls=polls,
                       server_rss_kib=rss, server_hwm_kib=hwm, server_exited=server.proc.poll())
        return summary
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="N concurrent SSE streams against a running mock "
                                     "(or, without --port, a fresh mock with --tps 20 --ttft 200)")
    parser.add_argument("--port", type=int, help="a running server (default: start a fresh mock)")
    parser.add_argument("--workers", type=int, default=1, help="server workers when starting one")
    parser.add_argument("--target", choices=["mock", "reference"], default="mock",
                        help="which server to start without --port (default: mock)")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--gap-ms", type=float, default=50.0)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    args = parser.parse_args()
    raise_nofile(args.streams + 64)
    if args.port is None:
        result = scenario(args.streams, args.duration, args.workers, args.procs,
                          tps=1000.0 / args.gap_ms, ttft_ms=args.ttft_ms, target=args.target)
    else:
        result = summarize(run(args.port, args.streams, args.duration, args.procs), args.gap_ms, args.ttft_ms)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
