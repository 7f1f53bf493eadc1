"""Build the ASGI application from specs, overlays and settings.

Everything a request needs is prepared here, once: specs loaded and
overlaid, validators compiled, Connexion stacks built.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from mockserver import handlers
from mockserver.admin.routes import AdminAPI
from mockserver.config import Settings
from mockserver.contract import Contract, build_contract
from mockserver.server import cors
from mockserver.server.connexion_glue import contract_app
from mockserver.server.dispatch import Dispatcher
from mockserver.server.router import MockApp, Mount
from mockserver.specs.loader import LoadedSpec, SpecError, load_all
from mockserver.state import open_store
from mockserver.state.store import ThreadStore


@dataclass
class AppState:
    """What the HTTP layer shares across requests (read-only after start-up)."""

    settings: Settings
    contracts: list[Contract]
    store: ThreadStore
    started: float = field(default_factory=time.monotonic)
    active_streams: int = 0  # streams being sent right now (the admin API shows it)

    def close(self) -> None:
        """At shutdown: release the store (and, later, flush what must be written)."""
        self.store.close()

    def cors_allows(self, origin: bytes) -> bool:
        return cors.is_loopback_origin(origin.decode("latin-1"))


SETTINGS_ENV = "MOCKSERVER_SETTINGS"


def app_from_env() -> MockApp:
    """The app factory each worker process runs (``--workers N``)."""
    return build_app(Settings.from_json(os.environ[SETTINGS_ENV]))


def load_specs(settings: Settings) -> list[LoadedSpec]:
    return load_all(settings.specs or None, errata=settings.errata, overlay_paths=settings.overlays)


def build_app(settings: Settings, specs: list[LoadedSpec] | None = None) -> MockApp:
    specs = specs if specs is not None else load_specs(settings)
    contracts = [build_contract(spec) for spec in specs]
    state = AppState(settings, contracts, open_store(settings.state, max_threads=settings.max_threads))
    inner = Dispatcher()
    mounts: list[Mount] = []
    seen: dict[tuple[str, str], str] = {}
    for contract in contracts:
        for op in contract.operations.values():
            op.handler = handlers.resolve(op.operation_id)
            owner = seen.setdefault((op.method, op.path), contract.name)
            if owner != contract.name:
                raise SpecError(
                    f"{op.method} {op.path} is defined by both {owner} and {contract.name}; "
                    "one process cannot serve both"
                )
        app = contract_app(contract, inner)
        for path, methods in contract.routes.items():
            mounts.append(Mount(contract, app, path, sorted(methods)))
    return MockApp(state, mounts, AdminAPI(state))


def describe(spec: LoadedSpec, contract: Contract | None = None) -> str:
    """One start-up line per spec: path, operations, errata applied."""
    contract = contract or build_contract(spec)
    ops = ", ".join(f"{o.method} {o.path}" for o in contract.operations.values())
    errata = ", ".join(spec.errata_applied) or "none"
    return f"{spec.name}: {spec.path} | {ops} | errata: {errata}"
