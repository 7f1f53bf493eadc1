"""The example fixtures (fixtures/examples/) and their documentation (docs/fixtures.md).

* every example file loads, all together, as ``make run`` serves them;
* docs/fixtures.md embeds each example verbatim, and every example is embedded;
* docs/fixture.schema.json is the package's fixture format, byte for byte;
* each example does what its comments say, shown with one or a few requests
  through the official ``openai`` SDK (raw httpx where the SDK hides what is
  shown: SSE framing, faults, timing);
* the examples match narrowly: plain traffic is still generated.

Each test works in its own X-Mock-Session, so counters and scenarios start
fresh and one server serves every test. Timing checks are lower bounds only.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
import wave
from pathlib import Path
from typing import Any, Iterator

import httpx
import jsonschema
import openai
import pytest
import yaml
from openai import OpenAI

from conftest import ROOT, Server, start_server
from helpers import chunks_of, parse_sse

EXAMPLES = ROOT / "fixtures" / "examples"
DOC = ROOT / "docs" / "fixtures.md"
ARK = "/v1/chat/completions"
MM = "/chat/completions"
MARKER = re.compile(r"^<!-- example: (fixtures/examples/[^ ]+) -->\n```ya?ml\n(.*?)\n```$", re.M | re.S)


# --- helpers --------------------------------------------------------------------------------------


def U(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def new_session() -> str:
    return "ex-" + uuid.uuid4().hex[:12]


def sdk(srv: Server, session: str, *, ark: bool = False, retries: int = 0, **headers: str) -> OpenAI:
    return OpenAI(base_url=srv.ark_base if ark else srv.mm_base, api_key="sk-example", max_retries=retries,
                  default_headers={"X-Mock-Session": session, **headers}, timeout=30)


def ask(client: OpenAI, messages: list[dict[str, Any]] | str, **kw: Any) -> Any:
    """A non-streamed completion (the multimedia contract streams by default)."""
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("stream", False)
    return client.chat.completions.create(messages=U(messages) if isinstance(messages, str) else messages, **kw)


def text_of(client: OpenAI, messages: list[dict[str, Any]] | str, **kw: Any) -> str | None:
    return ask(client, messages, **kw).choices[0].message.content


def journal(srv: Server, session: str) -> list[dict[str, Any]]:
    r = httpx.get(srv.url + "/__admin/requests", headers={"X-Mock-Session": session}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def last_source(srv: Server, session: str) -> str | None:
    return journal(srv, session)[-1]["source"]


def sse(srv: Server, session: str, text: str, *, path: str = MM,
        headers: dict[str, str] | None = None) -> tuple[str, list[float], float]:
    """POST a streamed request; the raw SSE text, each event's arrival time and the status line's time."""
    body = {"model": "gpt-4o", "stream": True, "messages": U(text)}
    t0 = time.monotonic()
    raw, times = "", []
    with httpx.stream("POST", srv.url + path, json=body, headers={"X-Mock-Session": session, **(headers or {})},
                      timeout=30) as r:
        assert r.status_code == 200, r.read()
        status_at = time.monotonic() - t0
        for piece in r.iter_text():
            before = raw.count("\n\n")
            raw += piece
            times += [time.monotonic() - t0] * (raw.count("\n\n") - before)
    return raw, times, status_at


def deltas(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["choices"][0]["delta"]["content"] for c in chunks
            if c.get("choices") and c["choices"][0]["delta"].get("content")]


def fixture_ids(path: Path) -> list[str]:
    return [f["id"] for f in yaml.safe_load(path.read_text())["fixtures"]]


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """All the examples together, as `make run` serves them; unmatched requests generated."""
    server = start_server(tmp_path_factory.mktemp("examples"), "--fixtures", str(EXAMPLES))
    yield server
    server.stop()


@pytest.fixture
def session() -> str:
    return new_session()


# --- (a) the files load, (b) the doc embeds them, (c) the schema copy -----------------------------


def test_every_example_loads(make_server):
    server = make_server("--fixtures", str(EXAMPLES.resolve()))
    listed = httpx.get(server.url + "/__admin/fixtures", timeout=30).json()
    assert listed["errors"] == []
    active = {(f["file"], f["id"]) for f in listed["fixtures"]}
    files = example_files()
    assert files
    for path in files:
        ids = fixture_ids(path)
        assert ids, path
        assert {(str(path.resolve()), i) for i in ids} <= active, path.name
    assert len(active) == sum(len(fixture_ids(p)) for p in files)
    assert "rejected" not in server.output()


def test_example_ids_are_unique_across_files():
    ids = [i for p in example_files() for i in fixture_ids(p)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_each_example_names_the_schema_for_editors():
    for path in example_files():
        assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../../docs/fixture.schema.json"


def test_doc_embeds_every_example_verbatim():
    doc = DOC.read_text()
    markers = re.findall(r"<!-- example: ([^ ]+) -->", doc)
    blocks = MARKER.findall(doc)
    assert len(blocks) == len(markers), "each <!-- example: --> marker must be followed by a ```yaml block"
    for name, block in blocks:
        path = ROOT / name
        assert path.is_file(), f"{name} is embedded in docs/fixtures.md but does not exist"
        assert block + "\n" == path.read_text(), f"docs/fixtures.md differs from {name}"
    embedded = {ROOT / name for name, _ in blocks}
    missing = [p.name for p in example_files() if p not in embedded]
    assert not missing, f"not embedded in docs/fixtures.md: {missing}"


def test_doc_schema_is_the_package_schema():
    assert (ROOT / "docs" / "fixture.schema.json").read_bytes() == \
        (ROOT / "mockserver" / "fixtures" / "fixture.schema.json").read_bytes()


def test_examples_are_valid_for_the_schema():
    schema = json.loads((ROOT / "docs" / "fixture.schema.json").read_text())
    for path in example_files():
        jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))


# --- (e) plain traffic is still generated ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["ark", "mm-json", "mm-stream", "mm-tools"])
def test_plain_requests_are_generated(srv, session, kind):
    if kind == "ark":
        ask(sdk(srv, session, ark=True), "Tell me a joke about databases.", model="doubao-pro")
    elif kind == "mm-json":
        ask(sdk(srv, session), "Tell me a joke about databases.")
    elif kind == "mm-stream":
        stream = sdk(srv, session).chat.completions.create(
            model="gpt-4o", messages=U("Summarize the plot of Hamlet."), stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    else:
        search = {"type": "function", "function": {"name": "search_docs", "parameters": {
            "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
        ask(sdk(srv, session), "How do I reset my password?", tools=[search])
    entry = journal(srv, session)[-1]
    assert entry["source"] == "generated", entry
    assert entry["fixture"] is None


# --- (d) each example does what it says --------------------------------------------------------------


def test_greeting(srv, session):
    for client in (sdk(srv, session), sdk(srv, session, ark=True)):
        assert text_of(client, "Hi, who are you?").startswith("Hi! I'm the Acme assistant (a mock).")
    assert last_source(srv, session) == "fixture:greeting-exact"
    assert not text_of(sdk(srv, session), "hi, who are you?").startswith("Hi! I'm")  # equals is case-sensitive
    assert last_source(srv, session) == "generated"
    assert text_of(sdk(srv, session), "GOOD MORNING, team!") == "Good morning to you too! How can I help?"


def test_model_regex(srv, session):
    client = sdk(srv, session)
    assert text_of(client, "Where is my parcel?", model="acme-support-v2") == \
        "Acme support desk here (model acme-support-v2). What is your order number?"
    text_of(client, "Where is my parcel?", model="acme-support-v2-beta")
    assert last_source(srv, session) == "generated"


def test_conversation_shape(srv, session):
    client = sdk(srv, session)
    pirate = [{"role": "system", "content": "You are helpful. Talk like a pirate!"}, *U("Where is the bathroom?")]
    assert text_of(client, pirate).startswith("Arr, matey!")
    text_of(client, [*U("hello"), {"role": "system", "content": "Talk like a pirate"}, *U("well?")])
    assert last_source(srv, session) == "generated"  # the system message is not the first one

    def chat(n: int) -> list[dict[str, Any]]:
        return [{"role": "user" if (n - 1 - i) % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(n)]

    long = ask(client, chat(41)).choices[0]
    assert long.finish_reason == "length" and long.message.content.startswith("This conversation is getting long")
    ask(client, chat(39))
    assert last_source(srv, session) == "generated"


def test_ark_thread(srv, session):
    ark = sdk(srv, session, ark=True)
    thread = f"demo-{uuid.uuid4().hex[:6]}"
    assert text_of(ark, "Hello!", extra_body={"thread_id": thread}) == \
        f"Welcome to thread {thread}! I will remember what you say here."
    assert text_of(ark, "Remember: my cat is called Mochi.", extra_body={"thread_id": thread}) == \
        f"Still in thread {thread}. You just said: Remember: my cat is called Mochi."
    threads = httpx.get(f"{srv.url}/__admin/threads", timeout=30).json()["threads"]
    assert {"thread_id": f"{session}/{thread}", "messages": 4} in threads  # kept per session: 2 turns
    text_of(ark, "Hello!", extra_body={"thread_id": f"prod-{uuid.uuid4().hex[:6]}"})
    assert last_source(srv, session) == "generated"


REFUND_TOOL = {"type": "function", "function": {
    "name": "refund_order", "description": "Refund an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
                   "required": ["order_id"], "additionalProperties": False}}}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
                   "properties": {"city": {"type": "string", "minLength": 2},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}


def tool_result(messages: list[dict[str, Any]], message: Any, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation after the app ran the assistant's tool calls."""
    return [*messages, message.model_dump(exclude_none=True),
            *({"role": "tool", "tool_call_id": c.id, "content": json.dumps(result)} for c in message.tool_calls)]


