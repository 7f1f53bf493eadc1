"""Server settings, filled from the command line (or by tests directly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEED = 0
DEFAULT_MAX_BODY = 10 * 1024 * 1024


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    specs: list[Path] = field(default_factory=list)  # empty: the bundled contracts
    overlays: list[Path] = field(default_factory=list)
    errata: bool = True
    seed: int = DEFAULT_SEED
    ttft_ms: float = 0.0
    tps: float = 0.0
    max_body: int = DEFAULT_MAX_BODY
    log_requests: bool = True
    state: str | None = None  # None: SQLite in memory; a path: a SQLite file
