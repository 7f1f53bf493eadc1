"""The command line: help, `fixtures new`, fixture lint, request log lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_help_lists_every_command_and_option():
    top = run("--help")
    assert top.returncode == 0
    for command in ("serve", "lint", "fixtures"):
        assert command in top.stdout
    serve = run("serve", "--help").stdout
    for option in ("--spec", "--overlay", "--no-errata", "--seed", "--ttft", "--tps", "--max-body", "--state",
                   "--workers", "--fixtures", "--unmatched", "--report", "--record", "--upstream",
                   "--replay-speed", "--cors-origin", "--no-cors", "--quiet", "--json-logs", "--admin-token"):
        assert option in serve, option


def test_fixtures_new_writes_a_template_that_loads(tmp_path):
    target = tmp_path / "mine.yaml"
    done = run("fixtures", "new", str(target))
    assert done.returncode == 0 and target.is_file()
    assert run("fixtures", "new", str(target)).returncode == 2, "never overwrites without --force"
    lint = run("lint", "--fixtures", str(target))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "3 fixture(s)" in lint.stdout
    assert run("fixtures", "new").stdout.startswith("# Schema for editors")


def test_fixture_lint_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fixtures:\n  - id: one\n    response:\n      content: hi\n  - id: two\n    match:\n      nonsense: 1\n")
    done = run("lint", "--fixtures", str(bad))
    assert done.returncode == 1
    assert f"{bad}:7:" in done.stdout  # the unknown key's own line and "nonsense" in done.stdout and "REJECTED" in done.stdout


def test_request_log_lines_text_and_json(make_server):
    srv = make_server("--log-level", "info")
    httpx.post(srv.url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    httpx.post(srv.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    srv.stop()
    out = srv.output()
    assert "POST /v1/chat/completions 200 generated" in out
    assert "POST /v1/chat/completions 400 missing_required_parameter" in out
    quiet = make_server("--log-level", "info", "--quiet")
    httpx.post(quiet.url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    quiet.stop()
    assert "POST /v1/chat/completions 200" not in quiet.output()
    js = make_server("--log-level", "info", "--json-logs")
    httpx.post(js.url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    js.stop()
    lines = [json.loads(line) for line in js.output().splitlines() if line.startswith("{")]
    request = next(line for line in lines if line.get("logger") == "mockserver.requests")
    assert request["status"] == 200 and request["path"] == "/v1/chat/completions"
