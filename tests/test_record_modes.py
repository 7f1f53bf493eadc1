"""Record modes (``--record-mode``), vcrpy's, defined on the cassette folder; through real servers.

* ``all`` is the default (what ``--record`` always did): every request goes
  upstream, and recording the same request again overwrites its cassette
  with a warning that names the file;
* ``new_episodes`` answers from what is loaded (fixture first, then the
  cassette) and records only what nothing answers, replayed from then on;
* ``once`` records into a folder that was empty at start-up; started on a
  folder that holds cassettes, an unrecorded request is a 404 saying why;
* ``none`` never goes upstream (no ``--upstream`` needed): an unrecorded
  request is the no-match 404 naming the closest cassettes;
* the record-and-replay session of docs/fixtures.md, run as written.

The upstream is the local ASGI app of test_recording (it counts the requests
it sees); which source answered is read from the journal.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import openai
import pytest

from conftest import ROOT, Server, start_server
from test_recording import (UPSTREAM_KEY, Local, Servers, env_var, journal, local_upstream,  # noqa: F401
                            recorder_args, sdk, servers)

DOC = ROOT / "docs" / "fixtures.md"
UPSTREAM_IN_DOC = "https://your-openai-compatible-api"


def ask(server: Server, text: str, *, spec: str = "multimedia", stream: bool = False, model: str = "gpt-4o"):
    client = sdk(server, spec)
    messages = [{"role": "user", "content": text}]
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(model=model, stream=True, messages=messages) if c.choices)
    return client.chat.completions.create(model=model, stream=False, messages=messages).choices[0].message.content


def last_source(server: Server) -> str:
    return journal(server)[-1]["source"] or ""


def cassettes(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.cassette.json"))


def upstream_calls(local: Local, text: str) -> int:
    return sum(1 for seen in local.app.seen if seen["body"]["messages"][-1].get("content") == text)


# --- all: the default ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [(), ("--record-mode", "all")], ids=["default", "explicit"])
def test_all_sends_everything_upstream_and_overwrites_with_a_warning(servers, local_upstream, tmp_path, mode):
    folder = tmp_path / "cassettes"
    recorder = servers.one(*recorder_args(folder, local_upstream.url, *mode), key=UPSTREAM_KEY)
    text = f"Record me twice {'default' if not mode else 'all'}."
    for _ in range(2):
        assert ask(recorder, text) == "Hello from the local upstream."
        assert last_source(recorder) == "upstream"
    assert upstream_calls(local_upstream, text) == 2
    files = cassettes(folder)
    assert len(files) == 1, files
    recorder.stop()
    log = recorder.output()
    assert f"overwrote cassette {files[0]}" in log, log
    assert log.count("overwrote cassette") == 1, log  # the first recording replaced nothing
    assert "record mode all" in log


# --- new_episodes ----------------------------------------------------------------------------------


def test_new_episodes_answers_from_what_is_loaded_and_records_the_rest(servers, local_upstream, tmp_path):
    folder = tmp_path / "cassettes"
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "scripted.yaml").write_text(
        "fixtures:\n  - id: scripted\n    match: {last_user: Scripted question.}\n"
        "    response: {content: From the fixture.}\n")
    first = servers.one(*recorder_args(folder, local_upstream.url), key=UPSTREAM_KEY)
    assert ask(first, "Recorded before.") == "Hello from the local upstream."
    first.stop()
    assert len(cassettes(folder)) == 1

    recorder = servers.one(*recorder_args(folder, local_upstream.url, "--record-mode", "new_episodes",
                                          "--fixtures", str(fixtures)), key=UPSTREAM_KEY)
    # Recorded before: replayed, JSON as recorded and as a stream.
    assert ask(recorder, "Recorded before.") == "Hello from the local upstream."
    assert last_source(recorder).startswith("cassette:")
    assert ask(recorder, "Recorded before.", stream=True) == "Hello from the local upstream."
    assert last_source(recorder).startswith("cassette:")
    assert upstream_calls(local_upstream, "Recorded before.") == 1
    # A fixture answers before anything goes upstream.
    assert ask(recorder, "Scripted question.") == "From the fixture."
    assert last_source(recorder) == "fixture:scripted"
    assert upstream_calls(local_upstream, "Scripted question.") == 0
    # New requests (both contracts) go upstream once, and are replayed from then on.
    for spec, model in (("multimedia", "gpt-4o"), ("ark", "ark-chat")):
        text = f"A new episode for {spec}."
        assert ask(recorder, text, spec=spec, model=model) == "Hello from the local upstream."
        entry = journal(recorder)[-1]
        assert entry["source"] == "upstream"
        assert any(text in miss for miss in entry["near_misses"]), entry  # why it was not replayed
        assert ask(recorder, text, spec=spec, model=model) == "Hello from the local upstream."
        assert last_source(recorder).startswith("cassette:")
        assert upstream_calls(local_upstream, text) == 1
    assert len(cassettes(folder)) == 3
    assert "overwrote" not in recorder.output()


def test_new_episodes_records_again_what_the_contract_no_longer_accepts(servers, local_upstream, tmp_path):
    folder = tmp_path / "cassettes"
    first = servers.one(*recorder_args(folder, local_upstream.url), key=UPSTREAM_KEY)
    ask(first, "Drifted since.")
    first.stop()
    [path] = cassettes(folder)
    doc = json.loads(path.read_text())
    doc["response"]["body"]["choices"][0]["message"]["content"] = 42  # not what the contract allows
    path.write_text(json.dumps(doc))
    recorder = servers.one(*recorder_args(folder, local_upstream.url, "--record-mode", "new_episodes"),
                           key=UPSTREAM_KEY)
    assert ask(recorder, "Drifted since.") == "Hello from the local upstream."
    assert last_source(recorder) == "upstream"
    assert upstream_calls(local_upstream, "Drifted since.") == 2
    assert json.loads(path.read_text())["response"]["body"]["choices"][0]["message"]["content"] == \
        "Hello from the local upstream."
    assert ask(recorder, "Drifted since.") == "Hello from the local upstream."
    assert last_source(recorder).startswith("cassette:")
    recorder.stop()
    assert f"overwrote cassette {path}" in recorder.output()


# --- once ------------------------------------------------------------------------------------------


def test_once_refuses_new_requests_when_the_folder_had_cassettes(servers, local_upstream, tmp_path):
    folder = tmp_path / "cassettes"
    first = servers.one(*recorder_args(folder, local_upstream.url, "--record-mode", "once"), key=UPSTREAM_KEY)
    assert ask(first, "Recorded once.") == "Hello from the local upstream."  # empty folder: recorded
    assert ask(first, "Recorded once.") == "Hello from the local upstream."  # then replayed
    assert last_source(first).startswith("cassette:")
    first.stop()
    assert upstream_calls(local_upstream, "Recorded once.") == 1

    again = servers.one(*recorder_args(folder, local_upstream.url, "--record-mode", "once"), key=UPSTREAM_KEY)
    assert ask(again, "Recorded once.") == "Hello from the local upstream."
    assert last_source(again).startswith("cassette:")
    with pytest.raises(openai.NotFoundError) as info:
        ask(again, "Recorded twice?")
    error = info.value.body
    assert error["code"] == error["type"] == "mock_no_match"
    message = error["message"]
    assert "--record-mode once" in message and f"{folder} held 1 cassette(s)" in message, message
    assert f"cassette {cassettes(folder)[0]}: messages[0].content: recorded \"Recorded once.\", " \
           f"received \"Recorded twice?\"" in message, message
    assert upstream_calls(local_upstream, "Recorded twice?") == 0
    assert last_source(again) == "unmatched"
    assert len(cassettes(folder)) == 1


# --- none ------------------------------------------------------------------------------------------


def test_none_replays_only_and_needs_no_upstream(servers, local_upstream, tmp_path):
    folder = tmp_path / "cassettes"
    recorder = servers.one(*recorder_args(folder, local_upstream.url), key=UPSTREAM_KEY)
    ask(recorder, "Replay me offline.")
    recorder.stop()
    before = len(local_upstream.app.seen)
    # No --upstream; --unmatched generate (the default) does not apply either.
    player = servers.one("--record", str(folder), "--record-mode", "none", "--unmatched", "generate")
    assert "record mode none: nothing goes upstream" in player.output()
    assert ask(player, "Replay me offline.", stream=True) == "Hello from the local upstream."
    assert last_source(player).startswith("cassette:")
    with pytest.raises(openai.NotFoundError) as info:
        ask(player, "Replay me online.")
    message = info.value.body["message"]
    assert message.startswith("No fixture or recording matched this request, and --record-mode none never "
                              "goes upstream. Closest recordings: cassette "), message
    assert "received \"Replay me online.\"" in message
    assert len(local_upstream.app.seen) == before
    assert len(cassettes(folder)) == 1


def _serve(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mockserver", "serve", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_record_mode_options_are_checked(tmp_path):
    alone = _serve(tmp_path, "--record-mode", "none")
    assert alone.returncode == 2 and "--record-mode needs --record DIR" in alone.stderr, alone.stderr
    missing = _serve(tmp_path, "--record", str(tmp_path / "nowhere"), "--record-mode", "none")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr, missing.stderr
    no_upstream = _serve(tmp_path, "--record", str(tmp_path / "new"), "--record-mode", "new_episodes")
    assert no_upstream.returncode == 2 and "needs --upstream" in no_upstream.stderr, no_upstream.stderr
    assert not (tmp_path / "new").exists()


# --- the session of docs/fixtures.md ------------------------------------------------------------------


def doc_block(name: str, fence: str) -> str:
    found = re.search(rf"^<!-- recording-example: {re.escape(name)} -->\n```{fence}\n(.*?)\n```$", DOC.read_text(),
                      re.M | re.S)
    assert found, f"docs/fixtures.md has no {name} example"
    return found.group(1)


@pytest.fixture
def doc_servers(tmp_path: Path) -> Iterator[Servers]:
    group = Servers(tmp_path)
    yield group
    group.stop_all()


def test_the_documented_record_modes_session(doc_servers, local_upstream):
    """Each command of the doc, run as written in a fresh folder (only the upstream is local)."""
    commands = [shlex.split(line) for line in doc_block("record-modes.sh", "sh").splitlines()
                if line.startswith("mockserver serve")]
    assert len(commands) == 3, commands
    asked = json.loads(doc_block("record-modes-requests.json", "json"))
    expected = json.loads(doc_block("record-modes-no-match.json", "json"))

    def start(command: list[str]) -> Server:
        args = [a.replace(UPSTREAM_IN_DOC, local_upstream.url) for a in command[2:]]
        with env_var("OPENAI_API_KEY", UPSTREAM_KEY):
            return start_server(doc_servers.tmp, *args)

    def post(server: Server, name: str) -> dict:
        response = sdk(server, "multimedia").chat.completions.with_raw_response.create(**asked[name])
        return {"source": last_source(server), "content": json.loads(response.http_response.content)
                ["choices"][0]["message"]["content"]}

    upstream = "Hello from the local upstream."
    once = start(commands[0])
    try:
        assert post(once, "paris") == {"source": "upstream", "content": upstream}
        assert post(once, "paris")["source"].startswith("cassette:")
    finally:
        once.stop()
    none = start(commands[1])
    try:
        assert post(none, "paris")["source"].startswith("cassette:")
        with pytest.raises(openai.NotFoundError) as info:
            post(none, "lisbon")
        assert info.value.body == expected["error"]  # the doc's 404, word for word
    finally:
        none.stop()
    more = start(commands[2])
    try:
        assert post(more, "paris")["source"].startswith("cassette:")
        assert post(more, "lisbon") == {"source": "upstream", "content": upstream}
        assert post(more, "lisbon")["source"].startswith("cassette:")
    finally:
        more.stop()
    assert upstream_calls(local_upstream, asked["paris"]["messages"][-1]["content"]) == 1
    assert upstream_calls(local_upstream, asked["lisbon"]["messages"][-1]["content"]) == 1
    assert len(cassettes(doc_servers.tmp / "cassettes")) == 2
