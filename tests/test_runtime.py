"""Process tuning (mockserver/server/runtime.py): `serve` tunes its collector, in-process use does not.

The tuning is what keeps 1,000 paced streams on time (bench/README.md); its
effect is measured by `make bench`, never by a timed test. What is tested is
that it is in force where it should be (each serving process, each worker)
and nowhere else (the pytest plugin runs inside the user's test process,
whose collector is not ours to change). `/__admin/health` reports it.
"""

from __future__ import annotations

import gc
import time

import httpx

from mockserver.server.runtime import GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD

TUNED = [GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD]


def _gc(url: str) -> tuple[int, dict]:
    r = httpx.get(url + "/__admin/health", timeout=10)
    assert r.status_code == 200, r.text
    process = r.json()["process"]
    return process["pid"], process["gc"]


def test_serve_freezes_start_up_and_raises_thresholds(server):
    _, stats = _gc(server.url)
    assert stats["threshold"] == TUNED
    # the specs, validators and Faker built at start-up are out of the collector's sight
    assert stats["frozen"] > 10_000, stats
    assert len(stats["collections"]) == 3


def test_every_worker_is_tuned(make_server):
    srv = make_server("--workers", "2")
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + 20
    while len(seen) < 2 and time.monotonic() < deadline:
        pid, stats = _gc(srv.url)  # a new connection each time: the kernel spreads them over both workers
        seen[pid] = stats
    assert len(seen) == 2, f"only worker(s) {sorted(seen)} answered within 20 s"
    for pid, stats in seen.items():
        assert stats["threshold"] == TUNED, (pid, stats)
        assert stats["frozen"] > 10_000, (pid, stats)


def test_in_process_use_leaves_the_host_collector_alone(chat_mock):
    before = list(gc.get_threshold())
    stats = chat_mock.health()["process"]["gc"]
    assert stats["threshold"] == before == list(gc.get_threshold())
    assert stats["threshold"] != TUNED
