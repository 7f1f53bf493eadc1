"""Shared fixtures: a real mockserver process on a free port.

Tests talk to it over HTTP only (the openai SDK, httpx), as users do.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def ark_base(self) -> str:
        return self.url + "/v1"

    @property
    def mm_base(self) -> str:
        return self.url

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_ready(*servers: Server, timeout: float = 30, headers: dict[str, str] | None = None) -> None:
    """Wait until each server answers its health check; fail with its output if it dies or hangs."""
    for server in servers:
        deadline = time.monotonic() + timeout
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"mockserver exited with {server.process.returncode}:\n{server.output()}")
            try:
                if httpx.get(server.url + "/__admin/health", headers=headers or {}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mockserver did not answer in {timeout} s:\n{server.output()}")
            time.sleep(0.05)


def start_server(tmp: Path, *args: str, wait: bool = True) -> Server:
    port = free_port()
    log = tmp / f"server-{port}.log"
    cmd = [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--log-level", "warning", *args]
    handle = log.open("wb")
    process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=tmp,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    server = Server(f"http://127.0.0.1:{port}", process, log)
    token = args[args.index("--admin-token") + 1] if "--admin-token" in args else None
    auth = {"authorization": f"Bearer {token}"} if token else {}
    if wait:
        try:
            wait_ready(server, headers=auth)
        except RuntimeError:
            server.stop()
            raise
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default server: both bundled specs with their errata."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    """Start a server with extra command-line arguments; stopped after the test."""
    started: list[Server] = []

    def make(*args: str, wait: bool = True) -> Server:
        srv = start_server(tmp_path, *args, wait=wait)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def ark(server: Server):
    from openai import OpenAI

    return OpenAI(base_url=server.ark_base, api_key="test-key", max_retries=0)


@pytest.fixture(scope="session")
def mm(server: Server):
    from openai import OpenAI

    return OpenAI(base_url=server.mm_base, api_key="test-key", max_retries=0)


@pytest.fixture(scope="session")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port; its base URL. Stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server); the Redis backend is untested"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Redis tests, but {reason}", pytrace=False)
        pytest.skip(reason)
    import redis

    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            pytest.fail(f"redis-server exited with {proc.returncode}:\n"
                        f"{(workdir / 'redis.log').read_text(errors='replace')}", pytrace=False)
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not answer PING in 15 s", pytrace=False)
            time.sleep(0.02)
    client.close()
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
