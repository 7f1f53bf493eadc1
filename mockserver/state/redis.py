"""Redis state: one Redis shared by every worker of every mock instance.

``--state redis://host:port/db`` (also ``rediss://`` and ``unix://``) lets
several mock instances behind a load balancer hold one set of ARK threads,
scenario states, counters, runtime fixtures and one request journal. The
client is redis-py's synchronous one: the handler calls the store
synchronously and briefly (read the history, generate, append), exactly as it
does with SQLite, so an async client would buy nothing but a second code path.

Options ride on the URL's query string and are removed before redis-py sees
it (everything else there is redis-py's, e.g. ``socket_timeout``):

``prefix``        key prefix, default ``mockserver:``; two instances that
                  should *not* share state use different prefixes on one Redis.
``lock_ttl``      seconds a thread lock lives (default 10): far longer than a
                  turn, which takes milliseconds (streaming pacing happens
                  after the turn is stored), short enough that a worker killed
                  while holding a lock blocks its thread only briefly.
``lock_timeout``  seconds a turn waits for its thread (default 30, as SQLite's
                  busy timeout); longer than ``lock_ttl`` so a lock left by a
                  dead worker expires before anyone gives up.

Why a lock per thread, not WATCH/MULTI: ``thread()`` is a context manager
around code we do not own (the handler reads the history, *generates the
reply*, appends). Optimistic concurrency would have to re-run that block on a
conflict, which a ``with`` statement cannot do; and under load (many turns
racing on one thread, as the workers test does) optimistic retries mostly
retry. A lock serializes the turns of one thread and leaves other threads
untouched. It is ``SET lock token NX PX ttl`` (the token is random per turn),
acquired with bounded, jittered exponential backoff; if the wait runs out the
turn fails with :class:`ThreadBusy` (503, ``Retry-After``). Like SQLite's
busy wait, the wait blocks the worker's event loop: turns take milliseconds,
and a worker holds one turn at a time, so waits are short. The lock is
released by a Lua compare-and-delete, so a turn never frees a lock that expired
and was taken by another. The commit is a Lua script too: it checks the token,
appends, registers and evicts, and releases the lock in one atomic step; if the
lock expired meanwhile it stores nothing and the turn fails with
:class:`ThreadLockLost` rather than interleave with the next holder.

Layout (``P`` is the prefix):

``P threads``      sorted set of thread ids, scored by creation order (a Redis
                   counter ``P thread_seq``, not a clock: instances' clocks
                   differ); ``threads()`` and eviction read it. A thread exists
                   iff it is in this set (it may have zero messages).
``P msgs:<id>``    list of orjson-encoded messages, in order.
``P lock:<id>``    the thread's lock.
``P kv``           hash: key/value state (scenario states, counters, fixtures).
``P journal``      list of ``orjson(session) \\n orjson(entry)``, newest last,
                   trimmed to the newest ``limit`` on every add.

Scripts build other threads' keys from the prefix (eviction), so this needs a
single Redis (or a primary with replicas), not Redis Cluster.

A Redis that fails during a request (down, timed out) is a 503
``state_unavailable`` from every method, whoever calls it: a thread's turn,
the fixture registry's counters and runtime fixtures, the journal.
"""

from __future__ import annotations

import functools
import random
import secrets
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from mockserver.journal import materialize
import redis

from mockserver.errors import MockError

DEFAULT_PREFIX = "mockserver:"
DEFAULT_LOCK_TTL = 10.0
DEFAULT_LOCK_TIMEOUT = 30.0
_CHUNK = 1000  # values per RPUSH/HDEL inside scripts: Lua's unpack() has a stack limit

# KEYS: lock, msgs, threads, thread_seq
# ARGV: token, thread_id, max_threads, prefix, create ('1' if the turn appended, even nothing), message...
# Append the turn, register a new thread (and evict past max_threads), release the lock;
# all or nothing, and nothing at all unless the caller still holds the lock.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST')
end
local n = #ARGV
for i = 6, n, %(chunk)d do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + %(chunk)d - 1, n)))
end
if ARGV[5] == '1' and redis.call('ZSCORE', KEYS[3], ARGV[2]) == false then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
  local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
  if excess > 0 then
    -- Oldest first; a thread another turn holds right now is skipped (it would
    -- come back, holding only that turn) and the next oldest goes instead.
    for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess + 63)) do
      if excess <= 0 then break end
      if id == ARGV[2] or redis.call('EXISTS', ARGV[4] .. 'lock:' .. id) == 0 then
        redis.call('ZREM', KEYS[3], id)
        redis.call('DEL', ARGV[4] .. 'msgs:' .. id)
        excess = excess - 1
      end
    end
  end
