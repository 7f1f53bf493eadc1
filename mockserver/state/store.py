"""The state store interface: everything stateful lives behind it.

It holds ARK conversation threads, scenario states and sequence counters
(key/value), runtime fixtures (key/value) and the request journal. One
interface, several backends (SQLite by default, Redis); handlers and the admin
API only see this protocol, so all of it works across worker processes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class ThreadTransaction(Protocol):
    thread_id: str

    def messages(self) -> list[dict[str, Any]]:
        """The thread's messages so far, in order."""

    def append(self, messages: list[dict[str, Any]]) -> None:
        """Append messages; they are stored when the transaction ends without error."""


class ThreadStore(Protocol):
    def thread(self, thread_id: str) -> AbstractContextManager[ThreadTransaction]:
        """Exclusive access to one thread: concurrent requests on it are serialized."""

    def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None:
        """Append messages to a thread, creating it if needed."""

    def messages(self, thread_id: str) -> list[dict[str, Any]] | None:
        """The thread's messages in order, or None if there is no such thread."""

    def threads(self) -> list[tuple[str, int]]:
        """(thread id, message count) of every thread, oldest first."""

    def delete(self, thread_id: str) -> bool:
        """Delete a thread; False if there was none."""

    # Key/value state: scenario states, sequence counters, runtime fixtures.
    def kv_get(self, key: str) -> str | None: ...
    def kv_set(self, key: str, value: str) -> None: ...
    def kv_incr(self, key: str) -> int:
        """Add one and return the new value, atomically across processes."""
    def kv_items(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of every key starting with ``prefix``, by key."""
    def kv_delete_prefix(self, prefix: str) -> int: ...

    # The request journal, bounded to the newest ``limit`` entries.
    def journal_add(self, session: str, entry: dict[str, Any], *, limit: int) -> None: ...
    def journal_add_many(self, items: list[tuple[str, dict[str, Any]]], *, limit: int) -> None: ...
    def journal(self, session: str | None, *, limit: int) -> list[dict[str, Any]]:
        """Entries oldest first; ``session`` None means every session."""
    def journal_clear(self, session: str | None) -> None: ...

    def close(self) -> None:
        ...
