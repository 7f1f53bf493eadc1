"""Semantic checks of a request beyond what its schema can say.

The schema check (Connexion + compiled validators) runs first; these rules
catch requests that are well-formed yet cannot be honoured, each with the
``param`` it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from mockserver import untrusted_schema
from mockserver.errors import InvalidRequest

# The codes of errors raised here, for requests that pass the contract's
# schema yet cannot be honoured. Schema failures use other codes
# (invalid_value, invalid_type, missing_required_parameter, ambiguous_value),
# so a contract test can tell "the mock refused a valid request" (a bug) from
# "the request is valid JSON but means nothing" (documented here).
SEMANTIC_CODES = frozenset({
    "invalid_token_limit", "invalid_stream_options", "invalid_tool", "invalid_tool_choice",
    "invalid_tool_call_id", "duplicate_tool_name", "invalid_schema", "unsatisfiable_schema",
    "missing_voice", "invalid_image_url", "invalid_audio", "invalid_prefer_header", "empty_array",
})


def messages(body: dict[str, Any]) -> list[Any]:
    """The request's own messages. The contracts allow an empty list, the real API answers it
    with a 400 (there is nothing to reply to), and so does the mock, even inside a thread."""
    new = body.get("messages")
    if not isinstance(new, list):
        return []
    if not new:
        raise InvalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
                             "an empty array instead.", param="messages", code="empty_array")
    return new


def token_limit(body: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` (preferred) or ``max_tokens``, if sent."""
    for name in ("max_completion_tokens", "max_tokens"):
        if name in body and body[name] is not None:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRequest(
                    f"Invalid '{name}': expected an integer greater than or equal to 1, got {value!r}.",
                    param=name,
                    code="invalid_token_limit",
                )
            return value
    return None


def stream_options(body: dict[str, Any], streaming: bool) -> bool:
    """Whether a usage chunk was asked for (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest("Invalid 'stream_options': expected an object.", param="stream_options",
                             code="invalid_stream_options")
    if not streaming:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_stream_options",
        )
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise InvalidRequest(
            "Invalid 'stream_options.include_usage': expected a boolean.",
            param="stream_options.include_usage",
            code="invalid_stream_options",
        )
    return include


# --- tools --------------------------------------------------------------------------------

def _satisfiable(schema: Any, param: str) -> None:
    """400 when the schema is unusable: not a safe, valid schema (``untrusted_schema``), or no
    instance the mock will generate, with the path inside the schema."""
    canonical = untrusted_schema.check(schema, param)
    verdict = _schema_verdict(canonical)
    if verdict is not None:
        code, why = verdict
        raise InvalidRequest(f"Invalid schema for '{param}': {why}.", param=param, code=code)


@lru_cache(maxsize=1024)
def _schema_verdict(canonical: bytes) -> tuple[str, str] | None:
    """(code, reason) if no instance can be generated, else None; clients send the same
    tools with every turn, so the verdict is kept per schema content. The generator's
    own budgets (size demanded, deadline, depth) answer here, before any reply is made."""
    from mockserver.sources.schema_instances import GenerationBudgetExceeded, UnsatisfiableSchema, generate

    schema = orjson.loads(canonical)
    try:
        generate(schema, seed=0)
    except (UnsatisfiableSchema, RecursionError) as exc:
        return _generation_verdict(exc, GenerationBudgetExceeded)
    return None


def _generation_verdict(exc: BaseException, budget_error: type) -> tuple[str, str]:
    if isinstance(exc, RecursionError):
        return "invalid_schema", "it nests too deeply"
    if isinstance(exc, budget_error):
        return "unsatisfiable_schema", f"the mock will not generate an instance of it at {exc.path}: {exc.reason}"
    return "unsatisfiable_schema", f"no value can satisfy it at {exc.path or '(root)'}: {exc.reason}"


def instance(schema: Any, *, seed: Any, param: str) -> Any:
    """An instance of a request-supplied schema for this request's seed.

    The schema was checked with seed 0 when the request was read; another seed
    can still miss (a bounded search) or run out of budget (the deadline), and
    that is the request's schema's doing: a 400 naming it, never a 500.
    """
    from mockserver.sources.schema_instances import GenerationBudgetExceeded, UnsatisfiableSchema, generate

    try:
        return generate(schema, seed=seed)
    except (UnsatisfiableSchema, RecursionError) as exc:
        code, why = _generation_verdict(exc, GenerationBudgetExceeded)
        raise InvalidRequest(f"Invalid schema for '{param}': {why}.", param=param, code=code) from None


def tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> parameters schema of the function tools, checked."""
    out: dict[str, dict[str, Any]] = {}
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(fn, dict):
            raise InvalidRequest(f"Invalid 'tools[{i}]': only function tools are supported.", param=f"tools[{i}]",
                                 code="invalid_tool")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"Missing required parameter: 'tools[{i}].function.name'.",
                                 param=f"tools[{i}].function.name", code="invalid_tool")
        if name in out:
            raise InvalidRequest(f"Duplicate tool name {name!r} at 'tools[{i}].function.name'.",
                                 param=f"tools[{i}].function.name", code="duplicate_tool_name")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        _satisfiable(params, f"tools[{i}].function.parameters")
        out[name] = params
    return out


