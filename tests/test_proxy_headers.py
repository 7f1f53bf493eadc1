"""The recording proxy forwards a client's own headers upstream (a trace id, a
tenant header, the OpenAI organization), but not hop-by-hop ones, not the
client's credentials (the upstream key replaces them), not the mock's own
controls (Prefer, X-Mock-Session) and not the names given to --redact.

Uses the local upstream of ``test_recording``, which keeps what it received.
"""

from __future__ import annotations

import httpx
import pytest

from test_recording import UPSTREAM_KEY, Servers, local_upstream, recorder_args  # noqa: F401


@pytest.fixture
def recorder(local_upstream, tmp_path):  # noqa: F811
    group = Servers(tmp_path)
    try:
        yield group.one(*recorder_args(tmp_path / "cassettes", local_upstream.url, "--redact", "X-Customer-Secret"),
                        key=UPSTREAM_KEY)
    finally:
        group.stop_all()


def test_client_headers_go_upstream_but_hop_by_hop_credentials_and_controls_do_not(recorder, local_upstream):  # noqa: F811
    before = len(local_upstream.app.seen)
    resp = httpx.post(recorder.mm_base + "/chat/completions", timeout=30, json={
        "model": "gpt-4o", "stream": False, "messages": [{"role": "user", "content": "Which headers arrive?"}]},
        headers={"authorization": "Bearer sk-client-own", "x-trace-id": "trace-42", "x-tenant": "acme",
                 "openai-organization": "org-7", "x-customer-secret": "do-not-forward",
                 "x-mock-session": "s1", "prefer": "seed=3", "connection": "keep-alive, x-hop",
                 "x-hop": "only-for-the-next-hop", "cookie": "session=abc"})
    assert resp.status_code == 200, resp.text
    [seen] = local_upstream.app.seen[before:]
    headers = seen["headers"]
    assert headers["x-trace-id"] == "trace-42" and headers["x-tenant"] == "acme"
    assert headers["openai-organization"] == "org-7"
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    for name in ("x-customer-secret", "x-mock-session", "prefer", "x-hop", "cookie"):
        assert name not in headers, (name, headers)
    assert "sk-client-own" not in str(headers)
