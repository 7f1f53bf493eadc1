"""Record and replay, end to end, through real server processes and the openai SDK.

The "real" upstream is always local: a second mockserver, or a tiny ASGI app
served by uvicorn in a thread on 127.0.0.1. Never the internet.

  1. record through the proxy (both contracts, streamed and not, tool calls),
     replay without the upstream: identical bytes (``--replay-ids keep``),
     identical content with fresh ids, and each mode served the other way round;
  2. timing: a slow upstream's pace is reproduced at ``--replay-speed 1``;
  3. secrets never reach the cassette directory;
  4. a SIGKILLed recorder leaves only complete cassettes;
  5. upstream down / upstream errors, recorded only with ``--record-errors``;
  6. upstream contract violations are relayed, journaled and logged;
  7. recorded conversations (.jsonl) replay by prefix, with a divergence report;
  8. drift check: a cassette the contract no longer accepts is rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from conftest import Server, free_port, start_server, wait_ready
from helpers import oracle, parse_sse

DATA = Path(__file__).parent / "recording_data"
CONVERSATIONS = DATA / "conversations"

UPSTREAM_KEY = "sk-test-SECRET"
CLIENT_KEY = "sk-client-OWN-KEY-4242"
REDACTED_USER = "alice-secret-user-7731"
KEY_ENV = "MY_KEY"

PATHS = {"ark": "/v1/chat/completions", "multimedia": "/chat/completions"}

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


# --- servers -----------------------------------------------------------------------------------




@contextlib.contextmanager
def env_var(name: str, value: str) -> Iterator[None]:
    """Popen copies os.environ: set the key only while the recorder is spawned."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


class Servers:
    """Start several servers at once (start-up is the slow part) and stop them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Server] = []

    def spawn(self, *args: str, key: str | None = None) -> Server:
        """Start without waiting (a recorder need not wait for its upstream)."""
        with env_var(KEY_ENV, key) if key is not None else contextlib.nullcontext():
            server = start_server(self.tmp, *args, wait=False)
        self.started.append(server)
        return server

    def start(self, *argsets: tuple[str, ...], key: str | None = None) -> list[Server]:
        servers = [self.spawn(*args, key=key) for args in argsets]
        wait_ready(*servers)
        return servers

    def one(self, *args: str, key: str | None = None) -> Server:
        return self.start(args, key=key)[0]

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    group = Servers(tmp_path)
    yield group
    group.stop_all()


def recorder_args(directory: Path, upstream: str, *extra: str) -> tuple[str, ...]:
    return ("--record", str(directory), "--upstream", upstream, "--upstream-key-env", KEY_ENV, *extra)


def sdk(server: Server, spec: str, key: str = CLIENT_KEY, timeout: float = 30) -> OpenAI:
    base = server.ark_base if spec == "ark" else server.mm_base
    return OpenAI(base_url=base, api_key=key, max_retries=0, timeout=timeout)


def journal(server: Server) -> list[dict]:
    return httpx.get(server.url + "/__admin/requests", timeout=10).json()["requests"]


def lint(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mockserver", "lint", "--fixtures", str(directory)],
                          capture_output=True, text=True, timeout=60)


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


# --- capturing exchanges through the SDK ---------------------------------------------------------


@dataclass
class Captured:
    status: int
    headers: httpx.Headers
    raw: bytes
    times: list[float] = field(default_factory=list)  # arrival of each SSE event (monotonic)

    @property
    def streamed(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def data_lines(self) -> list[str]:
        return [line for line in self.raw.decode().split("\n") if line.startswith("data:")]

    def events(self) -> list:
        return parse_sse(self.raw.decode())

    def chunks(self) -> list[dict]:
        events = self.events()
        assert events[-1].data == "[DONE]", self.raw[-200:]
        return [e.json() for e in events[:-1]]

    def json(self) -> dict:
        return json.loads(self.raw)

    def duration(self) -> float:
        """From the first event to the last, as the client saw them."""
        return self.times[-1] - self.times[0]


def capture(client: OpenAI, **kwargs: Any) -> Captured:
    """One exchange through the SDK's raw-response API: the bytes exactly as sent."""
    if kwargs.get("stream"):
        with client.chat.completions.with_streaming_response.create(**kwargs) as resp:
            raw, times = b"", []
            for piece in resp.iter_bytes():
                raw += piece
                now = time.monotonic()
                times += [now] * (raw.count(b"\n\n") - len(times))
            return Captured(resp.status_code, resp.headers, raw, times)
    resp = client.chat.completions.with_raw_response.create(**kwargs)
    return Captured(resp.status_code, resp.headers, resp.http_response.content)


def content_of(chunks: list[dict]) -> str:
    return "".join(((c.get("choices") or [{}])[0].get("delta") or {}).get("content") or "" for c in chunks
                   if c.get("choices"))


