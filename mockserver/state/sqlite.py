"""SQLite state: in memory by default, a file with ``--state FILE``.

A file database uses WAL so several readers and one writer (several worker
processes of one machine) can share it; every change is one transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

import orjson

from mockserver.journal import materialize, pack, unpack

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY,
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS thread_messages (
    thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    message   BLOB NOT NULL,
    PRIMARY KEY (thread_id, seq)
);
CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    entry   BLOB NOT NULL
);
"""


class SQLiteStore:
    def __init__(self, path: str | Path | None = None, *, max_threads: int = 10_000) -> None:
        self.path = str(path) if path else ":memory:"
        self.max_threads = max_threads
        # Re-entrant: inside a thread transaction, matching reads and bumps
        # counters on the same connection.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        # An in-memory store serves one process (workers share a file): its journal is a
        # bounded deque of packed entries (journal.pack: two bytes objects, which the
        # garbage collector does not walk). Writing each entry's whole answer as JSON into
        # an in-memory database cost about 5 % of a streamed request.
        self._entries: deque[tuple[str, bytes, bytes | None]] | None = \
            deque() if self.path == ":memory:" else None

    @contextmanager
    def thread(self, thread_id: str) -> Iterator["ThreadTx"]:
        """One thread, read and written in a single write transaction.

        ``BEGIN IMMEDIATE`` takes SQLite's write lock at once, so two requests
        on the same thread (in this process or another worker's) are
        serialized: each reads the history the other left.
        """
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield ThreadTx(db, thread_id)
                self._evict(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _evict(self, db: sqlite3.Connection) -> None:
        """Drop the oldest threads past ``max_threads`` (bounded memory and disk)."""
        (count,) = db.execute("SELECT COUNT(*) FROM threads").fetchone()
        if count > self.max_threads:
            db.execute(
                "DELETE FROM threads WHERE thread_id IN "
                "(SELECT thread_id FROM threads ORDER BY created, thread_id LIMIT ?)",
                (count - self.max_threads,),
            )

    def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None:
        with self.thread(thread_id) as tx:
            tx.append(messages)

    def messages(self, thread_id: str) -> list[dict[str, Any]] | None:
        with self._lock:
            exists = self._db.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
            if not exists:
                return None
            rows = self._db.execute(
                "SELECT message FROM thread_messages WHERE thread_id = ? ORDER BY seq", (thread_id,)
            ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def threads(self) -> list[tuple[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT t.thread_id, COUNT(m.seq) FROM threads t "
                "LEFT JOIN thread_messages m ON m.thread_id = t.thread_id "
                "GROUP BY t.thread_id ORDER BY t.created, t.thread_id"
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def delete(self, thread_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM threads WHERE thread_id = ?", (thread_id,))
        return cur.rowcount > 0

    # --- key/value: scenario states, counters, runtime fixtures ----------------------------

    def kv_get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def kv_set(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO kv(key, value) VALUES (?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def kv_incr(self, key: str) -> int:
        """Add one and return the new value, atomically (across worker processes too)."""
        with self._lock:
            (value,) = self._db.execute(
                "INSERT INTO kv(key, value) VALUES (?, '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value",
                (key,),
            ).fetchone()
        return int(value)

    def kv_items(self, prefix: str) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def kv_delete_prefix(self, prefix: str) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM kv WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
        return cur.rowcount

    # --- the request journal (bounded) -----------------------------------------------------

    def journal_add(self, session: str, entry: dict[str, Any], *, limit: int) -> None:
        if self._entries is not None:
            return self.journal_add_many([(session, entry)], limit=limit)
        with self._lock:
            cur = self._db.execute("INSERT INTO journal(session, entry) VALUES (?, ?)",
                                   (session, orjson.dumps(materialize(entry))))
            if cur.lastrowid % 64 == 0:  # trim now and then, not on every insert
                self._db.execute("DELETE FROM journal WHERE seq <= ?", (cur.lastrowid - limit,))

    def journal_add_many(self, items: list[tuple[str, dict[str, Any]]], *, limit: int) -> None:
        """Several entries in one transaction (the app buffers them for a few ms)."""
        if self._entries is not None:
            packed = [(session, *pack(entry)) for session, entry in items]
            with self._lock:
                self._entries.extend(packed)
                while len(self._entries) > limit:
                    self._entries.popleft()
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.executemany("INSERT INTO journal(session, entry) VALUES (?, ?)",
                                     [(session, orjson.dumps(materialize(entry))) for session, entry in items])
                (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
                if last % 64 < len(items) or len(items) >= 64:
                    db.execute("DELETE FROM journal WHERE seq <= ?", (last - limit,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            del cur

    def journal(self, session: str | None, *, limit: int) -> list[dict[str, Any]]:
        """Entries oldest first (the newest ``limit``); ``session`` None: every session."""
        if self._entries is not None:
            with self._lock:
                newest = list(self._entries)[-limit:] if limit > 0 else []
            return [unpack(data, raw) for owner, data, raw in newest if session is None or owner == session]
        with self._lock:
            (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
            if session is None:
                rows = self._db.execute("SELECT entry FROM journal WHERE seq > ? ORDER BY seq",
                                        (last - limit,)).fetchall()
            else:
                rows = self._db.execute("SELECT entry FROM journal WHERE seq > ? AND session = ? ORDER BY seq",
                                        (last - limit, session)).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def journal_clear(self, session: str | None) -> None:
        if self._entries is not None:
            with self._lock:
                kept = [] if session is None else [item for item in self._entries if item[0] != session]
                self._entries = deque(kept)
            return
        with self._lock:
            if session is None:
                self._db.execute("DELETE FROM journal")
            else:
                self._db.execute("DELETE FROM journal WHERE session = ?", (session,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class ThreadTx:
    """A thread inside a write transaction (see :meth:`SQLiteStore.thread`)."""

    def __init__(self, db: sqlite3.Connection, thread_id: str) -> None:
        self._db = db
        self.thread_id = thread_id

    def messages(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT message FROM thread_messages WHERE thread_id = ? ORDER BY seq", (self.thread_id,)
        ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def append(self, messages: list[dict[str, Any]]) -> None:
        db = self._db
        db.execute("INSERT OR IGNORE INTO threads(thread_id, created) VALUES (?, ?)", (self.thread_id, time.time()))
        (last,) = db.execute(
            "SELECT COALESCE(MAX(seq), -1) FROM thread_messages WHERE thread_id = ?", (self.thread_id,)
        ).fetchone()
        db.executemany(
            "INSERT INTO thread_messages(thread_id, seq, message) VALUES (?, ?, ?)",
            [(self.thread_id, last + 1 + i, orjson.dumps(m)) for i, m in enumerate(messages)],
        )
