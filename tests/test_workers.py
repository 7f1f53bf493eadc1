"""Concurrency acceptance: four worker processes, one shared state, racing turns.

``mockserver serve --workers 4`` with a SQLite file, then with Redis; 200
concurrent requests, 20 on each of 10 threads, half streamed. Turns on one
thread race each other across processes, so the test cannot know their order
in advance; it checks what serialization promises instead:

* every thread holds exactly its 20 user messages, once each, each followed
  immediately by the reply that request received (nothing lost, no turn split);
* the stored order is the order the server served them: the k-th turn served
  on a thread saw a history of 2k messages, so the prompt_tokens each response
  reported rise strictly along the stored order. Two turns that read the same
  history (a lost update) would report equal counts.

Health samples taken during the burst show more than one worker process served.
"""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers import chunks_of, parse_sse

THREADS, TURNS, WORKERS = 10, 20, 4


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("redis_server") + f"?prefix=workers-{uuid.uuid4().hex}:"


def _turn(client: httpx.Client, thread_id: str, text: str, stream: bool) -> tuple[str, str, int]:
    """One request; (user text, reply content, prompt_tokens)."""
    body = {"model": "m", "thread_id": thread_id, "messages": [{"role": "user", "content": text}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    if not stream:
        data = r.json()
        return text, data["choices"][0]["message"]["content"], data["usage"]["prompt_tokens"]
    chunks = chunks_of(parse_sse(r.text))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1, f"expected one usage chunk, got {usage}"
    return text, content, usage[0]["prompt_tokens"]


def _pid(client: httpx.Client) -> int:
    r = client.get("/__admin/health")
    assert r.status_code == 200
    return r.json()["process"]["pid"]


def test_four_workers_serialize_every_thread(make_server, state_url):
    srv = make_server("--workers", str(WORKERS), "--state", state_url)
    turns = [(f"thread-{t}", f"thread {t} turn {k}", (t + k) % 2 == 0) for t in range(THREADS) for k in range(TURNS)]
    random.Random(7).shuffle(turns)
    # No keep-alive: every request is a new connection, which any worker may accept (one
    # client, though: a client per request would spend its time building SSL contexts).
    fresh = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    with httpx.Client(base_url=srv.url, timeout=60, limits=fresh) as client, ThreadPoolExecutor(48) as pool:
        chats = [pool.submit(_turn, client, *turn) for turn in turns]
        pids = [pool.submit(_pid, client) for _ in range(100)]  # sampled while the turns run
        served = [f.result() for f in chats]
        seen_pids = {f.result() for f in pids}
    assert len(seen_pids) > 1, f"one worker process served everything: {seen_pids}"

    answer = {text: (content, tokens) for text, content, tokens in served}
    assert len(answer) == THREADS * TURNS
    listed = httpx.get(srv.url + "/__admin/threads", timeout=30).json()["threads"]
    assert sorted((t["thread_id"], t["messages"]) for t in listed) == \
        sorted((f"thread-{t}", 2 * TURNS) for t in range(THREADS))

    for t in range(THREADS):
        messages = httpx.get(f"{srv.url}/__admin/threads/thread-{t}", timeout=30).json()["messages"]
        assert len(messages) == 2 * TURNS
        assert [m["role"] for m in messages] == ["user", "assistant"] * TURNS
        users = [m["content"] for m in messages[::2]]
        assert sorted(users) == sorted(f"thread {t} turn {k}" for k in range(TURNS)), "a turn was lost or doubled"
        for u, a in zip(messages[::2], messages[1::2]):
            assert a["content"] == answer[u["content"]][0], f"the reply after {u['content']!r} is not its own"
        tokens = [answer[u][1] for u in users]
        assert all(x < y for x, y in zip(tokens, tokens[1:])), (
            f"thread-{t}: prompt_tokens along the stored order are not strictly increasing: {tokens} "
            "(turns read the same history, or were stored out of the order they were served)")
