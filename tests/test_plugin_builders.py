"""The pytest plugin's one-off stubs and verification: the builders (``reply``,
``tool_call``, ``error``) and ``chat_mock.add``, newest-wins ordering, the
matchers ``count``/``assert_called``/``requests`` share with fixtures, and the
opt-in ``assert_all_called`` check at teardown.

As in tests/test_pytest_plugin.py: the fixtures directly where a test can
show the behaviour, pytester (a nested pytest run) where teardown or the
report is what is checked.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import openai
import pytest

from mockserver.pytest_plugin import ChatMock, FixtureRejected, error, reply, tool_call

INSTALLED = any(ep.value == "mockserver.pytest_plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = ["pytester"] + ([] if INSTALLED else ["mockserver.pytest_plugin"])

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def ask(mock: ChatMock, text: str = "Hello", **kwargs) -> str:
    answer = mock.client.chat.completions.create(model="ark-reason", messages=[{"role": "user", "content": text}],
                                                 **kwargs)
    return answer.choices[0].message.content


# --- builders and add() --------------------------------------------------------------------------


def test_builders_make_responses():
    assert reply("hi") == {"content": "hi"}
    assert reply("cut", finish_reason="length") == {"content": "cut", "finish_reason": "length"}
    assert tool_call("get_weather", {"city": "Paris"}) == {
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    assert tool_call("get_weather") == {"tool_calls": [{"name": "get_weather"}]}
    assert error(429) == {"error": {"status": 429}}
    assert error(503, "busy", headers={"retry-after-ms": "5"}) == {
        "error": {"status": 503, "message": "busy", "headers": {"retry-after-ms": "5"}}}


def test_add_a_one_off_stub_without_yaml_or_ids(chat_mock: ChatMock):
    first = chat_mock.add(reply("hi there"), match={"last_user": "hello"})
    second = chat_mock.add(error(429, "Slow down"), match={"last_user": {"contains": "busy"}})
    assert first != second and {first, second} <= {f["id"] for f in chat_mock.fixtures()}
    assert ask(chat_mock, "hello") == "hi there"
    with pytest.raises(openai.RateLimitError, match="Slow down"):
        ask(chat_mock, "are you busy?")
    chat_mock.assert_called(times=1, fixture=first)
    chat_mock.assert_called(times=1, fixture=second, status=429)


def test_add_a_tool_call_stub(chat_mock: ChatMock):
    chat_mock.add(tool_call("get_weather", {"city": "Paris"}), match={"tool": "get_weather"})
    answer = chat_mock.multimedia_client.chat.completions.create(
        model="gpt-4o", stream=False, tools=[WEATHER], messages=[{"role": "user", "content": "Weather?"}])
    (call,) = answer.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')


def test_several_responses_are_a_sequence(chat_mock: ChatMock):
    chat_mock.add(error(503), reply("recovered"))  # fails once, then answers
    with pytest.raises(openai.InternalServerError):
        ask(chat_mock)
    assert ask(chat_mock) == "recovered"
    assert ask(chat_mock) == "recovered"


def test_add_passes_the_fixture_keys_and_reports_a_rejection(chat_mock: ChatMock):
    fixture_id = chat_mock.add(reply("once"), id="only-once", times=1, priority=5)
    assert fixture_id == "only-once"
    assert ask(chat_mock) == "once"
    assert ask(chat_mock) != "once"
    with pytest.raises(FixtureRejected, match="contnt"):
        chat_mock.add({"contnt": "typo"})


# --- newest wins at equal priority ------------------------------------------------------------------


def test_the_newest_runtime_fixture_wins_at_equal_priority(chat_mock: ChatMock):
    chat_mock.add_fixture({"id": "general", "response": {"content": "general answer"}})
    assert ask(chat_mock) == "general answer"
    chat_mock.add_fixture({"id": "override", "response": {"content": "the override"}})
    assert ask(chat_mock) == "the override"
    assert [f["id"] for f in chat_mock.fixtures()] == ["override", "general"]
    chat_mock.add_fixture({"id": "important", "priority": 1, "response": {"content": "important"}})
    chat_mock.add_fixture({"id": "newer-but-lower", "response": {"content": "newer"}})
    assert ask(chat_mock) == "important"  # priority first, then newest


def test_a_runtime_fixture_beats_a_file_fixture_of_equal_priority(pytester: pytest.Pytester):
    (pytester.path / "base.yaml").write_text(
        "fixtures:\n  - id: from-file\n    response: {content: from the file}\n")
    pytester.makepyfile("""
import pytest
from mockserver.pytest_plugin import reply

@pytest.mark.chat_mock(fixtures=["base.yaml"])
def test_override(chat_mock):
    ask = lambda: chat_mock.client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content
    assert ask() == "from the file"
    chat_mock.add(reply("per-test override"))
    assert ask() == "per-test override"
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# --- matchers: what a fixture's match means ----------------------------------------------------------


