"""Hardening of the admin API, fixtures and the fixture registry (issue 11).

Hostile or careless input must not make the server do unbounded work or let
a web page drive it: Faker templates are limited to providers that return
text or numbers; what a template renders, a fixture file, a runtime fixture
body and YAML alias expansion are bounded; fixture pacing is bounded like
``Prefer`` pacing; a Redis outage is a 503 ``state_unavailable`` wherever it
is met; state-changing admin calls refuse foreign origins and non-JSON
bodies; and the chat and admin handler modules no longer import each other.

Everything goes over HTTP to a real ``mockserver serve`` process, as users
do (the import-cycle check reads the sources). No test asserts a duration:
timeouts are failure bounds only.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import ROOT, Server, free_port, start_server

ARK = "/v1/chat/completions"
EVIL = "https://evil.example"


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("hardening-admin"))
    yield server
    server.stop()


def add(srv: Server, *fixtures: dict[str, Any]) -> httpx.Response:
    return httpx.post(srv.url + "/__admin/fixtures", json={"fixtures": list(fixtures)}, timeout=60)


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:2000])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def chat(srv: Server, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": False, **extra}
    return httpx.post(srv.url + ARK, json=body, timeout=60)


def content_of(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text[:2000]
    return r.json()["choices"][0]["message"]["content"]


def load_errors(srv: Server) -> dict[str, dict[str, Any]]:
    """File name -> its load error, as the admin API lists them."""
    listed = httpx.get(srv.url + "/__admin/fixtures", timeout=60).json()["errors"]
    return {Path(e["file"]).name: e for e in listed}


def active_ids(srv: Server) -> set[str]:
    return {f["id"] for f in httpx.get(srv.url + "/__admin/fixtures", timeout=60).json()["fixtures"]}


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def uid() -> str:
    return uuid.uuid4().hex[:8]


# --- 1. Faker templates ---------------------------------------------------------------------------

# Faker's proxy, seeding and registry members, and providers that return bytes
# or objects other than text and numbers: each answered 500 (or 3.6 MB) before.
REFUSED_FAKER = ["seed", "seed_instance", "seed_locale", "unique", "optional", "locales", "random",
                 "add_provider", "format", "parse", "get_providers", "provider", "set_formatter",
                 "binary", "zip", "tar", "image", "json_bytes", "profile", "pydict", "pylist",
                 "date_object", "date_time", "pybool", "time_series", "enum", "_factories", "factories"]


@pytest.mark.parametrize("member", REFUSED_FAKER)
def test_faker_members_other_than_text_or_number_providers_are_refused(srv, member):
    r = add(srv, {"id": f"faker-{member}-{uid()}", "response": {"content": f"x {{{{ faker.{member} }}}} y"}})
    error = error_of(r, 400)
    assert error["code"] == "invalid_fixture" and error["param"] == "fixtures"
    assert f"faker.{member}" in error["message"]
    assert "docs/fixtures.md" in error["message"], error["message"]  # where the allowed list is
    assert httpx.get(srv.url + "/__admin/health", timeout=30).status_code == 200


def test_text_and_number_providers_still_render(srv):
    marker = f"[faker-ok-{uid()}]"
    fixture = {"id": f"faker-ok-{uid()}", "match": {"last_user": marker},
               "response": {"content": "{{ faker.name }}|{{ faker.uuid4 }}|{{ faker.pyint }}|"
                                       "{{ faker.latitude }}|{{ faker.city }}|{{ faker.email }}"}}
    assert add(srv, fixture).status_code == 201
    name, uuid4, number, latitude, city, email = content_of(chat(srv, marker)).split("|")
    assert name and city and "@" in email
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", uuid4)
    assert number.isdigit() and float(latitude) == float(latitude)


def test_faker_members_in_a_file_are_refused_with_file_and_line(make_server, tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    text = ("fixtures:\n"
            "  - id: fine\n"
            "    match: {last_user: '[fine]'}\n"
            "    response: {content: 'ok'}\n"
            "  - id: seeder\n"
            "    response: {content: 'hello {{ faker.seed_instance }}'}\n")
    (folder / "seeder.yaml").write_text(text)
    srv = make_server("--fixtures", str(folder))
    error = load_errors(srv)["seeder.yaml"]
    assert error["line"] == line_of(text, "- id: seeder")
    assert "faker.seed_instance" in error["reason"] and "docs/fixtures.md" in error["reason"]
    assert f"{folder / 'seeder.yaml'}:{error['line']}: " in srv.output()
    assert "fine" not in active_ids(srv)  # a rejected file keeps nothing of itself


# --- 2. heavy fixtures ----------------------------------------------------------------------------


def test_a_template_value_renders_at_most_the_limit(srv):
    # ~1,000 paragraphs of up to 200 characters: well past 64 KiB once rendered.
    r = add(srv, {"id": f"big-{uid()}", "response": {"content": "{{ faker.text }} " * 1000}})
    error = error_of(r, 400)
    assert error["code"] == "invalid_fixture"
    assert "MAX_TEMPLATE_OUTPUT_BYTES" in error["message"] and "65536" in error["message"]


def test_a_request_echoed_by_templates_past_the_limit_is_refused(srv):
    marker = f"[echo-{uid()}]"
    fixture = {"id": f"echo-{uid()}", "match": {"last_user": {"contains": marker}},
               "response": {"content": "{{ request.last_user }} / {{ request.last_user }}"}}
    assert add(srv, fixture).status_code == 201
    short = marker + " hello"
    assert content_of(chat(srv, short)) == f"{short} / {short}"
    long = marker + "x" * 40_000  # rendered twice: 80 KB
    error = error_of(chat(srv, long), 400)
    assert error["code"] == "template_output_too_large"
    assert "MAX_TEMPLATE_OUTPUT_BYTES" in error["message"] and fixture["id"] in error["message"]
    assert len(error["message"]) < 4000


def test_a_fixture_file_or_runtime_body_past_the_size_limit_is_refused(make_server, tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    (folder / "ok.yaml").write_text("fixtures:\n  - id: small\n    response: {content: 'small'}\n")
    padding = ("#" + "x" * 1023 + "\n") * (8 * 1024 + 16)  # comments: a valid file, just too large
    (folder / "big.yaml").write_text("fixtures:\n  - id: huge\n    response: {content: 'huge'}\n" + padding)
    srv = make_server("--fixtures", str(folder))
    error = load_errors(srv)["big.yaml"]
    assert "MAX_FIXTURE_FILE_BYTES" in error["reason"] and str(8 * 1024 * 1024) in error["reason"]
    assert active_ids(srv) == {"small"}
    # A runtime body past the limit (but within --max-body): 413, nothing stored.
    body = {"fixtures": [{"id": "huge-runtime", "description": "d" * (8 * 1024 * 1024 + 100),
                          "response": {"content": "x"}}]}
    r = httpx.post(srv.url + "/__admin/fixtures", json=body, timeout=120)
    error = error_of(r, 413)
    assert "MAX_FIXTURE_FILE_BYTES" in error["message"]
    assert "huge-runtime" not in active_ids(srv)


def laughs(levels: int, width: int = 10) -> str:
    """The "billion laughs" YAML bomb, as a fixture's structured content: width**levels strings."""
    lines = ["fixtures:", "  - id: laughs", "    response:", "      json:",
             "        l0: &l0 " + "[" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"        l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# The cheap case fails on the old code in a moment; the real bomb took 30 s and 2 GB there.
@pytest.mark.parametrize("levels", [4, 9], ids=["thousands", "billion"])
def test_yaml_alias_expansion_is_bounded(make_server, tmp_path, levels):
    folder = tmp_path / "fx"
    folder.mkdir()
    text = laughs(levels)
    (folder / "laughs.yaml").write_text(text)
    (folder / "ok.yaml").write_text("fixtures:\n  - id: fine\n    response: {content: 'fine'}\n")
    srv = make_server("--fixtures", str(folder))
    error = load_errors(srv)["laughs.yaml"]
    assert "MAX_YAML_ALIASES" in error["reason"] and "1000" in error["reason"]
    assert 5 <= error["line"] <= len(text.splitlines())
    assert active_ids(srv) == {"fine"}
    assert len(srv.output()) < 20_000  # no line quotes the expansion


def test_the_pytest_plugin_reads_fixture_yaml_with_the_same_bounds(tmp_path):
    # The plugin expands a YAML fixture before it posts it: a bomb would blow up the test process first.
    from mockserver.pytest_plugin import FixtureRejected, _document

    path = tmp_path / "laughs.yaml"
    path.write_text(laughs(9))
    for given in (laughs(4), path):
        with pytest.raises(FixtureRejected, match="MAX_YAML_ALIASES"):
            _document(given)
    assert _document("- id: ok\n  response: {content: fine}\n") == {
        "fixtures": [{"id": "ok", "response": {"content": "fine"}}]}


def test_yaml_aliases_of_one_large_node_are_bounded(make_server, tmp_path):
    # Few aliases, each repeating 2,000 values: "quadratic blow-up" within the alias count.
    folder = tmp_path / "fx"
    folder.mkdir()
    text = ("fixtures:\n  - id: wide\n    response:\n      json:\n"
            "        big: &big [" + ", ".join(["1"] * 2000) + "]\n"
            "        copies: [" + ", ".join(["*big"] * 60) + "]\n")
    (folder / "wide.yaml").write_text(text)
    srv = make_server("--fixtures", str(folder))
    error = load_errors(srv)["wide.yaml"]
    assert "MAX_YAML_ALIAS_NODES" in error["reason"], error
    assert error["line"] == line_of(text, "copies:")


def test_recursive_and_too_deep_yaml_is_refused(make_server, tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    (folder / "loop.yaml").write_text("fixtures:\n  - id: loop\n    response:\n      json:\n"
                                      "        me: &me [1, *me]\n")
    (folder / "deep.yaml").write_text("fixtures:\n  - id: deep\n    response:\n      json: "
                                      + "[" * 900 + "]" * 900 + "\n")
    (folder / "ok.yaml").write_text("fixtures:\n  - id: fine\n    response: {content: 'fine'}\n")
    srv = make_server("--fixtures", str(folder))
    errors = load_errors(srv)
    assert "recursive" in errors["loop.yaml"]["reason"] and errors["loop.yaml"]["line"] == 5
    assert "MAX_JSON_DEPTH" in errors["deep.yaml"]["reason"] and errors["deep.yaml"]["line"] == 4
    assert active_ids(srv) == {"fine"}


def test_load_errors_quote_at_most_the_log_limit(make_server, tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    # A 1 MB value where a string is wanted: the format error quotes it.
    (folder / "long.yaml").write_text("fixtures:\n  - id: long\n    response:\n      content: ["
                                      + ", ".join(["123456789"] * 100_000) + "]\n")
    srv = make_server("--fixtures", str(folder))
    error = load_errors(srv)["long.yaml"]
    assert "is not of type 'string'" in error["reason"]
    assert len(error["reason"]) <= 2_000
    assert max(len(line) for line in srv.output().splitlines()) < 3_000


# --- 3. fixture pacing ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream, limit", [
    ({"ttft_ms": 1e9}, "MAX_TTFT_MS"),
    ({"tps": 0.0001}, "MIN_TPS"),
    ({"jitter_ms": 1e9}, "MAX_TTFT_MS"),
    ({"delay_ms": 1e9}, "MAX_STREAM_SECONDS"),
    ({"pause": {"after": 2, "ms": 1e9}}, "MAX_STREAM_SECONDS"),
    ({"tps": 0.05}, "MAX_STREAM_SECONDS"),  # fine alone; 60 words at 0.05 tokens/s is not
], ids=["ttft", "tps", "jitter", "delay", "pause", "length"])
def test_fixture_pacing_past_the_limits_is_refused(srv, stream, limit):
    fixture = {"id": f"slow-{uid()}", "stream": stream, "response": {"content": "word " * 60}}
    error = error_of(add(srv, fixture), 400)
    assert error["code"] == "invalid_fixture" and limit in error["message"], error["message"]
    faulty = {"id": f"slow-fault-{uid()}", "fault": {"probability": 0.5, "stream": stream},
              "response": {"content": "word " * 60}}
    error = error_of(add(srv, faulty), 400)
    assert limit in error["message"] and "fault" in error["message"], error["message"]


def test_non_finite_pacing_in_a_file_is_refused(make_server, tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    for name, value in (("nan", ".nan"), ("inf", ".inf")):
        (folder / f"{name}.yaml").write_text(f"fixtures:\n  - id: {name}\n    stream: {{ttft_ms: {value}}}\n"
                                             "    response: {content: 'x'}\n")
    (folder / "ok.yaml").write_text("fixtures:\n  - id: paced\n    stream: {ttft_ms: 5, tps: 1000}\n"
                                    "    response: {content: 'fine'}\n")
    srv = make_server("--fixtures", str(folder))
    errors = load_errors(srv)
    for name in ("nan", "inf"):
        assert errors[f"{name}.yaml"]["line"] == 2 and "finite" in errors[f"{name}.yaml"]["reason"], errors
    assert active_ids(srv) == {"paced"}


# --- 4. Redis down --------------------------------------------------------------------------------


def test_redis_going_down_is_a_503_for_turns_with_or_without_a_thread(make_server, tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    import redis

    port = free_port()
    redis_proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        client.close()
        srv = make_server("--state", f"redis://127.0.0.1:{port}/0")
        marker = f"[redis-{uid()}]"
        assert add(srv, {"id": "redis-fx", "match": {"last_user": marker},
                         "response": {"content": "stored"}}).status_code == 201
        assert content_of(chat(srv, marker)) == "stored"
        assert content_of(chat(srv, "no fixture", thread_id="t1")) is not None
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    # Each of these reads or writes Redis (a matched fixture moves its counter): none may be a 500.
    for r in (chat(srv, marker), chat(srv, "again", thread_id="t1"),
              httpx.get(srv.url + "/__admin/threads", timeout=60),
              httpx.get(srv.url + "/__admin/requests", timeout=60),
              httpx.post(srv.url + "/__admin/reset", timeout=60)):
        error = error_of(r, 503)
        assert error["code"] == "state_unavailable" and error["type"] == "server_error"
        assert f"127.0.0.1:{port}" in error["message"]


# --- 5. the admin API and other origins -----------------------------------------------------------


def test_state_changing_admin_calls_from_a_foreign_origin_are_refused(srv):
    fixture_id = f"keep-{uid()}"
    assert add(srv, {"id": fixture_id, "response": {"content": "kept"}}).status_code == 201
    # What a page on another site can send without a preflight: a "simple" request.
    attempts = [("POST", "/__admin/reset", {"content-type": "text/plain"}, b"{}"),
                ("POST", "/__admin/reset", {}, b""),
                ("DELETE", "/__admin/fixtures", {}, b""),
                ("DELETE", f"/__admin/fixtures/{fixture_id}", {}, b""),
                ("DELETE", "/__admin/requests", {}, b""),
                ("POST", "/__admin/fixtures", {"content-type": "application/json"},
                 b'{"fixtures": [{"id": "evil", "response": {"content": "pwned"}}]}')]
    for origin in (EVIL, "null", "http://localhost.evil.example"):
        for method, path, headers, body in attempts:
            r = httpx.request(method, srv.url + path, headers={"origin": origin, **headers}, content=body,
                              timeout=30)
            error = error_of(r, 403)
            assert error["code"] == "admin_origin_forbidden" and origin in error["message"], error
            assert "access-control-allow-origin" not in r.headers
    assert fixture_id in active_ids(srv) and "evil" not in active_ids(srv)
    # Reads stay open (the browser keeps a foreign page from reading them: no CORS headers).
    r = httpx.get(srv.url + "/__admin/fixtures", headers={"origin": EVIL}, timeout=30)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # Loopback origins (the inspector, a dev frontend) and clients without Origin keep working.
    for headers in ({"origin": srv.url}, {"origin": "http://localhost:5173"}, {}):
        r = httpx.delete(srv.url + f"/__admin/fixtures/{fixture_id}", headers=headers, timeout=30)
        assert r.status_code in (200, 404), r.text
    assert fixture_id not in active_ids(srv)


def test_admin_bodies_must_be_json(srv):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         None):
        headers = {"content-type": content_type} if content_type else {}
        for path, body in (("/__admin/reset", b"x"),
                           ("/__admin/fixtures", b'{"fixtures": [{"id": "plain", "response": {}}]}')):
            r = httpx.post(srv.url + path, headers=headers, content=body, timeout=30)
            error = error_of(r, 415)
            assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]
    assert "plain" not in active_ids(srv)
    # JSON (with or without a charset) and bodiless calls are fine.
    fixture = {"id": f"json-{uid()}", "response": {"content": "x"}}
    r = httpx.post(srv.url + "/__admin/fixtures", content=f'{{"fixtures": [{{"id": "{fixture["id"]}", '
                   '"response": {"content": "x"}}]}', headers={"content-type": "application/json; charset=utf-8"},
                   timeout=30)
    assert r.status_code == 201, r.text
    assert httpx.delete(srv.url + f"/__admin/fixtures/{fixture['id']}", timeout=30).status_code == 200
    session = {"x-mock-session": f"s-{uid()}"}
    assert httpx.post(srv.url + "/__admin/reset", headers=session, timeout=30).status_code == 200
    r = httpx.post(srv.url + "/__admin/requests/count", json={}, headers=session, timeout=30)
    assert r.status_code == 200 and r.json() == {"count": 0}


def test_configured_origins_may_change_state_and_no_cors_keeps_loopback(make_server):
    allowed = make_server("--cors-origin", "https://app.example")
    headers = {"origin": "https://app.example", "x-mock-session": "s-app"}
    assert httpx.post(allowed.url + "/__admin/reset", headers=headers, timeout=30).status_code == 200
    error = error_of(httpx.post(allowed.url + "/__admin/reset", headers={"origin": EVIL}, timeout=30), 403)
    assert "--cors-origin" in error["message"]
    closed = make_server("--no-cors")
    # The inspector is same-origin: with CORS off it can still reset its own server.
    r = httpx.post(closed.url + "/__admin/reset", headers={"origin": closed.url}, timeout=30)
    assert r.status_code == 200, r.text
    error_of(httpx.post(closed.url + "/__admin/reset", headers={"origin": EVIL}, timeout=30), 403)


def test_the_admin_token_is_still_required_and_checked(make_server):
    srv = make_server("--admin-token", "s3cret")
    for headers in ({}, {"authorization": "Bearer s3cre"}, {"authorization": "Bearer s3cret!"},
                    {"x-admin-token": "nope"}):
        error_of(httpx.get(srv.url + "/__admin/health", headers=headers, timeout=30), 401)
    for headers in ({"authorization": "Bearer s3cret"}, {"x-admin-token": "s3cret"}):
        assert httpx.get(srv.url + "/__admin/health", headers=headers, timeout=30).status_code == 200
    # Non-ASCII guesses are refused like any wrong token, not a 500.
    r = httpx.get(srv.url + "/__admin/health", headers=[("authorization", "Bearer s3cr\xe9t".encode("latin-1"))],
                  timeout=30)
    error_of(r, 401)


# --- 6. no import cycle between the two handler modules -------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any level (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_chat_and_admin_handlers_do_not_import_each_other():
    chat_handlers = _imported_modules(ROOT / "mockserver" / "handlers.py")
    admin_handlers = _imported_modules(ROOT / "mockserver" / "admin" / "handlers.py")
    assert not {m for m in chat_handlers if m.startswith("mockserver.admin")}, chat_handlers
    assert not {m for m in admin_handlers if m == "mockserver.handlers" or m.startswith("mockserver.handlers.")}
