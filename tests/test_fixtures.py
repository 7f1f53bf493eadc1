"""Fixtures end to end: matching, responses, faults, Prefer, sessions,
scenarios, hot reload, load-time rejection, --unmatched error, the journal
and the JUnit report.

Everything goes over HTTP to a real ``mockserver serve`` process, through
the official ``openai`` SDK where it can show the behaviour and raw httpx
where the SDK hides it (SSE framing, headers, timing). The fixture files
live in ``tests/fixture_data/``; each test works in its own X-Mock-Session
so that one server can be shared by many tests. Timing checks are lower
bounds only: sleeping guarantees a minimum, never a maximum.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import time
import uuid
import wave
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx
import jsonschema
import openai
import pytest
from openai import OpenAI

from conftest import Server, start_server, wait_ready
from helpers import chunks_of, parse_sse

DATA = Path(__file__).resolve().parent / "fixture_data"
MAIN = DATA / "main"
ARK = "/v1/chat/completions"
MM = "/chat/completions"
API_KEY = "sk-test-secret-value"


# --- helpers --------------------------------------------------------------------------------------


def U(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def new_session() -> str:
    return "s-" + uuid.uuid4().hex[:12]


_CLIENTS: dict[str, OpenAI] = {}


def sdk(srv: Server, *, ark: bool = False, session: str | None = None, retries: int = 0,
        headers: dict[str, str] | None = None) -> OpenAI:
    """An SDK client for one contract and session. Building one costs tens of milliseconds
    (an SSL context), so there is one per base URL, copied with the session's options."""
    extra = {"X-Mock-Session": session} if session else {}
    extra.update(headers or {})
    base = srv.ark_base if ark else srv.mm_base
    if base not in _CLIENTS:
        _CLIENTS[base] = OpenAI(base_url=base, api_key=API_KEY, max_retries=0, timeout=30)
    return _CLIENTS[base].with_options(max_retries=retries, default_headers=extra)


