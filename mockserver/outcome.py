"""What a handler receives (:class:`Call`) and what it returns (an :data:`Outcome`).

Why a module of its own: the chat handler (:mod:`mockserver.handlers`), the
admin API's handlers (:mod:`mockserver.admin.handlers`) and the dispatcher
that runs them all speak these types. Kept apart from every handler, they let
each handler module stand alone: neither imports the other, and the
operationId -> handler table is assembled where the app is built
(:mod:`mockserver.app`). Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from mockserver.stream import StreamPlan

if TYPE_CHECKING:  # annotations only: importing these would pull the registry into every handler
    from mockserver.config import Settings
    from mockserver.contract import Operation
    from mockserver.fixtures.registry import Registry
    from mockserver.journal import Record
    from mockserver.state.store import ThreadStore


@dataclass
class Call:
    """One validated request, as the handler sees it."""

    operation: Operation
    body: Any
    headers: Mapping[str, str]
    settings: Settings
    store: ThreadStore | None = None
    registry: Registry | None = None
    record: Record | None = None
    state: Any = None  # the app state, for the admin API
    params: dict[str, Any] = field(default_factory=dict)  # path and query parameters


@dataclass
class JsonOutcome:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: float = 0.0


@dataclass
class StreamOutcome:
    chunks: Iterable[dict[str, Any]]
    plan: StreamPlan = StreamPlan()
    headers: dict[str, str] = field(default_factory=dict)


Outcome = JsonOutcome | StreamOutcome
