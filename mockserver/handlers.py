"""The chat handler: one per operationId, thin.

One request flows one way: read it (:mod:`mockserver.chat`, semantic
checks), choose the source (a fixture, else the generator, or a no-match
error), build the :class:`Reply`, and say how to send it: one JSON
completion, or a chunk stream with its plan (pacing, faults). With a
``thread_id`` all of it happens inside the thread's store transaction. It
never touches HTTP: the server package validates and sends what it returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mockserver import checks, live_settings, render, tokens
from mockserver.chat import ChatRequest, chat_request
from mockserver.errors import ContractViolation, MockError
from mockserver.fixtures import respond
from mockserver.fixtures.matching import RequestView
from mockserver.fixtures.registry import Selection
from mockserver.logs import clip
from mockserver.outcome import Call, JsonOutcome, Outcome, StreamOutcome
from mockserver.prefer import Preferences, parse_prefer
from mockserver.recording import conversations, modes, near_miss, replay
from mockserver.recording.cassette import Cassette
from mockserver.reply import Reply
from mockserver.sources import generator
from mockserver.stream import Pacing, StreamPlan

SESSION_HEADER = "x-mock-session"


class NoMatch(MockError):
    """--unmatched error: no fixture matched; the message is the near-miss report."""

    status = 404
    type = "mock_no_match"
    code = "mock_no_match"


def wants_stream(call: Call) -> bool:
    value = call.body.get("stream") if isinstance(call.body, dict) else None
    return call.operation.stream_default if value is None else bool(value)


def session_of(headers: Mapping[str, str]) -> str:
    return headers.get(SESSION_HEADER) or "default"


@dataclass
class Answer:
    reply: Reply
    selection: Selection | None
    stream: dict[str, Any]
    recorded: Cassette | None = None  # replay this recording's own body / chunks


def _near_miss_report(near: list, recordings: list[str], limit: int = 3) -> str:
    """The closest fixtures, then the closest cassettes and conversations, each clipped."""
    parts = []
    if near:
        parts.append("Closest fixtures: " + " | ".join(
            clip(f"{m.fixture.id} ({m.fixture.where}): " + "; ".join(m.reasons), near_miss.ENTRY_LIMIT)
            for m in near[:limit]))
    if recordings:
        parts.append("Closest recordings: " + " | ".join(recordings))
    return " | ".join(parts) if parts else "No fixture, cassette or conversation is loaded."


def _tools(call: Call) -> list[Any] | None:
    """The request's tools ([] for none), or None where the operation has no tools."""
    return (call.body.get("tools") or []) if call.operation.declares("tools") else None


def _recording_misses(call: Call, req: ChatRequest) -> list[str]:
    """The closest cassettes and conversations, and why each missed (journal and no-match report)."""
    registry = call.registry
    if registry is None:
        return []
    cassettes, recorded = registry.cassettes(), registry.conversations()
    if not cassettes and not recorded:
        return []  # nothing recorded: nothing to compare (and nothing to pay on the hot path)
    lines = near_miss.cassette_misses(cassettes, call.operation.spec, call.body)
    lines += conversations.divergences(recorded, req.messages, _tools(call))
    return [clip(line, near_miss.ENTRY_LIMIT) for line in lines]


