"""The admin API and X-Mock-Session: ARK threads per session, journal filters,
and the pacing settings changed at runtime (GET/PUT /__admin/settings).

Everything goes over HTTP to a real ``mockserver serve`` process. Tests on
the shared server work in their own session; a test that changes what every
request sees (settings without a session) starts its own server. Pacing is
observed without a clock: a stream planned past ``MAX_STREAM_SECONDS`` is
refused before its first byte with a message that names the pacing it got.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from mockserver.limits import MAX_TTFT_MS, MIN_TPS

ARK = "/v1/chat/completions"
MM = "/chat/completions"
DEFAULTS = {"ttft_ms": 0.0, "tps": 0.0, "jitter_ms": 0.0, "unmatched": "generate", "seed": 0}


def new_session() -> str:
    return "s-" + uuid.uuid4().hex[:12]


def H(session: str | None) -> dict[str, str]:
    return {"X-Mock-Session": session} if session else {}


def turn(url: str, session: str | None, thread_id: str, text: str = "Hi") -> httpx.Response:
    r = httpx.post(url + ARK, headers=H(session), timeout=30,
                   json={"model": "m", "thread_id": thread_id, "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return r


def ask(url: str, session: str | None = None, text: str = "Tell me something", *, stream: bool = False,
        headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + MM, headers={**H(session), **(headers or {})}, timeout=30,
                      json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]})


def content(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def settings(url: str, session: str | None = None) -> dict[str, Any]:
    r = httpx.get(url + "/__admin/settings", headers=H(session), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def put_settings(url: str, changes: dict[str, Any], session: str | None = None) -> httpx.Response:
    return httpx.put(url + "/__admin/settings", json=changes, headers=H(session), timeout=30)


# --- bug 1: ARK threads of a session, through the admin API -------------------------------------


def test_a_session_sees_its_own_threads_under_their_plain_ids(server, http):
    a, b = new_session(), new_session()
    turn(server.url, a, "t1")
    turn(server.url, a, "t1", "And then?")
    mine = http.get("/__admin/threads/t1", headers=H(a))
    assert mine.status_code == 200, mine.text
    assert mine.json()["thread_id"] == "t1"
    assert [m["role"] for m in mine.json()["messages"]] == ["user", "assistant"] * 2
    assert http.get("/__admin/threads", headers=H(a)).json()["threads"] == [{"thread_id": "t1", "messages": 4}]
    # Another session sees none of it, under any name.
    listed = http.get("/__admin/threads", headers=H(b)).json()["threads"]
    assert listed == [], listed
    assert http.get("/__admin/threads/t1", headers=H(b)).status_code == 404
    assert http.get(f"/__admin/threads/{a}%2Ft1", headers=H(b)).status_code == 404
    assert http.delete("/__admin/threads/t1", headers=H(b)).status_code == 404
    # Its own session deletes it, by the plain id.
    assert http.delete("/__admin/threads/t1", headers=H(a)).status_code == 200
    assert http.get("/__admin/threads/t1", headers=H(a)).status_code == 404
    assert http.get("/__admin/threads", headers=H(a)).json()["threads"] == []


def test_a_session_does_not_see_the_default_sessions_threads(server, http):
    plain = "plain-" + uuid.uuid4().hex[:8]
    turn(server.url, None, plain)
    s = new_session()
    assert http.get(f"/__admin/threads/{plain}").status_code == 200  # no header: the default session's
    assert http.get(f"/__admin/threads/{plain}", headers=H(s)).status_code == 404
    assert all(t["thread_id"] != plain for t in http.get("/__admin/threads", headers=H(s)).json()["threads"])


# --- bug 4: an unknown journal filter is refused ---------------------------------------------------


def test_an_unknown_journal_filter_is_a_400_naming_the_known_ones(http):
    r = http.get("/__admin/requests", params={"status": "429"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == "status" and error["type"] == "invalid_request_error"
    for known in ("spec", "operation", "fixture", "unmatched", "invalid", "since"):
        assert known in error["message"], error["message"]
    assert http.get("/__admin/requests", params={"spec": "ark"}).status_code == 200


def test_the_journal_filters_are_declared_in_the_admin_contract(http):
    r = http.get("/__admin/requests", params={"spec": "ark", "since": "0", "unmatched": "false"},
                 headers=H(new_session()))
    assert r.status_code == 200 and r.json() == {"requests": []}


# --- feature 6: settings at runtime --------------------------------------------------------------


def test_settings_are_read_and_changed_per_session(server):
    a, b = new_session(), new_session()
    assert settings(server.url, a)["settings"] == DEFAULTS
    generated = content(ask(server.url, b))
    r = put_settings(server.url, {"unmatched": "error", "seed": 7}, a)
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {**DEFAULTS, "unmatched": "error", "seed": 7}
    assert r.json()["changed"] == {"unmatched": "error", "seed": 7}
    assert settings(server.url, a)["settings"]["unmatched"] == "error"
    # Session a: no fixture matches, so 404 mock_no_match; b and the default session: generated.
    refused = ask(server.url, a)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "mock_no_match"
    assert content(ask(server.url, b)) == generated
    assert content(ask(server.url)) == generated
    assert settings(server.url, b)["settings"] == DEFAULTS
    # The seed: a's generated content is what seed 7 gives anyone.
    put_settings(server.url, {"unmatched": None}, a)  # null: back to the server's value
    assert settings(server.url, a)["changed"] == {"seed": 7}
    seven = content(ask(server.url, a))
    assert seven != generated
    assert seven == content(ask(server.url, b, headers={"Prefer": "seed=7"}))
    # Reset of the session forgets its settings.
    assert httpx.post(server.url + "/__admin/reset", headers=H(a), timeout=30).status_code == 200
    assert settings(server.url, a) == {"session": a, "settings": DEFAULTS, "changed": {}}
    assert content(ask(server.url, a)) == generated


def test_pacing_settings_reach_the_stream_plan(server):
    """A stream paced past the whole-stream limit is refused before its first byte, and the error
    names the pacing the request got: the settings are seen without timing anything."""
    slow, other = new_session(), new_session()
    assert put_settings(server.url, {"ttft_ms": 550_000, "tps": 0.02, "jitter_ms": 3}, slow).status_code == 200
    r = ask(server.url, slow, stream=True)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "stream_too_long"
    assert "ttft 550000 ms, tps 0.02, jitter 3 ms" in error["message"]
    streamed = ask(server.url, other, stream=True)
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    # Prefer still wins over the settings, for one request.
    fast = ask(server.url, slow, stream=True, headers={"Prefer": "ttft=0, tps=0, jitter=0"})
    assert fast.status_code == 200, fast.text


@pytest.mark.parametrize("changes, param, phrase", [
    ({"ttft_ms": MAX_TTFT_MS + 1}, "ttft_ms", "limits.MAX_TTFT_MS"),
    ({"jitter_ms": MAX_TTFT_MS * 2}, "jitter_ms", "limits.MAX_TTFT_MS"),
    ({"ttft_ms": -1}, "ttft_ms", "negative"),
    ({"tps": MIN_TPS / 2}, "tps", "limits.MIN_TPS"),
    ({"unmatched": "sometimes"}, "unmatched", "sometimes"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"seed": 2 ** 70}, "seed", "seed"),
    ({"colour": "red"}, "colour", "colour"),
])
def test_settings_are_validated_like_the_command_line(server, changes, param, phrase):
    s = new_session()
    r = put_settings(server.url, changes, s)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param, error
    assert phrase in error["message"], error["message"]
    assert settings(server.url, s)["settings"] == DEFAULTS  # nothing of a refused change is kept


def test_process_settings_apply_to_every_session_and_reset_forgets_them(make_server):
    srv = make_server("--seed", "3")
    s = new_session()
    assert settings(srv.url)["settings"] == {**DEFAULTS, "seed": 3}
    assert put_settings(srv.url, {"unmatched": "error"}).status_code == 200
    assert settings(srv.url) == {"session": None, "settings": {**DEFAULTS, "seed": 3, "unmatched": "error"},
                                 "changed": {"unmatched": "error"}}
    assert ask(srv.url).status_code == 404
    assert ask(srv.url, s).status_code == 404  # a session inherits the process's settings ...
    put_settings(srv.url, {"unmatched": "generate"}, s)
    assert ask(srv.url, s).status_code == 200  # ... and overrides them for itself only
    assert ask(srv.url).status_code == 404
    assert httpx.post(srv.url + "/__admin/reset", timeout=30).status_code == 200
    assert settings(srv.url)["settings"] == {**DEFAULTS, "seed": 3}
    assert settings(srv.url, s)["changed"] == {}
    assert ask(srv.url).status_code == 200 and ask(srv.url, s).status_code == 200


def test_settings_live_in_the_shared_store(make_server, tmp_path):
    """Two servers on one state file, as --workers N are: a change made through one is honoured by
    the other (which polls the store's version counter, so it may take a moment)."""
    db = str(tmp_path / "state.sqlite")
    first, second = make_server("--state", db), make_server("--state", db)
    s = new_session()
    assert ask(second.url, s).status_code == 200
    assert put_settings(first.url, {"unmatched": "error"}, s).status_code == 200
    deadline = time.monotonic() + 10
    while ask(second.url, s).status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ask(second.url, s).status_code == 404
    assert settings(second.url, s)["changed"] == {"unmatched": "error"}
    assert ask(second.url).status_code == 200  # the default session is untouched
