"""The state store contract, one suite over every backend.

Each test runs against SQLite in memory, a SQLite file and Redis, through
``open_store`` (as the server opens them) and the ``ThreadStore`` protocol
only. Redis needs a real ``redis-server``: the session fixture below starts a
private one (no persistence, loopback, a temp dir); where the binary is missing
the Redis cases are skipped, except under CI (``CI`` set), where that is a
failure, because CI must run them.

``redis_server`` is imported by ``test_workers.py`` too.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from mockserver.state import open_store

BACKENDS = ["sqlite-memory", "sqlite-file", "redis"]
SHARED = ["sqlite-file", "redis"]  # reachable from another process (in-memory SQLite is not)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


    log.close()


@dataclass
class Backend:
    name: str
    url: str | None  # what --state would say

    def open(self, *, max_threads: int = 10_000):
        return open_store(self.url, max_threads=max_threads)


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "sqlite-memory":
        return Backend(name, None)
    if name == "sqlite-file":
        return Backend(name, str(tmp_path / "state.sqlite"))
    # One Redis for the session; a fresh key prefix keeps every test to itself.
    return Backend(name, request.getfixturevalue("redis_server") + f"?prefix=t-{uuid.uuid4().hex}:")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _backend(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _backend(request.param, request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator:
    s = backend.open()
    yield s
    s.close()


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


# --- threads: the protocol ------------------------------------------------------------------------

def test_unknown_thread_is_none(store):
    assert store.messages("nobody") is None
    assert store.threads() == []
    assert store.delete("nobody") is False


def test_appends_are_read_back_in_order(store):
    rich = {"role": "assistant", "content": None, "refusal": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "f", "arguments": "{\"a\": [1, 2.5, true]}"}}]}
    store.append("t", [user("one"), assistant("two")])
    store.append("t", [user("drei — ünïcode ✓"), rich])
    assert store.messages("t") == [user("one"), assistant("two"), user("drei — ünïcode ✓"), rich]
    assert store.messages("other") is None


def test_a_transaction_reads_history_and_sees_its_own_appends(store):
    store.append("t", [user("a")])
    with store.thread("t") as tx:
        assert tx.thread_id == "t"
        assert tx.messages() == [user("a")]
        tx.append([user("b"), assistant("c")])
        assert tx.messages() == [user("a"), user("b"), assistant("c")]
    assert store.messages("t") == [user("a"), user("b"), assistant("c")]


def test_a_thread_exists_once_appended_to_even_with_nothing(store):
    with store.thread("looked-at"):
        pass  # reading is not creating
    assert store.messages("looked-at") is None
    store.append("empty", [])
    assert store.messages("empty") == []
    assert store.threads() == [("empty", 0)]


def test_threads_lists_counts_oldest_first(store):
    for tid, n in [("zeta", 1), ("alpha", 3), ("mid", 2)]:  # creation order is not name order
        store.append(tid, [user(str(i)) for i in range(n)])
    store.append("zeta", [assistant("later")])  # a new turn does not make a thread newer
    assert store.threads() == [("zeta", 2), ("alpha", 3), ("mid", 2)]


def test_delete_removes_one_thread_whole(store):
    store.append("keep", [user("k")])
    store.append("doomed", [user("d1"), assistant("d2")])
    assert store.delete("doomed") is True
    assert store.messages("doomed") is None
    assert store.delete("doomed") is False
    assert store.threads() == [("keep", 1)]
    store.append("doomed", [user("again")])  # a new thread of that name: empty history, newest
    assert store.messages("doomed") == [user("again")]
    assert store.threads() == [("keep", 1), ("doomed", 1)]


def test_oldest_threads_are_evicted_past_max_threads(backend):
    store = backend.open(max_threads=3)
    try:
        for i in range(6):
            store.append(f"t{i}", [user(f"m{i}")])
        assert store.threads() == [("t3", 1), ("t4", 1), ("t5", 1)]
        for i in range(3):
            assert store.messages(f"t{i}") is None
        store.append("t3", [assistant("still here")])  # a turn on a kept thread evicts nothing
        assert [t for t, _ in store.threads()] == ["t3", "t4", "t5"]
        assert store.messages("t3") == [user("m3"), assistant("still here")]
        store.append("t6", [user("m6")])
        assert store.threads() == [("t4", 1), ("t5", 1), ("t6", 1)]
    finally:
        store.close()


class Boom(Exception):
    pass


def test_an_error_inside_the_transaction_stores_nothing(store):
    store.append("t", [user("before")])
    with pytest.raises(Boom):
        with store.thread("t") as tx:
            tx.append([user("lost"), assistant("lost")])
            raise Boom
    assert store.messages("t") == [user("before")]
    with pytest.raises(Boom):
        with store.thread("new") as tx:
            tx.append([user("lost")])
            raise Boom
    assert store.messages("new") is None
    assert store.threads() == [("t", 1)]
    # ... and the thread is free again at once (a lock left behind would stall this).
    started = time.monotonic()
    store.append("t", [assistant("after")])
    assert time.monotonic() - started < 2
    assert store.messages("t") == [user("before"), assistant("after")]


def test_reopened_store_keeps_threads(shared_backend):
    first = shared_backend.open()
    first.append("kept", [user("remember me")])
    first.close()
    second = shared_backend.open()
    try:
        assert second.messages("kept") == [user("remember me")]
        assert second.threads() == [("kept", 1)]
    finally:
        second.close()


# --- serialization: threads of one process, then processes ------------------------------------------

def _turn(store, thread_id: str, tag: str) -> None:
    """Read-modify-append: the turn records how much history it saw."""
    with store.thread(thread_id) as tx:
        seen = len(tx.messages())
        time.sleep(0.001)  # widen the window between the read and the write
        tx.append([{"role": "user", "content": tag, "seen": seen},
                   {"role": "assistant", "content": tag, "seen": seen}])


def _check_serialized(messages: list[dict], tags: list[str], order: dict[str, list[str]]) -> None:
    """Every turn once, its two messages adjacent, each turn saw exactly the turns before it."""
    assert len(messages) == 2 * len(tags), f"{len(messages)} messages for {len(tags)} turns: turns were lost"
    stored = []
    for i in range(0, len(messages), 2):
        u, a = messages[i], messages[i + 1]
        assert (u["role"], a["role"]) == ("user", "assistant"), f"turn at {i} is split: {u}, {a}"
        assert u["content"] == a["content"], f"turn at {i} interleaved with another: {u}, {a}"
        assert u["seen"] == a["seen"] == i, (
            f"turn {u['content']} read {u['seen']} messages but was stored after {i}: "
            "two turns read the same history (not serialized)")
        stored.append(u["content"])
    assert sorted(stored) == sorted(tags)
    for who, theirs in order.items():  # each writer's own turns keep its order
        assert [t for t in stored if t.startswith(who + "-")] == theirs


def test_turns_from_many_threads_of_one_process_are_serialized(store):
    def run(w: int) -> None:
        for k in range(10):
            _turn(store, "busy", f"w{w}-{k}")

    workers = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    _check_serialized(store.messages("busy"), [f"w{w}-{k}" for w in range(8) for k in range(10)],
                      {f"w{w}": [f"w{w}-{k}" for k in range(10)] for w in range(8)})


def _process_turns(url: str, who: str, turns: int, ready) -> None:
    store = open_store(url)
    ready.wait(60)  # every process is up before any turn: they really race
    for k in range(turns):
        _turn(store, "shared", f"{who}-{k}")
        time.sleep(0.003)  # let the others in: turns of different processes interleave
    store.close()


PROCESSES, TURNS = 6, 25


def test_turns_from_many_processes_are_serialized(shared_backend):
    """Spawned processes each doing read-modify-append on one thread: none lost, none interleaved."""
    shared_backend.open().close()  # create the schema before the processes race to
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_process_turns, args=(shared_backend.url, f"p{i}", TURNS, ready))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES, "a writer process failed (its traceback is above)"
    store = shared_backend.open()
    try:
        writers = [m["content"].split("-")[0] for m in store.messages("shared")[::2]]
        switches = sum(a != b for a, b in zip(writers, writers[1:]))
        assert switches >= 2 * PROCESSES, f"the processes hardly overlapped ({switches} switches): nothing was tested"
        _check_serialized(store.messages("shared"),
                          [f"p{i}-{k}" for i in range(PROCESSES) for k in range(TURNS)],
                          {f"p{i}": [f"p{i}-{k}" for k in range(TURNS)] for i in range(PROCESSES)})
    finally:
        store.close()


# --- key/value and the journal: the rest of the protocol ---------------------------------------------

def test_key_value(store):
    assert store.kv_get("scenario:a") is None
    store.kv_set("scenario:a", "started")
    store.kv_set("scenario:a", "step 2")
    store.kv_set("scenario:b", "x")
    store.kv_set("other", "y")
    assert store.kv_get("scenario:a") == "step 2"
    assert [store.kv_incr("seq:n") for _ in range(3)] == [1, 2, 3]
    assert store.kv_get("seq:n") == "3"
    assert store.kv_items("scenario:") == [("scenario:a", "step 2"), ("scenario:b", "x")]
    assert store.kv_delete_prefix("scenario:") == 2
    assert store.kv_items("") == [("other", "y"), ("seq:n", "3")]


def test_kv_incr_is_atomic_across_threads(store):
    def bump() -> None:
        for _ in range(50):
            store.kv_incr("hits")

    workers = [threading.Thread(target=bump) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert store.kv_get("hits") == "200"


def test_journal_keeps_the_newest_entries_by_session(store):
    for i in range(10):
        store.journal_add("a" if i % 2 == 0 else "b", {"i": i}, limit=1000)
    assert [e["i"] for e in store.journal(None, limit=1000)] == list(range(10))
    assert [e["i"] for e in store.journal("a", limit=1000)] == [0, 2, 4, 6, 8]
    assert [e["i"] for e in store.journal(None, limit=4)] == [6, 7, 8, 9]  # the newest, oldest first
    store.journal_clear("a")
    assert [e["i"] for e in store.journal(None, limit=1000)] == [1, 3, 5, 7, 9]
    store.journal_clear(None)
    assert store.journal(None, limit=1000) == []


# --- Redis only: the lock's limits, key layout, start-up errors --------------------------------------

@pytest.fixture
def redis_url(redis_server: str) -> str:
    return redis_server + f"?prefix=t-{uuid.uuid4().hex}:"


def test_redis_waits_for_a_busy_thread_only_so_long(redis_url):
    from mockserver.state.redis import ThreadBusy

    holder, waiter = open_store(redis_url), open_store(redis_url + "&lock_timeout=0.3")
    with holder.thread("t") as tx:
        tx.append([user("holder")])
        started = time.monotonic()
        with pytest.raises(ThreadBusy) as err:
            with waiter.thread("t") as other:
                other.append([user("waiter")])
        waited = time.monotonic() - started
    assert 0.3 <= waited < 2
    assert err.value.status == 503 and err.value.param == "thread_id" and "'t'" in err.value.message
    assert holder.messages("t") == [user("holder")]
    waiter.append("t", [user("waiter")])  # free again once the holder is done
    assert waiter.messages("t") == [user("holder"), user("waiter")]


def test_redis_turn_that_outlives_its_lock_stores_nothing(redis_url):
    from mockserver.state.redis import ThreadLockLost

    slow, fast = open_store(redis_url + "&lock_ttl=0.2"), open_store(redis_url)
    with pytest.raises(ThreadLockLost):
        with slow.thread("t") as tx:
            tx.append([user("slow")])
            time.sleep(0.4)  # the lock expires ...
            fast.append("t", [user("fast")])  # ... and another turn takes the thread
    assert fast.messages("t") == [user("fast")]


def test_redis_keys_live_under_the_prefix_and_deletes_leave_nothing(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server)
    mine, theirs = f"a-{uuid.uuid4().hex}:", f"b-{uuid.uuid4().hex}:"
    a = open_store(f"{redis_server}?prefix={mine}", max_threads=2)
    b = open_store(f"{redis_server}?prefix={theirs}")
    for i in range(4):
        a.append(f"t{i}", [user("x")])
    b.append("t0", [user("other instance group")])
    assert [t for t, _ in a.threads()] == ["t2", "t3"] and b.threads() == [("t0", 1)]
    a.delete("t2")
    a.delete("t3")
    left = sorted(k.decode() for k in client.keys(mine + "*"))
    assert left == [mine + "thread_seq"], left  # no messages, locks or ids of evicted/deleted threads
    assert b.messages("t0") == [user("other instance group")]
    assert open_store(redis_server).prefix == "mockserver:"


def test_redis_unreachable_or_misconfigured_fails_at_start(redis_server):
    from mockserver.state.redis import StoreUnavailable

    url = f"redis://:s3cret@127.0.0.1:{_free_port()}/0"
    with pytest.raises(OSError) as err:  # the command line reports OSError as "cannot start"
        open_store(url)
    assert isinstance(err.value, StoreUnavailable)
    assert "cannot reach Redis" in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(ValueError, match="lock_ttl"):
        open_store(redis_server + "?lock_ttl=soon")