def test_count_and_assert_called_take_the_fixture_match_rules(chat_mock: ChatMock):
    chat_mock.client.chat.completions.create(
        model="ark-reason", extra_headers={"X-Tenant": "acme-eu"},
        messages=[{"role": "system", "content": "Talk like a pirate"}, {"role": "user", "content": "I want a REFUND"}])
    chat_mock.multimedia_client.chat.completions.create(
        model="gpt-4o", stream=False, tools=[WEATHER], messages=[{"role": "user", "content": "Weather in Rome?"}])
    assert chat_mock.count(last_user={"contains": "refund", "ignore_case": True}) == 1
    assert chat_mock.count(last_user="I want a REFUND") == 1
    assert chat_mock.count(headers={"x-tenant": {"regex": "^acme-"}}) == 1
    assert chat_mock.count(headers={"X-Tenant": "acme-us"}) == 0
    assert chat_mock.count(jsonpath="$.tools[?@.function.name == 'get_weather']") == 1
    assert chat_mock.count(tool="get_weather", spec="multimedia") == 1
    assert chat_mock.count(messages=[{"index": 0, "role": "system", "content": {"contains": "pirate"}}]) == 1
    assert chat_mock.count(message_count=2) == 1
    assert chat_mock.count(model={"regex": "^gpt-"}) == 1
    assert chat_mock.count(model="gpt-4o") == 1  # a plain string still means "equals"
    chat_mock.assert_called(times=1, jsonpath="$.messages[?@.role == 'system']", stream=False)
    chat_mock.assert_not_called(tools=True, spec="ark")
    # requests() takes the same filters.
    (found,) = chat_mock.requests(headers={"x-tenant": {"contains": "acme"}})
    assert found["spec"] == "ark"
    assert len(chat_mock.requests(model={"regex": "."})) == 2


def test_a_bad_matcher_is_a_type_error_with_the_reason(chat_mock: ChatMock):
    with pytest.raises(TypeError, match="colour"):
        chat_mock.count(colour="red")
    with pytest.raises(TypeError, match="regex"):
        chat_mock.count(last_user={"regex": "("})
    with pytest.raises(TypeError, match="jsonpath"):
        chat_mock.requests(jsonpath="$[")


# --- assert_all_called ---------------------------------------------------------------------------------


def test_assert_all_called_names_unused_fixtures_and_unscripted_requests(chat_mock: ChatMock):
    used = chat_mock.add(reply("used"), match={"last_user": "one"})
    unused = chat_mock.add(reply("never"), match={"last_user": "two"})
    ask(chat_mock, "one")
    with pytest.raises(AssertionError) as failure:
        chat_mock.assert_all_called()
    message = str(failure.value)
    assert f"never used: {unused} " in message and f"never used: {used} " not in message
    ask(chat_mock, "two")
    chat_mock.assert_all_called()
    ask(chat_mock, "three: nothing scripted this")
    with pytest.raises(AssertionError, match="three: nothing scripted this"):
        chat_mock.assert_all_called()


TEARDOWN_TESTS = """
import pytest
from mockserver.pytest_plugin import reply

def test_unused(chat_mock):
    chat_mock.add(reply("never asked"), id="forgotten", match={"last_user": "never"})

def test_unscripted(chat_mock):
    chat_mock.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "surprise"}])

def test_all_used(chat_mock):
    chat_mock.add(reply("asked"), match={"last_user": "Hi"})
    chat_mock.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])

def test_failing_anyway(chat_mock):
    chat_mock.add(reply("never asked"), match={"last_user": "never"})
    assert False, "the test's own failure"

@pytest.mark.chat_mock(assert_all_called=False)
def test_opted_out(chat_mock):
    chat_mock.add(reply("never asked"), match={"last_user": "never"})
"""


def test_assert_all_called_at_teardown_with_the_ini_flag(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nchat_mock_assert_all_called = true\n")
    pytester.makepyfile(TEARDOWN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, errors=2)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_unused*", "*forgotten*",
                                 "*ERROR at teardown of test_unscripted*", "*surprise*"])
    assert "ERROR at teardown of test_failing_anyway" not in result.stdout.str()


def test_assert_all_called_at_teardown_with_the_marker(pytester: pytest.Pytester):
    pytester.makepyfile("""
import pytest
from mockserver.pytest_plugin import reply

@pytest.mark.chat_mock(assert_all_called=True)
def test_unused(chat_mock):
    chat_mock.add(reply("never asked"), id="forgotten", match={"last_user": "never"})

def test_off_by_default(chat_mock):
    chat_mock.add(reply("never asked"), match={"last_user": "never"})
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_unused*", "*forgotten*"])


# --- a rejected marker fixture file ------------------------------------------------------------------


def test_a_rejected_marker_fixture_file_is_reported_once(pytester: pytest.Pytester):
    (pytester.path / "bad.yaml").write_text("fixtures:\n  - id: x\n    response: {contnt: typo}\n")
    pytester.makepyfile("""
import pytest

@pytest.mark.chat_mock(fixtures=["bad.yaml"])
def test_bad(chat_mock):
    pass
""")
    # -rN: no short summary (under CI pytest prints it untruncated, which would repeat the message)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rN")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert output.count("'contnt' was unexpected") == 1, output
    assert "During handling of the above exception" not in output
    result.stdout.fnmatch_lines(["*bad.yaml:3:*contnt*"])