def calls_of(chunks: list[dict]) -> list[dict]:
    """Tool calls accumulated from stream deltas (id, name, arguments)."""
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] += (call.get("function") or {}).get("name") or ""
                slot["arguments"] += (call.get("function") or {}).get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def finish_of(chunks: list[dict]) -> str | None:
    found = [ch["finish_reason"] for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")]
    assert len(found) == 1, found
    return found[0]


def message_calls(message: dict) -> list[dict]:
    return [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message.get("tool_calls") or []]


def without_ids(document: dict) -> dict:
    return {k: v for k, v in document.items() if k not in ("id", "created")}


# --- 1. record, then replay without the upstream --------------------------------------------------

# name -> (spec, request). Every request is distinct, so each gets its own cassette.
EXCHANGES: dict[str, tuple[str, dict]] = {
    "mm-json": ("multimedia", dict(model="gpt-4o", stream=False, user=REDACTED_USER,
                                   messages=[{"role": "user", "content": "Record me as JSON, please."}])),
    "mm-stream": ("multimedia", dict(model="gpt-4o", stream=True, user=REDACTED_USER,
                                     stream_options={"include_usage": True},
                                     messages=[{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "Record me as a stream, please."}])),
    "mm-tool-stream": ("multimedia", dict(model="gpt-4o", stream=True, tools=[WEATHER_TOOL], tool_choice="required",
                                          messages=[{"role": "user", "content": "What is the weather in Paris?"}])),
    "mm-tool-json": ("multimedia", dict(model="gpt-4o", stream=False, tools=[WEATHER_TOOL], tool_choice="required",
                                        messages=[{"role": "user", "content": "What is the weather in Rome?"}])),
    "ark-json": ("ark", dict(model="ark-chat", stream=False,
                             messages=[{"role": "user", "content": "Record ARK as JSON."}])),
    "ark-stream": ("ark", dict(model="ark-chat", stream=True,
                               messages=[{"role": "user", "content": "Record ARK as a stream."}])),
}


@dataclass
class Session:
    directory: Path
    recorded: dict[str, Captured]
    recorder_log: str
    keep: Server  # --replay-ids keep
    fresh: Server  # --replay-ids fresh


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("recording")
    directory = tmp / "cassettes"
    group = Servers(tmp)
    try:
        upstream = group.spawn()
        recorder = group.spawn(*recorder_args(directory, upstream.url, "--redact", "user"), key=UPSTREAM_KEY)
        wait_ready(upstream, recorder)
        recorded = {}
        for name, (spec, request) in EXCHANGES.items():
            recorded[name] = capture(sdk(recorder, spec), **copy.deepcopy(request))
            assert recorded[name].status == 200
        # Cassettes are written after the exchange: wait for all of them.
        deadline = time.monotonic() + 10
        while len(list(directory.rglob("*.cassette.json"))) < len(EXCHANGES) and time.monotonic() < deadline:
            time.sleep(0.05)
        sources = [e["source"] for e in journal(recorder)]
        assert sources == ["upstream"] * len(EXCHANGES), sources
        recorder.stop()
        upstream.stop()
        recorder_log = recorder.output()
        # Replay without the upstream; a different seed and --unmatched error make sure
        # no answer can come from the generator.
        common = ("--fixtures", str(directory), "--replay-speed", "0", "--unmatched", "error", "--seed", "4242")
        keep, fresh = group.start((*common, "--replay-ids", "keep"), (*common, "--replay-ids", "fresh"))
        yield Session(directory, recorded, recorder_log, keep, fresh)
    finally:
        group.stop_all()


def test_one_cassette_per_exchange(session):
    files = sorted(session.directory.rglob("*.cassette.json"))
    assert len(files) == len(EXCHANGES), files
    specs = sorted(p.parent.name for p in files)
    assert specs == ["ark", "ark"] + ["multimedia"] * 4
    assert lint(session.directory).returncode == 0
    health = httpx.get(session.keep.url + "/__admin/fixtures").json()
    assert health["errors"] == []


@pytest.mark.parametrize("name", EXCHANGES)
def test_replay_keep_is_identical(session, name):
    spec, request = EXCHANGES[name]
    recorded = session.recorded[name]
    replayed = capture(sdk(session.keep, spec), **copy.deepcopy(request))
    assert replayed.status == 200
    assert replayed.streamed == recorded.streamed == bool(request["stream"])
    if recorded.streamed:
        # Same chunks, same boundaries, byte for byte.
        assert replayed.data_lines() == recorded.data_lines()
        assert replayed.data_lines()[-1] == "data: [DONE]"
    else:
        assert replayed.json() == recorded.json()
    entry = journal(session.keep)[-1]
    assert entry["source"].startswith("cassette:") and entry["status"] == 200, entry
    # The replay is still checked against the contract, by an independent validator.
    oracle(session.keep.url, spec).check_exchange(
        PATHS[spec], request, httpx.Response(200, headers=replayed.headers, content=replayed.raw))


@pytest.mark.parametrize("name", EXCHANGES)
def test_replay_fresh_ids_same_content(session, name):
    spec, request = EXCHANGES[name]
    recorded = session.recorded[name]
    replayed = capture(sdk(session.fresh, spec), **copy.deepcopy(request))
    assert replayed.status == 200
    if recorded.streamed:
        old, new = recorded.chunks(), replayed.chunks()
        assert len(new) == len(old)
        assert {c["id"] for c in new}.isdisjoint({c["id"] for c in old})
        assert len({c["id"] for c in new}) == 1  # one completion, one id
        assert [without_ids(c) for c in new] == [without_ids(c) for c in old]
    else:
        old, new = recorded.json(), replayed.json()
        assert new["id"] != old["id"]
        assert without_ids(new) == without_ids(old)


@pytest.mark.parametrize("name", ["mm-stream", "mm-tool-stream", "ark-stream"])
def test_streamed_recording_served_as_json(session, name):
    spec, request = EXCHANGES[name]
    chunks = session.recorded[name].chunks()
    client = sdk(session.keep, spec)
    as_json = {k: v for k, v in copy.deepcopy(request).items() if k != "stream_options"}  # stream-only
    completion = client.chat.completions.create(**{**as_json, "stream": False})
    message = completion.choices[0].message
    assert completion.id == chunks[0]["id"]
    assert (message.content or "") == content_of(chunks)
    assert [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in message.tool_calls or []] == calls_of(chunks)
    assert completion.choices[0].finish_reason == finish_of(chunks)
    usage = [c["usage"] for c in chunks if c.get("usage")]
    if usage:
        assert completion.usage.model_dump(exclude_none=True) == usage[-1]


@pytest.mark.parametrize("name", ["mm-json", "mm-tool-json", "ark-json"])
def test_json_recording_served_as_stream(session, name):
    spec, request = EXCHANGES[name]
    recorded = session.recorded[name].json()
    message = recorded["choices"][0]["message"]
    replayed = capture(sdk(session.keep, spec), **{**copy.deepcopy(request), "stream": True})
    chunks = replayed.chunks()
    assert content_of(chunks) == (message.get("content") or "")
    assert calls_of(chunks) == message_calls(message)
    assert finish_of(chunks) == recorded["choices"][0]["finish_reason"]
    assert {c["id"] for c in chunks} == {recorded["id"]}
    oracle(session.keep.url, spec).check_exchange(
        PATHS[spec], request, httpx.Response(200, headers=replayed.headers, content=replayed.raw))
    if spec == "multimedia":
        # The SDK's own stream helper accumulates the replayed tool calls.
        with sdk(session.keep, spec).chat.completions.stream(
                **{k: v for k, v in copy.deepcopy(request).items() if k != "stream"}) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion().choices[0].message
        assert (final.content or "") == (message.get("content") or "")
        assert [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in final.tool_calls or []] == message_calls(message)


def test_tool_calls_were_recorded_and_replayed(session):
    streamed = calls_of(session.recorded["mm-tool-stream"].chunks())
    assert [c["name"] for c in streamed] == ["get_weather"]
    assert "city" in json.loads(streamed[0]["arguments"])
    message = session.recorded["mm-tool-json"].json()["choices"][0]["message"]
    assert [c["name"] for c in message_calls(message)] == ["get_weather"]


def test_unrecorded_request_is_not_answered(session):
    with pytest.raises(openai.NotFoundError) as info:
        sdk(session.keep, "multimedia").chat.completions.create(
            model="gpt-4o", stream=False, messages=[{"role": "user", "content": "Never recorded."}])
    assert info.value.body["code"] == "mock_no_match"


# --- 3. secrets ----------------------------------------------------------------------------------


def test_no_secret_reaches_the_cassettes(session):
    files = files_under(session.directory)
    assert files
    everything = b"".join(p.read_bytes() for p in files)
    for secret in (UPSTREAM_KEY, CLIENT_KEY, REDACTED_USER):
        leaks = [str(p) for p in files if secret.encode() in p.read_bytes()]
        assert not leaks, f"{secret} found in {leaks}"
    assert b"[redacted]" in everything
    # The redacted body field and the client's Authorization header are both marked.
    doc = json.loads((next(session.directory.rglob("record-me-as-json*.cassette.json"))).read_text())
    assert doc["request"]["body"]["user"] == "[redacted]"
    assert doc["request"]["headers"]["authorization"] == "[redacted]"
    # ...and the recorder's log does not print the key either.
    assert UPSTREAM_KEY not in session.recorder_log and CLIENT_KEY not in session.recorder_log


# --- 2 and 4. a slow upstream: timing, and a SIGKILLed recorder --------------------------------------


@pytest.fixture(scope="module")
def slow_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    group = Servers(tmp_path_factory.mktemp("slow"))
    try:
        yield group.one("--tps", "10", "--ttft", "50")
    finally:
        group.stop_all()


def test_replay_speed_reproduces_the_recorded_pace(servers, slow_upstream, tmp_path):
    directory = tmp_path / "timed"
    request = dict(model="gpt-4o", stream=True, max_tokens=14,
                   messages=[{"role": "user", "content": "Tell me slowly about the sea."}])
    recorder = servers.one(*recorder_args(directory, slow_upstream.url), key=UPSTREAM_KEY)
    recorded = capture(sdk(recorder, "multimedia"), **request)
    assert len(recorded.chunks()) >= 10
    # --tps 10 paces the content deltas at 100 ms: the stream lasts over a second.
    assert recorded.duration() > 1.0, recorded.duration()
    deadline = time.monotonic() + 10
    while not list(directory.rglob("*.cassette.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    recorder.stop()
    as_recorded, instant = servers.start(
        ("--fixtures", str(directory), "--replay-speed", "1", "--unmatched", "error"),
        ("--fixtures", str(directory), "--replay-speed", "0", "--unmatched", "error"))
    paced = capture(sdk(as_recorded, "multimedia"), **request)
    fast = capture(sdk(instant, "multimedia"), **request)
    assert paced.data_lines() == fast.data_lines() == recorded.data_lines()
    # The acceptance: the total stream duration within 20%.
    assert 0.8 * recorded.duration() <= paced.duration() <= 1.2 * recorded.duration(), \
        (recorded.duration(), paced.duration())
    # And each gap keeps its place: the paced replay is not one pause then a burst.
    gaps = [b - a for a, b in zip(paced.times, paced.times[1:])]
    assert sum(1 for g in gaps if g > 0.04) >= len(gaps) // 2, gaps
    assert fast.duration() < 0.25 * recorded.duration(), (recorded.duration(), fast.duration())


def test_sigkill_mid_stream_leaves_only_complete_cassettes(servers, slow_upstream, tmp_path):
    directory = tmp_path / "killed"
    recorder = servers.one(*recorder_args(directory, slow_upstream.url), key=UPSTREAM_KEY)
    client = sdk(recorder, "multimedia", timeout=20)
    short = [dict(model="gpt-4o", stream=True, max_tokens=2,
                  messages=[{"role": "user", "content": f"Short answer number {i}."}]) for i in range(6)]
    for request in short:
        assert capture(client, **request).status == 200
    deadline = time.monotonic() + 10
    while len(list(directory.rglob("*.cassette.json"))) < len(short) and time.monotonic() < deadline:
        time.sleep(0.05)

    # Long streams in flight (about 4 s each at 10 tokens/s) when the recorder dies.
    started = threading.Barrier(4, timeout=15)
    outcomes: list[str] = []

    def long_stream(i: int) -> None:
        try:
            with client.chat.completions.with_streaming_response.create(
                    model="gpt-4o", stream=True,
                    messages=[{"role": "user", "content": f"A very long story number {i}."}]) as resp:
                pieces = resp.iter_bytes()
                next(pieces)  # the first event is here: the stream is in flight
                started.wait()
                for _ in pieces:
                    pass
            outcomes.append("complete")
        except Exception as exc:  # the connection drops: that is the point
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=long_stream, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    os.kill(recorder.process.pid, signal.SIGKILL)
    recorder.process.wait(10)
    for t in threads:
        t.join(20)
    assert "complete" not in outcomes, outcomes  # they really were cut mid-stream

    from mockserver.recording import cassette

    leftovers = [p for p in files_under(directory) if not cassette.is_cassette_file(p)]
    # A temporary file may only survive a kill during its write; lint never loads one.
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers), leftovers
    complete = [p for p in files_under(directory) if cassette.is_cassette_file(p)]
    assert len(complete) == len(short), complete  # the short ones, none of the cut ones
    for path in complete:
        loaded = cassette.load(path)
        assert loaded.streamed and loaded.ends_with_done(), path
        assert "Short answer" in loaded.request["body"]["messages"][0]["content"]
    result = lint(directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(short)} file(s) ok, 0 rejected" in result.stdout


# --- 5 and 6. upstream errors and contract violations (a local ASGI upstream) ----------------------


def _completion(model: str, content: str) -> dict:
    return {"id": "chatcmpl-local-1", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    choice: dict = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "chatcmpl-local-2", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": [choice]}


RATE_LIMIT = {"error": {"message": "Rate limit reached for gpt-4o: try again in 7s.", "type": "requests",
                        "param": None, "code": "rate_limit_exceeded"}}
SERVER_ERROR = {"error": {"message": "The server had an error while processing your request.",
                          "type": "server_error", "param": None, "code": None}}


class LocalUpstream:
    """An OpenAI-compatible upstream whose answer the last user message picks."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append({"path": scope["path"], "headers": headers, "body": body})
        last = body["messages"][-1].get("content") or ""
        model = body.get("model", "gpt-4o")

        async def answer(status: int, document: Any, extra: list | None = None) -> None:
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), *(extra or [])]})
            await send({"type": "http.response.body", "body": json.dumps(document).encode()})

        if "429" in last:
            await answer(429, RATE_LIMIT, [(b"retry-after", b"7"), (b"x-ratelimit-remaining-requests", b"0")])
        elif "500" in last:
            await answer(500, SERVER_ERROR)
        elif "bad choices" in last and not body.get("stream"):
            await answer(200, {**_completion(model, "x"), "choices": "not a list"})
        elif body.get("stream"):
            chunks = [_chunk(model, {"role": "assistant", "content": ""}), _chunk(model, {"content": "Hello"}),
                      _chunk(model, {"content": " there"}), _chunk(model, {}, "stop")]
            if "bad chunk" in last:
                chunks[2]["choices"] = "not a list"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            if "fail midway" in last:  # two chunks, then the upstream fails mid-stream
                for chunk in chunks[:2]:
                    await send({"type": "http.response.body", "more_body": True,
                                "body": b"data: " + json.dumps(chunk).encode() + b"\n\n"})
                await send({"type": "http.response.body",
                            "body": b"event: error\ndata: " + json.dumps(SERVER_ERROR).encode() + b"\n\n"})
                return
            for chunk in chunks:
                await send({"type": "http.response.body", "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                            "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        else:
            await answer(200, _completion(model, "Hello from the local upstream."))


@dataclass
class Local:
    url: str
    app: LocalUpstream


@pytest.fixture(scope="module")
def local_upstream() -> Iterator[Local]:
    import uvicorn

    app = LocalUpstream()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the local upstream did not start"
        time.sleep(0.02)
    yield Local(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(10)


@dataclass
class ErrorRecorders:
    plain: Server
    plain_dir: Path
    errors: Server
    errors_dir: Path


@pytest.fixture(scope="module")
def error_recorders(tmp_path_factory: pytest.TempPathFactory, local_upstream: Local) -> Iterator[ErrorRecorders]:
    tmp = tmp_path_factory.mktemp("errors")
    group = Servers(tmp)
    try:
        plain, errors = group.start(recorder_args(tmp / "plain", local_upstream.url),
                                    recorder_args(tmp / "errors", local_upstream.url, "--record-errors"),
                                    key=UPSTREAM_KEY)
        yield ErrorRecorders(plain, tmp / "plain", errors, tmp / "errors")
    finally:
        group.stop_all()


def test_upstream_down_is_a_502(servers, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    recorder = servers.one(*recorder_args(tmp_path / "down", dead), key=UPSTREAM_KEY)
    for spec, stream in (("multimedia", False), ("multimedia", True), ("ark", False), ("ark", True)):
        with pytest.raises(openai.APIStatusError) as info:
            sdk(recorder, spec).chat.completions.create(
                model="gpt-4o", stream=stream, messages=[{"role": "user", "content": "Anyone there?"}])
        assert info.value.status_code == 502
        error = info.value.response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "upstream_error" and error["code"] == "upstream_unavailable"
        assert dead in error["message"]
    assert not (tmp_path / "down").exists() or not files_under(tmp_path / "down")
    assert [e["status"] for e in journal(recorder)] == [502] * 4


def test_the_upstream_gets_the_key_from_the_environment(error_recorders, local_upstream):
    before = len(local_upstream.app.seen)
    sdk(error_recorders.plain, "multimedia").chat.completions.create(
        model="gpt-4o", stream=False, messages=[{"role": "user", "content": "Which key do you see?"}])
    seen = local_upstream.app.seen[before:]
    assert len(seen) == 1
    assert seen[0]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in json.dumps(seen[0])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code,exc,document", [(429, openai.RateLimitError, RATE_LIMIT),
                                                (500, openai.InternalServerError, SERVER_ERROR)])
def test_upstream_errors_are_relayed_not_recorded(error_recorders, code, exc, document, stream):
    with pytest.raises(exc) as info:
        sdk(error_recorders.plain, "multimedia").chat.completions.create(
            model="gpt-4o", stream=stream, messages=[{"role": "user", "content": f"Please fail with {code}."}])
    assert info.value.status_code == code
    assert info.value.response.json() == document
    if code == 429:
        assert info.value.response.headers["retry-after"] == "7"
    time.sleep(0.2)
    assert not list(error_recorders.plain_dir.rglob("please-fail*")), "an error was recorded without --record-errors"


@pytest.fixture(scope="module")
def error_replay(error_recorders, tmp_path_factory) -> Iterator[Server]:
    """Two upstream errors recorded with --record-errors, then served by a replay server."""
    client = sdk(error_recorders.errors, "multimedia")
    for code, exc in ((429, openai.RateLimitError), (500, openai.InternalServerError)):
        with pytest.raises(exc):
            client.chat.completions.create(model="gpt-4o", stream=False,
                                           messages=[{"role": "user", "content": f"Replay my {code} error."}])
    deadline = time.monotonic() + 10
    while len(list(error_recorders.errors_dir.rglob("*.cassette.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    group = Servers(tmp_path_factory.mktemp("error-replay"))
    try:
        yield group.one("--fixtures", str(error_recorders.errors_dir), "--unmatched", "error")
    finally:
        group.stop_all()


def test_upstream_errors_recorded_with_record_errors_and_replayed(error_recorders, error_replay):
    recorded = sorted(error_recorders.errors_dir.rglob("*.cassette.json"))
    assert len(recorded) == 2, recorded
    assert sorted(json.loads(p.read_text())["response"]["status"] for p in recorded) == [429, 500]
    assert httpx.get(error_replay.url + "/__admin/fixtures").json()["errors"] == []
    replayed = sdk(error_replay, "multimedia")
    for code, exc, document in ((429, openai.RateLimitError, RATE_LIMIT),
                                (500, openai.InternalServerError, SERVER_ERROR)):
        for stream in (False, True):  # matching ignores "stream"
            with pytest.raises(exc) as info:
                replayed.chat.completions.create(model="gpt-4o", stream=stream,
                                                 messages=[{"role": "user", "content": f"Replay my {code} error."}])
            assert info.value.status_code == code
            assert info.value.response.json() == document
            if code == 429:
                assert info.value.response.headers["retry-after"] == "7"
                assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_replayed_error_is_journaled_as_a_cassette(error_replay):
    with pytest.raises(openai.RateLimitError):
        sdk(error_replay, "multimedia").chat.completions.create(
            model="gpt-4o", stream=False, messages=[{"role": "user", "content": "Replay my 429 error."}])
    entry = journal(error_replay)[-1]
    assert entry["status"] == 429
    assert (entry["source"] or "").startswith("cassette:"), entry


def test_upstream_contract_violation_json_is_relayed_and_reported(error_recorders):
    recorder = error_recorders.plain
    response = httpx.post(recorder.url + "/chat/completions", timeout=10,
                          json={"model": "gpt-4o", "stream": False,
                                "messages": [{"role": "user", "content": "Send bad choices."}]})
    assert response.status_code == 200
    assert response.json()["choices"] == "not a list"  # relayed as the upstream said it
    entry = journal(recorder)[-1]
    assert entry["source"] == "upstream"
    assert entry["error"]["type"] == "upstream_contract_violation", entry
    assert "choices" in entry["error"]["message"]
    deadline = time.monotonic() + 5
    while "upstream contract violation" not in recorder.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "upstream contract violation" in recorder.output()
    assert "choices" in recorder.output().split("upstream contract violation", 1)[1]


def test_upstream_contract_violation_in_a_stream_is_relayed_and_reported(error_recorders):
    recorder = error_recorders.plain
    with httpx.stream("POST", recorder.url + "/chat/completions", timeout=10,
                      json={"model": "gpt-4o", "stream": True,
                            "messages": [{"role": "user", "content": "Stream a bad chunk."}]}) as response:
        text = response.read().decode()
    assert response.status_code == 200
    events = parse_sse(text)
    assert [e.data for e in events][-1] == "[DONE]"
    assert events[2].json()["choices"] == "not a list"  # every event relayed, the bad one too
    entry = journal(recorder)[-1]
    assert entry["error"]["type"] == "upstream_contract_violation", entry
    assert "chunk 2" in entry["error"]["message"]
    deadline = time.monotonic() + 5
    while "chunk 2" not in recorder.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "upstream contract violation: chunk 2" in recorder.output()


def test_violating_recordings_are_kept_but_flagged_by_lint(error_recorders):
    """The upstream's answer is recorded as it was; the drift check then refuses to replay it."""
    recorder = error_recorders.plain
    httpx.post(recorder.url + "/chat/completions", timeout=10,
               json={"model": "gpt-4o", "stream": False, "messages": [{"role": "user", "content": "Send bad choices."}]})
    with httpx.stream("POST", recorder.url + "/chat/completions", timeout=10,
                      json={"model": "gpt-4o", "stream": True,
                            "messages": [{"role": "user", "content": "Stream a bad chunk."}]}) as response:
        response.read()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (list(error_recorders.plain_dir.rglob("send-bad-choices*"))
                                               and list(error_recorders.plain_dir.rglob("stream-a-bad-chunk*"))):
        time.sleep(0.05)
    result = lint(error_recorders.plain_dir)
    assert result.returncode == 1
    rejected = sorted(Path(line.split(":", 1)[0]).name.split("-")[0]
                      for line in result.stdout.splitlines() if line.endswith("[REJECTED]"))
    assert rejected == ["send", "stream"], result.stdout


# --- 7. recorded conversations ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conversation_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    group = Servers(tmp_path_factory.mktemp("conversations"))
    try:
        yield group.one("--fixtures", str(CONVERSATIONS), "--unmatched", "error", "--seed", "99")
    finally:
        group.stop_all()


def _recorded(name: str, line: int) -> dict:
    return json.loads((CONVERSATIONS / name).read_text().splitlines()[line - 1])


def test_conversations_load(conversation_server):
    listing = httpx.get(conversation_server.url + "/__admin/fixtures").json()
    assert listing["errors"] == []
    assert "3 conversation(s)" in conversation_server.output()
    assert lint(CONVERSATIONS).returncode == 0


AUDIO_NULL = ("BUG (contract errata gap): the SDK's stream helper re-serializes the final assistant message with "
              "\"audio\": null, and multimedia's AssistantMessage.audio is a non-nullable object with no erratum "
              "(MM-3 covers content: null only), so the next turn is a 400 'Invalid type for messages[2].audio'")


@pytest.mark.parametrize("first_turn", ["json", "stream-helper"])
def test_multimedia_conversation_with_tool_call_full_history(conversation_server, first_turn):
    recorded = _recorded("weather.jsonl", 2)
    turns = recorded["messages"]
    client = sdk(conversation_server, "multimedia")
    messages: list[Any] = turns[:2]  # system, user

    # Turn 1: the recorded tool call.
    if first_turn == "json":
        first = client.chat.completions.create(model="gpt-4o", stream=False, messages=messages,
                                               tools=recorded["tools"])
    else:  # streamed (the contract's default), accumulated by the SDK's helper
        with client.chat.completions.stream(model="gpt-4o", messages=messages, tools=recorded["tools"]) as stream:
            for _ in stream:
                pass
            first = stream.get_final_completion()
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name) == ("call_paris_1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    # Turn 2: the full history, with the assistant turn exactly as the SDK re-serializes it.
    messages = [*messages, first.choices[0].message, turns[3]]
    second = client.chat.completions.create(model="gpt-4o", stream=False, messages=messages, tools=recorded["tools"])
    assert second.choices[0].message.content == turns[4]["content"]
    assert second.choices[0].finish_reason == "stop"

    # Turn 3: a new user question on top of it all.
    messages = [*messages, second.choices[0].message, turns[5]]
    third = client.chat.completions.create(model="gpt-4o", stream=False, messages=messages, tools=recorded["tools"])
    assert third.choices[0].message.content == turns[6]["content"]
    sources = [e["source"] for e in journal(conversation_server)[-3:]]
    where = f"{CONVERSATIONS / 'weather.jsonl'}:2"
    assert sources == [f"conversation:{where}"] * 3, sources


def test_ark_conversation_turn_by_turn_on_a_thread(conversation_server):
    # ARK's ChatMessage is role + content and its request has no tools: the tool-call
    # conversation cannot be expressed there, so ARK replays its own text conversation.
    turns = _recorded("ark_trip.jsonl", 1)["messages"]
    client = sdk(conversation_server, "ark")
    thread = {"thread_id": f"trip-{time.monotonic_ns()}"}
    first = client.chat.completions.create(model="ark-chat", messages=turns[:2], extra_body=thread)
    assert first.choices[0].message.content == turns[2]["content"]
    second = client.chat.completions.create(model="ark-chat", messages=[turns[3]], extra_body=thread)
    assert second.choices[0].message.content == turns[4]["content"]
    third = client.chat.completions.create(model="ark-chat", messages=[turns[5]], extra_body=thread, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in third if c.choices) == turns[6]["content"]
    history = httpx.get(f"{conversation_server.url}/__admin/threads/{thread['thread_id']}").json()["messages"]
    assert [(m["role"], m.get("content")) for m in history] == [(m["role"], m["content"]) for m in turns]


def test_multimedia_divergence_names_file_line_turn_expected_received(conversation_server):
    turns = _recorded("weather.jsonl", 2)["messages"]
    wrong_tool_result = {**turns[3], "content": "{\"temp_c\": 31, \"sky\": \"clear\"}"}
    with pytest.raises(openai.NotFoundError) as info:
        sdk(conversation_server, "multimedia").chat.completions.create(
            model="gpt-4o", stream=False, messages=[*turns[:3], wrong_tool_result])
    error = info.value.body
    assert error["code"] == "mock_no_match" and error["type"] == "mock_no_match"
    message = error["message"]
    assert f"conversation {CONVERSATIONS / 'weather.jsonl'}:2 diverged at turn 3" in message, message
    expected, received = message.split("expected", 1)[1].split("received", 1)
    assert "temp_c" in expected and "18" in expected and "31" not in expected, message
    assert "31" in received and "clear" in received, message


def test_ark_thread_divergence_is_reported(conversation_server):
    turns = _recorded("ark_trip.jsonl", 1)["messages"]
    client = sdk(conversation_server, "ark")
    thread = {"thread_id": f"trip-{time.monotonic_ns()}"}
    client.chat.completions.create(model="ark-chat", messages=turns[:2], extra_body=thread)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="ark-chat", extra_body=thread,
                                       messages=[{"role": "user", "content": "A hotel, please."}])
    message = info.value.body["message"]
    assert f"conversation {CONVERSATIONS / 'ark_trip.jsonl'}:1 diverged at turn 3" in message, message
    assert "An apartment, please." in message.split("expected", 1)[1].split("received", 1)[0]
    assert "A hotel, please." in message.split("received", 1)[1]


# --- 8. drift check ---------------------------------------------------------------------------------


def test_drifted_cassette_is_rejected_by_lint_and_at_load(session, servers, tmp_path):
    directory = tmp_path / "drift"
    shutil.copytree(session.directory, directory)
    json_file = next(directory.rglob("record-me-as-json*.cassette.json"))
    stream_file = next(directory.rglob("record-me-as-a-stream*.cassette.json"))
    # The recorded answers no longer fit the contract: a number as content, a chunk
    # whose choices are not an array.
    doc = json.loads(json_file.read_text())
    doc["response"]["body"]["choices"][0]["message"]["content"] = 42
    json_file.write_text(json.dumps(doc, indent=2))
    doc = json.loads(stream_file.read_text())
    doc["response"]["events"][1]["data"]["choices"] = "not a list"
    stream_file.write_text(json.dumps(doc, indent=2))

    result = lint(directory)
    assert result.returncode == 1, result.stdout
    rejected = [line for line in result.stdout.splitlines() if "[REJECTED]" in line]
    assert len(rejected) == 2, result.stdout
    assert any(str(json_file) in line and "content" in line for line in rejected), rejected
    assert any(str(stream_file) in line and "chunk" in line for line in rejected), rejected
    assert f"{len(EXCHANGES) - 2} file(s) ok, 2 rejected" in result.stdout

    server = servers.one("--fixtures", str(directory), "--unmatched", "error", "--replay-speed", "0")
    errors = httpx.get(server.url + "/__admin/fixtures").json()["errors"]
    assert sorted(e["file"] for e in errors) == sorted([str(json_file), str(stream_file)]), errors
    client = sdk(server, "multimedia")
    for name in ("mm-json", "mm-stream"):
        request = {**copy.deepcopy(EXCHANGES[name][1]), "stream": False}
        request.pop("stream_options", None)
        with pytest.raises(openai.NotFoundError):  # never replayed
            client.chat.completions.create(**request)
    # The cassettes that still fit are replayed as before.
    spec, request = EXCHANGES["mm-tool-json"]
    assert capture(client, **copy.deepcopy(request)).json() == session.recorded["mm-tool-json"].json()


def test_drift_while_serving_never_replays_the_drifted_answer(session, servers, tmp_path):
    directory = tmp_path / "live"
    shutil.copytree(session.directory, directory)
    target = next(directory.rglob("record-ark-as-json*.cassette.json"))
    spec, request = EXCHANGES["ark-json"]
    server = servers.one("--fixtures", str(directory), "--unmatched", "error")
    client = sdk(server, spec)
    assert client.chat.completions.create(**copy.deepcopy(request)).choices[0].message.role == "assistant"
    doc = json.loads(target.read_text())
    doc["response"]["body"]["choices"][0]["message"]["content"] = ["not", "a", "string"]
    target.write_text(json.dumps(doc, indent=2))
    deadline = time.monotonic() + 10
    errors: list = []
    while not errors and time.monotonic() < deadline:
        errors = httpx.get(server.url + "/__admin/fixtures").json()["errors"]
        time.sleep(0.1)
    assert [e["file"] for e in errors] == [str(target)], errors
    # Whatever is served now (the previous good version, or nothing), it is never the drifted answer.
    try:
        content = client.chat.completions.create(**copy.deepcopy(request)).choices[0].message.content
    except openai.NotFoundError:
        content = None
    assert content != ["not", "a", "string"]
    assert content in (None, session.recorded["ark-json"].json()["choices"][0]["message"]["content"])
