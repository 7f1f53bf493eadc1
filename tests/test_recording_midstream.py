"""An upstream that fails mid-stream (``event: error`` after some chunks) is an
upstream error: relayed as it came, recorded only with ``--record-errors``,
and then replayed as the same error event (streamed) or the same error (JSON).

Uses the local upstream and the two recorders of ``test_recording``.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from helpers import parse_sse
from test_recording import (SERVER_ERROR, Servers, error_recorders, lint, local_upstream,  # noqa: F401
                            sdk)

REQUEST = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Please fail midway."}]}


def _stream(url: str) -> list:
    resp = httpx.post(url + "/chat/completions", json=REQUEST, timeout=30,
                      headers={"authorization": "Bearer sk-client"})
    assert resp.status_code == 200, resp.text
    return parse_sse(resp.text)


def _cassettes(directory) -> list:
    return sorted(directory.rglob("please-fail-midway*.cassette.json"))


def _wait_for_cassette(directory) -> list:
    deadline = time.monotonic() + 10
    while not _cassettes(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _cassettes(directory)


def test_midstream_error_is_relayed_and_not_recorded_by_default(error_recorders):  # noqa: F811
    events = _stream(error_recorders.plain.mm_base)
    assert [e.event for e in events][-1] == "error"
    assert events[-1].json() == SERVER_ERROR
    assert len(events) == 3 and all(e.event in (None, "message") for e in events[:2]), events
    time.sleep(0.3)
    assert _cassettes(error_recorders.plain_dir) == [], "an upstream failure was recorded without --record-errors"


def test_midstream_error_recorded_with_record_errors_and_replayed_as_that_error(error_recorders, tmp_path):  # noqa: F811
    _stream(error_recorders.errors.mm_base)
    [path] = _wait_for_cassette(error_recorders.errors_dir)
    recorded = json.loads(path.read_text())
    events = recorded["response"]["events"]
    assert events[-1]["event"] == "error" and events[-1]["data"] == SERVER_ERROR, events[-1]
    assert all("event" not in e for e in events[:-1])
    folder = tmp_path / "midstream"
    folder.mkdir()
    (folder / path.name).write_text(path.read_text())
    checked = lint(folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    group = Servers(tmp_path)
    try:
        replay = group.one("--fixtures", str(folder), "--unmatched", "error", "--replay-speed", "0")
        streamed = _stream(replay.mm_base)
        assert streamed[-1].event == "error" and streamed[-1].json() == SERVER_ERROR, streamed
        assert [e.json() for e in streamed[:-1]] == [e["data"] for e in events[:-1]]
        with pytest.raises(openai.InternalServerError) as info:
            sdk(replay, "multimedia").chat.completions.create(**{**REQUEST, "stream": False})
        assert info.value.response.json() == SERVER_ERROR
    finally:
        group.stop_all()
