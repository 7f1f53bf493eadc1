"""The official openai SDK against both contracts, streamed and not."""

from __future__ import annotations

import openai
import pytest

USER = [{"role": "user", "content": "Hello there, friend!"}]


def test_ark_completion(ark):
    r = ark.chat.completions.create(model="ark-reason", messages=USER)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == "ark-reason"
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    # Documented rule: 3 per message + 3 priming + tokens ("Hello", "there", ",", "friend", "!").
    assert r.usage.prompt_tokens == 3 + 3 + 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.completion_tokens > 0


def test_ark_stream_assembles_to_the_same_answer(ark):
    full = ark.chat.completions.create(model="ark-reason", messages=USER)
    stream = ark.chat.completions.create(model="ark-reason", messages=USER, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    # One content delta per completion token.
    deltas = [c for c in chunks if c.choices[0].delta.content]
    assert len(deltas) == full.usage.completion_tokens


def test_multimedia_completion_and_stream_helper(mm):
    full = mm.chat.completions.create(model="gpt-4o", messages=USER, stream=False)
    assert full.choices[0].finish_reason == "stop"
    assert full.choices[0].message.content
    with mm.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == full.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


def test_multimedia_streams_by_default(mm):
    # No "stream" field: the contract's default (true) applies.
    raw = mm.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert raw.headers["content-type"].startswith("text/event-stream")


def test_multimedia_stream_usage_chunk(mm):
    chunks = list(mm.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Tell me more."},
]


def test_multimedia_accepts_system_user_assistant_user(mm):
    r = mm.chat.completions.create(model="gpt-4o", messages=CONVERSATION, stream=False)
    assert r.choices[0].message.content


@pytest.mark.parametrize("content", ["null", "absent"])
def test_multimedia_accepts_tool_call_turn_as_sdks_replay_it(mm, content):
    turn = {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}
    if content == "null":
        turn["content"] = None
    messages = [{"role": "user", "content": "Weather in Paris?"}, turn,
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"}]
    r = mm.chat.completions.create(model="gpt-4o", messages=messages, stream=False)
    assert r.choices[0].message.content


def test_no_errata_rejects_the_conversation_naming_the_defect(make_server):
    from openai import OpenAI

    srv = make_server("--no-errata")
    client = OpenAI(base_url=srv.mm_base, api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=CONVERSATION, stream=False)
    error = caught.value.body
    assert error["param"] == "messages[0]"
    assert "SystemMessage" in error["message"] and "AssistantMessage" in error["message"]
    assert "mockserver lint" in error["message"]
    # The assistant turn alone is rejected on its role, which the contract spells [system].
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", stream=False, messages=CONVERSATION[1:3])
    assert caught.value.body["param"] == "messages[1].role"
    assert "'assistant'" in caught.value.body["message"]


def test_same_request_same_content_and_prompts_differ(ark):
    a = ark.chat.completions.create(model="m", messages=USER).choices[0].message.content
    b = ark.chat.completions.create(model="m", messages=USER).choices[0].message.content
    c = ark.chat.completions.create(model="m", messages=[{"role": "user", "content": "Another prompt"}])
    assert a == b
    assert c.choices[0].message.content != a


def test_seed_drives_content_across_restarts(make_server, server):
    from openai import OpenAI

    def answer(url: str) -> str:
        client = OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        return client.chat.completions.create(model="m", messages=USER).choices[0].message.content

    default = answer(server.url)
    seeded_a = answer(make_server("--seed", "7").url)
    seeded_b = answer(make_server("--seed", "7").url)
    assert seeded_a == seeded_b
    assert seeded_a != default


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_cuts_the_answer(ark, field):
    r = ark.chat.completions.create(model="m", messages=USER, **{field: 3})
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3
    stream = list(ark.chat.completions.create(model="m", messages=USER, stream=True, **{field: 3}))
    assert [c.choices[0].finish_reason for c in stream if c.choices[0].finish_reason] == ["length"]
    assert len([c for c in stream if c.choices[0].delta.content]) == 3


def test_invalid_token_limit_is_a_400(ark):
    with pytest.raises(openai.BadRequestError) as caught:
        ark.chat.completions.create(model="m", messages=USER, max_tokens=0)
    assert caught.value.body["param"] == "max_tokens"


def test_sdk_sees_openai_errors(ark, mm):
    with pytest.raises(openai.BadRequestError) as caught:
        mm.chat.completions.create(model="gpt-4o", stream=False, messages=[{"role": "user", "content": 5}])
    assert caught.value.body == {
        "message": "Invalid type for 'messages[0].content': expected string or array, but got an integer instead.",
        "type": "invalid_request_error",
        "param": "messages[0].content",
        "code": "invalid_type",
    }
    with pytest.raises(openai.BadRequestError) as caught:
        ark.chat.completions.create(model="m", messages=[{"role": "robot", "content": "x"}])
    assert caught.value.body["param"] == "messages[0].role"


def test_the_same_request_gets_the_same_content_and_a_fresh_id(ark, mm):
    """Content is deterministic; the response id is new per response, as the
    real API's is (mockserver/ids.py)."""
    import re

    answers = [ark.chat.completions.create(model="m", messages=USER) for _ in range(20)]
    assert len({a.choices[0].message.content for a in answers}) == 1
    ids = [a.id for a in answers]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"chatcmpl-[0-9a-f]{24}", i) for i in ids), ids
    streamed = [[c.id for c in mm.chat.completions.create(model="m", messages=USER, stream=True)]
                for _ in range(3)]
    assert all(len(set(s)) == 1 for s in streamed)  # one id per stream, on every chunk
    assert len({s[0] for s in streamed}) == 3


def test_a_forked_process_draws_other_ids():
    """Workers forked from one parent must not repeat each other's ids."""
    import os

    from mockserver.ids import fresh_hex

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, fresh_hex(24).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert len(child) == 24 and child != fresh_hex(24)
