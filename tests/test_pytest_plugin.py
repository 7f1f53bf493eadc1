"""The pytest plugin (mockserver/pytest_plugin.py): the chat_mock fixtures, the marker, the options.

The example in docs/pytest.md is run as a real pytest run in a subprocess;
isolation, configuration and teardown are checked with pytester (a nested
pytest run in this process); the rest uses the fixtures directly, as a
project that installs mockserver does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import openai
import pytest

from mockserver.pytest_plugin import ChatMock, FixtureRejected

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "pytest.md"
USER = [{"role": "user", "content": "Hello there"}]

# Installed (pip install -e .), the entry point loads the plugin; a stale install lacks it.
INSTALLED = any(ep.value == "mockserver.pytest_plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = ["pytester"] + ([] if INSTALLED else ["mockserver.pytest_plugin"])


def ask(client: openai.OpenAI, text: str = "Hello there", **kwargs) -> str:
    reply = client.chat.completions.create(model="ark-reason", messages=[{"role": "user", "content": text}],
                                           **kwargs)
    return reply.choices[0].message.content


# --- the documented example --------------------------------------------------------------------


def doc_example() -> str:
    found = re.search(r"<!-- example: pytest -->\s*```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, "docs/pytest.md has no ```python block after <!-- example: pytest -->"
    return found.group(1)


def test_the_documented_example_passes(tmp_path):
    example = tmp_path / "test_with_chat_mock.py"
    example.write_text(doc_example(), encoding="utf-8")
    tests = len(re.findall(r"^def test_", example.read_text(), re.M))
    # Only this plugin (no autoloaded third-party ones): a faster start, and the run shows the
    # plugin needs nothing else. The entry point itself is checked below.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "mockserver.pytest_plugin", "-p", "no:cacheprovider",
         "-q", "-W", "ignore::DeprecationWarning", example.name],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, f"the docs/pytest.md example failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert f"{tests} passed" in done.stdout, done.stdout[-2000:]


def test_the_entry_point_is_declared_and_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"mockserver": "mockserver.pytest_plugin"}
    if not INSTALLED:
        pytest.skip("the installed metadata predates the entry point: run `pip install -e .` (make test does)")
    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.value == "mockserver.pytest_plugin"]
    assert ep.name == "mockserver"


# --- the fixtures, directly ------------------------------------------------------------------------


def test_chat_mock_serves_both_contracts(chat_mock: ChatMock):
    assert chat_mock.ark_base_url == chat_mock.url + "/v1"
    assert chat_mock.multimedia_base_url == chat_mock.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", chat_mock.url)
    assert ask(chat_mock.client)
    mm = chat_mock.multimedia_client.chat.completions.create(model="gpt-4o", messages=USER, stream=False)
    assert mm.choices[0].message.content
    chat_mock.assert_called(times=1, spec="ark")
    chat_mock.assert_called(times=1, spec="multimedia", model="gpt-4o")
    assert [e["spec"] for e in chat_mock.requests()] == ["ark", "multimedia"]
    assert chat_mock.requests(spec="multimedia")[0]["path"] == "/chat/completions"


def test_add_fixture_dict_yaml_and_file(chat_mock: ChatMock, tmp_path):
    assert chat_mock.add_fixture({"id": "dict", "match": {"last_user": "one"},
                                  "response": {"content": "from a dict"}}) == ["dict"]
    assert chat_mock.add_fixture("- id: yaml\n  match: {last_user: two}\n  response: {content: from YAML}\n") == ["yaml"]
    path = tmp_path / "more.yaml"
    path.write_text("fixtures:\n  - id: file\n    match: {last_user: three}\n    response: {content: from a file}\n")
    assert chat_mock.add_fixture(path) == ["file"]
    as_json = tmp_path / "json.json"
    as_json.write_text('[{"id": "json", "match": {"last_user": "four"}, "response": {"content": "from JSON"}}]')
    assert chat_mock.add_fixture(str(as_json)) == ["json"]  # a string naming a file is read too
    assert [f["id"] for f in chat_mock.fixtures()] == ["json", "file", "yaml", "dict"]  # newest first
    assert ask(chat_mock.client, "one") == "from a dict"
    assert ask(chat_mock.client, "two") == "from YAML"
    assert ask(chat_mock.client, "three") == "from a file"
    assert ask(chat_mock.client, "three") == "from a file"
    assert ask(chat_mock.client, "four") == "from JSON"
    chat_mock.assert_called(times=2, fixture="file")
    chat_mock.assert_called(fixture="yaml")
    chat_mock.assert_called(times=5, status=200, spec="ark")
    chat_mock.assert_not_called(fixture="generated")
    assert chat_mock.count(last_user_contains="thr") == 2
    assert chat_mock.remove_fixtures() == 4
    assert chat_mock.fixtures() == []


def test_a_rejected_fixture_raises_with_the_reason(chat_mock: ChatMock):
    with pytest.raises(FixtureRejected, match=r"\[typo\].*'contnt' was unexpected"):
        chat_mock.add_fixture({"id": "typo", "response": {"contnt": "hello"}})
    with pytest.raises(FixtureRejected, match="not YAML or JSON"):
        chat_mock.add_fixture("fixtures: [unclosed")
    with pytest.raises(FixtureRejected, match="no such fixture file"):
        chat_mock.add_fixture(Path("/nonexistent/fixtures.yaml"))
    assert chat_mock.fixtures() == []


def test_assert_called_lists_what_was_received(chat_mock: ChatMock):
    ask(chat_mock.client, "What is the capital of France?")
    with pytest.raises(AssertionError) as failure:
        chat_mock.assert_called(times=2, model="ark-reason")
    message = str(failure.value)
    assert message.startswith("expected 2 request(s) matching {model='ark-reason'}, got 1.")
    assert "received 1 request(s)" in message
    assert "POST /v1/chat/completions spec=ark status=200 source=generated model='ark-reason'" in message
    assert "last_user='What is the capital of France?'" in message
    with pytest.raises(AssertionError, match=r"expected at least 1 request\(s\) matching \{spec='multimedia'\}, got 0"):
        chat_mock.assert_called(spec="multimedia")
    with pytest.raises(TypeError, match="colour"):
        chat_mock.count(colour="red")
    with pytest.raises(TypeError, match="colour"):
        chat_mock.requests(colour="x")


def test_streams_are_journaled_as_streams(chat_mock: ChatMock):
    chunks = list(chat_mock.client.chat.completions.create(model="ark-reason", messages=USER, stream=True))
    assert chunks
    chat_mock.assert_called(times=1, stream=True)
    chat_mock.assert_not_called(stream=False)


@pytest.mark.chat_mock(unmatched="error")
def test_marker_unmatched_error_gives_404_mock_no_match(chat_mock: ChatMock):
    assert chat_mock.settings.unmatched == "error"
    with pytest.raises(openai.NotFoundError) as caught:
        ask(chat_mock.client)
    assert caught.value.status_code == 404
    assert caught.value.code == "mock_no_match"
    chat_mock.assert_called(times=1, unmatched=True, status=404)
    chat_mock.add_fixture({"id": "hello", "match": {"last_user": {"contains": "Hello"}},
                           "response": {"content": "Matched."}})
    assert ask(chat_mock.client) == "Matched."


@pytest.mark.chat_mock(seed=7)
def test_marker_seed_changes_generated_content(chat_mock: ChatMock):
    assert chat_mock.settings.seed == 7
    seven = ask(chat_mock.client)
    assert seven == ask(chat_mock.client)  # same seed, same request: same answer
    zero = ask(chat_mock.client, extra_headers={"Prefer": "seed=0"})
    assert seven != zero


def test_function_and_session_mocks_are_different_servers(chat_mock: ChatMock, chat_mock_session: ChatMock):
    assert chat_mock.url != chat_mock_session.url
    chat_mock_session.add_fixture({"id": "session-only", "response": {"content": "session"}})
    try:
        assert chat_mock.fixtures() == []
        assert ask(chat_mock_session.client) == "session"
    finally:
        chat_mock_session.reset()


def test_unknown_marker_setting_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile("""
import pytest

