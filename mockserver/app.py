"""Build the ASGI application from specs, overlays and settings.

Everything a request needs is prepared here, once: specs loaded and
overlaid, validators compiled, Connexion stacks built.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mockserver import handlers, logs
from mockserver.admin import handlers as admin_handlers
from mockserver.admin.handlers import SPEC as ADMIN_SPEC
from mockserver.config import Settings
from mockserver.contract import Contract, build_contract
from mockserver.server import cors
from mockserver.server.connexion_glue import contract_app
from mockserver.server.dispatch import Dispatcher
from mockserver.server.pacer import Pacer
from mockserver.server.proxy import Recorder
from mockserver.server.router import MockApp, Mount
from mockserver.specs.loader import LoadedSpec, SpecError, load_all, load_spec
from mockserver.fixtures.registry import Registry, watch_interval
from mockserver.journal import Record, materialize
from mockserver.journal_live import LiveFeed
from mockserver.report import write_report
from mockserver.recording import modes
from mockserver.state import open_store
from mockserver.state.store import ThreadStore


@dataclass
class AppState:
    """What the HTTP layer shares across requests."""

    settings: Settings
    contracts: list[Contract]
    store: ThreadStore
    registry: Registry
    recorder: Recorder | None = None
    started: float = field(default_factory=time.monotonic)
    active_streams: int = 0  # streams being sent right now, in this process (the admin API shows it)
    _watcher: asyncio.Task | None = None
    _flusher: asyncio.Task | None = None
    _pending: list = field(default_factory=list)  # journal entries not yet in the store
    feed: LiveFeed = field(default_factory=LiveFeed)  # the live journal stream (the inspector page)
    _pacer: Pacer | None = None

    @property
    def pacer(self) -> Pacer:
        """The paced streams' shared timer, on the loop this app serves on (made there, on first use)."""
        loop = asyncio.get_running_loop()
        if self._pacer is None or self._pacer.loop is not loop:
            self._pacer = Pacer(loop)
        return self._pacer

    @property
    def requests_log(self) -> logging.Logger:
        return logging.getLogger("mockserver.requests")

    def journal_write(self, record: Record) -> None:
        """Buffer the entry; it reaches the store within JOURNAL_FLUSH_S, in one
        transaction with its neighbours (one write per request would make the
        journal the hot path, and the workers' shared file a bottleneck)."""
        entry = record.entry()
        self._pending.append((record.session, entry))
        if len(self._pending) >= JOURNAL_BATCH or self._flusher is None:
            self.flush_journal()
        self.requests_log.info(entry)
        self.feed.closed(record)
        if self.feed.listeners:
            self.feed.publish(materialize(entry))

    def flush_journal(self) -> None:
        if self._pending:
            items, self._pending = self._pending, []
            self.store.journal_add_many(items, limit=self.settings.journal_size)

    def journal(self, session: str | None) -> list[dict[str, Any]]:
        """The journal as the admin API shows it: this worker's buffer flushed first."""
        self.flush_journal()
        return self.store.journal(session, limit=self.settings.journal_size)  # stores return shown entries

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(JOURNAL_FLUSH_S)
            try:
                self.flush_journal()
                logs.flush()
            except Exception:  # noqa: BLE001 - a full disk must not stop the server; the log says it
                log.exception("journal flush failed")

    async def start(self) -> None:
        """At start-up: flush the journal periodically; watch the fixture files."""
        self._flusher = asyncio.create_task(self._flush_forever())
        if self.settings.fixtures:
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        interval = watch_interval()
        while True:
            await asyncio.sleep(interval)
            try:
                self.registry.reload()
            except Exception:  # noqa: BLE001 - a watcher must survive anything a file does
                log.exception("fixture reload failed")

    async def stop(self) -> None:
        """At shutdown: stop watching, write the report, release the store."""
        for task in (self._watcher, self._flusher):
            if task is not None:
                task.cancel()
        self._flusher = None
        self.flush_journal()
        logs.flush()
        if self.recorder is not None:
            await self.recorder.close()
        if self.settings.report is not None:
            entries = self.journal(None)
            summary = write_report(self.settings.report, entries)
            log.warning("report: %s (%d requests, %d failed)", self.settings.report,
                        summary["requests"], summary["failures"])
        self.store.close()

    def cors_allows(self, origin: bytes) -> bool:
        return cors.allows(origin.decode("latin-1"), self.settings.cors_origins, self.settings.cors)