def test_tool_calls(srv, session):
    client = sdk(srv, session)
    messages = U("I want a refund for my last order, it arrived broken.")
    choice = ask(client, messages, tools=[REFUND_TOOL, WEATHER_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "refund_order"
    assert json.loads(call.function.arguments) == {"order_id": "A-1001", "reason": "customer request"}
    after = ask(client, tool_result(messages, choice.message, {"status": "refunded"}), tools=[REFUND_TOOL]).choices[0]
    assert after.finish_reason == "stop" and after.message.content.startswith("Done: order A-1001 is refunded.")

    ask(client, messages)  # the refund tool is not offered: no tool call can be made
    assert last_source(srv, session) == "generated"

    # The fixed arguments are checked against the tool the request offers: a fixture bug is a 500.
    strict = json.loads(json.dumps(REFUND_TOOL))
    strict["function"]["parameters"]["properties"]["order_id"] = {"type": "integer"}
    with pytest.raises(openai.InternalServerError) as bug:
        ask(client, messages, tools=[strict])
    assert bug.value.code == "mock_fixture_error" and "refund-tool-call" in bug.value.message

    weather = ask(client, "What's the weather in Lisbon?", tools=[WEATHER_TOOL]).choices[0].message
    [call] = weather.tool_calls
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])
    assert text_of(client, "What's the weather in Lisbon?") == \
        "I can't look up the weather: this chat offers me no tools."