@pytest.fixture(scope="module", autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    for client in _CLIENTS.values():
        client.close()
    _CLIENTS.clear()


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def post(srv: Server, path: str, body: Any, *, session: str | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"X-Mock-Session": session} if session else {}
    h.update(headers or {})
    return httpx.post(srv.url + path, json=body, headers=h, timeout=30)


def sse_timed(srv: Server, path: str, body: Any, *, session: str | None = None,
              headers: dict[str, str] | None = None) -> tuple[httpx.Response, str, list[float]]:
    """POST and read an SSE body; the arrival time (from the request) of each event."""
    h = {"X-Mock-Session": session} if session else {}
    h.update(headers or {})
    text, times = "", []
    t0 = time.monotonic()
    with httpx.stream("POST", srv.url + path, json=body, headers=h, timeout=30) as r:
        for piece in r.iter_text():
            now = time.monotonic() - t0
            before = text.count("\n\n")
            text += piece
            times += [now] * (text.count("\n\n") - before)
    return r, text, times


def content_deltas(chunks: list[dict]) -> list[str]:
    return [c["choices"][0]["delta"]["content"] for c in chunks
            if c.get("choices") and c["choices"][0].get("delta", {}).get("content")]


def journal(srv: Server, session: str | None = None, **params: Any) -> list[dict[str, Any]]:
    h = {"X-Mock-Session": session} if session else {}
    r = httpx.get(srv.url + "/__admin/requests", params=params, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def count(srv: Server, session: str, matcher: dict[str, Any]) -> int:
    r = httpx.post(srv.url + "/__admin/requests/count", json=matcher, headers={"X-Mock-Session": session},
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["count"]


def ask(client: OpenAI, messages: list[dict[str, Any]] | str, **kw: Any) -> Any:
    """A non-streamed completion (the multimedia contract streams by default)."""
    if isinstance(messages, str):
        messages = U(messages)
    kw.setdefault("model", "fx-model")
    kw.setdefault("stream", False)
    return client.chat.completions.create(messages=messages, **kw)


def text_of(client: OpenAI, messages: list[dict[str, Any]] | str, **kw: Any) -> str | None:
    return ask(client, messages, **kw).choices[0].message.content




WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "fx_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server: every file of fixture_data/main, unmatched requests generated."""
    server = start_server(tmp_path_factory.mktemp("fx-main"), "--fixtures", str(MAIN))
    yield server
    server.stop()


@pytest.fixture
def session() -> str:
    return new_session()


# --- matching rules --------------------------------------------------------------------------------


def conversation(n: int, last: str) -> list[dict[str, Any]]:
    """n messages alternating user/assistant, ending with the user message ``last``."""
    roles = ["user" if (n - 1 - i) % 2 == 0 else "assistant" for i in range(n)]
    return [{"role": r, "content": f"turn {i}"} for i, r in enumerate(roles[:-1])] + [{"role": "user", "content": last}]


# (case id, request messages, extra create() arguments, content expected; None: no "hit:" fixture)
MATCH_CASES = [
    ("model-exact", "hi", {"model": "fx-exact-model"}, "hit:model-exact"),
    ("model-exact-miss", "hi", {"model": "fx-exact-model-2"}, None),
    ("model-regex", "hi", {"model": "fx-rx-42"}, "hit:model-regex"),
    ("model-regex-miss", "hi", {"model": "fx-rx-42b"}, None),
    ("model-regex-anchored", "hi", {"model": "xfx-rx-42"}, None),
    ("equals", "[equals] ping", {}, "hit:user-equals"),
    ("equals-is-exact", "[equals] ping ", {}, None),
    ("equals-is-case-sensitive", "[EQUALS] PING", {}, None),
    ("equals-looks-at-last-user-message",
     [{"role": "user", "content": "[equals] ping"}, {"role": "assistant", "content": "pong"}], {},
     "hit:user-equals"),
    ("equals-only-the-last-user-message",
     [{"role": "user", "content": "[equals] ping"}, {"role": "assistant", "content": "pong"},
      {"role": "user", "content": "something else"}], {}, None),
    ("contains", "find the needle-7731 here", {}, "hit:user-contains"),
    ("contains-miss", "find the needle-773 here", {}, None),
    ("regex", "order #1234", {}, "hit:user-regex"),
    ("regex-miss", "order #123", {}, None),
    ("regex-anchor", "my order #1234", {}, None),
    ("ignore-case", "[IC] SHOUT please", {}, "hit:user-ignore-case"),
    ("ignore-case-still-equals", "[ic] shout pleas", {}, None),
    ("contains-ignore-case", "before [ICI]-mixed after", {}, "hit:user-contains-ignore-case"),
    ("system-at-0",
     [{"role": "system", "content": "[sys-pirate] talk like one"}, {"role": "user", "content": "hi"}], {},
     "hit:msg-system-first"),
    ("system-not-at-0",
     [{"role": "user", "content": "hi"}, {"role": "system", "content": "[sys-pirate] talk like one"},
      {"role": "user", "content": "hi again"}], {}, None),
    ("negative-index",
     [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "[prev-answer]"},
      {"role": "user", "content": "q2"}], {}, "hit:msg-negative-index"),
    ("negative-index-miss",
     [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "[prev-answer]"},
      {"role": "user", "content": "q2"}, {"role": "assistant", "content": "other"},
      {"role": "user", "content": "q3"}], {}, None),
    ("role-any-position",
     [{"role": "user", "content": "a"}, {"role": "system", "content": "[anywhere-sys] be brief"},
      {"role": "user", "content": "b"}], {}, "hit:msg-any-position"),
    ("role-any-position-wrong-role", "[anywhere-sys] be brief", {}, None),
    ("message-count-1", conversation(1, "[count-me]"), {}, None),
    ("message-count-3", conversation(3, "[count-me]"), {}, "hit:count-exact"),
    ("message-count-5", conversation(5, "[count-me]"), {}, "hit:count-range"),
    ("message-count-7", conversation(7, "[count-me]"), {}, None),
    ("tools-present", "[tools?]", {"tools": [tool("anything")]}, "hit:tools-yes"),
    ("tools-absent", "[tools?]", {}, "hit:tools-no"),
    ("named-tool", "[named-tool?]", {"tools": [tool("other_tool"), tool("fx_lookup")]}, "hit:named-tool"),
    ("named-tool-missing", "[named-tool?]", {"tools": [tool("other_tool")]}, None),
    ("response-format-absent", "[fmt?]", {}, "hit:rf-no"),
    ("header", "[tenant?]", {"extra_headers": {"X-Fx-Tenant": "acme-7"}}, "hit:header"),
    ("header-wrong-value", "[tenant?]", {"extra_headers": {"X-Fx-Tenant": "globex-7"}}, None),
    ("header-absent", "[tenant?]", {}, None),
    ("jsonpath", "hi", {"extra_body": {"context": {"experiments": ["alpha", "fx-beta"]}}}, "hit:jsonpath"),
    ("jsonpath-miss", "hi", {"extra_body": {"context": {"experiments": ["alpha"]}}}, None),
    ("priority-decides", "[prio]", {}, "hit:prio-high"),
    ("priority-beats-file-order", "[tie-prio]", {}, "hit:tie-prio-b"),
]


@pytest.mark.parametrize("messages,kw,expected", [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES])
def test_match_rule(srv, session, messages, kw, expected):
    got = text_of(sdk(srv, session=session), messages, **kw)
    if expected is None:
        assert not (got or "").startswith("hit:"), got
        entry = journal(srv, session)[-1]
        assert entry["source"] == "generated", entry["source"]
    else:
        assert got == expected


COMBO_BUG = ("BUG: compile_match's lambdas close over the loop-shared locals `m` (text rules) and `want` "
             "(tools/response_format/stream), so with two text rules (model + last_user, last_user + headers, ...) "
             "or two boolean rules in one fixture every rule is tested with the LAST one's value")


def test_match_two_text_rules_in_one_fixture(srv, session):
    assert text_of(sdk(srv, session=session), "[combo-text]", model="fx-combo-model") == "hit:combo-text"


def test_match_two_boolean_rules_in_one_fixture(srv, session):
    assert text_of(sdk(srv, session=session), "[combo-bool]", tools=[tool("t")], stream=False) == "hit:combo-bool"


def test_match_spec(srv, session):
    assert text_of(sdk(srv, ark=True, session=session), "[which-spec]") == "hit:spec-ark"
    assert text_of(sdk(srv, session=session), "[which-spec]") == "hit:spec-mm"


def test_match_thread_id(srv, session):
    ark = sdk(srv, ark=True, session=session)
    thread = f"fx-thread-{uuid.uuid4().hex[:8]}"
    assert text_of(ark, "hello", extra_body={"thread_id": thread}) == "hit:thread"
    assert text_of(ark, "hello", extra_body={"thread_id": f"other-{uuid.uuid4().hex[:8]}"}) != "hit:thread"
    assert text_of(ark, "hello") != "hit:thread"


def test_match_response_format(srv, session):
    schema = {"type": "object", "properties": {"hit": {"type": "string"}}, "required": ["hit"]}
    got = text_of(sdk(srv, session=session), "[fmt?]",
                  response_format={"type": "json_schema", "json_schema": {"name": "hit", "schema": schema}})
    assert json.loads(got) == {"hit": "rf-yes"}


def test_match_modalities(srv, session):
    client = sdk(srv, session=session)
    message = ask(client, "[speak?]", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}
                  ).choices[0].message
    assert message.audio is not None and message.audio.transcript == "hit:modalities-audio"
    assert text_of(client, "[speak?]") == "hit:modalities-text"
    assert text_of(client, "[speak?]", modalities=["text"]) == "hit:modalities-text"


