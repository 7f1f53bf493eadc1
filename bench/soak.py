"""The `--soak N` scenario: N non-streaming ARK requests; does the mock's memory stay flat?

A fresh mock (default settings: --max-threads 10000) gets N requests from wrk
with soak.lua: 90 % plain, 10 % with a thread_id drawn from 50,000 ids, so
the thread store fills to its bound and then evicts. The run has two wrk
phases, a warm-up and the rest, so "after warm-up" is an exact request count,
not a guess from the rate. A thread samples the server's VmRSS (from
/proc/PID/status, summed over its worker processes) and /__admin/health
(open fds, asyncio tasks) about every 5 s.

Verdict: "flat" if the RSS at the end is within 15 % (or 20 MiB, whichever is
larger) of the RSS after warm-up.

wrk cannot stop after a count by itself (it always runs for -d), so each wrk
thread stops itself in soak.lua after its share of answers and leaves a
marker file; when all markers are there, wrk gets SIGINT, which ends its
sleep and prints the summary at once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from procs import HOST, Server, free_port, get_json, mock_command, proc_status, tree_pids, wait_workers

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "soak.lua"
PATH = "/v1/chat/completions"
IDS = 50_000
MAX_THREADS = 10_000  # the mock's default --max-threads, passed explicitly
THREADED_SHARE = 0.10
CONCURRENCY = 16
WRK_THREADS = 2
SAMPLE_EVERY_S = 5.0
FLAT_PCT, FLAT_MIB = 15.0, 20.0


def warmup_requests(n: int) -> int:
    """Requests until the thread store is expected to be full, with 10 % margin:
    k thread requests over IDS ids reach MAX_THREADS distinct ids when
    IDS * (1 - exp(-k / IDS)) = MAX_THREADS. At least a fifth of N, at most half."""
    k = -IDS * math.log(1 - MAX_THREADS / IDS)
    needed = math.ceil(1.1 * k / THREADED_SHARE)  # ~123,000
    return min(n // 2, max(n // 5, needed))


class Sampler(threading.Thread):
    """RSS of the server's processes, and its health, every SAMPLE_EVERY_S."""

    def __init__(self, server: Server, began: float) -> None:
        super().__init__(daemon=True)
        self.server, self.began = server, began
        self.samples: list[dict] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def sample(self, label: str = "") -> dict:
        pids = tree_pids(self.server.proc.pid)  # workers may be replaced: find them each time
        rss = sum(proc_status(pid).get("VmRSS", 0) for pid in pids)
        health = get_json(self.server.port, "/__admin/health", timeout=5.0) or {}
        process = health.get("process", {})
        entry = {"t_s": round(time.perf_counter() - self.began, 1), "rss_kib": rss, "pids": len(pids),
                 "open_fds": process.get("open_fds"), "asyncio_tasks": process.get("asyncio_tasks"),
                 "active_streams": health.get("active_streams")}
        if label:
            entry["label"] = label
        with self.lock:
            self.samples.append(entry)
        return entry

    def run(self) -> None:
        while not self.halt.wait(SAMPLE_EVERY_S):
            self.sample()

    def stop(self) -> None:
        self.halt.set()
        self.join()


def run_phase(url: str, requests: int, phase: int, time_left_s: float) -> dict:
    """One wrk run of `requests` requests (split over the wrk threads), bounded by time_left_s."""
    per_thread = math.ceil(requests / WRK_THREADS)
    marks = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    env = {**os.environ, "SOAK_PER_THREAD": str(per_thread), "SOAK_PHASE": str(phase),
           "SOAK_IDS": str(IDS), "SOAK_DONE_DIR": str(marks)}
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONCURRENCY}", f"-d{max(1, int(time_left_s))}s",
               "--timeout", "10s", "-s", str(LUA), url]
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    try:
        while proc.poll() is None and len(list(marks.iterdir())) < WRK_THREADS:
            time.sleep(0.05)
        stopped_by_count = len(list(marks.iterdir())) >= WRK_THREADS
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # ends wrk's sleep(-d): it joins its threads and reports
        out, err = proc.communicate(timeout=30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        shutil.rmtree(marks, ignore_errors=True)
    elapsed = time.perf_counter() - began
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    data.update(elapsed_s=elapsed, stopped_by_count=stopped_by_count)
    return data


def soak(n: int, workers: int = 1, max_s: float = 1800.0) -> dict:
    """Drive n requests through a fresh mock; the RSS curve and the verdict."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk not found on PATH (the soak needs wrk and bench/soak.lua)"}
    port = free_port()
    extra = ["--max-threads", str(MAX_THREADS)] + (["--workers", str(workers)] if workers > 1 else [])
    server = Server("mock soak", mock_command(port, *extra), port)
    server.start()
    try:
        server.wait_ready(60.0)
        if workers > 1:
            wait_workers(port, workers)
        time.sleep(0.5)
        began = time.perf_counter()
        sampler = Sampler(server, began)
        start = sampler.sample("start")
        sampler.start()
        url = f"http://{HOST}:{port}{PATH}"
        warm = warmup_requests(n)
        phases = []
        try:
            for index, count in enumerate((warm, n - warm)):
                left = max_s - (time.perf_counter() - began)
                if count <= 0 or left <= 1:
                    continue
                phases.append(run_phase(url, count, index, left))
                sampler.sample("after warm-up" if index == 0 else "end")
        finally:
            sampler.stop()
        threads = get_json(port, "/__admin/threads", timeout=30.0)
        samples = sampler.samples
        after_warm = next((s for s in samples if s.get("label") == "after warm-up"), start)
        end = samples[-1]
        result = {
            "requests_asked": n, "workers": workers, "server_args": " ".join(extra), "concurrency": CONCURRENCY,
            "ids": IDS, "max_threads": MAX_THREADS, "warmup_requests": warm, "time_bound_s": max_s,
            "requests": sum(p["requests"] for p in phases),
            "threaded_sent": sum(p["threaded_sent"] for p in phases),
            "non_2xx": sum(p["non_2xx_3xx"] for p in phases),
            "socket_errors": sum(p["connect_errors"] + p["read_errors"] + p["write_errors"] + p["timeouts"]
                                 for p in phases),
            "elapsed_s": round(sum(p["elapsed_s"] for p in phases), 1),
            "stopped_by_count": all(p["stopped_by_count"] for p in phases) and len(phases) == 2,
            "phases": phases,
            "threads_stored": len(threads["threads"]) if threads else None,
            "thread_messages_stored": sum(t["messages"] for t in threads["threads"]) if threads else None,
            "rss_start_kib": start["rss_kib"], "rss_after_warmup_kib": after_warm["rss_kib"],
            "rss_max_kib": max(s["rss_kib"] for s in samples), "rss_end_kib": end["rss_kib"],
            "open_fds_start": start["open_fds"], "open_fds_end": end["open_fds"],
            "asyncio_tasks_start": start["asyncio_tasks"], "asyncio_tasks_end": end["asyncio_tasks"],
            "samples": samples, "server_exited": server.proc.poll(),
        }
        result["rps"] = round(result["requests"] / result["elapsed_s"], 1) if result["elapsed_s"] else 0.0
        growth_kib = result["rss_end_kib"] - result["rss_after_warmup_kib"]
        allowed_kib = max(FLAT_PCT / 100 * result["rss_after_warmup_kib"], FLAT_MIB * 1024)
        result["rss_growth_after_warmup_kib"] = growth_kib
        result["verdict"] = ("GROWING" if growth_kib > allowed_kib
                             else "shrank (not a leak)" if growth_kib < -allowed_kib else "flat")
        return result
    finally:
        server.stop()