log = logging.getLogger("mockserver")

SETTINGS_ENV = "MOCKSERVER_SETTINGS"
JOURNAL_FLUSH_S = 0.05
JOURNAL_BATCH = 256


def app_from_env() -> MockApp:
    """The app factory each worker process runs (``--workers N``)."""
    from mockserver.logs import configure
    from mockserver.server.dispatch import quiet_expected_ends
    from mockserver.server.runtime import tune_gc

    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    configure(os.environ.get("MOCKSERVER_LOG_LEVEL", "info"), json_logs=settings.log_format == "json",
              quiet=settings.quiet)
    quiet_expected_ends()
    app = build_app(settings)
    tune_gc()
    return app


def load_specs(settings: Settings) -> list[LoadedSpec]:
    return load_all(settings.specs or None, errata=settings.errata, overlay_paths=settings.overlays)


# operationId -> handler, for every contract served. Joined here, where the app
# is built, so that neither handler module has to know the other.
HANDLERS: dict[str, Callable[[Any], Any]] = {**handlers.HANDLERS, **admin_handlers.HANDLERS}


def resolve(operation_id: str) -> Callable[[Any], Any]:
    """Connexion's resolver: operationId -> handler. Unknown ids fail at start-up."""
    try:
        return HANDLERS[operation_id]
    except KeyError:
        raise LookupError(
            f"no handler for operationId {operation_id!r}; mockserver handles {sorted(HANDLERS)}"
        ) from None


def admin_spec() -> LoadedSpec:
    """The admin API's own contract, served (and validated) like the others."""
    return load_spec(ADMIN_SPEC)


def build_app(settings: Settings, specs: list[LoadedSpec] | None = None) -> MockApp:
    specs = specs if specs is not None else load_specs(settings)
    contracts = [build_contract(spec) for spec in [*specs, admin_spec()]]
    store = open_store(settings.state, max_threads=settings.max_threads)
    mounts: list[Mount] = []
    seen: dict[tuple[str, str], str] = {}
    for contract in contracts:
        for op in contract.operations.values():
            op.handler = resolve(op.operation_id)
            owner = seen.setdefault((op.method, op.path), contract.name)
            if owner != contract.name:
                raise SpecError(
                    f"{op.method} {op.path} is defined by both {owner} and {contract.name}; "
                    "one process cannot serve both"
                )
    registry = Registry(settings.fixtures, contracts, store)
    registry.reload()
    recorder = None
    if settings.record is not None:
        if not settings.upstream and settings.record_mode != "none":  # none never goes upstream
            raise SpecError("--record needs --upstream URL (the real API to record)")
        recorder = Recorder(settings.record, settings.upstream, key_env=settings.upstream_key_env,
                            redact=settings.redact, record_errors=settings.record_errors)
        if settings.upstream and modes.may_record(settings.record_mode, recorder.cassettes_at_start):
            check_upstream_key(settings.upstream_key_env)  # this server will send requests upstream
    state = AppState(settings, contracts, store, registry, recorder)
    inner = Dispatcher()
    for contract in contracts:
        app = contract_app(contract, inner, resolve)
        for path, methods in contract.routes.items():
            mounts.append(Mount(contract, app, path, sorted(methods)))
    return MockApp(state, mounts)


def check_upstream_key(variable: str | None) -> None:
    """Refuse to go upstream with a key variable that holds no key.

    Why at start-up: a variable unset (or empty) in this shell would send every
    request upstream without ``Authorization``; the upstream's 401s would then
    be what is relayed (or recorded), with nothing saying why.
    """
    if variable is not None and not os.environ.get(variable):
        state = "is empty" if variable in os.environ else "is not set"
        raise ValueError(f"--upstream-key-env {variable}: the environment variable {variable} {state}, so "
                         "requests would go upstream without an API key. Export it first "
                         f"(export {variable}=...), or leave out --upstream-key-env for an upstream "
                         "that needs no key.")


def describe(spec: LoadedSpec, contract: Contract | None = None) -> str:
    """One start-up line per spec: path, operations, errata applied."""
    contract = contract or build_contract(spec)
    ops = ", ".join(f"{o.method} {o.path}" for o in contract.operations.values())
    errata = ", ".join(spec.errata_applied) or "none"
    return f"{spec.name}: {spec.path} | {ops} | errata: {errata}"