def test_match_stream_flag(srv, session):
    client = sdk(srv, session=session)
    streamed = client.chat.completions.create(model="m", messages=U("[stream?]"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "hit:stream-yes"
    assert text_of(client, "[stream?]", stream=False) == "hit:stream-no"
    # Without "stream", each contract's default decides: multimedia streams, ARK does not.
    r = post(srv, MM, {"model": "m", "messages": U("[stream?]")}, session=session)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "".join(content_deltas(chunks_of(parse_sse(r.text)))) == "hit:stream-yes"
    r = post(srv, ARK, {"model": "m", "messages": U("[stream?]")}, session=session)
    assert r.json()["choices"][0]["message"]["content"] == "hit:stream-no"


def test_ties_are_broken_by_file_order(srv, session):
    client = sdk(srv, session=session)
    assert [text_of(client, "[tie]") for _ in range(3)] == ["hit:tie-a"] * 3
    listed = [f["id"] for f in httpx.get(srv.url + "/__admin/fixtures").json()["fixtures"]]
    assert listed.index("tie-a") < listed.index("tie-b")
    assert listed.index("prio-high") < listed.index("prio-low")  # matching order: priority first
    files = {f["id"]: f["file"] for f in httpx.get(srv.url + "/__admin/fixtures").json()["fixtures"]}
    assert files["tie-a"].endswith("a_rules.yaml") and files["tie-b"].endswith("b_tie.yaml")


# --- response kinds --------------------------------------------------------------------------------


def test_templated_text(srv):
    a, b = new_session(), new_session()
    body = {"model": "fx-tmpl-model", "messages": U("say [tmpl] now")}
    pattern = re.compile(r"echo=say \[tmpl\] now\|model=fx-tmpl-model\|thread=(?P<thread>[^|]*)\|"
                         r"session=(?P<session>[^|]*)\|n=(?P<n>\d+)\|name=(?P<name>.+)")

    def run(session: str, thread: str) -> re.Match[str]:
        got = text_of(sdk(srv, ark=True, session=session), body["messages"], model=body["model"],
                      extra_body={"thread_id": thread})
        found = pattern.fullmatch(got)
        assert found, got
        assert found["thread"] == thread and found["session"] == session
        return found

    t1, t2 = f"tt-{uuid.uuid4().hex[:8]}", f"tt-{uuid.uuid4().hex[:8]}"
    first, second = run(a, t1), run(a, t2)
    assert (first["n"], second["n"]) == ("1", "2")  # counter: this fixture's matches in the session
    assert re.fullmatch(r"[A-Z][\w.'-]+( [\w.'-]+)+", first["name"]), first["name"]
    assert second["name"] == first["name"]  # faker is seeded by the request, not the thread
    other = run(b, t1)
    assert other["n"] == "1" and other["name"] == first["name"]


def test_generate_with_overrides(srv, session):
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["title", "score"], "additionalProperties": False}
    r = ask(sdk(srv, session=session), "[gen] rate this", model="fx-asked-model",
            response_format={"type": "json_schema", "json_schema": {"name": "review", "schema": schema}})
    assert r.model == "fx-overridden-model"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == 1234
    assert r.usage.completion_tokens > 0  # not overridden: the generator's count
    assert r.usage.total_tokens == 1234 + r.usage.completion_tokens
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)  # generated for the request's schema


def test_tool_call_with_given_arguments(srv, session):
    r = ask(sdk(srv, session=session), "[tool-given]", tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id == "call_fixed_1" and call.function.name == "fx_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius", "days": 3}


def test_tool_call_with_generated_arguments(srv, session):
    client = sdk(srv, session=session)
    for city in ("Paris", "Lyon", "Nice"):  # three requests, three seeds
        r = ask(client, f"[tool-gen] weather in {city}?", tools=[WEATHER_TOOL])
        (call,) = r.choices[0].message.tool_calls
        assert call.function.name == "fx_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])
    # Streamed too: the argument fragments add up to valid arguments.
    stream = client.chat.completions.create(model="m", messages=U("[tool-gen]"), tools=[WEATHER_TOOL], stream=True)
    arguments = "".join(tc.function.arguments or "" for c in stream if c.choices
                        for tc in c.choices[0].delta.tool_calls or [])
    jsonschema.validate(json.loads(arguments), WEATHER_TOOL["function"]["parameters"])


def test_tool_arguments_violating_the_request_schema(srv, session):
    with pytest.raises(openai.InternalServerError) as caught:
        ask(sdk(srv, session=session), "[tool-bad]", tools=[WEATHER_TOOL])
    error = caught.value.body
    assert caught.value.status_code == 500
    assert error["type"] == "mock_fixture_error" and error["code"] == "mock_fixture_error"
    where = f"c_responses.yaml:{line_of(MAIN / 'c_responses.yaml', '- id: tool-bad-args')}"
    assert "tool-bad-args" in error["message"] and where in error["message"], error["message"]
    assert "42" in error["message"] and "string" in error["message"]


def test_structured_json(srv, session):
    got = text_of(sdk(srv, session=session), "[structured]")
    assert json.loads(got) == {"answer": 42, "items": ["a", "b"], "nested": {"ok": True}}


