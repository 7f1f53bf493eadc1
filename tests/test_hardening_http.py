"""Hardening of the HTTP layer (issue 11): what hostile or careless input
must get instead of a 500, a stream held open forever or a connection that
never closes.

Every check drives a real server over HTTP or raw sockets. Time appears
only as generous failure bounds ("this happens eventually"), never as a
performance bound.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import free_port
from helpers import parse_sse
from mockserver import limits

ARK = "/v1/chat/completions"
MM = "/chat/completions"
USER = {"role": "user", "content": "Hello there."}
LONG = {"role": "user", "content": "Tell me a long story about a lighthouse keeper. " * 4}


def hostport(srv) -> tuple[str, int]:
    parts = urlsplit(srv.url)
    return parts.hostname, parts.port


def openai_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def nested(depth: int) -> Any:
    """A JSON array nested ``depth`` levels deep (``[]`` is depth 1)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def no_errors(output: str) -> list[str]:
    return [line for line in output.splitlines()
            if line.startswith("ERROR") or "Traceback" in line or "Exception in ASGI" in line]


# --- 1. JSON nested past MAX_JSON_DEPTH: a 400 naming the limit, never a 500 ----------------------

def _deep_body(field: str, depth: int) -> dict[str, Any]:
    """A chat request whose total nesting is ``depth``, the deep part under ``field``."""
    if field == "metadata":  # {} > metadata {} > "k": the nested value adds depth - 2
        return {"model": "m", "messages": [USER], "metadata": {"k": nested(depth - 2)}}
    # {} > messages [] > message {} > "extra": the nested value adds depth - 3
    return {"model": "m", "messages": [{**USER, "extra": nested(depth - 3)}]}


@pytest.mark.parametrize("path", [ARK, MM])
@pytest.mark.parametrize("field", ["metadata", "messages"])
@pytest.mark.parametrize("depth", [limits.MAX_JSON_DEPTH + 1, 200, 254, 255, 300, 1000, 1023, 1024, 1025, 5000])
def test_body_nested_past_the_limit_is_a_400_naming_it(server, http, path, field, depth):
    # Written by hand: json.dumps itself recurses, and gives up near 1,000 levels.
    inner = depth - (2 if field == "metadata" else 3)
    deep = "[" * inner + "]" * inner
    if field == "metadata":
        body = f'{{"model": "m", "stream": false, "messages": [{json.dumps(USER)}], "metadata": {{"k": {deep}}}}}'
    else:
        body = f'{{"model": "m", "stream": false, "messages": [{json.dumps(USER)[:-1]}, "extra": {deep}}}]}}'
    r = http.post(path, content=body, headers={"content-type": "application/json"})
    error = openai_error(r, 400)
    assert error["code"] == "json_too_deep", error
    assert str(limits.MAX_JSON_DEPTH) in error["message"] and "MAX_JSON_DEPTH" in error["message"], error
    if depth <= 1000:  # past orjson's own limit (about 1,024) the parser cannot say where
        assert error["param"] == field, error


@pytest.mark.parametrize("path", [ARK, MM])
def test_body_nested_exactly_to_the_limit_is_served(server, http, path):
    for field in ("metadata", "messages"):
        r = http.post(path, json={**_deep_body(field, limits.MAX_JSON_DEPTH), "stream": False})
        assert r.status_code == 200, r.text[:500]
        r = http.post(path, json={**_deep_body(field, limits.MAX_JSON_DEPTH), "stream": True})
        assert r.status_code == 200 and parse_sse(r.text)[-1].data == "[DONE]", r.text[-500:]


def test_deep_bodies_are_journaled_and_log_no_error(make_server):
    srv = make_server()
    for depth in (limits.MAX_JSON_DEPTH, limits.MAX_JSON_DEPTH + 1, 300):
        httpx.post(srv.url + ARK, json={**_deep_body("messages", depth), "stream": False}, timeout=30)
    journal = httpx.get(srv.url + "/__admin/requests", timeout=30)
    assert journal.status_code == 200, journal.text[:500]
    assert sorted(e["status"] for e in journal.json()["requests"]) == [200, 400, 400]
    assert not no_errors(srv.output()), srv.output()[-3000:]


# --- 1b. WebSocket handshakes: a 4xx in the JSON error shape, no ERROR log ------------------------

