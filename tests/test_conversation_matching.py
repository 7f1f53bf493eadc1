"""Recorded conversations matched relaxed, and by their tools; through real servers and the SDK.

* ``match_on`` (per line) names the parts of each message that must be equal;
  without ``tool_results`` a tool message matches by position and
  ``tool_call_id``; without ``tools`` the request's tools are not compared;
* ``content_regex`` on a message matches its text by a regular expression;
* a line that records ``tools`` matches only requests with the same tools
  (names and parameters schemas; descriptions may differ), and the
  no-match report says how they differ;
* the booking example of docs/fixtures.md does what the doc says, and its
  report lines are the doc's;
* a malformed line is refused at load with file, line and reason.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest

from conftest import ROOT, Server
from test_recording import CONVERSATIONS, WEATHER_TOOL, Servers, journal, sdk

DOC = ROOT / "docs" / "fixtures.md"


def doc_block(name: str) -> str:
    found = re.search(rf"^<!-- recording-example: {re.escape(name)} -->\n```json\n(.*?)\n```$", DOC.read_text(),
                      re.M | re.S)
    assert found, f"docs/fixtures.md has no {name} example"
    return found.group(1)


def doc_report_lines() -> list[str]:
    """The report lines the doc quotes for the booking example (inline code, lines joined)."""
    spans = re.findall(r"`(conversation\s+booking\.jsonl:1\s[^`]*)`", DOC.read_text())
    return [" ".join(span.split()) for span in spans]


BOOKING = json.loads(doc_block("booking.jsonl"))
SYSTEM = BOOKING["messages"][0]

RELAXED = [
    # Roles only: any words in a system, system, user request.
    {"match_on": ["role"], "messages": [
        {"role": "system", "content": "Any first instructions."}, {"role": "system", "content": "Any second ones."},
        {"role": "user", "content": "Any question."}, {"role": "assistant", "content": "Roles only: any words."}]},
    # Tools recorded, but not compared.
    {"match_on": ["role", "content"], "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Forecast for Bergen?"}, {"role": "assistant", "content": "Rain, as always."}]},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("conversation-matching")
    (tmp / "booking.jsonl").write_text(doc_block("booking.jsonl") + "\n")
    others = tmp / "others"
    others.mkdir()
    (others / "relaxed.jsonl").write_text("".join(json.dumps(line) + "\n" for line in RELAXED))
    shutil.copy(CONVERSATIONS / "weather.jsonl", others / "weather.jsonl")
    group = Servers(tmp)
    try:
        # Relative paths (the server runs in tmp): reports name "booking.jsonl:1", as the doc does.
        yield group.one("--fixtures", "booking.jsonl", "--fixtures", "others", "--unmatched", "error")
    finally:
        group.stop_all()


def create(server: Server, messages: list[Any], tools: list[Any] | None = None) -> Any:
    extra = {"tools": tools} if tools is not None else {}
    return sdk(server, "multimedia").chat.completions.create(model="gpt-4o", stream=False, messages=messages,
                                                             **extra)


def no_match(server: Server, messages: list[Any], tools: list[Any] | None = None) -> str:
    with pytest.raises(openai.NotFoundError) as info:
        create(server, messages, tools)
    assert info.value.body["code"] == "mock_no_match"
    return info.value.body["message"]


def test_every_line_loads(server):
    assert httpx.get(server.url + "/__admin/fixtures", timeout=10).json()["errors"] == []
    assert "5 conversation(s)" in server.output(), server.output()


# --- the booking example of the doc --------------------------------------------------------------------


@pytest.mark.parametrize("ask", ["Book a table for 4 tonight", "book a table for four, please"])
def test_booking_user_turn_matches_by_regex(server, ask):
    first = create(server, [SYSTEM, {"role": "user", "content": ask}], BOOKING["tools"])
    call = first.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_book_1", "book_table")
    assert json.loads(call.function.arguments) == {"people": 4, "time": "20:00"}
    assert journal(server)[-1]["source"] == "conversation:booking.jsonl:1"


def test_booking_tool_result_matches_by_id_whatever_its_content(server):
    history = [SYSTEM, {"role": "user", "content": "Book a table for 4 tonight"}]
    first = create(server, history, BOOKING["tools"]).choices[0].message
    result = {"role": "tool", "tool_call_id": "call_book_1", "content": "{\"confirmation\": \"ZZ-999\", \"note\": 1}"}
    final = create(server, [*history, first, result], BOOKING["tools"])
    assert final.choices[0].message.content == BOOKING["messages"][4]["content"]
    # The id is still compared: a result for another call leaves the recording (the call's
    # own id is not compared: ids are the client's).
    other = first.model_dump(exclude_none=True)
    other["tool_calls"][0]["id"] = "call_other"
    message = no_match(server, [*history, other, {**result, "tool_call_id": "call_other"}], BOOKING["tools"])
    assert "conversation booking.jsonl:1 diverged at turn 3 (messages[3])" in message, message


def test_booking_reports_are_the_docs(server):
    diverged, tools_differ = doc_report_lines()
    message = no_match(server, [SYSTEM, {"role": "user", "content": "Cancel my table"}], BOOKING["tools"])
    assert diverged in message, (diverged, message)
    other = copy.deepcopy(BOOKING["tools"])
    other[0]["function"]["parameters"]["properties"]["people"] = {"type": "string"}
    message = no_match(server, [SYSTEM, {"role": "user", "content": "Book a table for 4 tonight"}], other)
    before, after = tools_differ.split("{...}")[:2]
    assert before in message, (before, message)
    assert "received {" in message.split(before, 1)[1] and after.strip(", ") in message, message


# --- match_on --------------------------------------------------------------------------------------


def test_match_on_roles_only(server):
    reply = create(server, [{"role": "system", "content": "Be terse."}, {"role": "system", "content": "Be kind."},
                            {"role": "user", "content": "Anything at all?"}])
    assert reply.choices[0].message.content == "Roles only: any words."


def test_tools_are_not_compared_without_tools_in_match_on(server):
    other = copy.deepcopy(WEATHER_TOOL)
    other["function"]["name"] = "get_forecast"
    for tools in (None, [other]):
        reply = create(server, [{"role": "user", "content": "Forecast for Bergen?"}], tools)
        assert reply.choices[0].message.content == "Rain, as always."


# --- recorded tools ---------------------------------------------------------------------------------


WEATHER_TURNS = json.loads((CONVERSATIONS / "weather.jsonl").read_text().splitlines()[1])["messages"]


def test_recorded_tools_must_fit(server):
    opening = WEATHER_TURNS[:2]
    # Same names and schemas, another description: still the recorded tool call.
    described = copy.deepcopy(WEATHER_TOOL)
    described["function"]["description"] = "The weather, now."
    call = create(server, opening, [described]).choices[0].message.tool_calls[0]
    assert call.id == "call_paris_1"
    # Another parameters schema: no match, and the report says which tool and how.
    changed = copy.deepcopy(WEATHER_TOOL)
    changed["function"]["parameters"]["properties"]["unit"] = {"type": "string"}
    message = no_match(server, opening, [changed])
    where = "others/weather.jsonl:2"
    assert (f"conversation {where} fits the request's 2 messages; but its tools differ "
            "(tools[get_weather].parameters: recorded ") in message, message
    # No tools at all.
    message = no_match(server, opening, None)
    assert (f"conversation {where} fits the request's 2 messages; but its tools differ "
            "(tools: recorded [\"get_weather\"], received none)") in message, message


# --- load-time checks ---------------------------------------------------------------------------------


BAD = {
    "unknown-part.jsonl": ({"match_on": ["role", "words"], "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        "match_on must be a list of role, content, tool_calls, tool_call_id, tool_results, tools"),
    "assistant-regex.jsonl": ({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content_regex": "^Hel"}]},
        "messages[1]: an assistant turn is an answer; it needs content, not content_regex"),
    "bad-regex.jsonl": ({"messages": [
        {"role": "user", "content_regex": "(unclosed"}, {"role": "assistant", "content": "Hello"}]},
        "messages[0].content_regex is not a valid regular expression"),
    "both.jsonl": ({"messages": [
        {"role": "user", "content": "Hi", "content_regex": "^Hi"}, {"role": "assistant", "content": "Hello"}]},
        "messages[0]: content or content_regex, not both"),
}


def test_malformed_lines_are_refused_with_file_and_line(tmp_path: Path):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = {"messages": [{"role": "user", "content": "Fine"}, {"role": "assistant", "content": "Fine too"}]}
    for name, (doc, _) in BAD.items():
        (folder / name).write_text(json.dumps(good) + "\n" + json.dumps(doc) + "\n")
    (folder / "booking.jsonl").write_text(doc_block("booking.jsonl") + "\n")  # a regex passes the drift check
    # Run where the tree under test is the one imported (not the current directory's package).
    result = subprocess.run([sys.executable, "-m", "mockserver", "lint", "--fixtures", str(folder)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    for name, (_, reason) in BAD.items():
        assert any(line.startswith(f"{folder / name}:2: {reason}") and line.endswith("[REJECTED]")
                   for line in result.stdout.splitlines()), (name, result.stdout)
    assert f"{folder / 'booking.jsonl'}: " in result.stdout and "1 file(s) ok, 4 rejected" in result.stdout, \
        result.stdout
