"""Server settings, filled from the command line (or by tests directly)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from mockserver.limits import HEADER_TIMEOUT_SECONDS

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
    state: str | None = None  # None: SQLite in memory; a path: a SQLite file; redis://...
    workers: int = 1
    shutdown_timeout: float = 10.0  # seconds in-flight streams get to finish on SIGTERM
    header_timeout: float = HEADER_TIMEOUT_SECONDS  # seconds a connection gets to send its request head
    admin_token: str | None = None
    max_threads: int = 10_000  # oldest threads are dropped past this: memory stays bounded
    fixtures: list[Path] = field(default_factory=list)
    unmatched: str = "generate"  # or "error": 404 mock_no_match with the near misses
    jitter_ms: float = 0.0
    journal_size: int = 10_000
    report: Path | None = None  # JUnit XML (and .json beside it) written at shutdown
    replay_speed: float = 1.0  # recorded streams: 0 at once, 1 as recorded
    replay_ids: str = "keep"  # or "fresh"
    record: Path | None = None  # record mode: cassettes go here
    upstream: str | None = None
    upstream_key_env: str | None = None
    redact: list[str] = field(default_factory=list)
    record_errors: bool = False
    record_mode: str = "all"  # vcrpy's: all (always upstream), new_episodes, once, none (recording/modes.py)
    cors_origins: list[str] = field(default_factory=list)  # empty: loopback origins; "*": any
    cors: bool = True
    log_format: str = "text"  # or "json": one JSON object per request line
    quiet: bool = False  # no per-request log lines

    def to_json(self) -> str:
        """For worker processes, which rebuild the app from the same settings."""
        data = asdict(self)
        data["specs"] = [str(p) for p in self.specs]
        data["overlays"] = [str(p) for p in self.overlays]
        data["fixtures"] = [str(p) for p in self.fixtures]
        data["report"] = str(self.report) if self.report else None
        data["record"] = str(self.record) if self.record else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["specs"] = [Path(p) for p in data.get("specs", [])]
        data["overlays"] = [Path(p) for p in data.get("overlays", [])]
        data["fixtures"] = [Path(p) for p in data.get("fixtures", [])]
        data["report"] = Path(data["report"]) if data.get("report") else None
        data["record"] = Path(data["record"]) if data.get("record") else None
        return cls(**data)
