"""Raw HTTP: SSE framing, headers, errors, CORS and docs, where the SDK hides details."""

from __future__ import annotations

import json

import httpx
import pytest

from helpers import chunks_of, oracle, parse_sse

ARK = "/v1/chat/completions"
MM = "/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "Stream me something."}]}


def error_of(response: httpx.Response) -> dict:
    data = response.json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    return data["error"]


@pytest.mark.parametrize("path,body,nullable_finish", [
    (ARK, {**BODY, "stream": True}, True),
    (MM, BODY, False),  # multimedia streams by default
])
def test_sse_framing(server, http, path, body, nullable_finish):
    r = http.post(path, json=body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    events = parse_sse(r.text)
    assert all(e.event is None for e in events)
    chunks = chunks_of(events)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    with_finish = [c for c in chunks if c["choices"][0].get("finish_reason") is not None]
    assert len(with_finish) == 1 and with_finish[0] is chunks[-1]
    for c in chunks[:-1]:
        if nullable_finish:
            assert c["choices"][0]["finish_reason"] is None
        else:  # the multimedia contract makes finish_reason a non-nullable string: omit it
            assert "finish_reason" not in c["choices"][0]
    name = "ark" if path == ARK else "multimedia"
    oracle(server.url, name).check_exchange(path, body, r)


@pytest.mark.parametrize("path,name", [(ARK, "ark"), (MM, "multimedia")])
def test_json_response_matches_served_spec(server, http, path, name):
    body = {**BODY, "stream": False}
    r = http.post(path, json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    oracle(server.url, name).check_exchange(path, body, r)


def test_ark_message_without_fields_is_valid(http):
    # ARK requires nothing inside a message.
    r = http.post(ARK, json={"model": "m", "messages": [{}]})
    assert r.status_code == 200
    assert r.json()["usage"]["prompt_tokens"] == 3 + 3


def test_empty_messages_are_refused_and_model_defaults(http):
    r = http.post(MM, json={"messages": [], "stream": False})
    assert r.status_code == 400 and error_of(r)["param"] == "messages"  # as the real API answers
    r = http.post(MM, json={"messages": [{"role": "user", "content": "hi"}], "stream": False})
    assert r.status_code == 200
    assert r.json()["model"] == "gpt-4o"  # the contract's example model when none is sent


JSON_HEADERS = {"content-type": "application/json"}


@pytest.mark.parametrize("case,path,content,headers,status,param,needle", [
    ("invalid field", MM, json.dumps({"messages": [{"role": "user"}]}), JSON_HEADERS, 400,
     "messages[0].content", "Missing required parameter"),
    ("wrong type deep", MM, json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}),
     JSON_HEADERS, 400, "messages[0].content[0].text", "expected string"),
    ("bad enum", ARK, json.dumps({"model": "m", "messages": [{"role": "wizard"}]}), JSON_HEADERS, 400,
     "messages[0].role", "'wizard'"),
    ("missing model", ARK, json.dumps({"messages": [{"role": "user", "content": "hi"}]}), JSON_HEADERS, 400,
     "model", "model"),
    ("malformed json", ARK, '{"model": "m", ', JSON_HEADERS, 400, None, "could not parse the JSON"),
    ("invalid utf-8", ARK, b'{"model": "\xff\xfe", "messages": []}', JSON_HEADERS, 400, None, "UTF-8"),
    ("array body", ARK, "[1, 2, 3]", JSON_HEADERS, 400, None, "expected object"),
    ("scalar body", MM, "42", JSON_HEADERS, 400, None, "expected object"),
    ("null body", MM, "null", JSON_HEADERS, 400, None, "expected object"),
    ("empty body", ARK, "", JSON_HEADERS, 400, None, "empty"),
    ("deep nesting", ARK, "[" * 10000 + "]" * 10000, JSON_HEADERS, 400, None, "could not parse"),
    ("deep object", MM, '{"a":' * 10000 + "1" + "}" * 10000, JSON_HEADERS, 400, None, "could not parse"),
    ("text/plain", ARK, json.dumps(BODY), {"content-type": "text/plain"}, 415, None, "text/plain"),
    ("form", ARK, "a=b", {"content-type": "application/x-www-form-urlencoded"}, 415, None, "Content-type"),
    ("latin-1 charset", ARK, json.dumps(BODY), {"content-type": "application/json; charset=latin-1"}, 415,
     None, "UTF-8"),
])
def test_bad_input_gets_a_clear_error(server, http, case, path, content, headers, status, param, needle):
    r = http.post(path, content=content, headers=headers)
    assert r.status_code == status, r.text
    error = error_of(r)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert needle.lower() in error["message"].lower(), error["message"]
    # Errors are responses too: valid against the declared error response.
    if r.headers["content-type"] == "application/json" and status == 400:
        name = "ark" if path == ARK else "multimedia"
        doc = oracle(server.url, name)
        from openapi_core.testing import MockRequest, MockResponse
        doc.api.validate_response(MockRequest(server.url, "post", path, data=b"{}"),
                                  MockResponse(r.content, r.status_code))


def test_unknown_path_and_wrong_method(http):
    r = http.post("/v2/chat/completions", json=BODY)
    assert r.status_code == 404
    assert "/v1/chat/completions" in error_of(r)["message"]
    r = http.get(ARK)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert error_of(r)["code"] == "method_not_allowed"


def test_body_limit(make_server):
    srv = make_server("--max-body", "1K")
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}
    r = httpx.post(srv.url + ARK, json=big)
    assert r.status_code == 413
    assert "1024" in error_of(r)["message"]

    def chunked():  # no content-length: the limit applies while reading
        yield json.dumps(big).encode()

    r = httpx.post(srv.url + ARK, content=chunked(), headers=JSON_HEADERS)
    assert r.status_code == 413
    assert httpx.post(srv.url + ARK, json=BODY).status_code == 200


def test_cors_for_loopback_origins(http):
    origin = "http://localhost:5173"
    r = http.options(ARK, headers={"origin": origin, "access-control-request-method": "POST",
                                   "access-control-request-headers": "authorization, content-type, x-stainless-os"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == origin
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed and "x-stainless-os" in allowed
    assert "POST" in r.headers["access-control-allow-methods"]

    r = http.post(MM, json={**BODY, "stream": True}, headers={"origin": "http://127.0.0.1:3000"})
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    r = http.post(ARK, json=BODY, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = http.options(ARK, headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    # Errors carry CORS headers too, so a browser can read them.
    r = http.post(ARK, json={"messages": []}, headers={"origin": origin})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == origin


def test_served_specs_and_docs(http):
    ark = http.get("/openapi/ark.json").json()
    assert ark["servers"] == [{"url": "/", "description": "this mockserver"}]
    assert "ChatCompletionChunk" in ark["components"]["schemas"]
    mm = http.get("/openapi/multimedia.json").json()
    content = mm["paths"]["/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "/openapi/multimedia.json" in page.text
    asset = http.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert http.get("/openapi/nope.json").status_code == 404
    assert http.get("/docs/static/../../etc/passwd").status_code == 404


def test_health(http):
    data = http.get("/__admin/health").json()
    assert data["status"] == "ok"
    names = {s["name"]: s for s in data["specs"]}
    assert set(names) == {"ark", "multimedia"}
    assert "MM-1" in names["multimedia"]["errata"]
    assert names["ark"]["operations"] == ["POST /v1/chat/completions"]