def _answer(call: Call, req: ChatRequest, prefs: Preferences, streaming: bool, seed: int) -> Answer:
    """Choose the source and build the reply (inside the thread transaction, if any)."""
    session = session_of(call.headers)
    registry = call.registry
    selection, near = None, []
    if registry is not None:
        view = RequestView(call.operation.spec, call.body, req.messages, call.headers, streaming)
        selection, near = registry.select(view, session, only=prefs.fixture)
        if prefs.fixture and selection is None:
            forced = registry.find(prefs.fixture)
            if forced is None:
                raise checks.InvalidRequest(f"Prefer: fixture={prefs.fixture}: no such fixture is loaded.",
                                            param="Prefer", code="invalid_prefer_header")
            if forced.spec not in (None, call.operation.spec):
                raise checks.InvalidRequest(
                    f"Prefer: fixture={prefs.fixture}: that fixture answers the {forced.spec} contract, "
                    f"not {call.operation.spec}.", param="Prefer", code="invalid_prefer_header")
            selection = registry.force(forced, session)
    if call.record is not None:
        call.record.near_misses = [f"{m.fixture.id}: {'; '.join(m.reasons)}" for m in near[:3]] if not selection else []
    if selection is None:
        recorded = _replay(call, req)
        if recorded is not None:
            return recorded
        recordings = _recording_misses(call, req)
        if call.record is not None:
            call.record.near_misses += recordings
        # A record mode that replays hands an unanswered request to the recorder (Unrecorded).
        replaying = call.settings.record is not None and modes.replays(call.settings.record_mode)
        if replaying or call.settings.unmatched == "error":
            if call.record is not None:
                call.record.source = "unmatched"
            report = _near_miss_report(near, recordings)
            if replaying:
                raise modes.Unrecorded(report)
            raise NoMatch(f"No fixture or recording matched this request. {report}")
        reply = generator.reply_for(req, seed)
        return Answer(reply, None, {})
    fixture = selection.fixture
    if call.record is not None:  # set before any answer, an error one included
        call.record.source = f"fixture:{fixture.id}"
    request_seed = generator.request_seed(seed, req)
    stream = dict(fixture.stream)
    if fixture.fault:
        # Which matches a fault hits depends only on the seed, the fixture and the
        # match number: the same run of requests hits the same ones.
        roll = random.Random(f"{seed}:{fixture.id}:{selection.counter}:{session}").random()
        if roll < fixture.fault["probability"]:
            if "error" in fixture.fault:
                raise respond.error_from(fixture.fault["error"])
            stream.update(fixture.fault.get("stream") or {})
    ctx = respond.Context(req=req, session=session, counter=selection.counter, seed=request_seed)
    reply = respond.build_reply(fixture, selection.response, ctx)
    return Answer(reply, selection, stream)


def _replay(call: Call, req: ChatRequest) -> Answer | None:
    """A cassette recorded for this request, or the next turn of a recorded conversation."""
    registry = call.registry
    if registry is None:
        return None
    prompt = tokens.prompt_tokens(req.messages)
    recorded = registry.cassette_for(call.operation.spec, call.body)
    if recorded is not None:
        if call.record is not None:
            call.record.source = f"cassette:{recorded.file}"
        if recorded.status >= 400:
            raise replay.failure(recorded)
        reply = replay.reply_from_cassette(recorded, call.settings.replay_ids, prompt)
        return Answer(reply, None, {}, recorded)
    found = conversations.next_turn(registry.conversations(), req.messages, _tools(call))
    if found is not None:
        conversation, turn = found
        reply = replay.reply_from_message(turn, model=req.model, prompt_tokens=prompt,
                                          source=f"conversation:{conversation.where}")
        return Answer(reply, None, {})
    return None


def _thread_key(thread_id: Any, session: str) -> str:
    return str(thread_id) if session == "default" else f"{session}/{thread_id}"


def _respond(call: Call, prefs: Preferences, streaming: bool, seed: int) -> Answer:
    op, body = call.operation, call.body
    thread_id = body.get("thread_id") if isinstance(body, dict) and op.declares("thread_id") else None
    if thread_id is None or call.store is None:
        return _answer(call, chat_request(body, op), prefs, streaming, seed)
    # The thread's history, this turn and the reply are read and written in one
    # transaction: concurrent turns on one thread are serialized, none lost.
    # An error answer (a fixture's 429, say) appends nothing, but the match
    # counters it moved are kept: the next request sees the next response.
    failure: MockError | None = None
    with call.store.thread(_thread_key(thread_id, session_of(call.headers))) as thread:
        req = chat_request(body, op, history=thread.messages())
        try:
            answer = _answer(call, req, prefs, streaming, seed)
        except MockError as exc:
            failure = exc
        else:
            thread.append([*body.get("messages", []), render.message(answer.reply)])
    if failure is not None:
        raise failure
    return answer