def test_audio_transcript(srv, session):
    r = ask(sdk(srv, session=session), "[audio]", model="fx-audio-model", modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"})
    audio = r.choices[0].message.audio
    assert audio.transcript == "Hello from the fixture, fx-audio-model."
    assert audio.id and audio.expires_at > r.created
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as wav:
        assert wav.getnframes() > 0 and wav.getframerate() > 0 and wav.getnchannels() >= 1


def test_refusal(srv, session):
    r = ask(sdk(srv, session=session), "[refuse]")
    assert r.choices[0].message.refusal == "I can't help with that."
    assert r.choices[0].message.content is None


def test_finish_reason_and_usage_overrides(srv, session):
    r = ask(sdk(srv, session=session), "[finish-usage]")
    assert r.choices[0].message.content == "Short answer."
    assert r.choices[0].finish_reason == "content_filter"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (11, 22, 33)


def test_error_429_with_rate_limit_headers(srv, session):
    r = post(srv, MM, {"model": "m", "stream": False, "messages": U("[err-429]")}, session=session)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert r.headers["retry-after"] == "0.05"
    assert r.headers["x-ratelimit-limit-requests"] == "60"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"] == "1s"
    with pytest.raises(openai.RateLimitError) as caught:
        ask(sdk(srv, session=session), "[err-429]")
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    # The SDK retries a 429 (honouring Retry-After) and gets the sequence's next response.
    got = text_of(sdk(srv, session=session, retries=2), "[seq-429-ok]")
    assert got == "ok after the rate limit"
    seen = [e for e in journal(srv, session) if "[seq-429-ok]" in json.dumps(e["body"])]
    assert [e["status"] for e in seen] == [429, 200]
    assert [e["headers"].get("x-stainless-retry-count") for e in seen] == ["0", "1"]


@pytest.mark.parametrize("marker,status,exc", [
    ("[err-500]", 500, openai.InternalServerError),
    ("[err-503]", 503, openai.InternalServerError),
    ("[err-401]", 401, openai.AuthenticationError),
])
def test_error_statuses_map_to_sdk_exceptions(srv, session, marker, status, exc):
    with pytest.raises(exc) as caught:
        ask(sdk(srv, session=session), marker)
    assert caught.value.status_code == status
    assert caught.value.body["message"]


# --- stream faults ---------------------------------------------------------------------------------


def test_cut_after_breaks_the_stream(srv, session):
    stream = sdk(srv, session=session).chat.completions.create(model="m", messages=U("[cut]"), stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2  # the role delta and one token, then the connection drops
    # Raw: two events, no [DONE], and the transport reports an incomplete body.
    text = ""
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("POST", srv.url + MM, json={"model": "m", "messages": U("[cut]")}, timeout=30) as r:
            for piece in r.iter_text():
                text += piece
    assert text.count("data: ") == 2 and "[DONE]" not in text


def test_no_done(srv, session):
    r = post(srv, MM, {"model": "m", "messages": U("[no-done]")}, session=session)
    assert r.status_code == 200 and "[DONE]" not in r.text
    events = parse_sse(r.text)
    chunks = [e.json() for e in events]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(content_deltas(chunks)) == "A stream without its end marker."
    stats = journal(srv, session)[-1]["stream"]
    assert stats["done"] is False and stats["events"] == len(chunks)


def test_error_after(srv, session):
    r = post(srv, MM, {"model": "m", "messages": U("[error-after]")}, session=session)
    events = parse_sse(r.text)
    assert [e.event for e in events] == [None, None, None, "error"]  # three events, the error, the end
    assert events[-1].json()["error"]["message"] == "The upstream model died mid-stream."
    assert "[DONE]" not in r.text
    stream = sdk(srv, session=session).chat.completions.create(model="m", messages=U("[error-after]"), stream=True)
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "died mid-stream" in caught.value.message
    assert journal(srv, session)[-1]["stream"]["error"] is True


def test_finish_early(srv, session):
    client = sdk(srv, session=session)
    stream = client.chat.completions.create(model="m", messages=U("[finish-early]"), stream=True)
    chunks = [c for c in stream if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["length"]
    r = ask(client, "[finish-early]")
    assert r.choices[0].message.content == "one two three"
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3


def test_pause(srv, session):
    r, text, times = sse_timed(srv, MM, {"model": "m", "messages": U("[pause]")}, session=session)
    assert len(chunks_of(parse_sse(text))) >= 4
    assert times[2] >= 0.4  # the third event comes after the 400 ms pause
    assert times[2] - times[1] >= 0.3  # ... which sits between the second and the third


def test_ttft(srv, session):
    r, text, times = sse_timed(srv, MM, {"model": "m", "messages": U("[ttft]")}, session=session)
    chunks = chunks_of(parse_sse(text))
    first_content = next(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content"))
    assert first_content >= 1 and times[first_content] >= 0.3


def test_delay_before_the_status_line(srv, session):
    for body in ({"model": "m", "stream": False, "messages": U("[delay]")},
                 {"model": "m", "stream": True, "messages": U("[delay]")}):
        t0 = time.monotonic()
        with httpx.stream("POST", srv.url + MM, json=body, headers={"X-Mock-Session": session}, timeout=30) as r:
            headers_after = time.monotonic() - t0
            r.read()
        assert r.status_code == 200
        assert headers_after >= 0.3, body


@pytest.mark.parametrize("marker,expected", [
    ("[chunk-word]", ["Alpha", " beta,", "  gamma-delta", " epsilon."]),
    ("[chunk-char]", list("Héllo wörld!")),
    ("[chunk-n]", ["abcde", "fghij", "klmno", "pqrst", "uvw"]),
])
def test_chunking(srv, session, marker, expected):
    r = post(srv, MM, {"model": "m", "messages": U(marker)}, session=session)
    assert content_deltas(chunks_of(parse_sse(r.text))) == expected


def _statuses(server: Server, n: int = 60) -> list[int]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        out = []
        for i in range(n):
            r = client.post(ARK, json={"model": "m", "messages": U(f"request {i}")})
            assert r.status_code in (200, 503), r.text
            if r.status_code == 503:
                assert r.json()["error"]["message"] == "Injected outage."
            out.append(r.status_code)
        return out


def test_probabilistic_fault_is_seeded(tmp_path):
    servers = [start_server(tmp_path, "--fixtures", str(DATA / "prob"), "--seed", seed, wait=False)
               for seed in ("7", "7", "8")]
    try:
        wait_ready(*servers)
        with ThreadPoolExecutor(3) as pool:  # each server gets its 60 requests in order, the servers in parallel
            first, again, other = pool.map(_statuses, servers)
    finally:
        for s in servers:
            s.stop()
    failing = [i for i, s in enumerate(first) if s == 503]
    assert 1 <= len(failing) <= 15, failing  # about 10% of 60
    assert [i for i, s in enumerate(again) if s == 503] == failing  # same seed: the same requests fail
    assert [i for i, s in enumerate(other) if s == 503] != failing  # another seed: another pattern


# --- Prefer ----------------------------------------------------------------------------------------


def test_prefer_code(srv, session):
    client = sdk(srv, session=session)
    with pytest.raises(openai.RateLimitError):
        ask(client, "[structured]", extra_headers={"Prefer": "code=429"})
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, "[structured]", extra_headers={"Prefer": "code=503"})
    assert caught.value.status_code == 503
    assert [e["source"] for e in journal(srv, session)] == ["prefer:code=429", "prefer:code=503"]


def test_prefer_fixture_overrides_matching(srv, session):
    client = sdk(srv, session=session)
    assert text_of(client, "[prio]", extra_headers={"Prefer": "fixture=prio-low"}) == "hit:prio-low"
    # A fixture that does not match at all is used anyway.
    got = text_of(client, "nothing matches this", extra_headers={"Prefer": "fixture=structured"})
    assert json.loads(got)["answer"] == 42
    assert journal(srv, session)[-1]["fixture"] == "structured"
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "hi", extra_headers={"Prefer": "fixture=no-such-fixture"})
    assert caught.value.body["param"] == "Prefer" and "no-such-fixture" in caught.value.body["message"]


def test_prefer_ttft_and_tps(srv, session):
    body = {"model": "m", "messages": U("[prefer-pacing] tell me a story")}
    r, text, times = sse_timed(srv, MM, body, session=session, headers={"Prefer": "ttft=250, tps=40"})
    chunks = chunks_of(parse_sse(text))
    indexes = [i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(indexes) >= 3
    assert times[indexes[0]] >= 0.25
    assert times[indexes[-1]] >= 0.25 + (len(indexes) - 1) / 40


def test_prefer_seed(srv, session):
    client = sdk(srv, session=session)

    def generated(seed: int) -> str:
        return text_of(client, "[prefer-seed] say something", extra_headers={"Prefer": f"seed={seed}"})

    one = generated(1)
    assert generated(1) == one
    assert generated(2) != one


@pytest.mark.parametrize("value", ["code=abc", "code=200", "bogus=1", "ttft=-5", "seed=x", "fixture="])
def test_prefer_malformed(srv, session, value):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sdk(srv, session=session), "hi", extra_headers={"Prefer": value})
    assert caught.value.body["param"] == "Prefer"
    assert "Prefer" in caught.value.body["message"]


# --- sessions --------------------------------------------------------------------------------------


def test_sessions_are_isolated(srv):
    a, b = new_session(), new_session()
    ca, cb = sdk(srv, session=a), sdk(srv, session=b)
    # Sequence counters.
    assert [text_of(ca, "[session-seq]"), text_of(ca, "[session-seq]")] == ["one", "two"]
    assert text_of(cb, "[session-seq]") == "one"
    assert text_of(ca, "[session-seq]") == "three"
    # Scenario states.
    assert [text_of(ca, "[session-scenario]"), text_of(ca, "[session-scenario]")] == ["opening", "already open"]
    assert text_of(cb, "[session-scenario]") == "opening"
    # Journal views.
    assert len(journal(srv, a)) == 5 and {e["session"] for e in journal(srv, a)} == {a}
    assert len(journal(srv, b)) == 2 and {e["session"] for e in journal(srv, b)} == {b}
    # Thread namespaces: the same thread_id is two threads.
    thread = f"ns-{uuid.uuid4().hex[:8]}"
    ka, kb = sdk(srv, ark=True, session=a), sdk(srv, ark=True, session=b)
    assert text_of(ka, "turn 1", extra_body={"thread_id": thread}) == f"first turn of {thread}"
    assert text_of(ka, "turn 2", extra_body={"thread_id": thread}) == f"later turn of {thread}"
    assert text_of(kb, "turn 1", extra_body={"thread_id": thread}) == f"first turn of {thread}"
    threads = {t["thread_id"]: t["messages"] for t in httpx.get(srv.url + "/__admin/threads").json()["threads"]}
    assert threads[f"{a}/{thread}"] == 4 and threads[f"{b}/{thread}"] == 2
    # Resetting one session leaves the other alone.
    assert httpx.post(srv.url + "/__admin/reset", headers={"X-Mock-Session": a}).status_code == 200
    assert journal(srv, a) == [] and len(journal(srv, b)) == 3
    assert text_of(ca, "[session-seq]") == "one"
    assert text_of(cb, "[session-seq]") == "two"


# --- scenarios -------------------------------------------------------------------------------------


@pytest.mark.parametrize("marker,answer", [("[flaky-times]", "recovered (times)"),
                                           ("[flaky-states]", "recovered (states)")])
def test_fail_twice_then_succeed(srv, session, marker, answer):
    assert text_of(sdk(srv, session=session, retries=2), marker) == answer
    assert [e["status"] for e in journal(srv, session)] == [503, 503, 200]
    # Without retries the client sees each step.
    other = new_session()
    client = sdk(srv, session=other)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(client, marker)
    assert text_of(client, marker) == answer
    assert text_of(client, marker) == answer


def test_tool_call_flow(srv, session):
    client = sdk(srv, session=session)
    weather = tool("fx_flow_weather")
    messages: list[dict[str, Any]] = U("What's the weather in Paris?")
    first = ask(client, messages, tools=[weather])
    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "fx_flow_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"sky": "clear"})})
    final = ask(client, messages, tools=[weather])
    assert final.choices[0].message.content == "It is sunny in Paris."
    assert final.choices[0].finish_reason == "stop"
    assert [e["fixture"] for e in journal(srv, session)] == ["flow-call", "flow-final"]


def test_times_limit(srv, session):
    client = sdk(srv, session=session)
    assert [text_of(client, "[times-limit]") for _ in range(2)] == ["limited", "limited"]
    assert text_of(client, "[times-limit]") != "limited"
    assert journal(srv, session)[-1]["source"] == "generated"
    # The limit is per session.
    assert text_of(sdk(srv, session=new_session()), "[times-limit]") == "limited"


def test_then_cycle_and_repeat_last(srv, session):
    client = sdk(srv, session=session)
    assert [text_of(client, "[cycle]") for _ in range(5)] == ["c1", "c2", "c1", "c2", "c1"]
    assert [text_of(client, "[repeat]") for _ in range(4)] == ["r1", "r2", "r2", "r2"]


# --- runtime fixtures ------------------------------------------------------------------------------


def test_runtime_fixtures(srv, session):
    marker = f"[runtime-{uuid.uuid4().hex[:8]}]"
    fixture = {"id": f"rt-{marker[9:-1]}", "priority": 100, "match": {"last_user": marker},
               "response": {"content": "from the admin API"}}
    r = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [fixture]})
    assert r.status_code == 201 and r.json()["added"] == [fixture["id"]]
    try:
        listed = {f["id"]: f for f in httpx.get(srv.url + "/__admin/fixtures").json()["fixtures"]}
        assert listed[fixture["id"]]["file"] == "runtime"
        assert text_of(sdk(srv, session=session), marker) == "from the admin API"
        bad = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [{"id": "x", "respnse": {}}]})
        assert bad.status_code == 400 and "respnse" in bad.json()["error"]["message"]
    finally:
        assert httpx.delete(srv.url + f"/__admin/fixtures/{fixture['id']}").status_code == 200
    assert text_of(sdk(srv, session=session), marker) != "from the admin API"


