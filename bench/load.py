"""One load cell: a fixed POST body at a fixed concurrency for a fixed time.

wrk is preferred (C, event loop, HdrHistogram latencies) because a Python load
generator on the same two cores would saturate before the servers do; the
httpx fallback in loadgen.py keeps `make bench` usable where wrk is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "post.lua"


@dataclass
class Cell:
    """What one server did under one load: throughput, latency, and failures."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # wrk counts every status >= 400 here (it names it "non-2xx or 3xx")
    socket_errors: int  # connect/read/write errors and timeouts
    tool: str

    def as_dict(self) -> dict:
        return asdict(self)


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def run_cell(url: str, body_file: Path, concurrency: int, duration_s: float,
             accept: str = "application/json") -> Cell:
    if load_tool() == "wrk":
        return run_wrk(url, body_file, concurrency, duration_s, accept)
    from loadgen import run_httpx  # imported late: only the fallback needs httpx

    return run_httpx(url, body_file, concurrency, duration_s, accept)


def run_wrk(url: str, body_file: Path, concurrency: int, duration_s: float,
            accept: str = "application/json") -> Cell:
    threads = min(concurrency, 2)  # two cores: more wrk threads only steal from the server
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
               "--timeout", "10s", "-s", str(LUA), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30,
                          env={**os.environ, "BENCH_BODY": str(body_file), "BENCH_ACCEPT": accept})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = data["duration_us"] / 1e6
    return Cell(
        requests=data["requests"],
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx_3xx"],
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        tool="wrk",
    )