def test_structured_output(srv, session):
    schema = {"type": "object", "required": ["invoice_id", "total", "currency", "lines"], "properties": {
        "invoice_id": {"type": "string"}, "total": {"type": "number"}, "currency": {"type": "string"},
        "lines": {"type": "array", "items": {"type": "object", "required": ["item", "qty", "price"]}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "invoice", "schema": schema}}
    client = sdk(srv, session)
    invoice = json.loads(text_of(client, "Summarize invoice INV-2024-0042 please.", response_format=fmt))
    jsonschema.validate(invoice, schema)
    assert invoice["invoice_id"] == "INV-2024-0042" and invoice["total"] == 149.9
    text_of(client, "Summarize invoice INV-2024-0042 please.")  # no response_format: not this fixture
    assert last_source(srv, session) == "generated"


def test_audio_reply(srv, session):
    message = ask(sdk(srv, session), "Please read it aloud.", modalities=["text", "audio"],
                  audio={"voice": "verse", "format": "wav"}).choices[0].message
    assert message.audio.transcript.startswith("Here is your order summary")
    with wave.open(io.BytesIO(base64.b64decode(message.audio.data))) as wav:
        assert wav.getnframes() > 0
    text_of(sdk(srv, session), "Please read it aloud.")  # text only: not this fixture
    assert last_source(srv, session) == "generated"


def test_request_signals(srv, session):
    client = sdk(srv, session)
    streamed = client.chat.completions.create(model="gpt-4o", messages=U("/mock stream?"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == \
        "You are reading a streamed answer, one chunk at a time."
    assert text_of(client, "/mock stream?") == "You got a single JSON answer (no stream)."
    assert text_of(sdk(srv, session, ark=True), "/mock stream?") == "You got a single JSON answer (no stream)."

    assert text_of(client, "Hello", extra_headers={"x-tenant-id": "acme-042"}).startswith("Welcome back to Acme Cloud!")
    text_of(client, "Hello", extra_headers={"x-tenant-id": "globex-7"})
    assert last_source(srv, session) == "generated"

    assert text_of(client, "Can you help?", extra_body={"context": {"experiments": ["dark-mode", "smart-replies"]}}) \
        == "Suggested replies: Yes, please | No, thanks | Tell me more"
    text_of(client, "Can you help?", extra_body={"context": {"experiments": ["dark-mode"]}})
    assert last_source(srv, session) == "generated"


def test_templating(srv, session):
    client = sdk(srv, session)
    first = text_of(client, "/mock echo where is my order?", model="acme-mini")
    pattern = (rf'^You said "/mock echo where is my order\?" to acme-mini \(session {session}, echo #1\)\. '
               r"Your agent today is (\w+) from ([\w .'-]+); write to (\S+@\S+)\.$")
    assert re.match(pattern, first), first
    assert f"echo #2)" in text_of(client, "/mock echo where is my order?", model="acme-mini")
    again = text_of(client, "/mock echo where is my order?", model="acme-mini")
    assert again == first.replace("echo #1", "echo #3")  # faker values are seeded by the request


def test_response_overrides(srv, session):
    client = sdk(srv, session)
    truncated = ask(client, "/mock truncated")
    assert truncated.choices[0].finish_reason == "length" and truncated.choices[0].message.content
    assert truncated.model == "acme-large-2024-06-01"
    assert (truncated.usage.prompt_tokens, truncated.usage.completion_tokens) == (3500, 4096)

    refused = ask(client, "/mock refuse").choices[0].message
    assert refused.refusal == "I'm sorry, but I can't help with that request." and refused.content is None

    for client in (sdk(srv, session), sdk(srv, session, ark=True)):
        filtered = ask(client, "/mock filtered")
        assert filtered.choices[0].finish_reason == "content_filter"
        assert filtered.choices[0].message.content == "I started answering, but"
        assert filtered.usage.completion_tokens == 5


def test_errors(srv, session):
    client = sdk(srv, session)
    with pytest.raises(openai.RateLimitError) as limited:
        ask(client, "/mock 429")
    headers = limited.value.response.headers
    assert headers["retry-after"] == "20" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "60" and headers["x-ratelimit-reset-requests"] == "20s"
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as crashed:
        ask(sdk(srv, session, ark=True), "/mock 500")
    assert crashed.value.status_code == 500 and crashed.value.type == "server_error"
    with pytest.raises(openai.InternalServerError) as overloaded:
        ask(client, "/mock 503")
    assert overloaded.value.status_code == 503 and overloaded.value.code == "service_unavailable"
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(client, "/mock 401")
    assert refused.value.code == "invalid_api_key" and "Incorrect API key" in refused.value.message


def test_stream_shaping(srv, session):
    raw, times, _ = sse(srv, session, "/mock slow")
    chunks = chunks_of(parse_sse(raw))
    words = deltas(chunks)
    assert words == ["Let", " me", " think", " about", " that.", " Here", " is", " a", " slow,", " steady",
                     " answer."]
    first = 1  # event 0 is the role delta
    assert times[first] >= 0.8 - 0.04 - 0.01  # ttft_ms 800, jitter_ms 40
    assert times[first + len(words) - 1] - times[first] >= (len(words) - 1) / 8 - 0.08 - 0.01  # tps 8

    raw, _, _ = sse(srv, session, "/mock typewriter")
    pieces = deltas(chunks_of(parse_sse(raw)))
    assert "".join(pieces) == "Clack clack clack: a typewriter effect."
    assert all(len(p) == 3 for p in pieces[:-1])

    # Prefer overrides the fixture's pacing for one request.
    _, times, _ = sse(srv, session, "/mock slow", headers={"Prefer": "ttft=0, tps=0, jitter=0"})
    assert times[-1] < 0.7


def test_stream_faults(srv, session):
    received = []
    try:
        with httpx.stream("POST", srv.url + MM, json={"model": "m", "messages": U("/mock cut")},
                          headers={"X-Mock-Session": session}, timeout=30) as r:
            for line in r.iter_lines():
                received.append(line)
    except httpx.RemoteProtocolError:
        pass
    assert len([x for x in received if x.startswith("data: ")]) == 3 and "data: [DONE]" not in received

    raw, _, _ = sse(srv, session, "/mock no-done")
    events = parse_sse(raw)
    assert events[-1].data != "[DONE]"
    chunks = [e.json() for e in events]
    assert "".join(deltas(chunks)) == "All of me arrives, but no [DONE] follows."

    raw, _, _ = sse(srv, session, "/mock stream-error")
    events = parse_sse(raw)
    assert [e.event for e in events] == [None, None, "error"]
    assert events[-1].json()["error"]["message"] == "The upstream model crashed mid-answer."
    assert events[-1].json()["error"]["code"] == "service_unavailable"

    stream = sdk(srv, session).chat.completions.create(model="gpt-4o", messages=U("/mock finish-early"), stream=True)
    chunks = [c for c in stream if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "This answer would go on"
    assert chunks[-1].choices[0].finish_reason == "length"
    short = ask(sdk(srv, session), "/mock finish-early").choices[0]  # JSON answers are cut too
    assert (short.message.content, short.finish_reason) == ("This answer would go on", "length")

    raw, times, _ = sse(srv, session, "/mock stall")
    assert times[3] >= 1.5 - 0.01 and times[3] - times[2] >= 1.0  # a 1.5 s pause after the 3rd event
    assert "".join(deltas(chunks_of(parse_sse(raw)))).startswith("I will stall")

    _, _, status_at = sse(srv, session, "/mock slow-start")
    assert status_at >= 1.0 - 0.01
    t0 = time.monotonic()
    assert text_of(sdk(srv, session, ark=True), "/mock slow-start") == "Sorry for the wait."
    assert time.monotonic() - t0 >= 1.0 - 0.01


def test_flaky_model(srv):
    def run(name: str, retries: int = 0) -> list[bool]:
        client = sdk(srv, name, retries=retries)
        outcome = []
        for _ in range(40):
            try:
                ask(client, "Suggest a name for my cat.", model="flaky-gpt")
                outcome.append(True)
            except openai.InternalServerError as exc:
                assert exc.status_code == 503 and exc.response.headers["retry-after-ms"] == "50"
                outcome.append(False)
        return outcome

    # Which requests fail depends on the seed, the session and the match number only, so a
    # fixed session name (reset first: match numbers from 1) fails the same requests every run.
    session = "flaky-example"
    assert httpx.post(srv.url + "/__admin/reset", headers={"X-Mock-Session": session}).status_code == 200
    first = run(session)
    assert 1 <= first.count(False) <= 12, first  # about one in ten
    assert httpx.post(srv.url + "/__admin/reset", headers={"X-Mock-Session": session}).status_code == 200
    assert run(session) == first
    # With the SDK's own retries (it honours retry-after-ms), the app never sees them.
    assert httpx.post(srv.url + "/__admin/reset", headers={"X-Mock-Session": session}).status_code == 200
    assert run(session, retries=3) == [True] * 40
    statuses = [e["status"] for e in journal(srv, session)]
    assert statuses.count(200) == 40 and statuses.count(503) >= first.count(False)  # retries are matches too


def test_sequences(srv, session):
    client = sdk(srv, session)
    tips = [text_of(client, "/mock tip")[:5] for _ in range(4)]
    assert tips == ["Tip 1", "Tip 2", "Tip 3", "Tip 1"]  # then: cycle
    other = sdk(srv, new_session())
    assert text_of(other, "/mock tip").startswith("Tip 1")  # counted per session

    for n in (1, 2, 3):
        assert text_of(client, "/mock trial") == f"Here is your answer ({n} of 3 free questions used)."
    with pytest.raises(openai.RateLimitError) as over:
        ask(client, "/mock trial")
    assert over.value.code == "insufficient_quota"


def test_scenarios(srv, session):
    # Fail twice, then succeed: the SDK retries (honouring retry-after-ms) and the app only sees the success.
    assert text_of(sdk(srv, session, retries=2), "/mock pay") == "Payment accepted (third attempt)."
    assert [e["status"] for e in journal(srv, session)] == [503, 503, 200]
    count = httpx.post(srv.url + "/__admin/requests/count", json={"last_user_contains": "/mock pay"},
                       headers={"X-Mock-Session": session}, timeout=30).json()["count"]
    assert count == 3
    assert text_of(sdk(srv, session), "/mock pay") == "Payment accepted (third attempt)."  # it stays there

    booking = {"type": "function", "function": {"name": "book_table", "parameters": {
        "type": "object", "required": ["restaurant", "party_size", "time"],
        "properties": {"restaurant": {"type": "string"}, "party_size": {"type": "integer"},
                       "time": {"type": "string"}}}}}
    client = sdk(srv, new_session())
    for _ in range(2):  # the last step sets the state back to "started": the flow can be repeated
        messages = U("Can you book a table for two tonight?")
        message = ask(client, messages, tools=[booking]).choices[0].message
        [call] = message.tool_calls
        assert call.id == "call_booking_1" and json.loads(call.function.arguments)["restaurant"] == "Chez Mock"
        final = text_of(client, tool_result(messages, message, {"ok": True}), tools=[booking])
        assert final == "Your table for 2 at Chez Mock is booked for 19:30. Enjoy your dinner!"

    fresh = new_session()  # a tool result before any call: the scenario is not in that state
    messages = [*U("Book it"), {"role": "assistant", "tool_calls": [{"id": "call_x", "type": "function", "function": {
        "name": "book_table", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "call_x", "content": "{}"}]
    ask(sdk(srv, fresh), messages, tools=[booking])
    assert last_source(srv, fresh) == "generated"


def test_prefer_and_sessions(srv, session):
    """What docs/fixtures.md says of Prefer and X-Mock-Session, on the examples."""
    client = sdk(srv, session)
    forced = text_of(client, "anything at all", extra_headers={"Prefer": "fixture=greeting-exact"})
    assert forced.startswith("Hi! I'm the Acme assistant")
    with pytest.raises(openai.RateLimitError):
        ask(client, "Hi, who are you?", extra_headers={"Prefer": "code=429"})
    with pytest.raises(openai.BadRequestError):
        ask(client, "Hi, who are you?", extra_headers={"Prefer": "fixture=no-such-fixture"})
    text_of(client, "/mock tip")
    assert text_of(sdk(srv, new_session()), "/mock tip").startswith("Tip 1")


# Every example file has its test above: a new example needs one too.
COVERED = {
    "greeting.yaml": test_greeting, "model-regex.yaml": test_model_regex,
    "conversation-shape.yaml": test_conversation_shape, "ark-thread.yaml": test_ark_thread,
    "tool-calls.yaml": test_tool_calls, "structured-output.yaml": test_structured_output,
    "audio-reply.yaml": test_audio_reply, "request-signals.yaml": test_request_signals,
    "templating.yaml": test_templating, "response-overrides.yaml": test_response_overrides,
    "errors.yaml": test_errors, "stream-shaping.yaml": test_stream_shaping,
    "stream-faults.yaml": test_stream_faults, "flaky-model.yaml": test_flaky_model,
    "sequences.yaml": test_sequences, "scenarios.yaml": test_scenarios,
}


def test_every_example_has_a_test():
    assert sorted(COVERED) == [p.name for p in example_files()]
