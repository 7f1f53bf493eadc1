"""Pacing and disconnects of SSE streams, over real sockets."""

from __future__ import annotations

import time

import httpx

from helpers import chunks_of, parse_sse

ARK = "/v1/chat/completions"
BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Pace yourself."}]}


def active_streams(srv) -> int:
    return httpx.get(srv.url + "/__admin/health").json()["active_streams"]


def test_pacing_spreads_tokens(make_server):
    # Only lower bounds: sleeping guarantees a minimum, never a maximum, so
    # this cannot flake on a slow machine.
    srv = make_server("--ttft", "200", "--tps", "50")
    start = time.monotonic()
    arrivals = []
    with httpx.stream("POST", srv.url + ARK, json=BODY, timeout=30) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic() - start)
    total = arrivals[-1]
    r = httpx.post(srv.url + ARK, json=BODY, timeout=30)
    tokens = len([c for c in chunks_of(parse_sse(r.text)) if c["choices"][0]["delta"].get("content")])
    assert tokens >= 2
    assert total >= 0.2 + (tokens - 1) / 50 * 0.9
    assert len(arrivals) > 1, "a paced stream must arrive in several pieces"


def test_disconnect_frees_the_stream(make_server):
    srv = make_server("--tps", "2")  # a stream of ~20 tokens would last ~10 s
    with httpx.stream("POST", srv.url + ARK, json=BODY, timeout=30) as r:
        pieces = r.iter_raw()  # keep the iterator: dropping it closes the connection
        first = next(pieces)
        assert first.startswith(b"data: ")
        assert active_streams(srv) == 1
    # The client is gone: the server must notice and free the stream task.
    deadline = time.monotonic() + 5
    while active_streams(srv) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert active_streams(srv) == 0
    assert "Traceback" not in srv.output()
