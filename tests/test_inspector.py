"""The inspector page (/__admin/ui) and browser CORS, driven in Debian's Chromium by Playwright.

Chromium comes from apt (``/usr/bin/chromium``; ``.ci/run`` installs it), never
from ``playwright install``. Outside CI the module is skipped when Chromium or
the playwright package is missing; in CI (``CI`` set) it must run.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

_missing = [what for what, ok in (
    (f"{CHROMIUM} (apt-get install chromium)", CHROMIUM.exists()),
    ("the playwright package (pip install playwright)", importlib.util.find_spec("playwright") is not None),
) if not ok]
if _missing and not os.environ.get("CI"):
    pytest.skip(f"browser tests need {' and '.join(_missing)}", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000

GOOD_FIXTURE = """\
fixtures:
  - id: greeting
    description: answers the inspector test's greeting
    match: {spec: ark, last_user: {contains: "[inspector-hello]"}}
    response: {content: "hello from a fixture"}
"""
BAD_FIXTURE = """\
fixtures:
  - id: typo
    match: {last_user: "[typo]"}
    respnse: {content: "misspelled key"}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "assert"):
            self.errors.append(f"{msg.type}: {msg.text} ({msg.location.get('url')})")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def rows(page: Page):
    return page.locator("#rows tr.row")


