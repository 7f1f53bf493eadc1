"""`make bench`: the mock against a bare reference server and Prism, in one run.

All servers are started first and stay up together (the mock and the
reference also with --workers 2); then every cell (a row at one concurrency)
is measured on each server in turn, so slow drift of the machine (thermal,
noisy neighbours) hits all of them alike and the ratios compare like with
like. Then two scenarios on fresh mocks: N concurrent paced SSE streams
(--streams, on by default) and a long memory soak (--soak N, off by default).
Results go to bench/results/latest.json.

    python bench/run.py [--quick] [--duration S] [--concurrency 1,16,64] [--no-prism]
                        [--streams 1000] [--stream-workers 1,2] [--soak N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from load import load_tool, run_cell  # noqa: E402
import sse_load  # noqa: E402
from machine import ForeignCpu  # noqa: E402
from procs import (HOST, REPO, Server, free_port, measure_startup, mock_command,  # noqa: E402
                   prism_command, reference_command, wait_workers)
from soak import soak  # noqa: E402
from streaming import run_streams  # noqa: E402

BENCH = REPO / "bench"
BODIES = BENCH / "bodies"
RESULTS = BENCH / "results" / "latest.json"
STARTUP_TARGET_MS = 1000.0
PRISM_READY_S = 60.0
PRISM_INSTALL_S = 180.0
WORKERS2_CONCURRENCY = (16, 64)  # the --workers 2 servers are measured on the ark row at these only
STREAM_TPS, STREAM_TTFT_MS = 20, 200  # --streams scenario: a 50 ms gap between chunks

# Not measured by this harness: the figures quoted in the issue, measured before
# this project on this machine (fakellm 0.3.5 serves no spec and validates
# nothing). Printed beside the mock's numbers for scale only.
FAKELLM = {
    "name": "fakellm 0.3.5",
    "note": "issue's figures, measured before this project on this machine; no spec, no validation; "
            "NOT measured in this run",
    "cells": [{"concurrency": 1, "rps": 2733.0, "p99_ms": None},
              {"concurrency": 16, "rps": 3876.0, "p99_ms": 8.0},
              {"concurrency": 64, "rps": 3660.0, "p99_ms": 28.0}],
}


@dataclass(frozen=True)
class Row:
    """One kind of request, measured at each concurrency."""

    name: str
    path: str
    body: Path
    prism: bool  # Prism mocks specs/ark.yaml only
    accept: str = "application/json"


ROWS = [
    Row("ark", "/v1/chat/completions", BODIES / "ark.json", prism=True),
    Row("multimedia+tools", "/chat/completions", BODIES / "multimedia_tools.json", prism=False),
    # whole SSE streams through wrk: server-side stream throughput, which the
    # Python streaming client (TTFB, [DONE]) cannot reach on two cores
    Row("ark stream (wrk)", "/v1/chat/completions", BODIES / "ark_stream.json", prism=True,
        accept="text/event-stream"),
]
STREAM_PATH = "/v1/chat/completions"
STREAM_BODY = BODIES / "ark_stream.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the mock against a bare reference and Prism.")
    parser.add_argument("--quick", action="store_true", help="3 s per cell, concurrency 16 only")
    parser.add_argument("--duration", type=float, help="seconds per cell (default: 10, or 3 with --quick)")
    parser.add_argument("--concurrency", help="comma-separated list (default: 1,16,64, or 16 with --quick)")
    parser.add_argument("--startup-runs", type=int, default=5, help="fresh starts for the start-up median")
    parser.add_argument("--no-prism", action="store_true", help="do not start Prism")
    parser.add_argument("--no-workers2", action="store_true", help="do not start the --workers 2 servers")
    parser.add_argument("--streams", type=int,
                        help="concurrent SSE streams in the streams scenario, 0 to skip (default: 1000, "
                             "or 200 with --quick)")
    parser.add_argument("--stream-workers", default="1,2",
                        help="mock worker counts the streams scenario runs with (default: 1,2)")
    parser.add_argument("--stream-procs", type=int, default=1,
                        help="client processes for the streams scenario (default: 1; 2 is used "
                             "automatically if one process distorts)")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="also drive N non-streaming requests through a fresh mock and watch its RSS")
    parser.add_argument("--soak-workers", type=int, default=1, help="mock workers for the soak (default: 1)")
    parser.add_argument("--soak-max-s", type=float, default=1800.0, help="time bound of the soak (default: 1800)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default: {RESULTS})")
    args = parser.parse_args()
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    default = "16" if args.quick else "1,16,64"
    args.concurrency = [int(c) for c in (args.concurrency or default).split(",")]
    if args.streams is None:
        args.streams = 200 if args.quick else 1000
    args.stream_workers = [int(w) for w in args.stream_workers.split(",") if w.strip()]
    return args


def prism_unavailable(no_prism: bool) -> str | None:
    """Why Prism cannot run, or None. Fetches it into the npx cache first (bounded),
    so the 60 s start-up allowance measures starting, not downloading."""
    if no_prism:
        return "--no-prism given"
    if not shutil.which("npx"):
        return "npx not found on PATH"
    try:
        subprocess.run(["npx", "--yes", "@stoplight/prism-cli@5", "--version"], cwd=REPO, check=True,
                       capture_output=True, timeout=PRISM_INSTALL_S)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot fetch @stoplight/prism-cli@5 with npx: {exc}"
    return None


def probe(port: int, row: Row) -> dict:
    """One request before the load: the status and the kind of answer, so a run
    of fast 4xx answers cannot pass for throughput unnoticed."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", row.path, body=row.body.read_bytes(),
                     headers={"Content-Type": "application/json", "Accept": row.accept})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    result: dict = {"status": response.status, "bytes": len(raw)}
    if raw.startswith(b"data: "):
        result["sse_events"] = raw.count(b"data: ")
        result["ends_with_done"] = raw.rstrip().endswith(b"data: [DONE]")
        return result
    try:
        choice = json.loads(raw)["choices"][0]
        message = choice.get("message", {})
        result["finish_reason"] = choice.get("finish_reason")
        result["tool_call"] = bool(message.get("tool_calls"))
        if isinstance(message.get("content"), str):
            result["content_is_json"] = _is_json(message["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        result["body_start"] = raw[:200].decode(errors="replace")
    return result


def _is_json(text: str) -> bool:
    """Whether a message content parses as JSON: what a json_schema response_format asks for."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class RssSampler(threading.Thread):
    """Samples VmRSS of every server's process tree while the load runs; the
    kernel's VmHWM, read at the end, also catches peaks between samples."""

    def __init__(self, servers: list[Server], every_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.servers, self.every_s = servers, every_s
        self.peak_kb = {s.name: 0 for s in servers}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            for server in self.servers:
                self.peak_kb[server.name] = max(self.peak_kb[server.name], server.rss_kb()[0])


def measured(server: str, row: Row, conc: int) -> bool:
    """Which cells a server takes part in: Prism serves ARK only, and the
    --workers 2 servers are measured on the ark row at c=16 and c=64."""
    if server == "prism":
        return row.prism
    if server.endswith(" w2"):
        return row.name == "ark" and conc in WORKERS2_CONCURRENCY
    return True


def start_servers(prism_reason: str | None, workers2: bool, results: dict) -> list[Server]:
    servers = []
    plans = [("mock", mock_command, 60.0), ("reference", reference_command, 60.0)]
    if workers2:
        plans += [("mock w2", lambda port: mock_command(port, "--workers", "2"), 60.0),
                  ("reference w2", lambda port: reference_command(port, "--workers", "2"), 60.0)]
    if prism_reason is None:
        plans.append(("prism", prism_command, PRISM_READY_S))
    for name, command, ready_s in plans:
        port = free_port()
        server = Server(name, command(port), port)
        server.start()
        try:
            server.wait_ready(ready_s)
        except RuntimeError as exc:
            server.stop()
            if name != "prism":
                raise
            results["skipped"]["prism"] = f"did not start: {exc}"
            print(f"Prism skipped: did not start within {ready_s:.0f} s")
            continue
        note = ""
        if name == "mock w2":  # the first worker answered; wait until both have
            pids = wait_workers(port, 2)
            note = f", {len(pids)} worker pids answered /__admin/health"
        elif name.endswith(" w2"):
            time.sleep(1.5)  # no health endpoint: give the second worker time to start
        time.sleep(0.5)  # let start-up garbage settle before reading idle memory
        rss, hwm = server.rss_kb(rescan=True)
        results["servers"][name] = {"port": port, "ready_ms": server.ready_ms, "idle_rss_kb": rss,
                                    "startup_hwm_kb": hwm, "probes": {}}
        print(f"started {name:12s} on {HOST}:{port} in {server.ready_ms:7.1f} ms, "
              f"idle RSS {rss / 1024:.1f} MiB{note}")
        servers.append(server)
    return servers


def main() -> int:
    args = parse_args()
    began = time.perf_counter()
    # 1,000 streams need 1,000+ descriptors in the client and in the server
    # (which inherits this limit): raise the soft limit to the hard one
    nofile = sse_load.raise_nofile(args.streams + 256)
    tool = load_tool()
    results: dict = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
                 "python": platform.python_version(), "duration_s": args.duration,
                 "concurrency": args.concurrency, "load_tool": tool, "host": HOST,
                 "rlimit_nofile": list(nofile), "loadavg_at_start": _loadavg()},
        "startup": {}, "servers": {}, "skipped": {}, "requests": [], "streaming": [],
        "static_reference": FAKELLM, "streams_scenario": [], "soak": None,
    }
    print(f"NOTE: {os.cpu_count()} CPU(s); the load generator ({tool}, and the Python streaming client) "
          "shares them with the server under test, so absolute numbers understate a dedicated server. "
          "Compare the ratios.")
    load = results["meta"]["loadavg_at_start"]
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPU(s); "
          "CPU time of other processes is counted per phase and reported at the end\n")
    foreign = ForeignCpu()
    foreign.start()
    foreign.set_phase("start-up")
    if tool != "wrk":
        print("wrk not found: using the asyncio+httpx load generator (much slower than wrk).\n")

    print(f"start-up: {args.startup_runs} fresh starts of each Python server (Popen -> first 200 answer)")
    for name, command in (("mock", mock_command), ("reference", reference_command)):
        runs = measure_startup(command, args.startup_runs, name=name)
        results["startup"][name] = {"runs_ms": runs, "median_ms": statistics.median(runs)}
        print(f"  {name:9s} median {statistics.median(runs):7.1f} ms  runs " + " ".join(f"{r:.0f}" for r in runs))

    prism_reason = prism_unavailable(args.no_prism)
    if prism_reason:
        results["skipped"]["prism"] = prism_reason
        print(f"Prism skipped: {prism_reason}")
    print()
    servers = start_servers(prism_reason, not args.no_workers2, results)
    if "prism" in results["servers"]:
        results["startup"]["prism"] = {"runs_ms": [results["servers"]["prism"]["ready_ms"]],
                                       "median_ms": results["servers"]["prism"]["ready_ms"],
                                       "note": "one start, via npx with the package cached"}
    foreign.set_phase("cells")
    names = [s.name for s in servers]
    others = [n for n in ("reference", "prism") if n in names]  # the ratio columns
    for server in servers:
        server.rss_kb(rescan=True)  # the worker processes of the w2 servers exist by now
    sampler = RssSampler(servers)
    sampler.start()
    try:
        for server in servers:
            for row in ROWS:
                if any(measured(server.name, row, c) for c in args.concurrency):
                    results["servers"][server.name]["probes"][row.name] = probe(server.port, row)
        print("\nprobes:", json.dumps({n: results["servers"][n]["probes"] for n in names}))
        stream_servers = [s for s in servers if not s.name.endswith(" w2")]
        cells = (sum(measured(s.name, r, c) for r in ROWS for c in args.concurrency for s in servers)
                 + len(args.concurrency) * len(stream_servers))
        print(f"\nmeasuring ~{cells} cells of {args.duration:g} s each ...")
        for row in ROWS:
            for conc in args.concurrency:
                for server in servers:
                    if not measured(server.name, row, conc):
                        continue
                    cell = run_cell(f"http://{HOST}:{server.port}{row.path}", row.body, conc, args.duration,
                                    row.accept)
                    results["requests"].append({"row": row.name, "concurrency": conc, "server": server.name,
                                                **cell.as_dict()})
                    print(f"  {row.name:17s} c={conc:<3d} {server.name:12s} {cell.rps:9.1f} req/s  "
                          f"p50 {cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms  non-2xx {cell.non_2xx}")
                    time.sleep(0.3)
        for conc in args.concurrency:
            for server in stream_servers:
                cell = run_streams(f"http://{HOST}:{server.port}{STREAM_PATH}", STREAM_BODY, conc, args.duration)
                results["streaming"].append({"concurrency": conc, "server": server.name, **cell.as_dict()})
                print(f"  {'ark stream':17s} c={conc:<3d} {server.name:12s} {cell.chunks_per_s:9.1f} chunks/s  "
                      f"TTFB p50 {cell.ttfb_p50_ms:7.2f} ms  DONE p50 {cell.done_p50_ms:7.2f} ms")
                time.sleep(0.3)
    finally:
        sampler.halt.set()
        sampler.join()
        for server in servers:
            if server.proc and server.proc.poll() is None:
                results["servers"][server.name]["peak_rss_sampled_kb"] = sampler.peak_kb[server.name]
                results["servers"][server.name]["peak_hwm_kb"] = server.rss_kb(rescan=True)[1]
            else:
                results["servers"].get(server.name, {})["exited"] = server.proc and server.proc.returncode
            server.stop()

    results["ratios"] = {"requests": report.request_ratios(results["requests"], others),
                         "streaming": report.stream_ratios(results["streaming"], others)}
    if args.streams > 0:
        foreign.set_phase("streams")
        stream_duration = max(args.duration, 3.0)
        print(f"\nstreams scenario: {args.streams} concurrent SSE streams, mock --tps {STREAM_TPS} "
              f"--ttft {STREAM_TTFT_MS}, {stream_duration:g} s measured after a 2 s ramp")
        for target, workers in [(t, w) for w in args.stream_workers for t in ("mock", "reference")]:
            cell = sse_load.scenario(args.streams, stream_duration, workers, args.stream_procs,
                                     tps=STREAM_TPS, ttft_ms=STREAM_TTFT_MS, target=target)
            results["streams_scenario"].append(cell)
            print(f"  {target} workers {workers}: {cell['streams_measured']} streams measured, "
                  f"errors {cell['non_2xx']}/{cell['incomplete']}/{cell['errors']}, "
                  f"gap p50 {cell['gap_p50_ms']:.1f} p99 {cell['gap_p99_ms']:.1f} max {cell['gap_max_ms']:.1f} ms")
    if args.soak > 0:
        foreign.set_phase("soak")
        print(f"\nsoak: {args.soak:,} non-streaming ARK requests through a fresh mock "
              f"(time bound {args.soak_max_s:.0f} s) ...")
        results["soak"] = soak(args.soak, args.soak_workers, args.soak_max_s)
    results["meta"]["foreign_cpu"] = foreign.stop()
    results["meta"]["elapsed_s"] = round(time.perf_counter() - began, 1)
    print_summary(results, others)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {args.output}")
    return 0


