"""A chat request as the sources see it: checked, normalized, no HTTP.

:func:`chat_request` runs the semantic checks (``checks``) over a body that
already passed schema validation, and keeps only what the operation's
contract declares: a field the contract does not know (``tools`` sent to
ARK, say) is valid there but does not make the mock answer with shapes the
contract cannot describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mockserver import checks
from mockserver.contract import Operation


@dataclass
class ChatRequest:
    body: dict[str, Any]
    messages: list[Any]  # the whole conversation: thread history + this request's messages
    model: str
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> parameters schema
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    response_schema: dict[str, Any] | None = None
    voice: str | None = None
    ssml: bool = False
    token_limit: int | None = None
    inputs: checks.InputFacts = field(default_factory=checks.InputFacts)
    usage_details: bool = False  # the contract can report reasoning/audio token details

    @property
    def reasoning(self) -> bool:
        """Models whose name says so think before they answer."""
        return "reason" in self.model.lower()


def _model(body: dict[str, Any], operation: Operation) -> str:
    model = body.get("model")
    if isinstance(model, str) and model:
        return model
    example = (operation.request_properties.get("model") or {}).get("example")
    return str(example) if example else "mock-model"


def chat_request(body: Any, operation: Operation, history: list[Any] | None = None) -> ChatRequest:
    if not isinstance(body, dict):
        raise checks.InvalidRequest("The request body must be a JSON object.")
    new = checks.messages(body)
    messages = [*(history or []), *new]
    offset = len(history or [])
    declares = operation.declares
    req = ChatRequest(body=body, messages=messages, model=_model(body, operation),
                      usage_details=bool(operation.facts.get("usage_details")))
    req.token_limit = checks.token_limit(body)
    req.inputs = checks.input_parts(new)
    checks.tool_messages(messages, offset=offset)
    if declares("tools"):
        req.tools = checks.tools(body)
        req.tool_choice = checks.tool_choice(body, req.tools)
        req.parallel_tool_calls = body.get("parallel_tool_calls", operation.default("parallel_tool_calls", True))
    if declares("response_format"):
        req.response_schema = checks.response_format(body)
    if declares("modalities"):
        req.voice = checks.audio_output(body)
    if declares("ssml_enabled"):
        req.ssml = bool(body.get("ssml_enabled", operation.default("ssml_enabled", False)))
    return req
