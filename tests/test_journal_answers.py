"""What the journal keeps of each answer, the live feed of running streams, the HAR export
and the change markers the inspector polls (issue 12's inspector features, over HTTP).

* the response (headers, body text or stream events) is journaled next to the
  request, cut at ``limits.MAX_JOURNAL_BODY_BYTES`` and marked, with its size;
* a stream is in ``GET /__admin/requests/stream`` from its status line on,
  then in partial updates (``update: true``) with its new events, then in its
  stored entry (same ``id``);
* ``GET /__admin/requests.har`` is a HAR 1.2 document;
* ``GET /__admin/versions`` moves when fixtures or settings change;
* an unknown path (404) or a wrong method (405) is not "refused as invalid".

The record and feed logic is also checked without a server, where a timing
or a listener can be set up exactly.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from mockserver import limits
from mockserver.journal import Record, materialize
from mockserver.journal_live import LiveFeed
from mockserver.stream import DONE, Frame, event
from tests.conftest import Server, start_server

ARK = "/v1/chat/completions"
MM = "/chat/completions"
WAIT_S = 30.0  # a failure bound, never an expectation


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("journal-answers"))
    yield server
    server.stop()


@pytest.fixture
def session() -> str:
    return f"answers-{uuid.uuid4().hex[:10]}"


def journal(srv: Server, session: str, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(srv.url + "/__admin/requests", params=params, headers={"X-Mock-Session": session})
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def add_fixture(srv: Server, fixture: dict[str, Any]) -> None:
    r = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [fixture]})
    assert r.status_code == 201, r.text


def chat(srv: Server, session: str, text: str, *, stream: bool = False, path: str = ARK) -> httpx.Response:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
    return httpx.post(srv.url + path, json=body, headers={"X-Mock-Session": session}, timeout=WAIT_S)


def sse_blocks(text: str) -> list[str]:
    return [block for block in text.split("\n\n") if block]


# --- the answer, next to the request ---------------------------------------------------------------


def test_a_json_answer_is_journaled_with_its_request(srv: Server, session: str) -> None:
    r = chat(srv, session, "keep my answer")
    assert r.status_code == 200
    (entry,) = journal(srv, session)
    answer = entry["response"]
    assert json.loads(answer["body"]) == r.json()
    assert answer["chunks"] is None
    assert answer["size"] == len(r.content) and answer["truncated"] is False
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["x-request-id"] == r.headers["x-request-id"] == entry["request_id"]
    assert 0 <= answer["first_byte_ms"] <= entry["duration_ms"]
    assert entry["id"] and entry["stream"] is None


def test_a_streams_events_are_journaled_as_sent(srv: Server, session: str) -> None:
    r = chat(srv, session, "keep my events", stream=True)
    assert r.status_code == 200
    (entry,) = journal(srv, session)
    answer = entry["response"]
    assert answer["body"] is None
    assert answer["chunks"] == sse_blocks(r.text)
    assert answer["chunks"][-1] == "data: [DONE]"
    assert answer["size"] == len(r.content)
    assert answer["headers"]["content-type"].startswith("text/event-stream")
    assert entry["stream"]["state"] == "done" and entry["stream"]["events"] == len(answer["chunks"]) - 1


def test_answers_read_back_the_same_from_a_state_file(tmp_path, session: str) -> None:
    """A file store encodes each entry's answer when written (the in-memory one packs it):
    both must show the same stream and JSON answers."""
    server = start_server(tmp_path, "--state", str(tmp_path / "state.db"))
    try:
        streamed = chat(server, session, "keep my events in a file", stream=True)
        plain = chat(server, session, "and my JSON too")
        first, second = journal(server, session)
    finally:
        server.stop()
    assert first["response"]["chunks"] == sse_blocks(streamed.text)
    assert first["response"]["size"] == len(streamed.content) and first["response"]["body"] is None
    assert second["response"]["body"] == plain.text and second["response"]["chunks"] is None


def test_an_error_answer_is_journaled(srv: Server, session: str) -> None:
    r = httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "robot", "content": "x"}]},
                   headers={"X-Mock-Session": session})
    assert r.status_code == 400
    (entry,) = journal(srv, session)
    assert json.loads(entry["response"]["body"]) == r.json()


def test_long_answers_are_cut_marked_and_sized(srv: Server, session: str) -> None:
    words = " ".join(f"word{i}" for i in range(14_000))  # about 110 KB of text
    add_fixture(srv, {"id": f"long-{session}", "match": {"last_user": {"contains": f"[{session}]"}},
                      "response": {"content": words}})
    whole = chat(srv, session, f"[{session}] json")
    streamed = chat(srv, session, f"[{session}] stream", stream=True)
    assert whole.status_code == streamed.status_code == 200
    as_json, as_stream = journal(srv, session)
    limit = limits.MAX_JOURNAL_BODY_BYTES
    for entry, sent in ((as_json, whole.content), (as_stream, streamed.content)):
        answer = entry["response"]
        assert answer["truncated"] is True
        assert answer["size"] == len(sent) > limit
    body = as_json["response"]["body"]
    assert len(body.encode()) <= limit and sent_prefix(whole.content, body)
    kept = "\n\n".join(as_stream["response"]["chunks"])
    assert len(kept.encode()) <= limit and sent_prefix(streamed.content, kept)
    assert as_stream["response"]["chunks"][:3] == sse_blocks(streamed.text)[:3]
    assert as_stream["stream"]["state"] == "done"  # the stream itself was whole


def sent_prefix(sent: bytes, kept: str) -> bool:
    return sent.decode().startswith(kept) and len(kept) > limits.MAX_JOURNAL_BODY_BYTES - 4096


def test_a_cut_stream_keeps_what_went_out(srv: Server, session: str) -> None:
    add_fixture(srv, {"id": f"cut-{session}", "match": {"last_user": {"contains": f"[{session}]"}},
                      "response": {"content": "one two three four five six"}, "stream": {"cut_after": 3}})
    with pytest.raises(httpx.HTTPError):
        chat(srv, session, f"[{session}] cut me", stream=True)
    (entry,) = journal(srv, session)
    assert entry["stream"]["state"] == "cut"
    assert len(entry["response"]["chunks"]) == 3 and "[DONE]" not in entry["response"]["chunks"][-1]


# --- unknown routes are not invalid requests ------------------------------------------------------


def test_unknown_path_and_wrong_method_are_not_invalid(srv: Server, session: str) -> None:
    headers = {"X-Mock-Session": session}
    assert httpx.get(srv.url + "/v1/chat/completion", headers=headers).status_code == 404
    assert httpx.get(srv.url + ARK, headers=headers).status_code == 405
    refused = httpx.post(srv.url + ARK, json={"model": "m", "messages": []}, headers=headers)
    assert refused.status_code == 400
    not_found, not_allowed, invalid = journal(srv, session)
    assert (not_found["status"], not_allowed["status"]) == (404, 405)
    assert journal(srv, session, invalid="true") == [invalid]
    assert journal(srv, session, invalid="false") == [not_found, not_allowed]


# --- HAR ----------------------------------------------------------------------------------------------


def test_har_export_is_har_1_2(srv: Server, session: str) -> None:
    headers = {"X-Mock-Session": session}
    chat(srv, session, "for the archive")
    chat(srv, session, "streamed for the archive", stream=True, path=MM)
    httpx.get(srv.url + "/nowhere?a=1&b=two", headers=headers)
    r = httpx.get(srv.url + "/__admin/requests.har", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert 'filename="mockserver.har"' in r.headers["content-disposition"]
    log = r.json()["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    entries = log["entries"]
    assert len(entries) == 3
    for item in entries:
        check_har_entry(item)
    as_json, as_stream, missing = entries
    journaled = journal(srv, session)
    assert as_json["request"]["method"] == "POST"
    assert as_json["request"]["url"] == srv.url + ARK
    assert json.loads(as_json["request"]["postData"]["text"]) == journaled[0]["body"]
    assert as_json["request"]["postData"]["mimeType"] == "application/json"
    assert as_json["response"]["status"] == 200 and as_json["response"]["statusText"] == "OK"
    assert json.loads(as_json["response"]["content"]["text"])["object"] == "chat.completion"
    assert as_json["_requestId"] == journaled[0]["request_id"]
    assert as_stream["response"]["content"]["mimeType"].startswith("text/event-stream")
    assert as_stream["response"]["content"]["text"].endswith("data: [DONE]\n\n")
    assert as_stream["response"]["content"]["size"] == len(as_stream["response"]["content"]["text"].encode())
    assert missing["request"]["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two"}]
    assert missing["request"]["url"].endswith("/nowhere?a=1&b=two")
    assert "postData" not in missing["request"]
    assert (missing["response"]["status"], missing["response"]["statusText"]) == (404, "Not Found")
    # The same filters as GET /__admin/requests; an unknown one is refused, not ignored.
    only_ark = httpx.get(srv.url + "/__admin/requests.har", params={"spec": "ark"}, headers=headers).json()
    assert [e["request"]["url"] for e in only_ark["log"]["entries"]] == [as_json["request"]["url"]]
    assert httpx.get(srv.url + "/__admin/requests.har", params={"colour": "red"}).status_code == 400


def check_har_entry(item: dict[str, Any]) -> None:
    """The fields and types HAR 1.2 requires of an entry."""
    datetime.fromisoformat(item["startedDateTime"].replace("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["startedDateTime"])
    assert isinstance(item["time"], (int, float)) and item["time"] >= 0
    request, response = item["request"], item["response"]
    for key, kind in (("method", str), ("url", str), ("httpVersion", str), ("cookies", list),
                      ("headers", list), ("queryString", list), ("headersSize", int), ("bodySize", int)):
        assert isinstance(request[key], kind), (key, request)
    assert request["url"].startswith("http://")
    assert request["httpVersion"].startswith("HTTP/")
    for pair in request["headers"] + request["queryString"] + response["headers"]:
        assert set(pair) == {"name", "value"} and all(isinstance(v, str) for v in pair.values())
    if "postData" in request:
        assert isinstance(request["postData"]["mimeType"], str) and isinstance(request["postData"]["text"], str)
    for key, kind in (("status", int), ("statusText", str), ("httpVersion", str), ("cookies", list),
                      ("headers", list), ("content", dict), ("redirectURL", str), ("headersSize", int),
                      ("bodySize", int)):
        assert isinstance(response[key], kind), (key, response)
    content = response["content"]
    assert isinstance(content["size"], int) and isinstance(content["mimeType"], str)
    assert isinstance(content.get("text", ""), str)
    assert item["cache"] == {}
    timings = item["timings"]
    for key in ("send", "wait", "receive"):
        assert isinstance(timings[key], (int, float)) and timings[key] >= 0
    assert abs(sum(v for v in timings.values() if v != -1) - item["time"]) < 0.01


# --- change markers -----------------------------------------------------------------------------


def versions(srv: Server) -> dict[str, str]:
    r = httpx.get(srv.url + "/__admin/versions")
    assert r.status_code == 200, r.text
    return r.json()


def test_versions_move_with_fixtures_and_settings(make_server, tmp_path: Path) -> None:
    folder = tmp_path / "fixtures"
    folder.mkdir()
    server = make_server("--fixtures", str(folder))
    start = versions(server)
    assert versions(server) == start  # nothing changed, nothing moves
    (folder / "one.yaml").write_text('fixtures:\n  - id: one\n    match: {last_user: "one"}\n'
                                     '    response: {content: "1"}\n')
    deadline = time.monotonic() + WAIT_S
    while versions(server)["fixtures"] == start["fixtures"]:  # the watcher reloads the folder
        assert time.monotonic() < deadline, "a new fixture file never moved the marker"
        time.sleep(0.05)
    after_file = versions(server)
    assert after_file["settings"] == start["settings"]
    add_fixture(server, {"id": "runtime", "match": {"last_user": "r"}, "response": {"content": "r"}})
    after_add = versions(server)
    assert after_add["fixtures"] != after_file["fixtures"]
    assert httpx.delete(server.url + "/__admin/fixtures/runtime").status_code == 200
    assert versions(server)["fixtures"] != after_add["fixtures"]
    assert httpx.put(server.url + "/__admin/settings", json={"tps": 12}).status_code == 200
    assert versions(server)["settings"] != start["settings"]


# --- the live feed ------------------------------------------------------------------------------


class Feed:
    """``GET /__admin/requests/stream`` read in a thread: its items, one by one, with a failure bound."""

    def __init__(self, srv: Server, session: str) -> None:
        self.items: queue.Queue = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(WAIT_S, read=None))
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(srv, session), daemon=True)
        self.thread.start()
        assert self.opened.wait(WAIT_S), "the live feed did not open"

    def _read(self, srv: Server, session: str) -> None:
        try:
            with self.client.stream("GET", srv.url + "/__admin/requests/stream", params={"backlog": 0},
                                    headers={"X-Mock-Session": session}) as r:
                self.opened.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.items.put(json.loads(line[6:]))
        except httpx.HTTPError:
            pass

    def next(self, predicate=lambda item: True) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            item = self.items.get(timeout=max(deadline - time.monotonic(), 0.01))
            if predicate(item):
                return item

    def close(self) -> None:
        self.client.close()


def test_the_feed_shows_a_stream_from_its_start_and_as_it_goes(srv: Server, session: str) -> None:
    # Six events go out, then the stream waits (two minutes) until the client leaves.
    add_fixture(srv, {"id": f"hold-{session}", "match": {"last_user": {"contains": f"[{session}]"}},
                      "response": {"content": "one two three four five six seven eight nine ten"},
                      "stream": {"tps": 20, "pause": {"after": 6, "ms": 120_000}}})
    feed = Feed(srv, session)
    client = httpx.Client(timeout=WAIT_S)
    try:
        with client.stream("POST", srv.url + ARK, headers={"X-Mock-Session": session},
                           json={"model": "m", "stream": True,
                                 "messages": [{"role": "user", "content": f"[{session}] hold"}]}) as r:
            lines = r.iter_lines()
            first = feed.next()
            assert first["stream"]["state"] == "streaming" and first.get("update") is None
            assert first["status"] == 200 and first["body"]["messages"][0]["content"].endswith("hold")
            assert first["request_id"] == r.headers["x-request-id"]
            seen = list(first["response"]["chunks"])
            while len(seen) < 6:  # partial entries bring the new events, placed at chunks_from
                update = feed.next(lambda item: item["id"] == first["id"])
                assert update["update"] is True and update["stream"]["state"] == "streaming"
                assert "body" not in update and "headers" not in update
                assert update["response"]["chunks_from"] <= len(seen)
                seen[update["response"]["chunks_from"]:] = update["response"]["chunks"]
            received: list[str] = []
            while len(received) < 6:
                line = next(lines)
                if line:
                    received.append(line)
            assert seen == received
        # The client left during the pause: the stored entry replaces the others.
        final = feed.next(lambda item: item["id"] == first["id"] and not item.get("update"))
        assert final["stream"]["state"] == "disconnected"
        assert final["response"]["chunks"] == seen
        assert journal(srv, session)[-1] == final
    finally:
        client.close()
        feed.close()


def test_a_new_listener_starts_with_the_running_streams(srv: Server, session: str) -> None:
    add_fixture(srv, {"id": f"run-{session}", "match": {"last_user": {"contains": f"[{session}]"}},
                      "response": {"content": "alpha beta gamma"},
                      "stream": {"pause": {"after": 2, "ms": 120_000}}})
    client = httpx.Client(timeout=WAIT_S)
    try:
        with client.stream("POST", srv.url + ARK, headers={"X-Mock-Session": session},
                           json={"model": "m", "stream": True,
                                 "messages": [{"role": "user", "content": f"[{session}] run"}]}) as r:
            lines = r.iter_lines()  # kept: a generator dropped closes the response
            assert next(lines).startswith("data: ")
            feed = Feed(srv, session)  # opened while the stream runs: backlog=0, yet the stream is there
            try:
                running = feed.next()
                assert running["stream"]["state"] == "streaming"
                assert running["request_id"] == r.headers["x-request-id"]
            finally:
                feed.close()
    finally:
        client.close()


# --- without a server ----------------------------------------------------------------------------


def _stream_record(texts: list[str]) -> tuple[Record, dict[str, Any]]:
    frames = [Frame(0.0, "event", event({"n": text})) for text in texts] + [Frame(0.0, "done", DONE)]
    stats = {"events": 0, "done": False, "cut": False, "error": False, "disconnected": False}
    record = Record("POST", ARK, {"content-type": "application/json"}, status=200)
    record.response_headers = [(b"content-type", b"text/event-stream")]
    record.stream, record.frames = stats, frames
    return record, stats


def test_progress_sends_only_new_events() -> None:
    record, stats = _stream_record(["a", "b", "c"])
    assert record.progress() is None  # nothing sent yet
    stats["events"] = 2
    first = record.progress()
    assert first is not None and first["update"] is True
    assert first["response"]["chunks"] == ['data: {"n":"a"}', 'data: {"n":"b"}']
    assert first["response"]["chunks_from"] == 0 and first["stream"]["state"] == "streaming"
    assert record.progress() is None  # nothing new
    stats["events"], stats["done"] = 3, True
    second = record.progress()
    assert second["response"]["chunks"] == ['data: {"n":"c"}'] and second["response"]["chunks_from"] == 2
    final = materialize(record.entry())  # as the admin API shows the stored entry
    assert final["response"]["chunks"] == ['data: {"n":"a"}', 'data: {"n":"b"}', 'data: {"n":"c"}', "data: [DONE]"]
    assert final["stream"]["state"] == "done"


def test_progress_respects_the_journal_budget() -> None:
    big = "x" * (limits.MAX_JOURNAL_BODY_BYTES // 3)
    record, stats = _stream_record([big] * 5)
    stats["events"] = 5
    update = record.progress()
    kept = "\n\n".join(update["response"]["chunks"])
    assert update["response"]["truncated"] is True
    assert len(kept.encode()) <= limits.MAX_JOURNAL_BODY_BYTES
    assert update["response"]["size"] == sum(len(event({"n": big})) for _ in range(5))
    assert materialize(record.entry())["response"]["chunks"] == update["response"]["chunks"]


def test_the_feed_does_nothing_per_stream_without_listeners() -> None:
    async def scenario() -> None:
        feed = LiveFeed()
        record, stats = _stream_record(["a"])
        feed.opened(record)
        assert feed._ticker is None and feed.running()[0]["id"] == record.id  # known, not polled
        queue_ = feed.subscribe()
        assert feed._ticker is not None  # a listener and a running stream: progress is polled
        assert queue_.empty()  # the running stream is in running(), the feed handler sends it first
        stats["events"] = 1
        update = await asyncio.wait_for(queue_.get(), WAIT_S)
        assert update["update"] is True and update["response"]["chunks"] == ['data: {"n":"a"}']
        feed.closed(record)
        feed.unsubscribe(queue_)
        await asyncio.sleep(0.25)
        assert feed._ticker is None

    asyncio.run(scenario())
