"""Drift check: is a recording still something the contract allows?

A cassette is checked when it loads (the mock never replays what the
contract forbids) and by ``mockserver lint``: its request against the
operation's request schema, its response (the JSON body, or every chunk)
against the response schemas.
"""

from __future__ import annotations

from typing import Any

from mockserver.contract import Contract, Operation
from mockserver.recording.cassette import Cassette


def operation_for(cassette: Cassette, contracts: list[Contract]) -> Operation | None:
    path = cassette.request.get("path")
    method = str(cassette.request.get("method", "POST")).upper()
    for contract in contracts:
        if cassette.spec not in (None, contract.name):
            continue
        op = contract.routes.get(path, {}).get(method)
        if op is not None:
            return op
    return None


def check_cassette(cassette: Cassette, contracts: list[Contract]) -> str | None:
    """Why the contract no longer accepts this recording, or None."""
    op = operation_for(cassette, contracts)
    if op is None:
        return (f"no served operation {cassette.request.get('method')} {cassette.request.get('path')} "
                f"(spec {cassette.spec!r})")
    if op.request is not None:
        found = op.request.violation(cassette.request["body"])
        if found:
            return f"the recorded request violates the contract at {found.param or '(root)'}: {found.message}"
    checks: list[tuple[str, Any, Any]] = []
    if cassette.status >= 400:
        checks.append(("error body", op.error, cassette.response.get("body")))
    elif cassette.streamed:
        checks += [(f"chunk {i}", op.chunk, chunk) for i, (_, chunk) in enumerate(cassette.chunks())]
        failure = cassette.error_event()
        if failure is not None:
            checks.append(("error event", op.error, failure[1]))
    else:
        checks.append(("response body", op.response, cassette.response.get("body")))
    for what, validator, document in checks:
        if validator is None:
            return f"the contract has no schema for the recorded {what}"
        found = validator.violation(document)
        if found:
            return (f"the recorded {what} violates the contract at {found.param or '(root)'}: {found.message} "
                    f"[schema rule: {found.rule}]")
    return None


def check_conversation(conversation: Any, contracts: list[Contract]) -> str | None:
    """Why no served chat operation accepts this conversation's messages, or None."""
    reasons = []
    for contract in contracts:
        for op in contract.operations.values():
            if not op.declares("messages") or op.request is None:
                continue
            body: dict[str, Any] = {"model": "replay", "messages": conversation.request_messages()}
            if conversation.tools and op.declares("tools"):
                body["tools"] = conversation.tools
            found = op.request.violation(body)
            if found is None:
                return None
            reasons.append(f"{contract.name}: {found.param or '(root)'}: {found.message}")
    return "no served operation accepts this conversation (" + "; ".join(reasons) + ")" if reasons else None
