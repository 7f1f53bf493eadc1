"""The inspector's issue-12 features, driven in Chromium by Playwright (see test_inspector.py).

A stream appears when it starts and grows while it runs; the response sits
next to the request; preflights are hidden until asked for; 404 and 405 are
labelled as URL mistakes; the fixtures and pacing panels follow the server;
the journal downloads as HAR; a request copies as curl and as fetch(), and
both reproduce it; the examples of docs/frontend.md run.

Every wait is a Playwright wait (or a polled condition) with a generous
failure bound: nothing here asserts how long something took.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_inspector import TIMEOUT_MS, Console, browser, page, rows  # noqa: F401 - fixtures

from playwright.sync_api import Browser, Page, expect  # noqa: E402 (after the module skip in test_inspector)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "frontend.md"
ARK = "/v1/chat/completions"
WAIT_S = 30.0


def open_inspector(page: Page, srv) -> Console:
    console = Console(page)
    page.goto(srv.url + "/__admin/ui")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return console


def add_fixture(srv, fixture: dict[str, Any]) -> None:
    r = httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": [fixture]})
    assert r.status_code == 201, r.text


def latest(srv) -> dict[str, Any]:
    return httpx.get(srv.url + "/__admin/requests").json()["requests"][-1]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class HeldStream:
    """A client reading a stream in a thread until told to leave (the fixture pauses it long before its end)."""

    def __init__(self, srv, text: str) -> None:
        self.leave = threading.Event()
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(srv, text), daemon=True)
        self.thread.start()

    def _run(self, srv, text: str) -> None:
        with httpx.Client(timeout=WAIT_S) as client:
            with client.stream("POST", srv.url + ARK, json={"model": "m", "stream": True,
                                                            "messages": [{"role": "user", "content": text}]}) as r:
                lines = r.iter_lines()
                while not self.leave.is_set():
                    try:
                        line = next(lines)
                    except (StopIteration, httpx.HTTPError):
                        return
                    if line:
                        self.lines.append(line)
                    if len(self.lines) >= 6:
                        self.leave.wait(WAIT_S)

    def stop(self) -> None:
        self.leave.set()
        self.thread.join(WAIT_S)


def test_a_stream_shows_from_its_start_and_grows(make_server, page: Page) -> None:
    srv = make_server()
    # Six events, half a second apart, then a two-minute pause: the stream is running for as long
    # as the test needs it to, and ends when the client leaves.
    add_fixture(srv, {"id": "held", "match": {"last_user": {"contains": "[held]"}},
                      "response": {"content": "one two three four five six seven eight"},
                      "stream": {"tps": 2, "pause": {"after": 6, "ms": 120_000}}})
    console = open_inspector(page, srv)
    client = HeldStream(srv, "[held] stream slowly")
    try:
        running = page.locator("#rows tr.row.streaming")
        expect(running).to_have_count(1)
        expect(running.locator(".tag.live")).to_contain_text("streaming")
        expect(running.locator(".c-ms")).to_have_text("…")
        running.click()
        detail = page.locator("#detail")
        expect(detail.locator(".stream .flag.state")).to_have_text("state: streaming")
        chunks = detail.locator("#chunks li")
        expect(chunks.first).to_be_visible()
        chunks.first.evaluate("li => { li.dataset.mark = 'first seen' }")  # replaced nodes would lose it
        expect(chunks).to_have_count(6, timeout=WAIT_S * 1000)
        expect(detail.locator(".stream .flag.state")).to_have_text("state: streaming")  # still running
        expect(chunks.first).to_have_attribute("data-mark", "first seen")  # appended, not redrawn
        expect(chunks.first).to_contain_text('"role":"assistant"')
        expect(detail.locator(".stream .flag.events")).to_have_text("events: 6")
        expect(detail.locator(".request-body")).to_contain_text("[held] stream slowly")
    finally:
        client.stop()
    # The client left during the pause: the stored entry takes the row's place.
    done = rows(page).first
    expect(done).not_to_have_class(re.compile(r"\bstreaming\b"))
    expect(done.locator(".tag")).to_have_text("stream")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#detail .stream .flag.state")).to_have_text("state: disconnected")
    expect(page.locator("#detail #chunks li")).to_have_count(6)
    expect(page.locator("#detail #chunks li").first).to_have_attribute("data-mark", "first seen")
    assert [c for c in page.locator("#detail #chunks li").all_inner_texts()] == client.lines[:6]
    assert console.errors == []


def test_response_and_request_id_beside_the_request(make_server, page: Page) -> None:
    srv = make_server()
    add_fixture(srv, {"id": "huge", "match": {"last_user": {"contains": "[huge]"}},
                      "response": {"content": " ".join(f"w{i}" for i in range(20_000))}})
    console = open_inspector(page, srv)
    answered = httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    streamed = httpx.post(srv.url + ARK, json={"model": "m", "stream": True,
                                               "messages": [{"role": "user", "content": "hi"}]})
    huge = httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "user", "content": "[huge]"}]})
    expect(rows(page)).to_have_count(3)
    detail = page.locator("#detail")

    rows(page).nth(2).click()
    expect(detail.locator(".request-id")).to_have_text(answered.headers["x-request-id"])
    expect(detail.locator(".response-body")).to_contain_text('"object": "chat.completion"')
    expect(detail.locator(".response-body")).to_contain_text(answered.json()["choices"][0]["message"]["content"])
    expect(detail.locator(".response-headers summary")).to_contain_text("Response headers")
    expect(detail.locator(".cut-marker")).to_have_count(0)

    rows(page).nth(1).click()
    expect(detail.locator(".request-id")).to_have_text(streamed.headers["x-request-id"])
    events = [block for block in streamed.text.split("\n\n") if block]
    expect(detail.locator("#chunks li")).to_have_count(len(events))
    expect(detail.locator("#chunks li").last).to_have_text("data: [DONE]")
    expect(detail.locator(".stream .flag.state")).to_have_text("state: done")

    rows(page).first.click()
    expect(detail.locator(".cut-marker")).to_contain_text("cut")
    expect(detail.locator(".cut-marker")).to_contain_text("the first 64 KiB of")
    assert len(huge.content) > 64 * 1024
    assert console.errors == []


def test_preflights_are_hidden_until_asked_for(make_server, page: Page) -> None:
    srv = make_server()
    console = open_inspector(page, srv)
    preflight = httpx.request("OPTIONS", srv.url + ARK, headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    expect(page.locator("[data-count=preflight]")).to_have_text("1")
    expect(page.locator("#rows tr.row:visible")).to_have_count(0)
    expect(page.locator("#empty")).to_contain_text("Preflights")
    httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "user", "content": "after it"}]},
               headers={"Origin": "http://localhost:5173"})
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#rows tr.row:visible")).to_have_count(1)
    expect(page.locator("[data-count=all]")).to_have_text("1")
    page.check("#show-preflights")
    expect(page.locator("#rows tr.row:visible")).to_have_count(2)
    expect(page.locator("#rows tr.row.preflight .tag")).to_have_text("preflight")
    expect(page.locator("[data-count=all]")).to_have_text("2")
    page.uncheck("#show-preflights")
    expect(page.locator("#rows tr.row:visible")).to_have_count(1)
    assert console.errors == []


def test_unknown_path_and_wrong_method_are_labelled_as_such(make_server, page: Page) -> None:
    srv = make_server()
    console = open_inspector(page, srv)
    assert httpx.post(srv.url + "/v1/chat/completion", json={}).status_code == 404
    assert httpx.get(srv.url + ARK).status_code == 405
    assert httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "robot", "content": "x"}]}
                      ).status_code == 400
    expect(rows(page)).to_have_count(3)
    invalid, not_allowed, not_found = rows(page).nth(0), rows(page).nth(1), rows(page).nth(2)
    expect(not_found.locator(".source")).to_have_text("unknown path")
    expect(not_found.locator(".marker")).to_have_attribute("title", "unknown path")
    expect(not_found).not_to_have_class(re.compile(r"\binvalid\b"))
    expect(not_allowed.locator(".source")).to_have_text("method not allowed")
    expect(not_allowed).not_to_have_class(re.compile(r"\binvalid\b"))
    expect(invalid.locator(".source")).to_have_text("refused")
    expect(invalid.locator(".marker")).to_have_attribute("title", "refused as invalid")
    expect(page.locator("[data-count=invalid]")).to_have_text("1")

    detail = page.locator("#detail")
    not_found.click()
    expect(detail.locator(".error-box h3")).to_have_text("Unknown path")
    expect(detail).not_to_contain_text("Refused as invalid")
    not_allowed.click()
    expect(detail.locator(".error-box h3")).to_have_text("Method not allowed")
    invalid.click()
    expect(detail.locator(".error-box h3")).to_have_text("Refused as invalid")
    page.click("#filters button[data-filter=invalid]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(1)
    assert console.errors == []


FILE_FIXTURE = """\
fixtures:
  - id: {id}
    match: {{last_user: "{id}"}}
    response: {{content: "from a file"}}