# --- journal ---------------------------------------------------------------------------------------


def test_journal_entries_and_filters(srv, session):
    client = sdk(srv, session=session)
    before = time.time()
    ask(client, "[structured] [journal]")
    ask(client, "[journal] nothing matches")
    mid = time.time()
    list(client.chat.completions.create(model="m", messages=U("[journal] [no-done]"), stream=True))
    invalid = post(srv, MM, {"model": "m", "stream": False}, session=session,
                   headers={"Authorization": f"Bearer {API_KEY}"})
    assert invalid.status_code == 400
    entries = journal(srv, session)
    assert len(entries) == 4
    matched, generated, streamed, refused = entries
    assert before <= matched["time"] <= mid <= streamed["time"]
    assert matched["operation"] == "createChatCompletion" and matched["spec"] == "multimedia"
    assert matched["method"] == "POST" and matched["path"] == MM
    assert matched["headers"]["authorization"] == "[redacted]"
    assert API_KEY not in json.dumps(entries)
    assert matched["body"] == {"model": "fx-model", "stream": False, "messages": U("[structured] [journal]")}
    assert (matched["status"], matched["source"], matched["fixture"]) == (200, "fixture:structured", "structured")
    assert (generated["source"], generated["fixture"]) == ("generated", None)
    assert generated["stream"] is None
    assert streamed["stream"]["events"] >= 3 and streamed["stream"]["done"] is False
    assert refused["status"] == 400 and refused["source"] is None
    assert "messages" in refused["error"]["message"]
    # Filters.
    assert [e["fixture"] for e in journal(srv, session, fixture="structured")] == ["structured"]
    assert journal(srv, session, fixture="generated") == [generated]
    assert journal(srv, session, invalid="true") == [refused]
    assert len(journal(srv, session, invalid="false")) == 3
    assert journal(srv, session, unmatched="true") == []
    assert [e["time"] for e in journal(srv, session, since=mid)] == [streamed["time"], refused["time"]]
    # Counting with a matcher.
    assert count(srv, session, {"fixture": "structured", "status": 200}) == 1
    assert count(srv, session, {"last_user_contains": "[journal]"}) == 3
    assert count(srv, session, {"stream": True}) == 1
    assert count(srv, session, {"invalid": True}) == 1
    assert count(srv, session, {"model": "m"}) == 2
    # DELETE clears this session's journal only.
    other = new_session()
    ask(sdk(srv, session=other), "[journal] other session")
    assert httpx.delete(srv.url + "/__admin/requests", headers={"X-Mock-Session": session}).status_code == 200
    assert journal(srv, session) == []
    assert len(journal(srv, other)) == 1


