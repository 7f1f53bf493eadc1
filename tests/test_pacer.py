"""Stream timelines (mockserver/stream.py) and the shared pacer (mockserver/server/pacer.py).

The HTTP tests cover what a client sees of pacing and faults; these pin the
pieces: when each write is due, how faults and contract violations end a
timeline, and that the pacer sends every write in order, never before it is
due, never for a stream whose task is gone, and never lets one stream whose
socket is full hold up the others. (Lower bounds only: no test asserts how
fast anything is.)
"""

from __future__ import annotations

import asyncio
import itertools

import orjson
import pytest

from mockserver.server.pacer import Pacer, StreamCut
from mockserver.stream import DONE, Frame, Pacing, StreamPlan, due_times, timeline


def first(plan: StreamPlan, n: int) -> list[float]:
    return [round(d, 6) for d in itertools.islice(due_times(plan), n)]


def test_due_times_follow_ttft_and_tps():
    plan = StreamPlan(pacing=Pacing(ttft_ms=200, tps=20))
    assert first(plan, 5) == [0.0, 0.2, 0.25, 0.3, 0.35]


def test_due_times_idle_are_all_now():
    assert first(StreamPlan(), 4) == [0.0] * 4


def test_jitter_is_seeded_and_bounded():
    plan = StreamPlan(pacing=Pacing(ttft_ms=100, tps=10, jitter_ms=30), seed=7)
    a, b = first(plan, 50), first(plan, 50)
    assert a == b
    assert first(StreamPlan(pacing=plan.pacing, seed=8), 50) != a
    for n, due in enumerate(a[1:], start=1):
        assert abs(due - (0.1 + (n - 1) * 0.1)) <= 0.030 + 1e-9
        assert due >= 0


def test_pause_shifts_every_later_event():
    plan = StreamPlan(pacing=Pacing(tps=10), pause_after=2, pause_ms=500)
    assert first(plan, 4) == [0.0, 0.0, 0.6, 0.7]


def test_a_recordings_schedule_wins_and_later_events_are_due_at_once():
    plan = StreamPlan(pacing=Pacing(tps=1), schedule=(0.0, 0.5, 0.9))
    assert first(plan, 5) == [0.0, 0.5, 0.9, 0.9, 0.9]


def chunks(n: int) -> list[dict]:
    return [{"n": i} for i in range(n)]


def kinds(frames: list[Frame]) -> list[str]:
    return [f.kind for f in frames]


def never(_chunk):
    return None


def test_timeline_ends_with_done_right_after_the_last_chunk():
    frames = timeline(chunks(3), StreamPlan(pacing=Pacing(ttft_ms=100, tps=10)), never)
    assert kinds(frames) == ["event", "event", "event", "done"]
    assert [f.body for f in frames[:3]] == [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks(3)]
    assert frames[-1].body == DONE and not frames[-1].more and frames[0].more
    assert frames[-1].due == frames[-2].due == pytest.approx(0.2)


def test_timeline_faults():
    assert kinds(timeline(chunks(5), StreamPlan(cut_after=2), never)) == ["event", "event", "cut"]
    assert kinds(timeline(chunks(2), StreamPlan(cut_after=2), never)) == ["event", "event", "cut"]
    assert kinds(timeline(chunks(2), StreamPlan(no_done=True), never)) == ["event", "event", "end"]
    errored = timeline(chunks(5), StreamPlan(error_after=1, error={"error": {"message": "boom"}}), never)
    assert kinds(errored) == ["event", "error"]
    assert errored[-1].body == b'event: error\ndata: {"error":{"message":"boom"}}\n\n'


def test_a_forbidden_chunk_is_replaced_by_an_error_event_where_it_would_have_been():
    plan = StreamPlan(pacing=Pacing(ttft_ms=100, tps=10))
    frames = timeline(chunks(5), plan, lambda c: {"error": {"code": "bad"}} if c["n"] == 2 else None)
    assert kinds(frames) == ["event", "event", "error"]
    assert frames[-1].due == pytest.approx(0.2)  # the due time of the chunk it replaces
    assert b'"code":"bad"' in frames[-1].body


def test_a_pause_after_the_last_chunk_delays_the_end():
    frames = timeline(chunks(2), StreamPlan(pause_after=2, pause_ms=300), never)
    assert frames[-1].kind == "done" and frames[-1].due == pytest.approx(0.3)


# --- the pacer --------------------------------------------------------------------------------------