def _websocket_handshake(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_websocket_upgrade_is_refused_with_a_json_error(make_server):
    srv = make_server("--log-level", "info")
    host, port = hostport(srv)
    for path in (ARK, MM, "/", "/__admin/health", "/v1/realtime", "/nowhere?x=1"):
        head, body = _websocket_handshake(host, port, path)
        status_line = head.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 4"), (path, head)
        assert b"application/json" in head.lower(), (path, head)
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["code"] == "websocket_not_supported", error
    # Still serving plain HTTP.
    assert httpx.post(srv.url + ARK, json={"model": "m", "messages": [USER]}, timeout=30).status_code == 200
    srv.stop()
    assert not no_errors(srv.output()), srv.output()[-3000:]


# --- 2. pacing: non-finite or unbounded values are a 400 naming the limit -----------------------

@pytest.mark.parametrize("prefer, names", [
    ("ttft=inf", ["ttft", "finite"]),
    ("ttft=nan", ["ttft", "finite"]),
    ("tps=nan", ["tps", "finite"]),
    ("jitter=inf", ["jitter", "finite"]),
    ("ttft=1e12", ["ttft", "MAX_TTFT_MS"]),
    ("ttft=1e308", ["ttft", "MAX_TTFT_MS"]),
    ("tps=0.000001", ["tps", "MIN_TPS"]),
    ("jitter=1e308", ["jitter", "MAX_TTFT_MS"]),
])
@pytest.mark.parametrize("stream", [True, False])
def test_prefer_pacing_out_of_bounds_is_a_400(server, prefer, names, stream):
    # A stream held open by the old behaviour fails on the read timeout.
    r = httpx.post(server.url + ARK, json={"model": "m", "stream": stream, "messages": [USER]},
                   headers={"Prefer": prefer}, timeout=20)
    error = openai_error(r, 400)
    assert error["code"] == "invalid_prefer_header", error
    assert error["param"] == "Prefer", error
    for name in names:
        assert name in error["message"], error


@pytest.mark.parametrize("prefer", ["ttft=600000, tps=1000", "tps=0.01", "ttft=599000, tps=1"])
def test_stream_planned_past_max_stream_seconds_is_a_400_before_its_first_byte(server, prefer):
    body = {"model": "m", "stream": True, "messages": [LONG]}
    r = httpx.post(server.url + ARK, json=body, headers={"Prefer": prefer}, timeout=20)
    error = openai_error(r, 400)
    assert error["code"] == "stream_too_long", error
    assert "MAX_STREAM_SECONDS" in error["message"] and f"{limits.MAX_STREAM_SECONDS:g} s" in error["message"]


def test_pacing_at_the_limits_is_still_served(server):
    body = {"model": "m", "stream": True, "messages": [USER], "max_completion_tokens": 3}
    r = httpx.post(server.url + ARK, json=body, headers={"Prefer": "ttft=0, tps=1000, jitter=0"}, timeout=30)
    assert r.status_code == 200 and parse_sse(r.text)[-1].data == "[DONE]"


def _serve_exit(*args: str) -> subprocess.CompletedProcess:
    """Run ``serve`` with args that must be refused; a server that starts instead hits the timeout."""
    cmd = [sys.executable, "-m", "mockserver", "serve", "--port", str(free_port()), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mockserver serve {' '.join(args)} was not refused: it started serving")


@pytest.mark.parametrize("args, names", [
    (["--ttft", "inf"], ["--ttft", "finite"]),
    (["--ttft", "nan"], ["--ttft", "finite"]),
    (["--ttft", "1e12"], ["--ttft", "MAX_TTFT_MS", f"{limits.MAX_TTFT_MS:g}"]),
    (["--tps", "0.000001"], ["--tps", "MIN_TPS", f"{limits.MIN_TPS:g}"]),
    (["--tps", "nan"], ["--tps", "finite"]),
    (["--jitter", "inf"], ["--jitter", "finite"]),
    (["--jitter", "1e308"], ["--jitter", "MAX_TTFT_MS"]),
    (["--shutdown-timeout", "inf"], ["--shutdown-timeout", "finite"]),
    (["--replay-speed", "nan"], ["--replay-speed", "finite"]),
    (["--header-timeout", "0"], ["--header-timeout"]),
])
def test_command_line_pacing_out_of_bounds_is_refused(args, names):
    done = _serve_exit(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    for name in names:
        assert name in done.stderr, done.stderr


# --- 3. smaller deviations ---------------------------------------------------------------------

def test_stream_cut_at_shutdown_ends_with_an_error_event(make_server):
    # At 2 tokens/s the stream would last ~20 s; the grace period is 1 s.
    srv = make_server("--tps", "2", "--shutdown-timeout", "1")
    first = threading.Event()
    got: dict[str, Any] = {}

    def read() -> None:
        buf = b""
        try:
            with httpx.stream("POST", srv.url + ARK, json={"model": "m", "stream": True, "messages": [LONG]},
                              timeout=60) as r:
                got["status"] = r.status_code
                for piece in r.iter_raw():
                    buf += piece
                    if b"\n\n" in buf:
                        first.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            got["error"] = exc
        finally:
            got["text"] = buf.decode(errors="replace")
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(30), "no first event"
    srv.process.send_signal(signal.SIGTERM)
    reader.join(30)
    assert not reader.is_alive(), "the stream was not cut"
    assert srv.process.wait(30) == 0, srv.output()[-2000:]
    assert "error" not in got, got
    events = parse_sse(got["text"])
    assert "[DONE]" not in got["text"]
    last = events[-1]
    assert last.event == "error", got["text"][-500:]
    error = last.json()["error"]
    assert error["code"] == "server_shutting_down" and set(error) == {"message", "type", "param", "code"}
    assert all(e.event is None for e in events[:-1])
    assert not no_errors(srv.output().replace("ERROR uvicorn.error: Cancel", "")), srv.output()[-3000:]


@pytest.mark.parametrize("quiet", [True, False])
def test_workers_log_no_access_lines(make_server, quiet):
    args = ["--workers", "2", "--log-level", "info"] + (["--quiet"] if quiet else [])
    srv = make_server(*args)
    for _ in range(6):
        r = httpx.post(srv.url + ARK, json={"model": "m", "messages": [USER]}, timeout=30,
                       headers={"connection": "close"})
        assert r.status_code == 200
    time.sleep(0.5)  # request lines are flushed every 50 ms
    srv.stop()
    out = srv.output()
    assert "uvicorn.access" not in out and '"POST /v1/chat/completions HTTP/1.1"' not in out, out[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("POST /v1/chat/completions 200")]
    assert len(lines) == (0 if quiet else 6), out[-3000:]


def test_non_loopback_warning_with_a_token_says_the_admin_api_is_protected(make_server):
    srv = make_server("--host", "0.0.0.0", "--admin-token", "secret")
    warning = next(line for line in srv.output().splitlines() if line.startswith("warning: binding"))
    assert "0.0.0.0" in warning
    assert "without authentication" in warning and "requires the --admin-token" in warning, warning
    assert "consider --admin-token" not in warning and "protect the admin API" not in warning, warning


def test_non_loopback_warning_without_a_token_names_the_admin_api(make_server):
    srv = make_server("--host", "0.0.0.0")
    warning = next(line for line in srv.output().splitlines() if line.startswith("warning: binding"))
    assert "/__admin" in warning and "--admin-token" in warning, warning


# --- 4. slow request heads (slowloris) ----------------------------------------------------------

HEAD_TIMEOUT = 1.0
BOUND = 30.0  # a generous bound for "closed eventually"; only its failure is timed


def _read_until_closed(sock: socket.socket, bound: float = BOUND) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True), or what came before ``bound`` (False)."""
    sock.settimeout(bound)
    answer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return answer, True
            answer += data
    except ConnectionResetError:
        return answer, True
    except TimeoutError:
        return answer, False


@pytest.fixture
def head_server(make_server):
    return make_server("--header-timeout", str(HEAD_TIMEOUT))


def test_half_a_request_line_is_answered_408_and_closed(head_server):
    host, port = hostport(head_server)
    slow = socket.create_connection((host, port), timeout=10)
    slow.sendall(b"POST /v1/chat/compl")
    # Another connection is served meanwhile.
    r = httpx.post(head_server.url + ARK, json={"model": "m", "messages": [USER]}, timeout=30)
    assert r.status_code == 200
    answer, closed = _read_until_closed(slow)
    slow.close()
    assert closed, "the connection with half a request line was not closed"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "--header-timeout" in error["message"], error


def test_a_head_dribbled_byte_by_byte_is_closed(head_server):
    host, port = hostport(head_server)
    request = (f"POST {ARK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + "X-Pad: y\r\n" * 200).encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        deadline = time.monotonic() + BOUND
        closed = False
        for byte in request:  # one byte every 50 ms: always "active", never done
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() > deadline:
                break
        if not closed:
            _, closed = _read_until_closed(sock, 5)
    assert closed, "a connection sending its head one byte at a time was kept open"


def test_an_idle_connection_is_closed(head_server):
    host, port = hostport(head_server)
    with socket.create_connection((host, port), timeout=10) as sock:
        answer, closed = _read_until_closed(sock)
    assert closed and answer == b"", answer[:200]


def test_a_late_head_on_a_keep_alive_connection_is_closed(head_server):
    host, port = hostport(head_server)
    body = json.dumps({"model": "m", "messages": [USER]}).encode()
    request = (f"POST {ARK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        sock.sendall(request[:30])  # the next request's head, never finished
        answer, closed = _read_until_closed(sock)
    assert closed, "a keep-alive connection with an unfinished second head was kept open"
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_many_slow_heads_are_all_closed_and_the_server_keeps_serving(head_server):
    host, port = hostport(head_server)
    socks = []
    for n in range(300):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " if n % 2 else b"G")
        socks.append(sock)
    try:
        r = httpx.post(head_server.url + ARK, json={"model": "m", "messages": [USER]}, timeout=30)
        assert r.status_code == 200
        deadline = time.monotonic() + BOUND
        for sock in socks:
            _, closed = _read_until_closed(sock, max(0.1, deadline - time.monotonic()))
            assert closed, "a slow connection was still open"
    finally:
        for sock in socks:
            sock.close()
    r = httpx.post(head_server.url + ARK, json={"model": "m", "messages": [USER]}, timeout=30)
    assert r.status_code == 200
    assert not no_errors(head_server.output()), head_server.output()[-3000:]


def test_a_slow_head_within_the_timeout_is_served(make_server):
    srv = make_server("--header-timeout", "20")
    host, port = hostport(srv)
    body = json.dumps({"model": "m", "messages": [USER]}).encode()
    request = (f"POST {ARK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.create_connection((host, port), timeout=10) as sock:
        for piece in (request[:10], request[10:40], request[40:]):
            sock.sendall(piece)
            time.sleep(0.3)
        answer, closed = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_help_shows_the_header_timeout():
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert "--header-timeout" in done.stdout