def test_journal_records_a_cut_stream(srv, session):
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("POST", srv.url + MM, json={"model": "m", "messages": U("[cut]")},
                          headers={"X-Mock-Session": session}, timeout=30) as r:
            r.read()
    entry = journal(srv, session)[-1]
    assert entry["fixture"] == "cut"
    assert entry["stream"] is not None and entry["stream"]["cut"] is True and entry["stream"]["done"] is False


def test_journal_source_of_a_fixture_error(srv, session):
    r = post(srv, MM, {"model": "m", "stream": False, "messages": U("[err-429]")}, session=session)
    assert r.status_code == 429
    entry = journal(srv, session)[-1]
    assert journal(srv, session, invalid="true") == []
    assert (entry["source"], entry["fixture"]) == ("fixture:err-429", "err-429")


# --- --unmatched error and --journal-size ----------------------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("fx-strict"), "--fixtures", str(DATA / "strict"),
                          "--unmatched", "error", "--journal-size", "5")
    yield server
    server.stop()


def test_unmatched_error_names_the_closest_fixtures(strict, session):
    near = DATA / "strict" / "near.yaml"
    with pytest.raises(openai.NotFoundError) as caught:
        ask(sdk(strict, session=session), "hello here", model="fx-near")
    body = caught.value.body
    assert caught.value.status_code == 404
    assert body["type"] == "mock_no_match" and body["code"] == "mock_no_match"
    message = body["message"]
    # Closest first (fewest reasons), each with its file:line and every reason.
    greeting, streamed, far = (message.index(f"{name} ({near}:{line_of(near, f'- id: {name}')}): ")
                               for name in ("near-greeting", "near-streamed", "far-away"))
    assert greeting < streamed < far, message
    assert "wants last user message equals 'hello there', got 'hello here'" in message
    assert "wants a streamed request, got not streamed" in message
    assert "wants tools offered, got 0 tool(s)" in message
    assert "wants 9 message(s), got 1" in message
    assert "wants header x-tenant equals 'acme', got None" in message
    assert "wants a message" not in message
    entry = journal(strict, session)[-1]
    assert entry["source"] == "unmatched" and entry["status"] == 404
    assert journal(strict, session, unmatched="true") == [entry]
    assert entry["near_misses"][0] == "near-greeting: wants last user message equals 'hello there', got 'hello here'"
    # The same request streamed with tools finds its fixture.
    stream = sdk(strict, session=session).chat.completions.create(
        model="fx-near", messages=U("hello here"), stream=True, tools=[tool("t")])
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed hello"


