"""The state store interface: everything stateful lives behind it.

Today it holds ARK conversation threads. One interface, several backends
(SQLite by default); handlers and the admin API only see this protocol.
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

    def close(self) -> None:
        ...
