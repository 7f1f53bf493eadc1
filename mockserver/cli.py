"""The ``mockserver`` command: ``serve`` and ``lint``."""

from __future__ import annotations

import argparse
import atexit
import logging
import math
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Callable

from mockserver import __version__
from mockserver.config import DEFAULT_MAX_BODY, DEFAULT_SEED, Settings
from mockserver.limits import HEADER_TIMEOUT_SECONDS, MAX_STREAM_SECONDS, MAX_TTFT_MS, MIN_TPS
from mockserver.recording.modes import DEFAULT_MODE as DEFAULT_RECORD_MODE
from mockserver.recording.modes import MODES as RECORD_MODES
from mockserver.recording.modes import fixture_dirs
from mockserver.stream import pacing_problem


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _pacing(name: str) -> Callable[[str], float]:
    """An argparse type for a pacing option: the same bounds as ``Prefer`` (:func:`stream.pacing_problem`)."""

    def parse(text: str) -> float:
        value = _number(text)
        problem = pacing_problem(name, value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def _finite(text: str) -> float:
    """A duration or a speed: finite and not negative (``inf`` seconds would mean "never")."""
    value = _number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, not negative: {text!r}")
    return value


def _header_timeout(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A spec-driven mock server for Chat Completions APIs.",
    )
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the contracts over HTTP",
                           description="Serve the contracts (both bundled specs by default) over HTTP.")
    serve.add_argument("--host", default=None,
                       help="address to bind (default: 127.0.0.1). A non-loopback address must be given "
                            "here explicitly: the mock is then reachable from the network, its admin API "
                            "too unless --admin-token is set")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default: 8080)")
    serve.add_argument("--spec", action="append", type=Path, default=[], metavar="FILE",
                       help="an OpenAPI 3 file to serve instead of the bundled ones (repeatable); "
                            "an X.errata.yaml beside it is applied as its errata")
    serve.add_argument("--overlay", action="append", type=Path, default=[], metavar="FILE",
                       help="an OpenAPI Overlay 1.0 file applied after the errata (repeatable); "
                            "its 'extends' names the spec file it applies to")
    serve.add_argument("--no-errata", action="store_true",
                       help="serve the spec files verbatim, without their errata overlays")
    serve.add_argument("--seed", type=int, default=DEFAULT_SEED,
                       help=f"seed for all generated content (default: {DEFAULT_SEED})")
    serve.add_argument("--ttft", type=_pacing("ttft"), default=0.0, metavar="MS",
                       help=f"time to first token of streams, in milliseconds, at most {MAX_TTFT_MS:g} "
                            "(default: 0)")
    serve.add_argument("--tps", type=_pacing("tps"), default=0.0, metavar="TOKENS_PER_S",
                       help=f"stream speed in tokens per second, at least {MIN_TPS:g} (default: 0, no delay); "
                            f"a stream planned to last over {MAX_STREAM_SECONDS:g} s is refused")
    serve.add_argument("--max-body", type=_size, default=DEFAULT_MAX_BODY, metavar="BYTES",
                       help="largest request body accepted, e.g. 10M (default: 10M)")
    serve.add_argument("--state", default=None, metavar="FILE",
                       help="keep state (ARK threads) in this SQLite file across restarts "
                            "(default: SQLite in memory)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes (default: 1); they share state through --state, or a "
                            "temporary SQLite file when none is given")
    serve.add_argument("--shutdown-timeout", type=_finite, default=10.0, metavar="S",
                       help="on SIGTERM/SIGINT, seconds in-flight streams get to finish; a stream still "
                            "running then ends with an error event 'server_shutting_down' (default: 10)")
    serve.add_argument("--header-timeout", type=_header_timeout, default=HEADER_TIMEOUT_SECONDS, metavar="S",
                       help="a connection that has not sent its complete request head (request line and "
                            f"headers) within S seconds is closed (default: {HEADER_TIMEOUT_SECONDS:g})")
    serve.add_argument("--admin-token", default=None, metavar="TOKEN",
                       help="require 'Authorization: Bearer TOKEN' on /__admin (default: open)")
    serve.add_argument("--max-threads", type=int, default=10_000, metavar="N",
                       help="ARK threads kept; the oldest are dropped past this (default: 10000)")
    serve.add_argument("--fixtures", action="append", type=Path, default=[], metavar="DIR",
                       help="a directory (or file) of fixtures, YAML or JSON (repeatable); edits are "
                            "picked up while serving")
    serve.add_argument("--unmatched", choices=["generate", "error"], default="generate",
                       help="a request no fixture matches: generate an answer (default), or answer "
                            "404 mock_no_match naming the closest fixtures")
    serve.add_argument("--jitter", type=_pacing("jitter"), default=0.0, metavar="MS",
                       help=f"random +/- jitter of stream event times, seeded, at most {MAX_TTFT_MS:g} "
                            "(default: 0)")
    serve.add_argument("--journal-size", type=int, default=10_000, metavar="N",
                       help="requests kept in the journal (default: 10000)")
    serve.add_argument("--report", type=Path, default=None, metavar="FILE",
                       help="at shutdown, write a JUnit XML report (and FILE.json) with one failed case per "
                            "invalid or unmatched request")
    serve.add_argument("--record", type=Path, default=None, metavar="DIR",
                       help="record mode: proxy chat requests to --upstream and write each exchange as a "
                            "cassette in DIR")
    serve.add_argument("--upstream", default=None, metavar="URL",
                       help="the OpenAI-compatible API to record (its base URL, without the operation path)")
    serve.add_argument("--upstream-key-env", default=None, metavar="VAR",
                       help="the environment variable holding the upstream API key (sent as a Bearer token)")
    serve.add_argument("--redact", action="append", default=[], metavar="NAME",
                       help="a header or body field to redact in cassettes (repeatable; Authorization, "
                            "api-key and cookies always are)")
    serve.add_argument("--record-errors", action="store_true",
                       help="also record upstream error answers (default: only successes)")
    serve.add_argument("--record-mode", choices=list(RECORD_MODES), default=None,
                       help="with --record, vcrpy's record modes on the cassette folder: all (default) sends "
                            "every chat request upstream and re-records it; new_episodes replays what is "
                            "recorded and records the rest; once records only if DIR held no cassette at "
                            "start-up, else acts as none; none replays only (unrecorded: 404 mock_no_match)")
    serve.add_argument("--replay-speed", type=_finite, default=1.0, metavar="X",
                       help="recorded streams replay at this speed: 0 at once, 1 as recorded (default: 1)")
    serve.add_argument("--replay-ids", choices=["keep", "fresh"], default="keep",
                       help="replayed ids and created times: as recorded (default) or new")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="also allow this browser origin (repeatable; '*' allows any); loopback origins "
                            "are allowed by default")
    serve.add_argument("--no-cors", action="store_true", help="answer no CORS request, not even from loopback")
    serve.add_argument("--quiet", action="store_true", help="no per-request log lines")
    serve.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    fixtures = sub.add_parser("fixtures", help="work with fixture files",
                              description="Work with fixture files (see docs/fixtures.md).")
    fixtures_sub = fixtures.add_subparsers(dest="fixtures_command", metavar="ACTION")
    new = fixtures_sub.add_parser("new", help="write a commented example fixture file",
                                  description="Write a commented example fixture file (to stdout without FILE).")
    new.add_argument("file", nargs="?", type=Path, metavar="FILE")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    lint = sub.add_parser("lint", help="report the defects of spec files",
                          description="Report every defect found in the spec files (default: the bundled ones), "
                                      "with its JSON path, what is wrong and which erratum fixes it. "
                                      "Exits 1 if any defect is left unfixed.")
    lint.add_argument("specs", nargs="*", type=Path, metavar="SPEC")
    lint.add_argument("--overlay", action="append", type=Path, default=[], metavar="FILE",
                      help="an extra overlay to count as a fix (repeatable)")
    lint.add_argument("--no-errata", action="store_true", help="do not count the errata as fixes")
    lint.add_argument("--json", action="store_true", help="print the report as JSON")
    lint.add_argument("--fixtures", action="append", type=Path, default=[], metavar="DIR",
                      help="also check the fixture files in DIR (or a file), against the linted specs "
                           "as served (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "lint":
        from mockserver.specs.lint import run_lint

        code = run_lint(args.specs, overlays=args.overlay, errata=not args.no_errata, as_json=args.json)
        if args.fixtures:
            from mockserver.fixtures.lint import lint_fixtures

            code = max(code, lint_fixtures(args.specs, args.fixtures, errata=not args.no_errata))
        return code
    if args.command == "fixtures" and args.fixtures_command == "new":
        return fixtures_new(args.file, force=args.force)
    if args.command == "fixtures":
        parser.parse_args(["fixtures", "--help"])
    parser.print_help()
    return 2


def fixtures_new(file: Path | None, *, force: bool) -> int:
    template = (Path(__file__).parent / "fixtures" / "template.yaml").read_text(encoding="utf-8")
    if file is None:
        sys.stdout.write(template)
        return 0
    if file.exists() and not force:
        print(f"mockserver: {file} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(template, encoding="utf-8")
    print(f"wrote {file}: edit it, then serve it with --fixtures {file.parent}")
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mockserver.app import SETTINGS_ENV, build_app, describe, load_specs
    from mockserver.specs.lint import remaining_defects
    from mockserver.specs.loader import SpecError
    from mockserver.specs.overlay import OverlayError

    from mockserver.logs import configure
    from mockserver.server.dispatch import quiet_expected_ends
    from mockserver.server.runtime import tune_gc

    configure(args.log_level, json_logs=args.json_logs, quiet=args.quiet)
    quiet_expected_ends()
    host = _host(args.host, args.admin_token)
    if host is None:
        return 2
    if args.workers < 1:
        print("mockserver: --workers must be at least 1", file=sys.stderr)
        return 2
    fixtures = _record_folder(args)
    if fixtures is None:
        return 2
    settings = Settings(
        host=host, port=args.port, specs=args.spec, overlays=args.overlay,
        errata=not args.no_errata, seed=args.seed, ttft_ms=args.ttft, tps=args.tps,
        max_body=args.max_body, state=args.state, workers=args.workers,
        shutdown_timeout=args.shutdown_timeout, header_timeout=args.header_timeout,
        admin_token=args.admin_token, max_threads=args.max_threads,
        fixtures=fixtures, unmatched=args.unmatched, jitter_ms=args.jitter, journal_size=args.journal_size,
        report=args.report, replay_speed=args.replay_speed, replay_ids=args.replay_ids, record=args.record,
        upstream=args.upstream, upstream_key_env=args.upstream_key_env, redact=args.redact,
        record_errors=args.record_errors, record_mode=args.record_mode or DEFAULT_RECORD_MODE,
        cors_origins=args.cors_origin, cors=not args.no_cors,
        log_format="json" if args.json_logs else "text", quiet=args.quiet,
    )
    missing = [str(p) for p in settings.fixtures if not p.exists()]
    if missing:
        print(f"mockserver: cannot start: no such fixtures path: {', '.join(missing)}", file=sys.stderr)
        return 2
    if settings.workers > 1 and settings.state is None:
        # Workers are processes: in-memory SQLite would give each its own threads.
        # In memory when the machine has /dev/shm: this state is scratch anyway.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        scratch = tempfile.mkdtemp(prefix="mockserver-", dir=shm)
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        settings.state = str(Path(scratch) / "state.sqlite")
    try:
        specs = load_specs(settings)
        app = build_app(settings, specs)
    except (SpecError, OverlayError, LookupError, sqlite3.Error, OSError, ValueError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return 2
    for spec in specs:
        print(f"spec {describe(spec)}", flush=True)
        for finding in remaining_defects(spec):
            print(f"  warning: {finding.where}: {finding.message}", flush=True)
    if settings.record is not None and settings.record_mode == "none":
        print(f"replaying: cassettes in {settings.record} (record mode none: nothing goes upstream)", flush=True)
    elif settings.record is not None:
        print(f"recording: {settings.upstream} -> cassettes in {settings.record}"
              f"{' (errors too)' if settings.record_errors else ''}; record mode {settings.record_mode}", flush=True)
    store = app.state.store
    state = getattr(store, "url", None) or (settings.state if settings.state and "://" not in settings.state
                                            else None) or "SQLite in memory"  # never print a password
    print(f"state: {state}; workers: {settings.workers}", flush=True)
    registry = app.state.registry
    if settings.fixtures:
        files = registry.files.values()
        counts = (sum(len(f.fixtures) for f in files), sum(len(f.cassettes) for f in files),
                  sum(len(f.conversations) for f in files))
        print(f"fixtures: {counts[0]} fixture(s), {counts[1]} cassette(s), {counts[2]} conversation(s) from "
              f"{len(registry.files)} file(s) in {', '.join(map(str, settings.fixtures))}; "
              f"unmatched requests: {settings.unmatched}", flush=True)
        for error in registry.errors:
            print(f"  rejected: {error['file']}:{error['line']}: {error['reason']}", flush=True)
    base = f"http://{host}:{args.port}"
    print(f"mockserver {__version__} listening on {base} (inspector: {base}/__admin/ui, docs: {base}/docs)",
          flush=True)
    common = dict(
        host=host, port=args.port, log_level=args.log_level, access_log=False, log_config=None,
        loop=_best("uvloop", "auto"), http=_http_protocol(settings.header_timeout), lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    if settings.workers == 1:
        tune_gc()
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully; with
        # a Python handler in place that re-raise is absorbed, and a clean
        # shutdown exits 0 as a service manager expects.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        uvicorn.Server(uvicorn.Config(app, **common)).run()
    else:
        # The supervisor built the app only to check the configuration and print
        # the banner; each worker builds its own and opens the store itself.
        store.close()
        os.environ[SETTINGS_ENV] = settings.to_json()
        os.environ["MOCKSERVER_LOG_LEVEL"] = args.log_level
        uvicorn.run("mockserver.app:app_from_env", factory=True, workers=settings.workers, **common)
    return 0


def _record_folder(args: argparse.Namespace) -> list[Path] | None:
    """The folders to load: ``--fixtures``, plus the cassette folder when the record mode
    replays it (created for modes that record; it must exist for ``none``). None: refused."""
    if args.record is None:
        if args.record_mode is not None:
            print("mockserver: --record-mode needs --record DIR (the cassette folder)", file=sys.stderr)
            return None
        return list(args.fixtures)
    mode = args.record_mode or DEFAULT_RECORD_MODE
    if mode == "none" and not args.record.is_dir():
        print(f"mockserver: cannot start: --record-mode none replays {args.record}, which is not a folder",
              file=sys.stderr)
        return None
    if mode != "none" and not args.upstream:
        print(f"mockserver: --record-mode {mode} needs --upstream URL (the real API to record)", file=sys.stderr)
        return None
    if mode != "all":
        args.record.mkdir(parents=True, exist_ok=True)
    return fixture_dirs(args.fixtures, args.record, mode)


LOOPBACK = ("127.0.0.1", "localhost", "::1")
HOST_ENV = "MOCKSERVER_HOST"


def _host(explicit: str | None, admin_token: str | None = None) -> str | None:
    """The address to bind. Only an explicit --host may leave the loopback.

    Leaving it is warned about, saying what the network can then reach: the
    mocked API, the docs and the specs are always open; the admin API
    (fixtures, journal, state) is open unless --admin-token is set.
    """
    if explicit is not None:
        if explicit not in LOOPBACK and not explicit.startswith("127."):
            if admin_token:
                exposure = ("the mocked API, /docs and /openapi/ are reachable from the network without "
                            "authentication; the admin API (/__admin) requires the --admin-token")
            else:
                exposure = ("the mocked API, /docs, /openapi/ and the admin API (/__admin: fixtures, journal, "
                            "state, reset) are reachable from the network without authentication; "
                            "protect the admin API with --admin-token")
            print(f"warning: binding {explicit}, not a loopback address: {exposure}", file=sys.stderr)
        return explicit
    host = os.environ.get(HOST_ENV, "127.0.0.1")
    if host not in LOOPBACK and not host.startswith("127."):
        print(f"mockserver: refusing to bind {host} (from ${HOST_ENV}), a non-loopback address: "
              "pass it with --host to confirm", file=sys.stderr)
        return None
    return host


def _http_protocol(header_timeout: float) -> object:
    """uvicorn's httptools protocol with the request-head timeout (``server/head_timeout.py``)."""
    try:
        from mockserver.server.head_timeout import protocol
    except ImportError as exc:  # httptools is a dependency; without it uvicorn's h11 serves, unguarded
        print(f"warning: {exc}: serving without --header-timeout", file=sys.stderr)
        return "auto"
    return protocol(header_timeout)


def _best(module: str, fallback: str) -> str:
    try:
        __import__(module)
        return module
    except ImportError:
        return fallback