def test_journal_is_bounded(strict, session):
    for i in range(8):
        post(strict, ARK, {"model": "m", "messages": U(f"bounded {i}")}, session=session)
    entries = journal(strict)
    assert len(entries) == 5
    assert [e["body"]["messages"][0]["content"] for e in entries] == [f"bounded {i}" for i in range(3, 8)]


# --- hot reload and load-time rejection ------------------------------------------------------------


HOT_V = """\
fixtures:
  - id: hot
    match: {{spec: ark, last_user: "[hot]"}}
    response: {{content: "{version}"}}
"""
HOT_BROKEN_YAML = """\
fixtures:
  - id: hot
    match: {spec: ark, last_user: "[hot]"
    response: {content: "broken"}
"""
# Format-valid, but `spec` is left out: it would answer multimedia too, whose
# verbatim contract (--no-errata) no text answer can satisfy.
HOT_VIOLATION = """\
fixtures:
  - id: hot
    match: {last_user: "[hot]"}
    response: {content: "v3"}
"""


@pytest.fixture(scope="module")
def verbatim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """Served with --no-errata: fixture_data/rejected plus a directory to edit."""
    base = tmp_path_factory.mktemp("fx-verbatim")
    hot = base / "hot"
    hot.mkdir()
    (hot / "hot.yaml").write_text(HOT_V.format(version="v1"))
    server = start_server(base, "--no-errata", "--fixtures", str(DATA / "rejected"), "--fixtures", str(hot))
    yield server, hot / "hot.yaml"
    server.stop()


def rewrite(path: Path, text: str) -> None:
    """Write (a new file too) and move the mtime forward, so the change is seen whatever the clock's resolution."""
    old = path.stat().st_mtime if path.exists() else 0.0
    path.write_text(text)
    stamp = max(time.time(), old + 1)
    os.utime(path, (stamp, stamp))


