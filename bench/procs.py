"""Start, probe, measure and stop the servers under test.

Standard library only, so ``bench/startup`` runs with any Python that can run
the mock itself, and the probe client adds no import time of its own to what
it measures.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from machine import descendants, snapshot  # bench/ is on sys.path: these files run as scripts

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # every byte of benchmark traffic stays on loopback
ARK_PATH = "/v1/chat/completions"
ARK_BODY = b'{"model":"ark","messages":[{"role":"user","content":"hi"}]}'


def free_port() -> int:
    """Ask the kernel for an unused loopback port (tiny race, fine for a bench)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def mock_command(port: int, *extra: str) -> list[str]:
    """The documented way to start the mock: default settings unless `extra` options are given."""
    return [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), *extra]


def reference_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "bench" / "reference_app.py"), "--port", str(port), *extra]


def prism_command(port: int) -> list[str]:
    return ["npx", "--yes", "@stoplight/prism-cli@5", "mock", str(REPO / "specs" / "ark.yaml"),
            "-h", HOST, "-p", str(port)]


def post_ok(port: int, path: str = ARK_PATH, body: bytes = ARK_BODY, timeout: float = 2.0) -> int | None:
    """POST once; the status code, or None if nothing answered yet."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Server:
    """One server process under test, started in its own process group.

    The own group lets us stop exactly what we started (npx spawns a node child
    for Prism) without touching anything else on the machine.
    """

    name: str
    command: list[str]
    port: int
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    ready_ms: float | None = None
    pids: list[int] = field(default_factory=list)
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1]))

    def start(self) -> None:
        log = open(self.log_path, "wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def wait_ready(self, timeout_s: float, poll_s: float = 0.005) -> float:
        """Poll with the minimal ARK request until it answers 200; ms since Popen.

        Raises RuntimeError if the process dies or the time runs out.
        """
        assert self.proc is not None
        deadline = self.started_at + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if post_ok(self.port, timeout=max(0.5, deadline - time.perf_counter())) == 200:
                self.ready_ms = (time.perf_counter() - self.started_at) * 1000
                return self.ready_ms
            time.sleep(poll_s)
        raise RuntimeError(f"{self.name} not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def rss_kb(self, rescan: bool = False) -> tuple[int, int]:
        """(VmRSS, VmHWM) in kB summed over the process and all its descendants.

        The process tree is found once (or on `rescan`) and then reused, so that
        sampling during load does not walk all of /proc on the cores under test.
        """
        assert self.proc is not None
        if rescan or not self.pids:
            self.pids = tree_pids(self.proc.pid)
        rss = hwm = 0
        for pid in self.pids:
            status = proc_status(pid)
            rss += status.get("VmRSS", 0)
            hwm += status.get("VmHWM", 0)
        return rss, hwm

    def stop(self) -> None:
        """SIGTERM our process group, SIGKILL it after 5 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is our child's pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        try:  # children that outlived the leader (npx -> node)
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log_path.unlink(missing_ok=True)


def proc_status(pid: int) -> dict[str, int]:
    """The kB-valued Vm* lines of /proc/PID/status; {} if the process is gone."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Vm"):
                    key, _, rest = line.partition(":")
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def tree_pids(root: int) -> list[int]:
    """root and all its descendants (root first), found through the parent pid in /proc/*/stat."""
    return [root, *sorted(descendants(root, snapshot()) - {root})]


def measure_startup(command_for_port, runs: int, timeout_s: float = 60.0,
                    name: str = "mock", on_run=None) -> list[float]:
    """Start a fresh server `runs` times; ms from Popen to the first 200 answer each time."""
    times: list[float] = []
    for index in range(runs):
        port = free_port()
        server = Server(name, command_for_port(port), port)
        server.start()
        try:
            times.append(server.wait_ready(timeout_s))
        finally:
            server.stop()
        if on_run:
            on_run(index + 1, times[-1])
    return times


def get_json(port: int, path: str, timeout: float = 5.0) -> dict | None:
    """GET a JSON document from the server; None if it does not answer 200 in time."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        raw = response.read()
        return json.loads(raw) if response.status == 200 else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def wait_workers(port: int, workers: int, timeout_s: float = 20.0) -> set[int]:
    """Ask the mock's /__admin/health on fresh connections until `workers` distinct
    worker pids have answered (or the time is up): all workers serve, not just the first."""
    seen: set[int] = set()
    deadline = time.perf_counter() + timeout_s
    while len(seen) < workers and time.perf_counter() < deadline:
        health = get_json(port, "/__admin/health")
        if health and "pid" in health.get("process", {}):
            seen.add(health["process"]["pid"])
        else:
            time.sleep(0.05)
    return seen


class HealthPoller(threading.Thread):
    """GET /__admin/health every `every_s` while a load runs: active streams and
    per-process stats (each answer comes from whichever worker took it)."""

    def __init__(self, port: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.port, self.every_s = port, every_s
        self.samples: list[tuple[float, dict]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            health = get_json(self.port, "/__admin/health", timeout=5.0)
            if health is not None:
                self.samples.append((time.perf_counter(), health))

    def stop(self) -> None:
        self.halt.set()
        self.join()

    def active_streams(self, since: float = 0.0, until: float = float("inf"),
                       workers: int = 1) -> tuple[int, int, int] | None:
        """(min, max, samples) over the samples in [since, until] of the open streams
        summed over the workers (each worker's latest answer counts until that worker
        answers again; no total before all `workers` have answered once); None if no
        sample qualifies (the server did not answer its health check in time)."""
        latest: dict[int, int] = {}
        totals = []
        for at, health in self.samples:
            latest[health.get("process", {}).get("pid", 0)] = health.get("active_streams", 0)
            if since <= at <= until and len(latest) >= workers:
                totals.append(sum(latest.values()))
        return (min(totals), max(totals), len(totals)) if totals else None