def tool_choice(body: dict[str, Any], tools_by_name: dict[str, Any]) -> Any:
    choice = body.get("tool_choice")
    if choice is None:
        return "auto" if tools_by_name else "none"
    if choice in ("required",) or isinstance(choice, dict):
        if not tools_by_name:
            raise InvalidRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                                 "are specified.", param="tool_choice", code="invalid_tool_choice")
    if isinstance(choice, dict):
        fn = choice.get("function") if isinstance(choice.get("function"), dict) else {}
        name = fn.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("Missing required parameter: 'tool_choice.function.name'.",
                                 param="tool_choice.function.name", code="invalid_tool_choice")
        if name not in tools_by_name:
            raise InvalidRequest(
                f"Invalid value for 'tool_choice.function.name': no tool named {name!r} "
                f"(tools: {sorted(tools_by_name)}).", param="tool_choice.function.name",
                code="invalid_tool_choice")
        return {"name": name}
    return choice


def tool_messages(messages: list[Any], *, offset: int = 0) -> None:
    """Every tool result must answer a call an earlier assistant turn issued."""
    issued: set[str] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        calls = msg.get("tool_calls")
        if msg.get("role") == "assistant" and isinstance(calls, list):
            issued.update(c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str))
        if msg.get("role") == "tool" and "tool_call_id" in msg and i >= offset:
            ref = msg["tool_call_id"]
            if ref not in issued:
                where = f"messages[{i - offset}].tool_call_id"
                raise InvalidRequest(
                    f"Invalid value for '{where}': {ref!r} does not answer any tool call of an earlier "
                    f"assistant message (issued: {sorted(issued) or 'none'}).", param=where, code="invalid_tool_call_id")


# --- structured output and audio ----------------------------------------------------------

def response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or "schema" not in spec:
        raise InvalidRequest("Missing required parameter: 'response_format.json_schema.schema'.",
                             param="response_format.json_schema.schema", code="invalid_schema")
    _satisfiable(spec["schema"], "response_format.json_schema.schema")
    return spec["schema"]


def audio_output(body: dict[str, Any]) -> str | None:
    """The voice, when audio output is asked for."""
    if "audio" not in (body.get("modalities") or []):
        return None
    audio = body.get("audio")
    voice = audio.get("voice") if isinstance(audio, dict) else None
    if not isinstance(voice, str) or not voice:
        raise InvalidRequest("Audio output ('modalities' includes 'audio') requires 'audio.voice'.",
                             param="audio.voice", code="missing_voice")
    return voice


# --- multimodal input ---------------------------------------------------------------------

@dataclass
class InputFacts:
    images: int = 0
    audio_seconds: float = 0.0
    audio_clips: int = 0


def _data_url(url: str, where: str) -> None:
    import base64
    import binascii

    def bad(why: str) -> InvalidRequest:
        return InvalidRequest(f"Invalid value for '{where}': {why}.", param=where, code="invalid_image_url")

    header, sep, data = url[5:].partition(",")
    if not sep:
        raise bad("a data: URL needs a ',' before its data")
    parts = header.split(";")
    if not parts[0] or "/" not in parts[0]:
        raise bad("a data: URL must carry a media type (data:image/png;base64,...)")
    if not parts[0].startswith("image/"):
        raise bad(f"expected an image media type, got {parts[0]!r}")
    if "base64" not in parts[1:]:
        raise bad("image data: URLs must be base64 (;base64,)")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad("the data is not valid base64") from None


def input_parts(messages: list[Any]) -> InputFacts:
    """Check image and audio parts beyond their schema; count what arrived."""
    from mockserver.sources import audio

    facts = InputFacts()
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            where = f"messages[{i}].content[{j}]"
            if part.get("type") == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if isinstance(url, str) and url.startswith("data:"):
                    _data_url(url, f"{where}.image_url")
                facts.images += 1
            elif part.get("type") == "input_audio":
                clip = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
                fmt, data = clip.get("format"), clip.get("data")
                if fmt not in ("wav", "mp3"):
                    raise InvalidRequest(f"Invalid value for '{where}.input_audio.format': expected 'wav' or "
                                         f"'mp3', got {fmt!r}.", param=f"{where}.input_audio.format",
                                         code="invalid_audio")
                if not isinstance(data, str):
                    raise InvalidRequest(f"Missing required parameter: '{where}.input_audio.data'.",
                                         param=f"{where}.input_audio.data")
                try:
                    found = audio.inspect_clip(data, fmt)
                except audio.AudioInputError as exc:
                    raise InvalidRequest(f"Invalid value for '{where}.input_audio.data': {exc}.",
                                         param=f"{where}.input_audio.data", code="invalid_audio") from None
                facts.audio_seconds += found.seconds
                facts.audio_clips += 1
    return facts
