"""The no-match report names the closest recordings, and why each missed; through real servers.

With cassettes and conversations loaded (and no fixture), a request that
none of them answers gets, under ``--unmatched error``, a 404 whose message
names the closest cassettes (the fields of the request key that differ,
recorded against received) and the closest conversations (the turn where
they part), a few of each, every quoted value clipped. The journal keeps
the same entries as ``near_misses``, also when the answer is generated.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import openai
import pytest

from conftest import Server
from mockserver.recording.cassette import cassette_name
from mockserver.recording.matchers import DEFAULT_MATCH_ON
from test_recording import CONVERSATIONS, WEATHER_TOOL, Servers, _completion, journal, sdk

SYSTEM = {"role": "system", "content": "You are a quiz master."}
TOPICS = ["light", "sound", "heat", "gravity", "magnets", "tides", "clouds"]


def quiz(i: int, topic: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "stream": False,
            "messages": [SYSTEM, {"role": "user", "content": f"Question {i}: what is {topic}?"}]}


WEATHER = {"model": "gpt-4o", "stream": False, "tools": [WEATHER_TOOL],
           "messages": [{"role": "user", "content": "What is the weather in Oslo?"}]}


def write_cassette(folder: Path, body: dict[str, Any], answer: str) -> Path:
    doc = {"cassette": 1, "recorded_at": "2026-12-02T00:00:00Z", "spec": "multimedia",
           "match_on": list(DEFAULT_MATCH_ON),
           "request": {"method": "POST", "path": "/chat/completions", "headers": {}, "body": body},
           "response": {"status": 200, "headers": {"content-type": "application/json"},
                        "body": _completion(body["model"], answer)}}
    path = folder / cassette_name("multimedia", body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


class Loaded:
    def __init__(self, folder: Path, files: dict[str, Path], error: Server, generate: Server) -> None:
        self.folder, self.files, self.error, self.generate = folder, files, error, generate


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Eight cassettes (seven quiz questions, one with a tool) and three conversations."""
    tmp = tmp_path_factory.mktemp("no-match")
    folder = tmp / "recordings"
    files = {topic: write_cassette(folder, quiz(i, topic), f"About {topic}.") for i, topic in enumerate(TOPICS)}
    files["weather"] = write_cassette(folder, WEATHER, "Sunny.")
    shutil.copytree(CONVERSATIONS, folder / "conversations")
    group = Servers(tmp)
    try:
        error, generate = group.start(("--fixtures", str(folder), "--unmatched", "error"),
                                      ("--fixtures", str(folder)))
        assert "8 cassette(s), 3 conversation(s)" in error.output()
        yield Loaded(folder, files, error, generate)
    finally:
        group.stop_all()


def no_match(server: Server, **request: Any) -> str:
    with pytest.raises(openai.NotFoundError) as info:
        sdk(server, "multimedia").chat.completions.create(**request)
    body = info.value.body
    assert body["type"] == body["code"] == "mock_no_match"
    return body["message"]


def entries(message: str) -> list[str]:
    """The report's entries after "Closest recordings: "."""
    return message.split("Closest recordings: ", 1)[1].split(" | ")


def test_the_closest_cassette_and_the_differing_message_are_named(loaded):
    request = quiz(3, "gravity, really")
    message = no_match(loaded.error, **request)
    assert "No fixture is loaded" not in message
    assert message.startswith("No fixture or recording matched this request. Closest recordings: "), message
    assert entries(message)[0] == (f"cassette {loaded.files['gravity']}: messages[1].content: recorded "
                                   "\"Question 3: what is gravity?\", received \"Question 3: what is gravity, really?\"")


def test_a_model_difference_is_named_alone(loaded):
    request = {**quiz(4, "magnets"), "model": "gpt-4o-mini"}
    first = entries(no_match(loaded.error, **request))[0]
    assert first == f"cassette {loaded.files['magnets']}: model: recorded \"gpt-4o\", received \"gpt-4o-mini\""


def test_tool_differences_are_named(loaded):
    tool = copy.deepcopy(WEATHER_TOOL)
    tool["function"]["parameters"]["properties"]["unit"] = {"type": "string"}
    first = entries(no_match(loaded.error, **{**WEATHER, "tools": [tool]}))[0]
    assert first.startswith(f"cassette {loaded.files['weather']}: tools[get_weather].parameters: recorded "), first
    assert "\"unit\"" in first.split("received", 1)[1]
    renamed = copy.deepcopy(WEATHER_TOOL)
    renamed["function"]["name"] = "get_forecast"
    first = entries(no_match(loaded.error, **{**WEATHER, "tools": [renamed]}))[0]
    assert first == (f"cassette {loaded.files['weather']}: tools: recorded [\"get_weather\"], "
                     "received [\"get_forecast\"]")


def test_the_report_is_bounded_and_clipped(loaded):
    request = quiz(1, "sound " + "very " * 5000)
    message = no_match(loaded.error, **request)
    found = entries(message)
    cassettes = [e for e in found if e.startswith("cassette ")]
    conversations = [e for e in found if e.startswith("conversation ")]
    assert len(cassettes) == 3 and len(conversations) == 3, found  # of 8 cassettes and 3 conversations
    assert len(found) == 6
    assert all(len(e) <= 600 for e in found), [len(e) for e in found]
    assert cassettes[0].startswith(f"cassette {loaded.files['sound']}: messages[1].content"), cassettes[0]
    assert "characters, cut to" in cassettes[0]
    assert len(message) < 6000, len(message)
    # Conversations: where each parts from the request (no system prompt of theirs is the quiz's).
    assert all(re.match(r"conversation .+\.jsonl:\d+ diverged at turn 0 \(messages\[0\]\): expected ", c)
               for c in conversations), conversations


def test_the_journal_keeps_them_when_the_answer_is_generated(loaded):
    request = quiz(5, "tides and waves")
    reply = sdk(loaded.generate, "multimedia").chat.completions.create(**request)
    assert reply.choices[0].message.content
    entry = journal(loaded.generate)[-1]
    assert entry["source"] == "generated"
    assert entry["near_misses"][0] == (f"cassette {loaded.files['tides']}: messages[1].content: recorded "
                                       "\"Question 5: what is tides?\", received \"Question 5: what is tides and waves?\"")
    assert any(m.startswith("conversation ") for m in entry["near_misses"])


def test_nothing_loaded_says_so(empty_server):
    message = no_match(empty_server, model="gpt-4o", stream=False, messages=[{"role": "user", "content": "Hi"}])
    assert message == "No fixture or recording matched this request. No fixture, cassette or conversation is loaded."


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    empty = tmp_path_factory.mktemp("empty")
    group = Servers(empty)
    try:
        yield group.one("--fixtures", str(empty), "--unmatched", "error")
    finally:
        group.stop_all()
