"""HTTP details users reported (issue 12): the journal of paced streams, CORS for
mistyped paths, request ids, rate-limit headers, start-up checks, the docs page.

Every test drives a real server over HTTP (or runs the command), as users do.
"""

from __future__ import annotations

import functools
import http.server as http_server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server, free_port, wait_ready

ARK = "/v1/chat/completions"
MM = "/chat/completions"
ORIGIN = "http://localhost:5173"
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


def U(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def new_session() -> str:
    return f"http-details-{uuid.uuid4().hex[:10]}"


def journal(server: Server, session: str) -> list[dict[str, Any]]:
    r = httpx.get(server.url + "/__admin/requests", headers={"X-Mock-Session": session}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def journaled(server: Server, session: str, count: int = 1) -> list[dict[str, Any]]:
    """The session's entries once ``count`` of them are written (an entry is written when its
    response is over, which the server may finish just after the client read the last byte)."""
    deadline = time.monotonic() + 15
    while True:
        entries = journal(server, session)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def read_stream(server: Server, session: str, prefer: str | None = None) -> str:
    headers = {"X-Mock-Session": session, **({"Prefer": prefer} if prefer else {})}
    body = {"model": "m", "max_tokens": 8, "messages": U("Tell me about pacing")}
    with httpx.stream("POST", server.url + MM, json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        return r.read().decode()


# --- 1. paced streams in the journal ---------------------------------------------------------------


def test_paced_streams_read_to_the_end_are_not_journaled_as_disconnected(server, make_server):
    paced_by_prefer = new_session()
    text = read_stream(server, paced_by_prefer, prefer="ttft=20, tps=200")
    assert text.endswith("data: [DONE]\n\n")
    unpaced = new_session()
    read_stream(server, unpaced)
    by_options = make_server("--ttft", "20", "--tps", "200")
    paced_by_options = new_session()
    assert read_stream(by_options, paced_by_options).endswith("data: [DONE]\n\n")

    for srv, session in ((server, paced_by_prefer), (server, unpaced), (by_options, paced_by_options)):
        [entry] = journaled(srv, session)
        stream = entry["stream"]
        assert stream["done"] is True and stream["disconnected"] is False, (session, stream)
        assert stream["events"] > 2 and not stream["cut"] and not stream["error"]


def test_a_client_leaving_a_paced_stream_is_journaled_as_disconnected(server):
    session = new_session()
    body = {"model": "m", "messages": U("Tell me a long story about pacing")}
    headers = {"X-Mock-Session": session, "Prefer": "ttft=20, tps=20"}  # seconds of events: it leaves long before
    with httpx.stream("POST", server.url + MM, json=body, headers=headers, timeout=30) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")  # the first event arrived; then the client goes away
    [entry] = journaled(server, session)
    stream = entry["stream"]
    assert stream["disconnected"] is True and stream["done"] is False, stream
    assert stream["events"] >= 1


# --- 2. CORS for a mistyped path -------------------------------------------------------------------


def test_preflight_to_a_mistyped_path_is_answered_and_the_404_names_the_closest_operation(http):
    r = http.options("/v1/chat/completion", headers={
        "origin": ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"]

    r = http.post("/v1/chat/completion", json={"model": "m", "messages": U("hi")}, headers={"origin": ORIGIN})
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == ORIGIN
    error = r.json()["error"]
    assert error["code"] == "not_found"
    assert "Did you mean POST /v1/chat/completions?" in error["message"], error["message"]
    # The other contract's path, mistyped the same way; and a path close to nothing gets no guess.
    message = http.post("/chat/completion", json={}).json()["error"]["message"]
    assert "Did you mean POST /chat/completions?" in message, message
    message = http.get("/" + "x" * 5000).json()["error"]["message"]
    assert "Did you mean" not in message and "Served operations" in message

    # Origins that are not allowed get no CORS answer, on any path.
    r = http.options("/v1/chat/completion", headers={"origin": "https://evil.example",
                                                      "access-control-request-method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


# --- 3. x-request-id ---------------------------------------------------------------------------------


def test_every_answer_carries_a_request_id_and_the_journal_records_it(server, http):
    session = new_session()
    h = {"X-Mock-Session": session}
    answers = [
        http.post(ARK, json={"model": "m", "messages": U("json")}, headers=h),
        http.post(MM, json={"model": "m", "max_tokens": 3, "messages": U("sse")}, headers=h),
        http.post(ARK, json={"messages": U("no model")}, headers=h),  # 400
        http.post(ARK, json={"model": "m", "messages": U("429")}, headers={**h, "Prefer": "code=429"}),
        http.post("/v1/chat/completion", json={}, headers=h),  # 404
        http.get(ARK, headers=h),  # 405
    ]
    assert [r.status_code for r in answers] == [200, 200, 400, 429, 404, 405]
    assert answers[1].headers["content-type"].startswith("text/event-stream")
    ids = [r.headers.get("x-request-id") for r in answers]
    assert all(i is not None and REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    entries = journaled(server, session, len(answers))
    assert [e["request_id"] for e in entries] == ids
    # Other answers carry one too (the docs, the specs, the admin API).
    for path in ("/docs", "/openapi/ark.json", "/__admin/health"):
        assert REQUEST_ID.match(http.get(path).headers["x-request-id"]), path


# --- 4. rate-limit headers ---------------------------------------------------------------------------


RATE_LIMIT_HEADERS = ("retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                      "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                      "x-ratelimit-reset-tokens")


def test_prefer_code_429_and_503_send_the_headers_the_real_api_sends(http):
    body = {"model": "m", "messages": U("hi")}
    r = http.post(ARK, json=body, headers={"Prefer": "code=429"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    for name in RATE_LIMIT_HEADERS:
        assert r.headers.get(name), name
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert 0 < float(r.headers["retry-after"]) <= 60  # what the SDKs honour
    r = http.post(ARK, json=body, headers={"Prefer": "code=503"})
    assert r.status_code == 503 and 0 < float(r.headers["retry-after"]) <= 60
    assert "x-ratelimit-limit-requests" not in r.headers
    assert "retry-after" not in http.post(ARK, json=body, headers={"Prefer": "code=500"}).headers


def test_fixture_error_headers_override_the_defaults(server):
    marker = f"[headers-{uuid.uuid4().hex[:8]}]"
    fixtures = [
        {"id": f"own-{marker[9:-1]}", "priority": 100, "match": {"last_user": marker + " own"},
         "response": {"error": {"status": 429, "headers": {"Retry-After": "20"}}}},
        {"id": f"ms-{marker[9:-1]}", "priority": 100, "match": {"last_user": marker + " ms"},
         "response": {"error": {"status": 503, "headers": {"retry-after-ms": "50"}}}},
        {"id": f"bare-{marker[9:-1]}", "priority": 100, "match": {"last_user": marker + " bare"},
         "response": {"error": {"status": 429}}},
    ]
    r = httpx.post(server.url + "/__admin/fixtures", json={"fixtures": fixtures})
    assert r.status_code == 201, r.text
    try:
        def ask(what: str) -> httpx.Response:
            return httpx.post(server.url + ARK, json={"model": "m", "messages": U(f"{marker} {what}")}, timeout=10)

        own = ask("own")
        assert own.status_code == 429
        assert own.headers.get_list("retry-after") == ["20"]  # the fixture's, once
        assert own.headers["x-ratelimit-remaining-requests"] == "0"  # the defaults it did not name
        ms = ask("ms")
        assert ms.status_code == 503 and ms.headers["retry-after-ms"] == "50"
        assert "retry-after" not in ms.headers  # it says when to retry already: no contradicting default
        bare = ask("bare")
        assert all(bare.headers.get(name) for name in RATE_LIMIT_HEADERS)
    finally:
        for fixture in fixtures:
            httpx.delete(server.url + f"/__admin/fixtures/{fixture['id']}")


# --- 5. start-up checks, the docs page, packaging ---------------------------------------------------


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mockserver", "serve", "--port", str(free_port()), *args]


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_recording_with_a_key_variable_that_holds_no_key_refuses_to_start(tmp_path, value):
    variable = "MOCKSERVER_TEST_KEY_" + uuid.uuid4().hex[:8].upper()
    env = {k: v for k, v in os.environ.items() if k != variable}
    if value is not None:
        env[variable] = value
    done = subprocess.run(serve_command("--record", str(tmp_path / "cassettes"), "--upstream", "http://127.0.0.1:9",
                                        "--upstream-key-env", variable),
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert variable in done.stderr and ("is not set" if value is None else "is empty") in done.stderr
    assert "listening" not in done.stdout


def test_start_up_prints_no_warning(tmp_path):
    """Without the httpx2 package (hidden here), Starlette's test client, which Connexion
    imports, warns that httpx is deprecated for it: the mock never uses that client."""
    hider = tmp_path / "hide"
    (hider / "httpx2").mkdir(parents=True)
    (hider / "httpx2" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'httpx2'\", name='httpx2')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hider), os.environ.get("PYTHONPATH")]))}
    port = free_port()
    err = tmp_path / "stderr.txt"
    with err.open("wb") as handle:
        process = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=handle, cwd=tmp_path, env=env)
    server = Server(f"http://127.0.0.1:{port}", process, err)
    try:
        wait_ready(server)
    finally:
        server.stop()
    assert "Warning" not in err.read_text(), err.read_text()


def docs_definitions(http: httpx.Client) -> list[dict[str, str]]:
    page = http.get("/docs")
    assert page.status_code == 200
    found = re.search(r"urls: (\[.*?\]),\n", page.text)
    assert found, page.text
    return json.loads(found.group(1))


def test_docs_list_each_served_document_once_with_an_icon(http):
    definitions = docs_definitions(http)
    names = [d["name"] for d in definitions]
    assert sorted(names) == ["admin", "ark", "multimedia"], names
    for definition in definitions:
        assert http.get(definition["url"]).status_code == 200, definition
    page = http.get("/docs").text
    assert re.search(r'<link rel="icon" href="data:image/', page), "the page would ask for /favicon.ico"


def test_docs_prefill_an_ark_request_that_keeps_no_state(http):
    [ark] = [d for d in docs_definitions(http) if d["name"] == "ark"]
    document = http.get(ark["url"]).json()
    media = document["paths"][ARK]["post"]["requestBody"]["content"]["application/json"]
    examples = media.get("examples") or {}
    assert examples, "Swagger UI would sample the schema, thread_id included"
    for example in examples.values():
        value = example["value"]
        assert "thread_id" not in value
        session = new_session()  # "Try it out": answered, and no thread is made
        threads_before = http.get("/__admin/threads").json()
        r = http.post(ARK, json=value, headers={"X-Mock-Session": session})
        assert r.status_code == 200, r.text
        assert http.get("/__admin/threads").json() == threads_before
    # The spec as served is untouched: the example lives in the docs' copy only.
    served = http.get("/openapi/ark.json").json()
    assert "examples" not in served["paths"][ARK]["post"]["requestBody"]["content"]["application/json"]


def test_pyproject_builds_without_setuptools_warnings(tmp_path):
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr


# --- browsers -----------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_READY = CHROMIUM.exists() and importlib.util.find_spec("playwright") is not None
needs_browser = pytest.mark.skipif(not BROWSER_READY and not os.environ.get("CI"),
                                   reason="browser tests need /usr/bin/chromium and the playwright package")

TYPO_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>frontend</title></head>
<body><script>
// A frontend on another localhost port calls a mistyped path: it must read the 404, not "Failed to fetch".
async function run(base) {
  try {
    const res = await fetch(base + "/v1/chat/completion", {
      method: "POST",
      headers: {"Authorization": "Bearer test-key", "Content-Type": "application/json"},
      body: JSON.stringify({model: "m", messages: [{role: "user", content: "hi"}]}),
    });
    return {status: res.status, body: await res.json(), requestId: res.headers.get("x-request-id")};
  } catch (e) {
    return {failed: String(e)};
  }
}
</script></body></html>"""


class _QuietHandler(http_server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(10_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@needs_browser
def test_browser_reads_the_404_of_a_mistyped_path_from_another_origin(server, tmp_path, browser_page):
    (tmp_path / "index.html").write_text(TYPO_PAGE)
    port = free_port()
    static = http_server.ThreadingHTTPServer(("127.0.0.1", port),
                                             functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=static.serve_forever, daemon=True).start()
    try:
        browser_page.goto(f"http://127.0.0.1:{port}/index.html")
        result = browser_page.evaluate("base => run(base)", server.url)
    finally:
        static.shutdown()
        static.server_close()
    assert "failed" not in result, result
    assert result["status"] == 404
    assert "Did you mean POST /v1/chat/completions?" in result["body"]["error"]["message"]
    assert REQUEST_ID.match(result["requestId"] or ""), result  # exposed to the page


@needs_browser
def test_swagger_ui_prefills_the_ark_request_without_thread_id(server, browser_page):
    requested: list[str] = []
    browser_page.on("request", lambda request: requested.append(request.url))
    browser_page.goto(server.url + "/docs")
    select = browser_page.locator("select#select")
    assert select.locator("option").all_inner_texts() == ["ark", "multimedia", "admin"]
    select.select_option(label="ark")
    browser_page.locator(".opblock-summary-path", has_text=ARK).first.click()
    browser_page.locator("button.try-out__btn").click()
    prefilled = json.loads(browser_page.locator("textarea.body-param__text").input_value())
    assert "thread_id" not in prefilled and prefilled["messages"], prefilled
    assert not [url for url in requested if url.endswith("/favicon.ico")], requested