"""


def test_fixtures_panel_follows_reloads(make_server, tmp_path: Path, page: Page) -> None:
    folder = tmp_path / "fixtures"
    folder.mkdir()
    srv = make_server("--fixtures", str(folder))
    console = open_inspector(page, srv)
    listed = page.locator("#fixture-list")
    expect(listed).to_contain_text("No fixtures loaded")
    # Nothing clicked from here on: the panel follows the server.
    (folder / "one.yaml").write_text(FILE_FIXTURE.format(id="from-file"))
    expect(listed.locator("li.fixture[data-id=from-file]")).to_be_visible(timeout=WAIT_S * 1000)
    add_fixture(srv, {"id": "at-runtime", "match": {"last_user": "x"}, "response": {"content": "x"}})
    expect(listed.locator("li.fixture[data-id=at-runtime]")).to_be_visible()
    expect(page.locator("#fixture-count")).to_have_text("2 loaded")
    assert httpx.delete(srv.url + "/__admin/fixtures/at-runtime").status_code == 200
    expect(listed.locator("li.fixture[data-id=at-runtime]")).to_have_count(0)
    (folder / "two.yaml").write_text("fixtures:\n  - id: broken\n    respnse: {content: x}\n")
    expect(page.locator("#load-errors .load-error")).to_contain_text("two.yaml:", timeout=WAIT_S * 1000)
    expect(page.locator("#fixture-count")).to_have_text("1 loaded, 1 file failed")
    assert console.errors == []


def test_har_button_downloads_the_journal(make_server, page: Page) -> None:
    srv = make_server()
    console = open_inspector(page, srv)
    httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "user", "content": "archived"}]})
    httpx.post(srv.url + "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "s"}]})
    expect(rows(page)).to_have_count(2)
    with page.expect_download() as info:
        page.click("#export-har")
    download = info.value
    assert download.suggested_filename.endswith(".har")
    har = json.loads(Path(download.path()).read_text())
    assert har["log"]["version"] == "1.2" and har["log"]["creator"]["name"] == "mockserver"
    entries = har["log"]["entries"]
    assert [e["request"]["url"].removeprefix(srv.url) for e in entries] == [ARK, "/chat/completions"]
    assert json.loads(entries[0]["request"]["postData"]["text"])["messages"][0]["content"] == "archived"
    assert entries[1]["response"]["content"]["text"].endswith("data: [DONE]\n\n")
    assert console.errors == []


TRICKY = "It's \"quoted\", costs $HOME `whoami` \\ back\\slash; line\nbreak; ünïcødé ✓ </script>"


def test_copy_as_curl_and_fetch_reproduce_the_request(make_server, browser: Browser) -> None:  # noqa: F811
    srv = make_server()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=srv.url)
    page = context.new_page()
    try:
        console = open_inspector(page, srv)
        body = {"model": "m", "messages": [{"role": "user", "content": TRICKY}], "temperature": 0.5}
        headers = {"X-Mock-Session": "copy's session", "Prefer": "seed=7", "Authorization": "Bearer sk-secret"}
        original = httpx.post(srv.url + ARK, json=body, headers=headers)
        assert original.status_code == 200
        expect(rows(page)).to_have_count(1)
        rows(page).first.click()

        page.click("#copy-curl")
        snippet = page.locator("#snippet")
        expect(snippet).to_have_attribute("data-kind", "curl")
        curl = snippet.inner_text()
        assert curl.startswith("curl ") and "sk-secret" not in curl and "[redacted]" not in curl
        assert page.evaluate("navigator.clipboard.readText()") == curl
        done = subprocess.run(["sh", "-c", curl], capture_output=True, text=True, timeout=WAIT_S)
        assert done.returncode == 0, done.stderr
        again = json.loads(done.stdout)  # same request, same seed: the same answer (ids are fresh)
        assert (again["choices"], again["usage"]) == (original.json()["choices"], original.json()["usage"])
        expect(rows(page)).to_have_count(2)
        check_reproduced(latest(srv), body)

        rows(page).last.click()  # the original again
        page.click("#copy-fetch")
        expect(snippet).to_have_attribute("data-kind", "fetch")
        fetch = snippet.inner_text()
        assert fetch.startswith("fetch(") and "sk-secret" not in fetch
        status, text = page.evaluate(f"async () => {{ const res = await {fetch}; return [res.status, await res.text()]; }}")
        assert status == 200 and json.loads(text)["choices"] == original.json()["choices"]
        expect(rows(page)).to_have_count(3)
        check_reproduced(latest(srv), body)
        assert console.errors == []
    finally:
        context.close()


def check_reproduced(entry: dict[str, Any], body: dict[str, Any]) -> None:
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", ARK, 200)
    assert entry["body"] == body
    assert entry["session"] == "copy's session"
    assert entry["headers"]["prefer"] == "seed=7"
    assert entry["headers"]["content-type"].startswith("application/json")


def test_pacing_control_changes_the_settings(make_server, page: Page) -> None:
    srv = make_server()
    console = open_inspector(page, srv)

    def settings() -> dict[str, Any]:
        return httpx.get(srv.url + "/__admin/settings").json()

    expect(page.locator("#pacing-tps")).to_have_value("0")
    expect(page.locator("#pacing-state")).to_have_text("as started")
    page.fill("#pacing-tps", "7")
    page.fill("#pacing-ttft", "250")
    page.select_option("#pacing-unmatched", "error")
    page.click("#pacing-apply")
    expect(page.locator("#pacing-state")).to_contain_text("tps")
    view = settings()
    assert view["session"] is None
    assert (view["settings"]["tps"], view["settings"]["ttft_ms"], view["settings"]["unmatched"]) == (7.0, 250.0, "error")
    assert view["settings"]["jitter_ms"] == 0.0
    # Applied, not only stored: an unmatched request now gets the 404 of --unmatched error.
    assert httpx.post(srv.url + ARK, json={"model": "m", "messages": [{"role": "user", "content": "?"}]}
                      ).status_code == 404
    # Changed elsewhere: the form follows.
    assert httpx.put(srv.url + "/__admin/settings", json={"tps": 12}).status_code == 200
    expect(page.locator("#pacing-tps")).to_have_value("12")
    page.click("#pacing-restore")
    expect(page.locator("#pacing-state")).to_have_text("as started")
    wait_for(lambda: settings()["changed"] == {}, "the settings to be restored")
    assert settings()["settings"]["tps"] == 0.0 and settings()["settings"]["unmatched"] == "generate"
    expect(page.locator("#pacing-tps")).to_have_value("0")
    assert console.errors == []


# --- docs/frontend.md: every example marked `<!-- example: frontend-... -->` runs --------------------


def doc_examples() -> dict[str, str]:
    text = DOC.read_text()
    found = dict(re.findall(r"<!-- example: (frontend-[\w-]+) -->\n```\w+\n(.*?)```", text, re.S))
    assert found, "docs/frontend.md has no marked example"
    return found


def test_every_doc_example_has_a_runner() -> None:
    assert set(doc_examples()) == {"frontend-settings", "frontend-har", "frontend-fetch-stream"}


def test_doc_shell_examples_run(make_server, tmp_path: Path) -> None:
    srv = make_server()
    examples = doc_examples()
    httpx.post(srv.url + "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    for name in ("frontend-settings", "frontend-har"):
        command = examples[name].replace("http://127.0.0.1:8080", srv.url)
        done = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT_S)
        assert done.returncode == 0, f"{name}: {done.stderr}"
    settings = httpx.get(srv.url + "/__admin/settings").json()["settings"]
    assert (settings["ttft_ms"], settings["tps"]) == (800.0, 10.0)
    har = json.loads((tmp_path / "mockserver.har").read_text())
    assert har["log"]["version"] == "1.2"
    assert [e["request"]["url"].removeprefix(srv.url) for e in har["log"]["entries"]] == ["/chat/completions"]


def test_doc_fetch_stream_example_runs(make_server, page: Page) -> None:
    srv = make_server()
    code = doc_examples()["frontend-fetch-stream"].replace("http://127.0.0.1:8080", srv.url)
    console = open_inspector(page, srv)  # a page of the mock's own origin
    text = page.evaluate("async () => {\n" + code + """
      const deltas = [];
      await streamChat("Hello", (delta) => deltas.push(delta));
      return deltas.join("");
    }""")
    entry = latest(srv)
    assert entry["stream"]["state"] == "done"
    content = "".join(
        json.loads(chunk[6:])["choices"][0]["delta"].get("content") or ""
        for chunk in entry["response"]["chunks"] if chunk.startswith("data: {"))
    assert text == content and text.strip()
    assert console.errors == []