def _plan(call: Call, stream: dict[str, Any], prefs: Preferences, reply: Reply, seed: int) -> StreamPlan:
    settings = call.settings
    ttft = prefs.ttft_ms if prefs.ttft_ms is not None else stream.get("ttft_ms", settings.ttft_ms)
    tps = prefs.tps if prefs.tps is not None else stream.get("tps", settings.tps)
    jitter = prefs.jitter_ms if prefs.jitter_ms is not None else stream.get("jitter_ms", settings.jitter_ms)
    if "reason" in reply.model.lower():
        ttft *= generator.REASONING_TTFT_FACTOR
    pause = stream.get("pause") or {}
    error = stream.get("error") or {"status": 500, "message": "The stream failed (a fault the fixture asked for)."}
    return StreamPlan(
        pacing=Pacing(ttft, tps, jitter), seed=seed, delay_ms=stream.get("delay_ms", 0.0),
        pause_after=pause.get("after"), pause_ms=pause.get("ms", 0.0), cut_after=stream.get("cut_after"),
        no_done=bool(stream.get("no_done")), error_after=stream.get("error_after"),
        error=respond.error_from(error).body() if "error_after" in stream else None,
    )


async def create_chat_completion(call: Call) -> Outcome:
    op = call.operation
    if not isinstance(call.body, dict):
        raise checks.InvalidRequest("The request body must be a JSON object.")
    # The admin API may have changed pacing, unmatched or the seed (for this session): from here
    # on, call.settings are the ones in force for this request.
    call.settings = live_settings.effective(call.store, call.settings, session_of(call.headers))
    prefs = parse_prefer(call.headers.get("prefer"))
    seed = prefs.seed if prefs.seed is not None else call.settings.seed
    if prefs.code is not None:
        if call.record is not None:
            call.record.source = f"prefer:code={prefs.code}"
        raise respond.error_from({"status": prefs.code})
    streaming = wants_stream(call)
    include_usage = checks.stream_options(call.body, streaming)
    if streaming and not op.declares_stream:
        raise ContractViolation(
            f"This request streams ('stream' is {call.body.get('stream', 'unset, default true')}), but the "
            f"contract {op.spec} declares no text/event-stream response for {op.method} {op.path}, so no "
            "stream could be valid. Send \"stream\": false, or serve the spec with its errata."
        )
    answer = _respond(call, prefs, streaming, seed)
    reply = answer.reply
    if call.record is not None:
        call.record.source = reply.source
    early = answer.stream.get("finish_early")
    if early and reply.content and tokens.count(reply.content) > early:
        reply.content, reply.finish_reason = tokens.truncate(reply.content, early), "length"
        reply.usage.completion_tokens = early
    if answer.recorded is not None:
        recorded, ids = answer.recorded, call.settings.replay_ids
        if not streaming:
            return JsonOutcome(replay.json_body(recorded, ids))
        if recorded.streamed:
            chunks, plan = replay.stream(recorded, ids, call.settings.replay_speed)
            return StreamOutcome(chunks, plan)
    if streaming:
        plan = _plan(call, answer.stream, prefs, reply, seed)
        split = render.splitter(answer.stream.get("chunking", "token"))
        return StreamOutcome(render.chunks(reply, op.facts, include_usage=include_usage, split=split), plan)
    return JsonOutcome(render.completion(reply, op.facts), delay_ms=answer.stream.get("delay_ms", 0.0))


# The contracts' operations this module answers; mockserver.app joins them with the admin API's.
HANDLERS: dict[str, Callable[[Call], Any]] = {
    "createChatCompletion": create_chat_completion,
}