@pytest.mark.chat_mock(sed=7)
def test_typo(chat_mock):
    pass
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown chat_mock setting(s) sed*"])


# --- nested pytest runs: isolation, configuration, teardown ----------------------------------------


def test_function_scoped_isolation_between_tests(pytester: pytest.Pytester):
    pytester.makepyfile("""
seen = {}

def test_first(chat_mock):
    seen["url"] = chat_mock.url
    chat_mock.add_fixture({"id": "leak", "response": {"content": "from the first test"}})
    reply = chat_mock.client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], extra_body={"thread_id": "t"})
    assert reply.choices[0].message.content == "from the first test"
    chat_mock.assert_called(times=1)

def test_second(chat_mock):
    assert chat_mock.url == seen["url"]  # the same server, reused ...
    assert chat_mock.fixtures() == []  # ... but reset: no runtime fixture,
    assert chat_mock.requests() == []  # an empty journal,
    assert chat_mock.server.app.state.store.threads() == []  # no ARK thread
    reply = chat_mock.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content != "from the first test"
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_session_scoped_state_carries_over(pytester: pytest.Pytester):
    pytester.makepyfile("""
seen = {}

def test_first(chat_mock_session):
    seen["url"] = chat_mock_session.url
    chat_mock_session.add_fixture({"id": "kept", "response": {"content": "still here"}})
    chat_mock_session.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])

