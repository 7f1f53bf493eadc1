"""The prepared request-validation step (connexion_glue.PreparedRequestValidation).

It decides per distinct Content-Type value once and reuses the decision, and
leaves operations with parameters to Connexion's own path. What must hold:
the decision never leaks from one value to another (a refused type stays
refused after accepted ones were remembered, and the reverse), the memory is
bounded, and parameters are still validated where an operation has them.
"""

from __future__ import annotations

import httpx

from mockserver.server.connexion_glue import PREPARED_CONTENT_TYPES

ARK = "/v1/chat/completions"
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


def post(http: httpx.Client, content_type: str | None, body: bytes = BODY) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return http.post(ARK, content=body, headers=headers)


def test_each_content_type_keeps_its_own_verdict(http):
    for _ in range(3):  # the second and third rounds are served from what the first remembered
        assert post(http, "application/json").status_code == 200
        refused = post(http, "text/plain")
        assert refused.status_code == 415
        assert refused.json()["error"]["code"] == "unsupported_media_type"
        assert post(http, "application/json; charset=utf-8").status_code == 200
        assert post(http, "application/json; charset=latin-1").status_code == 415
        bad = post(http, "application/json", b'{"model": "m"}')  # remembered type, body still validated
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"


def test_many_distinct_content_types_are_bounded_and_still_judged(http):
    for n in range(PREPARED_CONTENT_TYPES + 10):
        assert post(http, f"application/json; v={n}").status_code == 200, n
    assert post(http, "application/xml").status_code == 415
    assert post(http, "application/json; v=0").status_code == 200


def test_operations_with_parameters_are_still_validated_by_connexion(http):
    r = http.get("/__admin/requests", params={"unmatched": "not-a-boolean"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == "unmatched" and error["code"] == "invalid_value", error
    assert error["message"] == "Invalid query parameter 'unmatched': 'not-a-boolean' is not of type 'boolean'"
    assert http.get("/__admin/requests", params={"unmatched": "true"}).status_code == 200
