"""pytest plugin: a mockserver in the test process, as the ``chat_mock`` fixtures.

Installed with the package (entry point ``pytest11``), so any project that
has ``mockserver`` installed gets, without a conftest:

* ``chat_mock`` - function-scoped: a clean mock for each test.
* ``chat_mock_session`` - session-scoped: one mock for the whole run; state
  (journal, runtime fixtures, ARK threads) carries over until ``reset()``.
* ``@pytest.mark.chat_mock(fixtures=[...], seed=7, unmatched="error", ...)``
  configures the server one test's ``chat_mock`` talks to.
* ``--chat-mock-seed``, ``--chat-mock-fixtures``, ``--chat-mock-unmatched``
  (and the ini options ``chat_mock_seed``, ``chat_mock_fixtures``,
  ``chat_mock_unmatched``): defaults for both fixtures.
* ``reply``, ``tool_call``, ``error`` and ``chat_mock.add(...)``: one-off
  stubs without YAML or ids; the newest fixture wins at equal priority.
* ``chat_mock.assert_all_called()``, and the same check at teardown with
  ``chat_mock(assert_all_called=True)`` or the ini option
  ``chat_mock_assert_all_called = true``.

The server runs in-process: ``uvicorn.Server`` in a background thread with
its own event loop, on 127.0.0.1 and a free port. It is a real HTTP server,
so the code under test (any HTTP client, any SDK, a subprocess) can call it.
See docs/pytest.md.

This module is imported by every pytest run in an environment where the
package is installed: it imports only the standard library and pytest at
import time; the server (and openai, for the ready clients) load on first use.
"""

from __future__ import annotations

import itertools
import socket
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from mockserver.fixtures.stubs import error, kind, reply, tool_call

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    import openai

    from mockserver.config import Settings

__all__ = ["ChatMock", "ChatMockError", "FixtureRejected", "error", "reply", "tool_call"]

MARKER = "chat_mock"
ENTRY_POINT = "mockserver"  # the pytest11 entry point's name
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POOL_SIZE = 4  # distinct function-scoped server configurations kept running at once
API_KEY = "test-key"
# Settings a marker may not change: the plugin owns the socket, and the server is one process.
NOT_CONFIGURABLE = frozenset({"host", "port", "workers"})
PATH_LISTS = ("fixtures", "specs", "overlays")  # Settings fields holding paths: relative to the test file
PATHS = ("report", "record")
# Marker keywords the plugin itself takes (not server settings).
PLUGIN_OPTIONS = ("assert_all_called",)
SETTLE_S = 0.5  # how long a check waits for the journal to catch up with the last response
_FAILED = pytest.StashKey[bool]()  # the test's own call did not pass: no teardown check on top of that
_STUB_IDS = itertools.count(1)  # ids of the fixtures add() names: unique in the process


class ChatMockError(RuntimeError):
    """The mock could not be started, or an admin call failed."""


class FixtureRejected(ChatMockError, ValueError):
    """``add_fixture`` was refused: the fixture is not valid (format or contract)."""