class Wire:
    """A fake ASGI send per stream: records (loop time, body); can be made to block on a frame."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sent: dict[str, list[tuple[float, bytes]]] = {}
        self.blocked: dict[str, asyncio.Event] = {}

    def send_for(self, name: str, block_on: bytes | None = None):
        self.sent[name] = []

        async def send(message: dict) -> None:
            body = message["body"]
            if body == block_on and name in self.blocked:
                await self.blocked[name].wait()  # a full socket: uvicorn waits for it to drain
            self.sent[name].append((self.loop.time(), body))
        return send


def paced(names: str, n: int, gap: float) -> list[Frame]:
    return timeline([{"s": names, "n": i} for i in range(n)], StreamPlan(pacing=Pacing(tps=1 / gap)), never)


def stats() -> dict:
    return {"events": 0, "done": False, "cut": False, "error": False}


def on_a_loop(test):
    """Run an async test body on a fresh event loop (the suite has no async plugin)."""
    def run() -> None:
        asyncio.run(test())
    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


@on_a_loop
async def test_every_write_in_order_and_never_before_it_is_due():
    loop = asyncio.get_running_loop()
    pacer, wire = Pacer(loop), Wire(loop)
    plans = {name: paced(name, 6, gap) for name, gap in (("a", 0.01), ("b", 0.015), ("c", 0.02))}
    counts = {name: stats() for name in plans}
    started = loop.time()
    await asyncio.gather(*(pacer.play(frames, wire.send_for(name), counts[name]) for name, frames in plans.items()))
    for name, frames in plans.items():
        sent = wire.sent[name]
        assert [body for _, body in sent] == [f.body for f in frames]
        for (at, _), frame in zip(sent, frames):
            assert at >= started + frame.due - 0.0011  # BATCH_S early at most
        # "closing": the last write was marked before it went out (the disconnect watcher reads it)
        assert counts[name] == {"events": 6, "done": True, "cut": False, "error": False, "closing": True}


@on_a_loop
async def test_a_blocked_stream_does_not_hold_up_the_others():
    loop = asyncio.get_running_loop()
    pacer, wire = Pacer(loop), Wire(loop)
    slow, fast = paced("slow", 5, 0.01), paced("fast", 5, 0.01)
    wire.blocked["slow"] = asyncio.Event()
    slow_task = asyncio.create_task(pacer.play(slow, wire.send_for("slow", block_on=slow[2].body), stats()))
    await pacer.play(fast, wire.send_for("fast"), stats())
    assert len(wire.sent["fast"]) == len(fast)  # all of it, while "slow" waits on its third write
    assert len(wire.sent["slow"]) == 2 and not slow_task.done()
    wire.blocked["slow"].set()
    await asyncio.wait_for(slow_task, 5)
    assert [b for _, b in wire.sent["slow"]] == [f.body for f in slow]


@on_a_loop
async def test_a_cancelled_stream_is_never_written_again():
    loop = asyncio.get_running_loop()
    pacer, wire = Pacer(loop), Wire(loop)
    frames = paced("gone", 10, 0.02)
    task = asyncio.create_task(pacer.play(frames, wire.send_for("gone"), stats()))
    while len(wire.sent["gone"]) < 2:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(wire.sent["gone"])
    await asyncio.sleep(0.1)  # five more writes would have been due
    assert len(wire.sent["gone"]) == count < len(frames)


@on_a_loop
async def test_a_cut_raises_in_the_streams_task_after_the_events_asked_for():
    loop = asyncio.get_running_loop()
    pacer, wire = Pacer(loop), Wire(loop)
    frames = timeline(chunks(5), StreamPlan(pacing=Pacing(tps=100), cut_after=3), never)
    counted = stats()
    with pytest.raises(StreamCut):
        await pacer.play(frames, wire.send_for("cut"), counted)
    assert len(wire.sent["cut"]) == 3 and counted["events"] == 3 and counted["cut"]


# --- over HTTP: a paced stream whose client stops reading -------------------------------------------

def test_a_paced_stream_in_back_pressure_resumes_whole_and_others_keep_pace(make_server):
    """A paced stream bigger than every socket buffer (tcp_wmem's maximum, 4 MiB
    by default, plus 2 MiB) to a client that stops reading: a write of the
    pacer's must wait for the socket to drain, so it goes back to the stream's
    task. Meanwhile other paced streams finish; when the client reads again it
    gets the whole stream, every chunk valid, in order."""
    import socket
    import time
    from urllib.parse import urlsplit

    import httpx

    from helpers import chunks_of, parse_sse

    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    size = min(wmem_max + (2 << 20), 9 << 20)  # under --max-body (10 MiB): the fixture is posted
    words = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    srv = make_server("--tps", "100", "--ttft", "10")
    fixture = {"id": "huge", "match": {"last_user": "huge"}, "response": {"content": words},
               "stream": {"chunking": {"chars": 65536}, "tps": 200, "ttft_ms": 10}}
    added = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [fixture]}, timeout=60)
    assert added.status_code in (200, 201), added.text
    parts = urlsplit(srv.url)
    body = orjson.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "huge"}]})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: a small window
    sock.settimeout(30)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        deadline = time.monotonic() + 60  # the 6 MB answer is built and checked first
        while httpx.get(srv.url + "/__admin/health", timeout=60).json()["active_streams"] < 1:
            assert time.monotonic() < deadline, "the big stream never started"
            time.sleep(0.05)
        time.sleep(1.5)  # ~100 writes at 200/s, far more than the buffers take: the stream is held
        assert httpx.get(srv.url + "/__admin/health", timeout=60).json()["active_streams"] == 1
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for n in range(5):  # paced streams of their own, while the first is held
                r = client.post("/v1/chat/completions",
                                json={"model": "m", "stream": True, "messages": [{"role": "user", "content": f"n{n}"}]})
                assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n"), r.text[-200:]
        assert httpx.get(srv.url + "/__admin/health", timeout=60).json()["active_streams"] == 1  # still held
        raw = bytearray()
        while True:
            piece = sock.recv(1 << 20)
            if not piece:
                break
            raw += piece
    finally:
        sock.close()
    head, _, payload = bytes(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    pieces, at = [], 0
    while True:  # undo the chunked transfer coding
        end = payload.index(b"\r\n", at)
        length = int(payload[at:end], 16)
        if length == 0:
            break
        pieces.append(payload[end + 2:end + 2 + length])
        at = end + 2 + length + 2
    chunks = chunks_of(parse_sse(b"".join(pieces).decode()))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == words