def test_inspector_shows_live_requests(make_server, tmp_path: Path, page: Page) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "good.yaml").write_text(GOOD_FIXTURE)
    (fixtures / "bad.yaml").write_text(BAD_FIXTURE)
    srv = make_server("--fixtures", str(fixtures))
    ark = openai.OpenAI(base_url=srv.ark_base, api_key="test-key", max_retries=0)
    mm = openai.OpenAI(base_url=srv.mm_base, api_key="test-key", max_retries=0)

    # One request before the page opens: it arrives with the stream's backlog.
    ark.chat.completions.create(model="ark-model", messages=[{"role": "user", "content": "before the page"}])

    console = Console(page)
    page.goto(srv.url + "/__admin/ui")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(rows(page)).to_have_count(1)

    # The fixtures panel: the loaded fixture, and the file that failed with file:line: reason.
    expect(page.locator("#fixture-list")).to_contain_text("greeting")
    load_error = page.locator("#load-errors .load-error")
    expect(load_error).to_have_count(1)
    expect(load_error).to_contain_text("bad.yaml:")
    expect(load_error).to_contain_text("respnse")

    # While the page is open: valid requests on both contracts (one streamed), and an invalid one.
    ark.chat.completions.create(model="ark-model", messages=[{"role": "user", "content": "[inspector-hello] hi"}])
    chunks = list(mm.chat.completions.create(
        model="mm-model", messages=[{"role": "user", "content": "stream me"}], stream=True))
    assert chunks
    with pytest.raises(openai.BadRequestError) as refused:
        ark.chat.completions.create(model="ark-model", messages=[{"role": "robot", "content": "beep"}])
    assert refused.value.body["param"] == "messages[0].role"
    expect(rows(page)).to_have_count(4)

    # Newest first; the invalid one is highlighted with its message and param.
    invalid = page.locator("#rows tr.row.invalid")
    expect(invalid).to_have_count(1)
    expect(rows(page).first).to_have_class("row invalid failed")
    expect(invalid.locator(".marker")).to_be_visible()
    expect(invalid.locator(".err .param")).to_have_text("messages[0].role")
    expect(invalid.locator(".err .message")).to_contain_text("'robot' is not one of")
    expect(invalid.locator(".status")).to_have_text("400")
    assert invalid.evaluate("r => getComputedStyle(r.cells[0]).backgroundColor") == "rgb(255, 235, 233)"

    fixture_row = page.locator("#rows tr.row", has=page.locator(".source.fixture"))
    expect(fixture_row).to_have_count(1)
    expect(fixture_row.locator(".source")).to_have_text("greeting")
    streamed = page.locator("#rows tr.row", has=page.locator(".path", has_text="/chat/completions")).filter(
        has=page.locator(".tag", has_text="stream"))
    expect(streamed).to_have_count(1)
    expect(streamed.locator(".source")).to_have_text("generated")
    expect(page.locator("#rows tr.row .source", has_text="generated")).to_have_count(2)

    # The detail panel of the invalid request.
    invalid.click()
    detail = page.locator("#detail")
    expect(invalid).to_have_class("row invalid failed selected")
    expect(detail.locator(".error-box")).to_contain_text("Refused as invalid")
    expect(detail.locator(".error-box .message")).to_contain_text("'robot' is not one of")
    expect(detail.locator(".error-box")).to_contain_text("messages[0].role")
    expect(detail.locator(".error-box")).to_contain_text("invalid_value")
    expect(detail.locator("pre.json")).to_contain_text('"role": "robot"')
    expect(detail.locator(".headers")).to_contain_text("[redacted]")  # the API key never reaches the journal
    expect(detail.locator("#replay")).to_be_enabled()

    # The streamed one: its stream stats.
    streamed.click()
    expect(detail.locator(".stream")).to_contain_text("done: yes")
    expect(detail.locator(".stream")).to_contain_text("cut: no")
    assert int(detail.locator(".stream .flag").first.inner_text().split(": ")[1]) > 1

    # A generated ark request lists the fixture that almost matched.
    rows(page).last.click()
    expect(detail.locator(".near-misses")).to_contain_text("greeting")

    # Filters.
    page.click("#filters button[data-filter=invalid]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(1)
    expect(page.locator("#rows tr.row.invalid")).to_be_visible()
    expect(page.locator("#filters [data-count=invalid]")).to_have_text("1")
    page.click("#filters button[data-filter=unmatched]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(0)
    expect(page.locator("#empty")).to_contain_text("No unmatched requests")
    page.click("#filters button[data-filter=all]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(4)

    # Replay the fixture request, then the streamed one: each comes back as a new row.
    fixture_row.click()
    page.click("#replay")
    expect(rows(page)).to_have_count(5)
    expect(rows(page).first.locator(".source")).to_have_text("greeting")
    expect(page.locator("#notice")).to_contain_text("HTTP 200")
    streamed.first.click()
    page.click("#replay")
    expect(rows(page)).to_have_count(6)
    expect(rows(page).first.locator(".tag")).to_have_text("stream")
    rows(page).first.click()
    expect(detail.locator(".stream")).to_contain_text("done: yes")
    journal = httpx.get(srv.url + "/__admin/requests").json()["requests"]
    assert len(journal) == 6
    assert journal[-2]["fixture"] == "greeting" and journal[-2]["status"] == 200
    assert journal[-1]["stream"]["done"] is True

    # The picture: the invalid request selected.
    page.click("#notice")
    expect(page.locator("#notice")).to_be_hidden()
    invalid.click()
    expect(detail.locator(".error-box")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inspector.png"), full_page=True)

    # Reset clears the journal and the list.
    page.click("#reset")
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    assert httpx.get(srv.url + "/__admin/requests").json()["requests"] == []
    ark.chat.completions.create(model="ark-model", messages=[{"role": "user", "content": "after reset"}])
    expect(rows(page)).to_have_count(1)

    assert console.errors == []


def test_inspector_asks_for_the_admin_token(make_server, page: Page) -> None:
    srv = make_server("--admin-token", "s3cret", "--unmatched", "error", wait=False)  # conftest's readiness probe has no token
    deadline = time.monotonic() + 30
    while True:
        assert srv.process.poll() is None, srv.output()
        try:
            if httpx.get(srv.url + "/__admin/health", headers={"Authorization": "Bearer s3cret"},
                         timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"mockserver did not answer in 30 s:\n{srv.output()}"
        time.sleep(0.05)
    console = Console(page)
    page.goto(srv.url + "/__admin/ui")
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "locked")

    page.fill("#token", "wrong")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-error")).to_contain_text("refused")

    page.fill("#token", "s3cret")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#token-form")).to_be_hidden()
    httpx.post(srv.url + "/v1/chat/completions",
               json={"model": "m", "messages": [{"role": "user", "content": "with a token"}]})
    expect(rows(page)).to_have_count(1)
    unmatched = rows(page).first
    expect(unmatched).to_have_class("row unmatched failed")  # answered 404 mock_no_match: not invalid
    expect(unmatched.locator(".source")).to_have_text("unmatched")
    page.click("#filters button[data-filter=unmatched]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(1)
    page.click("#filters button[data-filter=invalid]")
    expect(page.locator("#rows tr.row:visible")).to_have_count(0)
    page.click("#filters button[data-filter=all]")
    unmatched.click()
    expect(page.locator("#detail .error-box")).to_contain_text("No fixture or recording matched")
    page.click("#reset")
    expect(rows(page)).to_have_count(0)
    # The only console errors: Chromium reporting the two refused (401) calls.
    assert console.errors and all("401" in e for e in console.errors), console.errors


CORS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>frontend</title></head>
<body><pre id="out"></pre>
<script>
// A browser frontend on another localhost port: streams a chat completion, reading the body as it arrives.
async function run(base) {
  const res = await fetch(base + "/chat/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer test-key", "Content-Type": "application/json"},
    body: JSON.stringify({model: "mm-model", messages: [{role: "user", content: "hello from a browser"}]}),
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", reads = 0, done = false;
  const chunks = [];
  while (!done) {
    const next = await reader.read();
    if (next.done) break;
    reads += 1;
    buffer += next.value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const data = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (data === "[DONE]") { done = true; break; }
      chunks.push(JSON.parse(data));
    }
  }
  await reader.cancel();
  const text = chunks.map(c => (c.choices[0] && c.choices[0].delta.content) || "").join("");
  document.getElementById("out").textContent = text;
  return {status: res.status, type: res.headers.get("content-type"), origin: location.origin,
          reads, done, count: chunks.length, text};
}
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_browser_on_another_port_streams_with_cors(server, tmp_path: Path, page: Page) -> None:
    (tmp_path / "index.html").write_text(CORS_PAGE)
    port = free_port()
    static = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=static.serve_forever, daemon=True)
    thread.start()
    try:
        console = Console(page)
        page.goto(f"http://127.0.0.1:{port}/index.html")
        result = page.evaluate("base => run(base)", server.url)
    finally:
        static.shutdown()
        static.server_close()
    assert result["origin"] == f"http://127.0.0.1:{port}" != server.url
    assert result["status"] == 200
    assert result["type"].startswith("text/event-stream")
    assert result["done"] is True, result
    assert result["count"] > 1 and result["reads"] >= 1
    assert result["text"].strip()
    assert console.errors == []