# --- options and marker -----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chat_mock", "mockserver (chat_mock fixtures)")
    group.addoption("--chat-mock-seed", type=int, default=None, dest="chat_mock_seed", metavar="N",
                    help="seed of the content the chat_mock servers generate (default: 0)")
    group.addoption("--chat-mock-fixtures", action="append", default=None, dest="chat_mock_fixtures",
                    metavar="PATH", help="a fixture file or directory every chat_mock server loads (repeatable)")
    group.addoption("--chat-mock-unmatched", choices=["generate", "error"], default=None,
                    dest="chat_mock_unmatched",
                    help="a request no fixture matches: generate an answer (default) or 404 mock_no_match")
    parser.addini("chat_mock_seed", "seed of the content the chat_mock servers generate", default="")
    parser.addini("chat_mock_fixtures", "fixture files or directories every chat_mock server loads "
                  "(relative to the ini file)", type="paths", default=[])
    parser.addini("chat_mock_unmatched", "generate (default) or error", default="")
    parser.addini("chat_mock_assert_all_called", "at the end of each test using chat_mock, check that every "
                  "fixture the test added was used and that fixtures answered every request", type="bool",
                  default=False)


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: pytest.PytestPluginManager) -> None:
    """Loaded by name (``-p mockserver.pytest_plugin``) while the entry point is installed too: keep
    pytest from loading the entry point afterwards, which would register this module a second time
    (as ``mockserver``) and stop the run with "Plugin already registered under a different name"."""
    if plugin is sys.modules[__name__] and plugin_name != ENTRY_POINT and manager.get_plugin(ENTRY_POINT) is None:
        manager.set_blocked(ENTRY_POINT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chat_mock(fixtures=None, seed=None, unmatched=None, assert_all_called=None, **settings): configure "
        "the mockserver the chat_mock fixture of this test talks to (fixtures: paths, relative to the test "
        "file; settings: any mockserver.config.Settings field, e.g. ttft_ms, tps, jitter_ms; "
        "assert_all_called: check at teardown that every fixture the test added was used and that "
        "fixtures answered every request)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Note a test call that failed (or skipped, or xfailed): the teardown check is for passing tests;
    a failure says enough, and a skipped test did not get to use its fixtures."""
    report = yield
    if report.when == "call" and (report.failed or report.skipped):
        item.stash[_FAILED] = True
    return report


def _defaults(config: pytest.Config) -> dict[str, Any]:
    """Command line over ini file; what neither sets stays at the Settings default."""
    out: dict[str, Any] = {}
    seed = config.getoption("chat_mock_seed", None)
    if seed is None and str(config.getini("chat_mock_seed")).strip():
        try:
            seed = int(str(config.getini("chat_mock_seed")).strip())
        except ValueError:
            raise pytest.UsageError(f"chat_mock_seed must be an integer, not {config.getini('chat_mock_seed')!r}")
    if seed is not None:
        out["seed"] = seed
    fixtures = config.getoption("chat_mock_fixtures", None)
    if fixtures:
        out["fixtures"] = [Path(p).resolve() for p in fixtures]
    elif config.getini("chat_mock_fixtures"):
        out["fixtures"] = [Path(p) for p in config.getini("chat_mock_fixtures")]
    unmatched = config.getoption("chat_mock_unmatched", None) or str(config.getini("chat_mock_unmatched")).strip()
    if unmatched:
        if unmatched not in ("generate", "error"):
            raise pytest.UsageError(f"chat_mock_unmatched must be 'generate' or 'error', not {unmatched!r}")
        out["unmatched"] = unmatched
    return out


def _marker_keywords(node: pytest.Item) -> dict[str, Any]:
    """The closest ``chat_mock`` marker's keywords (a test's own over its class's and module's)."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.chat_mock takes keywords only, "
                                f"e.g. chat_mock(seed=7), not {marker.args!r}")
    return dict(marker.kwargs)


def _marker_settings(node: pytest.Item) -> dict[str, Any]:
    """The server settings of the closest marker: its keywords but the plugin's own, paths resolved."""
    out = {k: v for k, v in _marker_keywords(node).items() if k not in PLUGIN_OPTIONS}
    base = Path(str(node.path)).parent
    for name in PATH_LISTS:
        if name in out:
            paths = [out[name]] if isinstance(out[name], (str, Path)) else out[name]
            out[name] = [base / p for p in map(Path, paths)]  # an absolute p stays as it is
    for name in PATHS:
        if out.get(name) is not None:
            out[name] = base / Path(out[name])
    return out


