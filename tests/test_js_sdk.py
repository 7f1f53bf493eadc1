"""The official openai npm package (the JavaScript SDK) against both contracts.

tests/js/script.mjs does, with the SDK, what a frontend does: a completion and
a stream on ARK and on multimedia, a tool call and structured output on
multimedia (the ARK contract has neither), and prints a JSON summary that this
test checks.

Needs ``node`` and ``npm``: skipped without them, unless the CI environment
variable is set and node exists, in which case the test must run (and fails if
it cannot). The SDK is installed once per session into a temporary copy of
tests/js (npm's own cache makes later sessions fast); nothing is written into
the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parent / "js"
NODE = shutil.which("node")
NPM = shutil.which("npm")
CI = bool(os.environ.get("CI"))
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 60


def _unavailable(reason: str) -> None:
    """Skip locally; in CI with node present, the JavaScript test is required: fail."""
    if CI and NODE:
        pytest.fail(f"CI is set and node exists, so the JavaScript SDK test must run, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/js copied to a temporary directory, with its npm dependencies installed."""
    if not NODE or not NPM:
        _unavailable(f"the JavaScript SDK test needs node and npm on PATH (node: {NODE or 'missing'}, "
                     f"npm: {NPM or 'missing'})")
    work = tmp_path_factory.mktemp("js-sdk")
    for name in ("package.json", "script.mjs"):
        shutil.copy(JS / name, work / name)
    try:
        done = subprocess.run([NPM, "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
                              cwd=work, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _unavailable(f"npm install did not finish in {INSTALL_TIMEOUT_S} s (no registry access?)")
    if done.returncode != 0:
        _unavailable(f"npm install failed ({done.returncode}; no registry access?):\n{done.stderr[-2000:]}")
    return work


@pytest.fixture(scope="session")
def js_summary(js_sdk: Path, server) -> dict:
    done = subprocess.run([NODE, "script.mjs", server.url], cwd=js_sdk, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"node script.mjs failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        pytest.fail(f"node script.mjs printed no JSON summary:\n{done.stdout}\n{done.stderr}")


def check_completion(completion: dict, model: str) -> None:
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"] == model
    assert completion["finish_reason"] == "stop"
    assert isinstance(completion["content"], str) and completion["content"].strip()
    assert completion["total_tokens"] == completion["prompt_tokens"] + completion["completion_tokens"]


def check_stream(stream: dict, completion: dict) -> None:
    assert stream["objects"] == ["chat.completion.chunk"]
    assert stream["role"] == "assistant"
    assert stream["finish_reasons"] == ["stop"]
    # Same request, same seed: the stream assembles to the non-streamed answer.
    assert stream["text"] == completion["content"]
    assert stream["chunks"] >= 2


def test_sdk_version_is_the_pinned_major(js_summary):
    wanted = json.loads((JS / "package.json").read_text())["dependencies"]["openai"].lstrip("^~").split(".")[0]
    assert js_summary["sdk_version"].split(".")[0] == wanted


def test_ark_completion_and_stream(js_summary):
    ark = js_summary["ark"]
    check_completion(ark["completion"], "ark-reason")
    check_stream(ark["stream"], ark["completion"])


def test_ark_thread_id_passes_through_the_sdk(js_summary):
    thread = js_summary["ark"]["thread"]
    # The second turn on the thread carries the first turn as history.
    assert thread["second_prompt_tokens"] > thread["first_prompt_tokens"]


def test_multimedia_completion_and_stream(js_summary):
    mm = js_summary["multimedia"]
    check_completion(mm["completion"], "gpt-4o")
    check_stream(mm["stream"], mm["completion"])


def test_multimedia_streams_when_stream_is_omitted(js_summary):
    assert js_summary["multimedia"]["default_content_type"].startswith("text/event-stream")


def test_multimedia_tool_call(js_summary):
    call = js_summary["multimedia"]["tool_call"]
    assert call["finish_reason"] == "tool_calls"
    assert call["type"] == "function" and call["name"] == "get_weather"
    assert call["id"].startswith("call_")
    assert isinstance(call["arguments"]["city"], str)
    assert call["arguments"]["unit"] in ("celsius", "fahrenheit")
    assert set(call["arguments"]) == {"city", "unit"}


def test_multimedia_structured_output(js_summary):
    structured = js_summary["multimedia"]["structured"]
    assert structured["finish_reason"] == "stop"
    assert structured["has_required"] is True
    doc = structured["document"]
    assert set(doc) == {"title", "rating", "tags"}
    assert isinstance(doc["title"], str) and 1 <= doc["rating"] <= 5
    assert all(isinstance(tag, str) for tag in doc["tags"])
