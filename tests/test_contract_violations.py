"""The mock never lies: a response the contract forbids is withheld and reported.

A user overlay tightens the served contract so that generated answers can no
longer satisfy it; the mock must answer ``mock_contract_violation`` instead
of sending invalid data, also in the middle of a stream.
"""

from __future__ import annotations

import httpx

from helpers import parse_sse

ARK = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "Say something long."}]}

TIGHT_CONTENT = """
overlay: 1.0.0
info: {title: tighten ARK, version: "1"}
extends: ark.yaml
actions:
  - target: $.components.schemas.ChatCompletionResponse.properties.choices.items.properties.finish_reason
    description: every answer must be cut short
    update: {enum: [length]}
"""

TIGHT_CHUNK = """
overlay: 1.0.0
info: {title: tighten ARK chunks, version: "1"}
extends: ark.yaml
actions:
  - target: $.components.schemas.ChatCompletionChunk.properties.model
    description: chunks must name another model
    update: {enum: [some-other-model]}
"""


def test_json_violation_is_withheld(make_server, tmp_path):
    overlay = tmp_path / "tight.yaml"
    overlay.write_text(TIGHT_CONTENT)
    srv = make_server("--overlay", str(overlay))
    r = httpx.post(srv.url + ARK, json=BODY)
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["type"] == "mock_contract_violation"
    assert "choices[0].finish_reason" in error["message"]
    assert "enum" in error["message"]
    assert "contract violation" in srv.output()


def test_stream_violation_becomes_an_error_event(make_server, tmp_path):
    overlay = tmp_path / "tight.yaml"
    overlay.write_text(TIGHT_CHUNK)
    srv = make_server("--overlay", str(overlay))
    r = httpx.post(srv.url + ARK, json={**BODY, "stream": True})
    assert r.status_code == 200
    events = parse_sse(r.text)
    assert len(events) == 1, "nothing invalid may be sent before the error"
    assert events[0].event == "error"
    assert events[0].json()["error"]["type"] == "mock_contract_violation"
    assert "model" in events[0].json()["error"]["message"]
    # The JSON path is still served: only chunks were tightened.
    assert httpx.post(srv.url + ARK, json=BODY).status_code == 200


def test_verbatim_multimedia_cannot_answer_validly(make_server):
    srv = make_server("--no-errata")
    body = {"messages": [{"role": "user", "content": "hi"}]}
    # As written, every 200 body is ambiguous under the oneOf: the mock says so.
    r = httpx.post(srv.url + "/chat/completions", json={**body, "stream": False})
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "mock_contract_violation"
    assert "more than one" in r.json()["error"]["message"]
    # And it declares no event stream, although it streams by default.
    r = httpx.post(srv.url + "/chat/completions", json=body)
    assert r.status_code == 500
    assert "text/event-stream" in r.json()["error"]["message"]


def test_user_spec_and_overlay_are_served(make_server, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text((__import__("pathlib").Path(__file__).parents[1] / "specs" / "ark.yaml").read_text()
                    .replace("/v1/chat/completions", "/tiny/chat/completions"))
    srv = make_server("--spec", str(spec))
    r = httpx.post(srv.url + "/tiny/chat/completions", json=BODY)
    assert r.status_code == 200
    assert httpx.post(srv.url + ARK, json=BODY).status_code == 404
    assert "tiny" in srv.output()