def _settings(values: dict[str, Any], where: str) -> "Settings":
    from mockserver.config import Settings

    known = {f.name for f in fields(Settings)} - NOT_CONFIGURABLE
    unknown = sorted(set(values) - known)
    if unknown:
        raise pytest.UsageError(f"{where}: unknown chat_mock setting(s) {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
    settings = replace(Settings(), host="127.0.0.1", port=0, workers=1, quiet=True, shutdown_timeout=2.0)
    settings = replace(settings, **values)
    if settings.unmatched not in ("generate", "error"):
        raise pytest.UsageError(f"{where}: unmatched must be 'generate' or 'error', not {settings.unmatched!r}")
    settings.fixtures = [Path(p) for p in settings.fixtures]
    missing = [str(p) for p in settings.fixtures if not p.exists()]
    if missing:
        raise pytest.UsageError(f"{where}: no such chat_mock fixtures path: {', '.join(missing)}")
    return settings


# --- the server ----------------------------------------------------------------------------------


class MockServer:
    """One in-process mockserver: uvicorn in a daemon thread, on 127.0.0.1 and a free port."""

    def __init__(self, settings: "Settings") -> None:
        import uvicorn

        from mockserver.app import build_app
        from mockserver.server.dispatch import quiet_expected_ends
        from mockserver.specs.loader import SpecError

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # bound here and handed to uvicorn: no race for the port
        port = sock.getsockname()[1]
        self.settings = replace(settings, port=port)
        try:
            self.app = build_app(self.settings)
        except (SpecError, LookupError, OSError) as exc:
            sock.close()
            raise ChatMockError(f"mockserver cannot start: {exc}") from exc
        errors = self.app.state.registry.errors
        if errors:  # reported here, once: the registry does not log what it finds at start-up
            sock.close()
            self.app.state.store.close()
            listing = "\n".join(f"  {e['file']}:{e['line']}: {e['reason']}" for e in errors)
            raise ChatMockError(f"mockserver rejected fixture file(s):\n{listing}")
        self.url = f"http://127.0.0.1:{port}"
        quiet_expected_ends()  # a cut a fixture asks for is not an error in the test's log
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, log_config=None, loop="asyncio",
            lifespan="on", timeout_graceful_shutdown=self.settings.shutdown_timeout,
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                         name=f"chat-mock-{port}", daemon=True)
        self._thread.start()
        self._wait()

    def _wait(self) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                self._sock.close()
                raise ChatMockError("mockserver exited while starting (see the captured log)")
            if self._server.started:
                try:
                    if httpx.get(self.url + "/__admin/health", headers=self.admin_headers,
                                 timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.01)
        self.stop()
        raise ChatMockError(f"mockserver did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    @property
    def admin_headers(self) -> dict[str, str]:
        token = self.settings.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting, let in-flight streams finish (shutdown_timeout), run the lifespan shutdown."""
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S + self.settings.shutdown_timeout)
        if self._thread.is_alive():  # a stuck stream: do not hang the test run on it
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT_S)
        self._sock.close()


def _key(settings: "Settings") -> str:
    return settings.to_json()


class _Pool:
    """Function-scoped servers, one per distinct configuration, the least recently used stopped first."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self.servers: OrderedDict[str, MockServer] = OrderedDict()

    def get(self, settings: "Settings") -> MockServer:
        key = _key(settings)
        server = self.servers.get(key)
        if server is not None and server.running:
            self.servers.move_to_end(key)
            return server
        server = MockServer(settings)
        self.servers[key] = server
        while len(self.servers) > self.size:
            _, oldest = self.servers.popitem(last=False)
            oldest.stop()
        return server

    def close(self) -> None:
        while self.servers:
            _, server = self.servers.popitem()
            server.stop()


# --- what a test gets -----------------------------------------------------------------------


class ChatMock:
    """A running mockserver, as a test sees it.

    ``url`` is the server root; ``ark_base_url`` (``url + "/v1"``) and
    ``multimedia_base_url`` (``url``) are the ``base_url`` values an OpenAI
    client takes; ``client`` and ``multimedia_client`` are such clients,
    ready (``max_retries=0``: an error from a fixture reaches the test at once).
    """

    def __init__(self, server: MockServer) -> None:
        import httpx

        self.server = server
        self.settings = server.settings
        self.url = server.url
        self.ark_base_url = server.url + "/v1"
        self.multimedia_base_url = server.url
        self._admin = httpx.Client(base_url=server.url, headers=server.admin_headers, timeout=30)
        self._clients: dict[str, Any] = {}
        self._added: dict[str, Any] = {}  # id -> match of each fixture added since the last reset

    def __repr__(self) -> str:
        return f"<ChatMock {self.url} seed={self.settings.seed} unmatched={self.settings.unmatched}>"

    # --- clients ---------------------------------------------------------------------------

    def openai_client(self, contract: str = "ark", **kwargs: Any) -> "openai.OpenAI":
        """A new ``openai.OpenAI`` for ``"ark"`` or ``"multimedia"`` (keywords go to the constructor)."""
        from openai import OpenAI

        bases = {"ark": self.ark_base_url, "multimedia": self.multimedia_base_url}
        if contract not in bases:
            raise ValueError(f"contract must be 'ark' or 'multimedia', not {contract!r}")
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("max_retries", 0)
        return OpenAI(base_url=bases[contract], **kwargs)

    @property
    def client(self) -> "openai.OpenAI":
        """``openai.OpenAI`` for the ARK contract (``POST /v1/chat/completions``)."""
        if "ark" not in self._clients:
            self._clients["ark"] = self.openai_client("ark")
        return self._clients["ark"]

    @property
    def multimedia_client(self) -> "openai.OpenAI":
        """``openai.OpenAI`` for the multimedia contract (``POST /chat/completions``; streams by default)."""
        if "multimedia" not in self._clients:
            self._clients["multimedia"] = self.openai_client("multimedia")
        return self._clients["multimedia"]

    # --- fixtures --------------------------------------------------------------------------

    def add_fixture(self, fixture: Any) -> list[str]:
        """Add runtime fixtures through the admin API; returns their ids.

        ``fixture`` is one fixture (a dict with ``id``), a list of them, a
        whole document (``{"fixtures": [...]}``), YAML or JSON text of any of
        those, or the path of a fixture file (``pathlib.Path``, or a string
        naming an existing ``.yaml``/``.yml``/``.json`` file). The server
        validates them like files (format and contract); a refusal raises
        :class:`FixtureRejected` with the server's reason.
        """
        document = _document(fixture)
        response = self._admin.post("/__admin/fixtures", json=document)
        if response.status_code == 201:
            added = response.json()["added"]
            matches = [f.get("match") if isinstance(f, dict) else None for f in document["fixtures"]]
            self._added.update(zip(added, matches))
            return added
        ids = ", ".join(str(f.get("id")) for f in document["fixtures"] if isinstance(f, dict))
        raise FixtureRejected(f"mockserver rejected fixture(s) [{ids}] (HTTP {response.status_code}): "
                              f"{_error_message(response)}")

    add_fixtures = add_fixture

    def add(self, *responses: dict[str, Any], match: dict[str, Any] | None = None, id: str | None = None,  # noqa: A002
            **options: Any) -> str:
        """Add a one-off fixture and return its id (made up unless given: ``reply-3``).

        ``responses`` are what it answers, built with :func:`reply`, :func:`tool_call`
        and :func:`error` (or plain response mappings): one is its ``response``,
        several are answered in turn (``responses``; ``then="cycle"`` to start
        over), none is a generated answer. ``match`` is the request pattern, as
        in a fixture file (omitted: every request); ``options`` are the other
        fixture keys (``priority``, ``times``, ``then``, ``stream``, ``fault``,
        ``scenario``, ``description``). The newest fixture wins over earlier
        ones of the same priority, so a test's override needs no priority.
        """
        fixture: dict[str, Any] = {"id": id or f"{kind(responses)}-{next(_STUB_IDS)}"}
        if match is not None:
            fixture["match"] = match
        if len(responses) == 1:
            fixture["response"] = responses[0]
        elif responses:
            fixture["responses"] = list(responses)
        fixture.update(options)
        return self.add_fixture(fixture)[0]

    def fixtures(self) -> list[dict[str, Any]]:
        """The active fixtures in matching order: by priority, then the runtime ones (newest first), then files."""
        return self._get("/__admin/fixtures").json()["fixtures"]

    def remove_fixtures(self) -> int:
        """Remove every runtime fixture (file fixtures stay)."""
        return self._call("DELETE", "/__admin/fixtures").json()["deleted"]

    # --- the journal -----------------------------------------------------------------------

    def requests(self, **matcher: Any) -> list[dict[str, Any]]:
        """Journal entries (client traffic, not admin calls) that ``matcher`` selects, oldest first.

        The matcher is :meth:`count`'s.
        """
        return self._match("find", matcher)["requests"]

    def count(self, **matcher: Any) -> int:
        """How many journaled requests match. Every rule of a fixture's ``match`` means here what it
        means there (``model``, ``last_user``, ``messages``, ``message_count``, ``thread_id``, ``tools``,
        ``tool``, ``response_format``, ``modalities``, ``stream``, ``headers``, ``jsonpath``, ``spec``;
        a plain string is "equals", a mapping has ``contains``, ``regex``, ``ignore_case``), besides
        the journal's own: ``operation``, ``fixture`` (an id, or ``"generated"``), ``unmatched``,
        ``invalid``, ``status``, ``since`` (Unix time) and ``last_user_contains``."""
        return self._match("count", matcher)["count"]

    def _match(self, what: str, matcher: dict[str, Any]) -> dict[str, Any]:
        from mockserver.admin.journal_query import JOURNAL_KEYS, TOP_MATCH_KEYS

        # The admin API takes the fixture match rules under "match"; here they are keywords.
        body = {k: v for k, v in matcher.items() if k in JOURNAL_KEYS or k in TOP_MATCH_KEYS}
        rules = {k: v for k, v in matcher.items() if k not in body}
        if rules:
            body["match"] = rules
        response = self._admin.post(f"/__admin/requests/{what}", json=body)
        if response.status_code == 400:
            caller = "requests" if what == "find" else "count"
            raise TypeError(f"{caller}() got a matcher the server refuses ({matcher!r}): "
                            f"{_error_message(response)}")
        _check(response)
        return response.json()

    def assert_called(self, times: int | None = None, **matcher: Any) -> int:
        """Assert that requests matching ``matcher`` were received: ``times`` times exactly, or at
        least once when ``times`` is None. Returns the count. The failure lists what was received."""
        count = self.count(**matcher)
        if count < (1 if times is None else times):  # too few can still settle, too many cannot
            count = _settled(lambda: self.count(**matcher), lambda n: _ok(n, times))
        if not _ok(count, times):
            wanted = "at least 1" if times is None else str(times)
            received = self.requests()
            lines = [f"expected {wanted} request(s) matching {_describe(matcher)}, got {count}.",
                     f"The mock at {self.url} received {len(received)} request(s):"]
            lines += [f"  {i}. {_summary(e)}" for i, e in enumerate(received, 1)] or ["  (none)"]
            raise AssertionError("\n".join(lines))
        return count

    def assert_not_called(self, **matcher: Any) -> None:
        self.assert_called(times=0, **matcher)

    def assert_all_called(self) -> None:
        """Assert that every fixture added through this object (``add``, ``add_fixture``) since the
        last reset answered at least one request, and that no request was left unscripted: answered
        by the generator, or refused as unmatched (``unmatched="error"``). The failure names the
        unused fixtures and lists the unscripted requests with their near misses.

        Runs at teardown when the test (or its class or module) is marked
        ``chat_mock(assert_all_called=True)``, or with the ini option
        ``chat_mock_assert_all_called = true``, unless the test failed already.
        """
        def findings() -> tuple[list[str], list[dict[str, Any]]]:
            unused = [i for i in self._added if self.count(fixture=i) == 0]
            stray = self.requests(fixture="generated") + self.requests(unmatched=True)
            return unused, sorted(stray, key=lambda e: e.get("time", 0))

        unused, stray = _settled(findings, lambda found: not found[0] and not found[1])
        if not unused and not stray:
            return
        lines = [f"chat_mock.assert_all_called(): on the mock at {self.url},"]
        if unused:
            lines.append(f"{len(unused)} fixture(s) the test added were never used:")
            lines += [f"  never used: {i} (match {self._added[i]!r})" for i in unused]
        if stray:
            lines.append(f"{len(stray)} request(s) no fixture answered:")
            for n, entry in enumerate(stray, 1):
                lines.append(f"  {n}. {_summary(entry)}")
                lines += [f"       near miss: {miss}" for miss in entry.get("near_misses") or []]
        raise AssertionError("\n".join(lines))

    # --- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the journal, scenario states, match counters, changed settings, runtime fixtures
        and ARK threads."""
        self._call("POST", "/__admin/reset")
        self._added.clear()

    def health(self) -> dict[str, Any]:
        return self._get("/__admin/health").json()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._admin.close()

    # --- helpers ---------------------------------------------------------------------------

    def _get(self, path: str, **kwargs: Any) -> "httpx.Response":
        return self._call("GET", path, **kwargs)

    def _call(self, method: str, path: str, **kwargs: Any) -> "httpx.Response":
        response = self._admin.request(method, path, **kwargs)
        _check(response)
        return response


def _ok(count: int, times: int | None) -> bool:
    return count >= 1 if times is None else count == times


def _settled(look: Callable[[], Any], good: Callable[[Any], bool]) -> Any:
    """``look()``, looked at again for up to SETTLE_S while it is not ``good``: an entry is journaled
    once its response is fully sent, which can trail the client by a moment (a stream's last event)."""
    found = look()
    deadline = time.monotonic() + SETTLE_S
    while not good(found) and time.monotonic() < deadline:
        time.sleep(0.02)
        found = look()
    return found


def _check(response: "httpx.Response") -> None:
    if response.status_code >= 400:
        raise ChatMockError(f"{response.request.method} {response.request.url.path} answered "
                            f"{response.status_code}: {_error_message(response)}")


def _error_message(response: "httpx.Response") -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def _describe(matcher: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in matcher.items()) + "}" if matcher else "anything"


def _summary(entry: dict[str, Any]) -> str:
    from mockserver.fixtures.matching import last_user_text

    body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
    parts = [f"{entry.get('method')} {entry.get('path')}", f"spec={entry.get('spec')}",
             f"status={entry.get('status')}", f"source={entry.get('source')}"]
    if body.get("model") is not None:
        parts.append(f"model={body['model']!r}")
    parts.append(f"stream={entry.get('stream') is not None}")
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    last = last_user_text(messages)
    if last is not None:
        parts.append(f"last_user={last if len(last) <= 60 else last[:57] + '...'!r}")
    if entry.get("error"):
        parts.append(f"error={entry['error'].get('code') or entry['error'].get('type')!r}")
    return " ".join(parts)


def _document(fixture: Any) -> dict[str, Any]:
    """Whatever add_fixture was given, as ``{"fixtures": [...]}``.

    YAML is read with the server's bounds on aliases and nesting: the
    document is sent expanded, so a YAML bomb would blow up here first.
    """
    import yaml

    from mockserver.fixtures import bounded_yaml

    if isinstance(fixture, Path) or (isinstance(fixture, str) and "\n" not in fixture
                                     and fixture.strip().endswith((".yaml", ".yml", ".json"))):
        path = Path(fixture)
        if not path.is_file():
            raise FixtureRejected(f"no such fixture file: {path}")
        try:
            fixture = bounded_yaml.load(path.read_text(encoding="utf-8"))[0]
        except yaml.YAMLError as exc:
            raise FixtureRejected(f"{path}: not YAML or JSON: {exc}") from None
        except bounded_yaml.YamlLimitError as exc:
            raise FixtureRejected(f"{path}:{exc.line}: {exc.reason}") from None
    elif isinstance(fixture, str):
        try:
            fixture = bounded_yaml.load(fixture)[0]
        except yaml.YAMLError as exc:
            raise FixtureRejected(f"fixture text is not YAML or JSON: {exc}") from None
        except bounded_yaml.YamlLimitError as exc:
            raise FixtureRejected(f"fixture text, line {exc.line}: {exc.reason}") from None
    if isinstance(fixture, list):
        return {"fixtures": fixture}
    if isinstance(fixture, dict):
        return fixture if "fixtures" in fixture else {"fixtures": [fixture]}
    raise FixtureRejected(f"a fixture must be a mapping, a list of them or {{'fixtures': [...]}}, "
                          f"not {type(fixture).__name__}: {fixture!r:.80}")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _chat_mock_pool() -> Iterator[_Pool]:
    pool = _Pool()
    yield pool
    pool.close()


@pytest.fixture
def chat_mock(request: pytest.FixtureRequest, _chat_mock_pool: _Pool) -> Iterator[ChatMock]:
    """A mockserver for this test: configured by ``@pytest.mark.chat_mock(...)`` over the
    command-line/ini defaults, and reset (POST /__admin/reset) before the test.

    Isolation is by reset, not by a fresh ``X-Mock-Session`` per test: runtime
    fixtures (``add_fixture``) are global to a server, not per session, and the
    code under test would have to send the header on every call. A server per
    distinct configuration is kept for the session (a few at most) and reused
    by the tests with that configuration, so most tests cost no start-up. Tests
    run one after another (for pytest-xdist, each worker has its own servers).
    """
    values = {**_defaults(request.config), **_marker_settings(request.node)}
    settings = _settings(values, request.node.nodeid)
    try:
        server = _chat_mock_pool.get(settings)
    except ChatMockError as exc:
        failure = str(exc)
    else:
        failure = None
    if failure is not None:  # outside the except: the report shows the reason once, not chained twice
        pytest.fail(failure, pytrace=False)
    mock = ChatMock(server)
    mock.reset()
    try:
        yield mock
        if _checks_all_called(request) and not request.node.stash.get(_FAILED, False):
            mock.assert_all_called()
    finally:
        mock.close()


def _checks_all_called(request: pytest.FixtureRequest) -> bool:
    """The closest marker's ``assert_all_called``, else the ini option."""
    keywords = _marker_keywords(request.node)
    if "assert_all_called" in keywords:
        return bool(keywords["assert_all_called"])
    return bool(request.config.getini("chat_mock_assert_all_called"))


@pytest.fixture(scope="session")
def chat_mock_session(request: pytest.FixtureRequest) -> Iterator[ChatMock]:
    """One mockserver for the whole session (configured by the command-line/ini options only;
    markers are per test). Nothing is reset between tests: call ``reset()`` where needed."""
    settings = _settings(_defaults(request.config), "chat_mock_session")
    try:
        server = MockServer(settings)
    except ChatMockError as exc:
        failure = str(exc)
    else:
        failure = None
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    mock = ChatMock(server)
    try:
        yield mock
    finally:
        mock.close()
        server.stop()