def test_second(chat_mock_session, chat_mock):
    assert chat_mock_session.url == seen["url"]
    assert [f["id"] for f in chat_mock_session.fixtures()] == ["kept"]
    chat_mock_session.assert_called(times=1, fixture="kept")
    assert chat_mock.fixtures() == []  # the function-scoped mock is another server
    chat_mock_session.reset()
    assert chat_mock_session.fixtures() == [] and chat_mock_session.count() == 0
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_marker_fixture_files_and_class_level_marker(pytester: pytest.Pytester):
    pytester.mkdir("fixtures")
    (pytester.path / "fixtures" / "support.yaml").write_text("""
fixtures:
  - id: refund
    match: {last_user: {contains: refund}}
    response: {content: Refund issued.}
""")
    pytester.makepyfile("""
import openai
import pytest

@pytest.mark.chat_mock(fixtures=["fixtures/support.yaml"], unmatched="error")
class TestSupport:
    def test_matched(self, chat_mock):
        reply = chat_mock.client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "I want a refund"}])
        assert reply.choices[0].message.content == "Refund issued."
        chat_mock.assert_called(times=1, fixture="refund")

    def test_near_miss_is_named(self, chat_mock):
        with pytest.raises(openai.NotFoundError) as caught:
            chat_mock.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
        assert "refund" in caught.value.message

    @pytest.mark.chat_mock(fixtures=[], unmatched="generate")
    def test_closest_marker_wins(self, chat_mock):
        assert chat_mock.fixtures() == []
        chat_mock.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_a_rejected_fixture_file_fails_the_test_with_file_and_line(pytester: pytest.Pytester):
    (pytester.path / "bad.yaml").write_text("fixtures:\n  - id: x\n    response: {contnt: typo}\n")
    pytester.makepyfile("""
import pytest

@pytest.mark.chat_mock(fixtures=["bad.yaml"])
def test_bad(chat_mock):
    pass

@pytest.mark.chat_mock(fixtures=["missing.yaml"])
def test_missing(chat_mock):
    pass
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*mockserver rejected fixture file(s):*", "*bad.yaml:3:*contnt*"])
    result.stdout.fnmatch_lines(["*no such chat_mock fixtures path*missing.yaml*"])


def test_command_line_and_ini_options(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nchat_mock_unmatched = error\nchat_mock_seed = 3\n")
    pytester.makepyfile("""
import pytest

def test_defaults(chat_mock, chat_mock_session, pytestconfig):
    expected_seed = pytestconfig.getoption("chat_mock_seed") or 3
    for mock in (chat_mock, chat_mock_session):
        assert mock.settings.unmatched == "error"
        assert mock.settings.seed == expected_seed

@pytest.mark.chat_mock(seed=5)
def test_marker_over_options(chat_mock):
    assert chat_mock.settings.seed == 5 and chat_mock.settings.unmatched == "error"
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "--chat-mock-seed", "11").assert_outcomes(passed=2)


def test_servers_stop_at_the_end_of_the_run(pytester: pytest.Pytester):
    urls = pytester.path / "urls.txt"
    pytester.makepyfile(f"""
import pytest

def save(mock):
    with open({str(urls)!r}, "a") as out:
        out.write(mock.url + "\\n")

def test_function(chat_mock):
    save(chat_mock)

@pytest.mark.chat_mock(seed=1)
def test_other_configuration(chat_mock):
    save(chat_mock)

def test_session(chat_mock_session):
    save(chat_mock_session)
""")
    before = {t.name for t in threading.enumerate() if t.name.startswith("chat-mock-")}
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
    after = {t.name for t in threading.enumerate() if t.name.startswith("chat-mock-")}
    assert after <= before, f"server threads left running: {sorted(after - before)}"
    served = urls.read_text().split()
    assert len(set(served)) == 3
    for url in served:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/__admin/health", timeout=2)


def test_the_plugin_module_imports_lightly():
    # Loaded into every pytest run of an environment with mockserver: no server code at import.
    code = ("import sys, mockserver.pytest_plugin; "
            "heavy = [m for m in ('mockserver.app', 'uvicorn', 'openai', 'connexion') if m in sys.modules]; "
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_server_answers_other_http_clients(chat_mock: ChatMock):
    # The code under test may use any client: the mock is a real HTTP server.
    r = httpx.post(chat_mock.url + "/chat/completions", json={"model": "m", "messages": USER, "stream": False})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"
    chat_mock.assert_called(times=1, spec="multimedia", stream=False)
