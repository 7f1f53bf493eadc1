"""Replay pace: ``--replay-speed`` is a player's speed, and a recording keeps its
time to first event.

A cassette's event times are seconds from the moment the request went
upstream. Replaying at speed S sends each event at ``t / S`` from the
request: 2 is twice as fast, 0.5 half as fast, 0 at once. The cassettes here
are written by hand from chunks the mock itself streamed, so they are valid
against the contract, and their times are chosen: a first event after 1.0 s,
the last after 1.4 s.

Only lower bounds and comparisons between two replays are asserted: the pacer
never sends early, so "not before" is exact, while "not after" would depend on
the machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from conftest import Server, start_server, wait_ready
from helpers import parse_sse
from mockserver.recording import replay

REQUEST = {"model": "gpt-4o", "stream": True, "max_tokens": 6,
           "messages": [{"role": "user", "content": "Replay me at my own pace."}]}
FIRST_T, LAST_T = 1.0, 1.4


def test_schedule_divides_recorded_times_by_the_speed() -> None:
    timed = [1.16, 1.2, 1.5]
    assert replay.schedule(timed, 1) == pytest.approx((1.16, 1.2, 1.5))
    assert replay.schedule(timed, 2) == pytest.approx((0.58, 0.6, 0.75))
    assert replay.schedule(timed, 0.5) == pytest.approx((2.32, 2.4, 3.0))
    assert replay.schedule(timed, 0) is None
    assert replay.schedule([], 1) is None


def _cassette(chunks: list[dict]) -> dict:
    step = (LAST_T - FIRST_T) / max(1, len(chunks) - 1)
    events = [{"t": round(FIRST_T + i * step, 4), "data": c} for i, c in enumerate(chunks)]
    events.append({"t": LAST_T, "data": "[DONE]"})
    return {"cassette": 1, "recorded_at": "2026-12-02T00:00:00Z", "spec": "multimedia",
            "request": {"method": "POST", "path": "/chat/completions", "headers": {}, "body": REQUEST},
            "response": {"status": 200, "headers": {"content-type": "text/event-stream"}, "events": events}}


@pytest.fixture(scope="module")
def cassettes(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one cassette, made from a stream the mock itself sent."""
    resp = httpx.post(server.mm_base + "/chat/completions", json=REQUEST, timeout=30)
    assert resp.status_code == 200, resp.text
    chunks = [e.json() for e in parse_sse(resp.text) if e.data != "[DONE]"]
    assert len(chunks) >= 3
    folder = tmp_path_factory.mktemp("paced-cassettes")
    (folder / "paced.cassette.json").write_text(json.dumps(_cassette(chunks)))
    return folder


def _timed_replay(server: Server) -> tuple[float, float, int]:
    """(seconds to the first event, seconds from the first to the last, events) as a client sees them."""
    started = time.monotonic()
    times: list[float] = []
    raw = b""
    with httpx.stream("POST", server.mm_base + "/chat/completions", json=REQUEST, timeout=60) as resp:
        assert resp.status_code == 200
        for piece in resp.iter_bytes():
            raw += piece
            times += [time.monotonic()] * (raw.count(b"\n\n") - len(times))
    assert raw.rstrip().endswith(b"data: [DONE]")
    return times[0] - started, times[-1] - times[0], len(times)


def test_replay_keeps_the_time_to_first_event_and_larger_speed_is_faster(cassettes: Path,
                                                                       tmp_path: Path) -> None:
    common = ("--fixtures", str(cassettes), "--unmatched", "error")
    fast = start_server(tmp_path, *common, "--replay-speed", "2", wait=False)
    slow = start_server(tmp_path, *common, "--replay-speed", "0.5", wait=False)
    try:
        wait_ready(fast, slow)
        fast_first, fast_span, fast_events = _timed_replay(fast)
        slow_first, slow_span, slow_events = _timed_replay(slow)
    finally:
        fast.stop()
        slow.stop()
    assert fast_events == slow_events
    # The recorded time to the first event is kept, divided by the speed (never sent early).
    assert fast_first >= FIRST_T / 2 - 0.01, fast_first
    assert slow_first >= FIRST_T / 0.5 - 0.01, slow_first
    assert slow_span >= (LAST_T - FIRST_T) / 0.5 - 0.01, slow_span
    # Larger is faster, as in every player.
    assert fast_first < slow_first and fast_span < slow_span, (fast_first, slow_first, fast_span, slow_span)