def poll(check, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def hot_answer(server: Server) -> str:
    r = post(server, ARK, {"model": "m", "messages": U("[hot]")})
    return r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else f"HTTP {r.status_code}"


def load_errors(server: Server, path: Path) -> list[dict[str, Any]]:
    return [e for e in httpx.get(server.url + "/__admin/fixtures").json()["errors"] if e["file"] == str(path)]


def test_hot_reload(verbatim):
    server, path = verbatim
    assert hot_answer(server) == "v1"
    rewrite(path, HOT_V.format(version="v2"))
    assert poll(lambda: hot_answer(server) == "v2"), hot_answer(server)
    assert load_errors(server, path) == []
    # Invalid YAML: the previous version stays active, the error is listed with its line.
    rewrite(path, HOT_BROKEN_YAML)
    errors = poll(lambda: load_errors(server, path))
    assert errors, "the broken file's error is not listed"
    assert errors[0]["line"] in (3, 4) and "YAML" in errors[0]["reason"]
    assert hot_answer(server) == "v2"
    # A fixture the served contract cannot carry: refused, the previous version stays.
    rewrite(path, HOT_VIOLATION)
    errors = poll(lambda: [e for e in load_errors(server, path) if "contract" in e["reason"]])
    assert errors, load_errors(server, path)
    assert errors[0]["line"] == 2 and "[schema rule: oneOf]" in errors[0]["reason"]
    assert "fixture hot" in errors[0]["reason"]
    assert hot_answer(server) == "v2"
    # Fixed: the new version is served and the error is gone.
    rewrite(path, HOT_V.format(version="v4"))
    assert poll(lambda: hot_answer(server) == "v4"), hot_answer(server)
    assert load_errors(server, path) == []


def test_load_time_rejection(verbatim):
    server, _ = verbatim
    rejected = DATA / "rejected"
    cases = {
        # file: (line, what the reason must say)
        "contract.yaml": (line_of(rejected / "contract.yaml", "- id: mm-text-verbatim"),
                          ["fixture mm-text-verbatim", "multimedia POST /chat/completions",
                           "would violate the contract", "[schema rule: oneOf]"]),
        "unknown_key.yaml": (line_of(rejected / "unknown_key.yaml", "respnse:"),  # the unknown key's own line
                             ["'respnse' was unexpected", "[fixture format rule:", "additionalProperties]"]),
        "status200.yaml": (line_of(rejected / "status200.yaml", "status: 200"),
                           ["200 is less than the minimum of 400", "[fixture format rule:", "status/minimum]"]),
        "bad_regex.yaml": (line_of(rejected / "bad_regex.yaml", "- id: bad-regex"),
                           ["fixture bad-regex", "invalid match"]),
    }
    errors = {Path(e["file"]).name: e for e in httpx.get(server.url + "/__admin/fixtures").json()["errors"]
              if Path(e["file"]).parent == rejected}
    assert set(errors) == set(cases)
    output = server.output()
    for name, (line, phrases) in cases.items():
        error = errors[name]
        assert error["line"] == line, (name, error)
        for phrase in phrases:
            assert phrase in error["reason"], (name, phrase, error["reason"])
        assert f"rejected: {rejected / name}:{line}: " in output, output
    # A rejected file keeps nothing of itself; the good file is served.
    active = {f["id"] for f in httpx.get(server.url + "/__admin/fixtures").json()["fixtures"]}
    assert "good-ark" in active
    assert not active & {"fine-on-ark", "mm-text-verbatim", "typo", "ok-is-not-an-error", "bad-regex"}
    assert post(server, ARK, {"model": "m", "messages": U("[good]")}).json()["choices"][0]["message"][
        "content"] == "still served"


# --- JUnit report ----------------------------------------------------------------------------------


def stop_with_sigterm(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has shut down cleanly: -SIGTERM is a clean exit too.
    assert server.process.wait(20) in (0, -signal.SIGTERM), server.output()


def test_junit_report(tmp_path):
    report = tmp_path / "out" / "report.xml"
    server = start_server(tmp_path, "--fixtures", str(DATA / "report"), "--unmatched", "error",
                          "--report", str(report))
    try:
        client = sdk(server, ark=True)
        assert text_of(client, "[report-ok]") == "matched"
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="m", messages="not a list")  # type: ignore[arg-type]
        with pytest.raises(openai.NotFoundError):
            text_of(client, "nobody expects this")
        stop_with_sigterm(server)
    finally:
        server.stop()
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 3 and suite.get("tests") == "3" and suite.get("failures") == "2"
    failures = [(c.get("name"), c.find("failure")) for c in cases if c.find("failure") is not None]
    assert [f.get("type") for _, f in failures] == ["invalid_request", "unmatched"]
    assert cases[0].find("failure") is None
    invalid, unmatched = (f for _, f in failures)
    assert "messages" in invalid.get("message")
    assert "No fixture" in unmatched.get("message") and "report-ok" in unmatched.get("message")
    assert "nobody expects this" in unmatched.text
    summary = json.loads(report.with_suffix(".json").read_text())
    assert summary["requests"] == 3 and summary["failures"] == 2
    assert [(f["number"], f["reason"]) for f in summary["failed"]] == [(2, "invalid_request"), (3, "unmatched")]
    assert summary["failed"][1]["error"]["message"] == unmatched.get("message")


def test_junit_report_ignores_fixture_errors(tmp_path):
    report = tmp_path / "report.xml"
    server = start_server(tmp_path, "--fixtures", str(MAIN), "--report", str(report))
    try:
        with pytest.raises(openai.RateLimitError):
            ask(sdk(server), "[err-429]")
        with pytest.raises(openai.RateLimitError):
            ask(sdk(server), "hi", extra_headers={"Prefer": "code=429"})
        stop_with_sigterm(server)
    finally:
        server.stop()
    summary = json.loads(report.with_suffix(".json").read_text())
    assert summary["requests"] == 2
    assert summary["failures"] == 0, summary["failed"]


def test_structured_fixture_content_is_checked_against_the_request_schema(make_server):
    srv = make_server()
    added = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [{
        "id": "wrong-shape", "match": {"last_user": "[json-check]"}, "response": {"json": {"a": 1}}}]})
    assert added.status_code == 201
    schema = {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}
    body = {"stream": False, "messages": [{"role": "user", "content": "[json-check]"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    r = httpx.post(srv.url + "/chat/completions", json=body)
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["type"] == "mock_fixture_error" and "wrong-shape" in error["message"]
    assert '"b" is a required property' in error["message"]
    # Without a schema in the request, the same fixture answers its JSON.
    plain = httpx.post(srv.url + "/chat/completions",
                       json={k: v for k, v in body.items() if k != "response_format"})
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == '{"a":1}'
