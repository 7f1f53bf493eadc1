"""State that must survive a request: behind one interface (``store.py``).

``open_store`` picks the backend from the ``--state`` value: nothing or
``:memory:`` -> SQLite in memory; a path or ``sqlite:///path`` -> a SQLite
file (WAL; shared by the workers of one machine); ``redis://...`` -> Redis
(shared by several instances behind a load balancer).
"""

from __future__ import annotations

from pathlib import Path

from mockserver.state.store import ThreadStore


def open_store(url: str | None, *, max_threads: int = 10_000) -> ThreadStore:
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        from mockserver.state.redis import RedisStore

        return RedisStore(url, max_threads=max_threads)
    from mockserver.state.sqlite import SQLiteStore

    if not url or url == ":memory:":
        return SQLiteStore(max_threads=max_threads)
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///"):]
    return SQLiteStore(Path(url), max_threads=max_threads)