end
redis.call('DEL', KEYS[1])
return 1
""" % {"chunk": _CHUNK}

# KEYS: lock; ARGV: token. Release only a lock that is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lock, msgs, threads; ARGV: token, thread_id. Delete under the thread's lock, then release it.
_DELETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST')
end
local removed = redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[1])
return removed
"""

# KEYS: threads; ARGV: prefix. [id, count, id, count, ...] oldest first, in one consistent view.
_THREADS = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('LLEN', ARGV[1] .. 'msgs:' .. id)
end
return out
"""

# KEYS: kv; ARGV: prefix. Delete every field starting with the prefix; the count deleted.
_KV_DELETE_PREFIX = """
local doomed = {}
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(k, 1, #ARGV[1]) == ARGV[1] then doomed[#doomed + 1] = k end
end
for i = 1, #doomed, %(chunk)d do
  redis.call('HDEL', KEYS[1], unpack(doomed, i, math.min(i + %(chunk)d - 1, #doomed)))
end
return #doomed
""" % {"chunk": _CHUNK}

# KEYS: journal; ARGV: orjson(session) .. '\\n'. Drop one session's entries, keep the others in order.
_JOURNAL_CLEAR = """
local keep = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.sub(e, 1, #ARGV[1]) ~= ARGV[1] then keep[#keep + 1] = e end
end
redis.call('DEL', KEYS[1])
for i = 1, #keep, %(chunk)d do
  redis.call('RPUSH', KEYS[1], unpack(keep, i, math.min(i + %(chunk)d - 1, #keep)))
end
return #keep
""" % {"chunk": _CHUNK}


class StoreUnavailable(ConnectionError):
    """Redis cannot be reached at start-up.

    A ``ConnectionError`` (an ``OSError``), so the command line reports it as
    "cannot start" like an unreadable SQLite file, without a traceback.
    """


class ThreadBusy(MockError):
    """503: another turn held the thread for longer than this one could wait."""

    status = 503
    type = "server_error"
    code = "thread_busy"


class ThreadLockLost(MockError):
    """503: the turn outlived its lock (``lock_ttl``); it was not stored."""

    status = 503
    type = "server_error"
    code = "thread_lock_lost"


class StateUnavailable(MockError):
    """503: Redis failed during a request (down, timed out)."""

    status = 503
    type = "server_error"
    code = "state_unavailable"


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(method: F) -> F:
    """Turn a Redis failure inside ``method`` into :class:`StateUnavailable`.

    Why on every method: the fixture registry reads counters, scenario states
    and runtime fixtures on requests without a ``thread_id`` too; a Redis
    error left raw there was a 500 ``internal_error`` ("a bug of the mock")
    where a thread's turn said 503 ``state_unavailable``. Errors the store
    raises on purpose (:class:`ThreadBusy`...) are not Redis errors and pass.
    """

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            store = getattr(self, "_store", self)  # a thread transaction reports for its store
            raise store._unavailable(exc) from exc

    return guarded  # type: ignore[return-value]


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """Split our options (prefix, lock_ttl, lock_timeout) off a Redis URL.

    Returns the URL redis-py should see and our options; a bad value is a
    ``ValueError`` naming the option.
    """
    parts = urlsplit(url)
    ours: dict[str, Any] = {}
    rest = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            ours["prefix"] = value
        elif name in ("lock_ttl", "lock_timeout"):
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not seconds > 0:
                raise ValueError(f"{name}={value!r} in the Redis URL: expected a positive number of seconds")
            ours[name] = seconds
        else:
            rest.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


class RedisStore:
    """The :class:`~mockserver.state.store.ThreadStore` protocol on Redis (see the module doc)."""

    def __init__(self, url: str, *, max_threads: int = 10_000) -> None:
        client_url, options = parse_url(url)
        self.url = _redacted(url)
        self.max_threads = max_threads
        self.prefix: str = options.get("prefix", DEFAULT_PREFIX)
        self.lock_ttl: float = options.get("lock_ttl", DEFAULT_LOCK_TTL)
        self.lock_timeout: float = options.get("lock_timeout", DEFAULT_LOCK_TIMEOUT)
        # Timeouts so a dead Redis fails a request instead of hanging a worker; the URL may override them.
        self._r = redis.Redis.from_url(client_url, socket_connect_timeout=5, socket_timeout=10)
        try:
            self._r.ping()
        except redis.RedisError as exc:
            self._r.close()
            raise StoreUnavailable(f"cannot reach Redis at {self.url}: {exc}") from None
        self._commit = self._r.register_script(_COMMIT)
        self._release = self._r.register_script(_RELEASE)
        self._delete = self._r.register_script(_DELETE)
        self._threads = self._r.register_script(_THREADS)
        self._kv_delete_prefix = self._r.register_script(_KV_DELETE_PREFIX)
        self._journal_clear = self._r.register_script(_JOURNAL_CLEAR)
        self._threads_key = self.prefix + "threads"
        self._seq_key = self.prefix + "thread_seq"
        self._kv_key = self.prefix + "kv"
        self._journal_key = self.prefix + "journal"

    def _msgs_key(self, thread_id: str) -> str:
        return f"{self.prefix}msgs:{thread_id}"

    def _lock_key(self, thread_id: str) -> str:
        return f"{self.prefix}lock:{thread_id}"

    # --- threads ---------------------------------------------------------------------------

    def _acquire(self, thread_id: str) -> str:
        """Take the thread's lock, waiting at most ``lock_timeout``; the token that proves it."""
        key, token = self._lock_key(thread_id), secrets.token_hex(16)
        ttl_ms = max(1, int(self.lock_ttl * 1000))
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while not self._r.set(key, token, nx=True, px=ttl_ms):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ThreadBusy(
                    f"Thread {thread_id!r} stayed busy with another turn for {self.lock_timeout:g} s "
                    f"(Redis lock {key!r} at {self.url}); nothing was stored. Retry the request.",
                    param="thread_id", headers={"retry-after": "1"},
                )
            # Jitter keeps waiters from waking in lockstep; the cap keeps a free lock found quickly.
            time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 0.05)
        return token

    def _try_release(self, thread_id: str, token: str) -> None:
        """Release after a failed turn; if Redis is gone too, the lock's TTL releases it."""
        try:
            self._release(keys=[self._lock_key(thread_id)], args=[token])
        except redis.RedisError:
            pass

    @contextmanager
    def thread(self, thread_id: str) -> Iterator["RedisThreadTx"]:
        """Exclusive access to one thread, across processes and instances sharing this Redis.

        Appends are buffered and written by one atomic script when the block
        ends without error; an error inside the block stores nothing.
        """
        try:
            token = self._acquire(thread_id)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        tx = RedisThreadTx(self, thread_id)
        try:
            yield tx
        except BaseException:
            self._try_release(thread_id, token)
            raise
        try:
            self._commit(
                keys=[self._lock_key(thread_id), self._msgs_key(thread_id), self._threads_key, self._seq_key],
                args=[token, thread_id, self.max_threads, self.prefix, "1" if tx.created else "0", *tx.pending],
            )
        except redis.ResponseError as exc:
            if "LOCKLOST" not in str(exc):
                self._try_release(thread_id, token)
                raise self._unavailable(exc) from exc
            raise ThreadLockLost(
                f"The turn on thread {thread_id!r} took longer than the lock's {self.lock_ttl:g} s TTL "
                "(lock_ttl in the Redis URL), so another turn may have started; it was not stored. "
                "Retry the request.", param="thread_id",
            ) from None
        except redis.RedisError as exc:
            self._try_release(thread_id, token)
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StateUnavailable:
        return StateUnavailable(f"The state store (Redis at {self.url}) failed: {exc}")

    def append(self, thread_id: str, messages: list[dict[str, Any]]) -> None:
        with self.thread(thread_id) as tx:
            tx.append(messages)

    @_guarded
    def messages(self, thread_id: str) -> list[dict[str, Any]] | None:
        pipe = self._r.pipeline(transaction=True)  # MULTI: existence and contents in one view
        pipe.zscore(self._threads_key, thread_id)
        pipe.lrange(self._msgs_key(thread_id), 0, -1)
        score, raw = pipe.execute()
        if score is None:
            return None
        return [orjson.loads(m) for m in raw]

    @_guarded
    def threads(self) -> list[tuple[str, int]]:
        flat = self._threads(keys=[self._threads_key], args=[self.prefix])
        return [(flat[i].decode(), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    @_guarded
    def delete(self, thread_id: str) -> bool:
        """Delete under the thread's lock: a turn in progress is stored first, then deleted whole."""
        token = self._acquire(thread_id)
        try:
            removed = self._delete(
                keys=[self._lock_key(thread_id), self._msgs_key(thread_id), self._threads_key],
                args=[token, thread_id],
            )
        except redis.RedisError:
            self._try_release(thread_id, token)
            raise
        return bool(removed)

    # --- key/value: scenario states, counters, runtime fixtures ----------------------------
    # One hash: few keys, read whole by prefix; HINCRBY is atomic for every client.

    @_guarded
    def kv_get(self, key: str) -> str | None:
        value = self._r.hget(self._kv_key, key)
        return None if value is None else value.decode()

    @_guarded
    def kv_set(self, key: str, value: str) -> None:
        self._r.hset(self._kv_key, key, value)

    @_guarded
    def kv_incr(self, key: str) -> int:
        """Add one and return the new value, atomically (across processes and instances)."""
        return int(self._r.hincrby(self._kv_key, key, 1))

    @_guarded
    def kv_items(self, prefix: str) -> list[tuple[str, str]]:
        raw = self._r.hgetall(self._kv_key)
        items = ((k.decode(), v.decode()) for k, v in raw.items())
        return sorted((k, v) for k, v in items if k.startswith(prefix))

    @_guarded
    def kv_delete_prefix(self, prefix: str) -> int:
        return int(self._kv_delete_prefix(keys=[self._kv_key], args=[prefix]))

    # --- the request journal (bounded) -----------------------------------------------------

    @staticmethod
    def _session_tag(session: str) -> bytes:
        # orjson never writes a raw newline, so the first b"\n" ends the session.
        return orjson.dumps(session) + b"\n"

    @_guarded
    def journal_add(self, session: str, entry: dict[str, Any], *, limit: int) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self._journal_key, self._session_tag(session) + orjson.dumps(materialize(entry)))
        pipe.ltrim(self._journal_key, -max(limit, 1), -1)
        pipe.execute()

    @_guarded
    def journal_add_many(self, items: list[tuple[str, dict[str, Any]]], *, limit: int) -> None:
        """Several entries in one round trip (the app buffers them for a few ms)."""
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self._journal_key, *[self._session_tag(s) + orjson.dumps(e) for s, e in items])
        pipe.ltrim(self._journal_key, -max(limit, 1), -1)
        pipe.execute()

    @_guarded
    def journal(self, session: str | None, *, limit: int) -> list[dict[str, Any]]:
        """Entries oldest first, among the newest ``limit``; ``session`` None: every session."""
        if limit <= 0:
            return []
        raw = self._r.lrange(self._journal_key, -limit, -1)
        tag = None if session is None else self._session_tag(session)
        out = []
        for item in raw:
            if tag is None or item.startswith(tag):
                out.append(orjson.loads(item.split(b"\n", 1)[1]))
        return out

    @_guarded
    def journal_clear(self, session: str | None) -> None:
        if session is None:
            self._r.delete(self._journal_key)
        else:
            self._journal_clear(keys=[self._journal_key], args=[self._session_tag(session)])

    def close(self) -> None:
        self._r.close()


class RedisThreadTx:
    """One thread while its lock is held (see :meth:`RedisStore.thread`)."""

    def __init__(self, store: RedisStore, thread_id: str) -> None:
        self._store = store
        self.thread_id = thread_id
        self.pending: list[bytes] = []
        self.created = False

    @_guarded
    def messages(self) -> list[dict[str, Any]]:
        """Stored messages, then this turn's appends (as SQLite's transaction shows them)."""
        raw = self._store._r.lrange(self._store._msgs_key(self.thread_id), 0, -1)
        return [orjson.loads(m) for m in [*raw, *self.pending]]

    def append(self, messages: list[dict[str, Any]]) -> None:
        """Buffer messages; they are stored when the transaction ends without error.

        Appending an empty list still creates the thread (as SQLite does):
        ``created`` tells the commit "no append" from "an empty append".
        """
        self.pending.extend(orjson.dumps(m) for m in messages)
        self.created = True