def _loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine shows here."""
    return [round(x, 2) for x in os.getloadavg()]


FOREIGN_CORES_WARN = 0.15  # other processes' average CPU use (in cores) above which the run warns


def print_summary(results: dict, others: list[str]) -> None:
    meta = results["meta"]
    print(f"\n=== Non-streaming ({meta['load_tool']}, {meta['duration_s']:g} s per cell; "
          "latency = whole response) ===")
    print(report.request_table(results["requests"]))
    print(f"\n=== Streaming, ARK \"stream\": true (asyncio+httpx client, {meta['duration_s']:g} s per cell) ===")
    print(report.stream_table(results["streaming"]))
    print("\n=== Ratios mock/other: req/s and chunks/s below 1.00x = mock slower; "
          "latencies above 1.00x = mock slower ===")
    print(report.request_ratio_table(results["ratios"]["requests"], others))
    print()
    print(report.stream_ratio_table(results["ratios"]["streaming"], others))
    if any(c["server"] == "mock w2" for c in results["requests"]):
        print("\n=== Workers: ARK non-streaming, 1 vs 2 worker processes (wrk, same run) ===")
        print(report.workers_table(results["requests"]))
    static = results["static_reference"]
    print(f"\n=== For scale: {static['name']}, NOT MEASURED IN THIS RUN "
          "(the issue's fixed figures, measured before this project on this machine; "
          "it serves no spec and validates nothing) ===")
    print(report.static_table(static, results["requests"]))
    if results["streams_scenario"]:
        first = results["streams_scenario"][0]
        print(f"\n=== {first['streams']} concurrent SSE streams: ARK \"stream\": true, mock {first['server_args']}"
              f" (configured gap {first['gap_configured_ms']:g} ms, TTFT {first['ttft_configured_ms']:g} ms); "
              "client: raw asyncio sockets on uvloop, timestamps on arrival ===")
        print(report.streams_scenario_table(results["streams_scenario"]))
        for cell in results["streams_scenario"]:
            verdict = "within" if cell["gap_p99_within_10pct"] else "NOT within"
            errors = cell["non_2xx"] + cell["incomplete"] + cell["errors"]
            print(f"{cell['server']} workers {cell['workers']}: gap p99 {cell['gap_p99_ms']:.1f} ms is {verdict} 10 % of "
                  f"{cell['gap_configured_ms']:g} ms; errors {errors}" + ("" if errors == 0 else " (must be 0)")
                  + (f"; client ran in 2 processes because {cell['retried_because']} with one"
                     if cell.get("retried_because") else f"; client in {cell['client_procs']} process(es)"))
    if results["soak"] is not None:
        print("\n=== Soak: non-streaming ARK, 90 % plain + 10 % with thread_id (wrk + soak.lua) ===")
        print("\n".join(report.soak_lines(results["soak"])))
    print("\n=== Start-up and memory ===")
    rows = []
    for name, info in results["servers"].items():
        start = results["startup"].get(name, {}).get("median_ms")
        rows.append([name, report.fmt(start, 8), report.fmt(info.get("idle_rss_kb", 0) / 1024, 8),
                     report.fmt(info.get("peak_rss_sampled_kb", 0) / 1024, 8),
                     report.fmt(info.get("peak_hwm_kb", 0) / 1024, 8)])
    print(report.table(["server", "start ms", "idle MiB", "peak MiB", "HWM MiB"], rows))
    mock_start = results["startup"]["mock"]["median_ms"]
    verdict = "within" if mock_start <= STARTUP_TARGET_MS else "OVER"
    print(f"mock start-up median {mock_start:.0f} ms: {verdict} the {STARTUP_TARGET_MS:.0f} ms target "
          "(median of fresh starts; Prism's is one start through npx)")
    for name, reason in results["skipped"].items():
        print(f"skipped {name}: {reason.splitlines()[0]}")
    print(f"NOTE: load generator and server share {meta['cpus']} CPU(s); total bench time {meta['elapsed_s']} s")
    busy = []
    for phase, info in meta["foreign_cpu"].items():
        if phase == "start":
            continue
        top = ", ".join(f"{comm} {sec:.0f} s" for comm, sec in info["top"] if sec >= 0.5) or "nothing notable"
        print(f"other processes during {phase}: {info['foreign_cores']:.2f} cores on average "
              f"({info['foreign_cpu_s']:.0f} CPU-s in {info['wall_s']:.0f} s; {top})")
        if info["foreign_cores"] > FOREIGN_CORES_WARN:
            busy.append(phase)
    if busy:
        print(f"WARNING: other work on this machine used more than {FOREIGN_CORES_WARN} cores on average during "
              f"{', '.join(busy)}: those numbers (the ratios too) are distorted; run again on a quiet machine")


if __name__ == "__main__":
    sys.exit(main())
