"""The request journal: what each client sent and what it got.

The HTTP layer opens a :class:`Record` per request; the body validator, the
handler and the sender fill it in; it is written to the store (bounded) when
the response is done. Invalid requests are journaled too, with their error:
that is what a contract test wants to read. Secrets never reach the store.

What was answered is kept beside the request, as WireMock's and MockServer's
journals keep it: the response headers, and the body's text or a stream's
events, up to :data:`~mockserver.limits.MAX_JOURNAL_BODY_BYTES` (past it the
text is cut, ``truncated`` says so and ``size`` keeps the whole size). A
paced stream's events are not copied as they go out: its writes were all
planned before the first (:func:`mockserver.stream.timeline`), so the record
holds that plan and reads off it what was sent when an entry is built. That
keeps a stream's hot path free of journal work, and lets the live feed
(:mod:`mockserver.journal_live`) show a stream while it runs at no cost per
event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import orjson

from mockserver import nesting
from mockserver.ids import fresh_hex
from mockserver.limits import MAX_JOURNAL_BODY_BYTES, MAX_JSON_DEPTH

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie",
                            "proxy-authorization", "x-admin-token"})
STREAMING = "streaming"  # the state of a stream still being sent


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def stream_state(stats: dict[str, Any]) -> str:
    """How a finished stream ended, in one word: the worst thing that happened to it wins."""
    for flag in ("disconnected", "cut", "error", "done"):
        if stats.get(flag):
            return flag
    return "ended"  # closed without [DONE], as planned (a fixture's no_done)


def events_of(text: str) -> list[str]:
    """An event stream's text as its events, each without the blank line that ends it."""
    return [event for event in text.split("\n\n") if event]


def kept_text(data: bytes, room: int = MAX_JOURNAL_BODY_BYTES) -> str:
    """At most ``room`` bytes of ``data`` as text (a character cut in two at the end is dropped)."""
    return data[:room].decode("utf-8", "ignore") if room > 0 else ""


ANSWER = "_answer"  # a stored entry's answer (Sent), until materialize() reads it


class Sent:
    """What an exchange sent back, kept by reference until the journal is read.

    Why: decoding headers and building a stream's events (joining, decoding,
    encoding a few KB) on every request cost several percent of a request, and
    the journal is mostly never read. The in-memory store keeps this reference;
    the journal's reader, or a store that must encode the entry, builds the
    answer (:func:`materialize`). A planned stream keeps its frames and how many
    went out; any other answer, the writes it kept within the budget.
    """

    __slots__ = ("headers", "frames", "sent", "extra", "size")

    def __init__(self, headers: Sequence[tuple[bytes, bytes]], frames: list[Any] | None, sent: int,
                 extra: list[bytes], size: int | None = None) -> None:
        self.headers, self.frames, self.sent, self.extra, self.size = headers, frames, sent, extra, size

    def bodies(self) -> list[bytes]:
        if self.frames is None:
            return self.extra
        return [frame.body for frame in self.frames[:self.sent]] + self.extra

    def shown(self) -> dict[str, Any]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}
        bodies = self.bodies()
        size = self.size if self.size is not None else sum(map(len, bodies))
        body: str | None = None
        chunks: list[str] | None = None
        if self.frames is not None:
            chunks = kept_events(bodies, size=size)
        elif headers.get("content-type", "").startswith("text/event-stream"):
            chunks = events_of(kept_text(b"".join(bodies)))  # a relayed stream: its pieces are not events
        else:
            body = kept_text(b"".join(bodies))
        return {"headers": redact_headers(headers), "body": body, "chunks": chunks, "size": size,
                "truncated": size > MAX_JOURNAL_BODY_BYTES}


def materialize(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry as the admin API shows it: its answer's headers, body or events, size.

    A new dict where anything changes: a store may hand out the entries it keeps.
    """
    response = entry.get("response")
    if response is None or ANSWER not in response:
        return entry
    shown = {k: v for k, v in response.items() if k != ANSWER}
    shown.update(response[ANSWER].shown())
    return {**entry, "response": shown}


def pack(entry: dict[str, Any]) -> tuple[bytes, bytes | None]:
    """An entry as two bytes objects, for a store that keeps entries in this process: its JSON,
    with the answer's headers and size but not its text, and the answer's raw bytes.

    Why not the entry itself: ten thousand entries of dicts, strings and frame lists are
    containers the garbage collector must walk on every full collection, which stalled
    1,000 paced streams; bytes are not tracked. Why not the JSON of the whole answer:
    escaping a stream's events as JSON strings was the cost :class:`Sent` avoids.
    """
    response = entry.get("response")
    if response is None or ANSWER not in response:
        return orjson.dumps(entry), None
    sent: Sent = response[ANSWER]
    bodies = sent.bodies()
    size = sent.size if sent.size is not None else sum(map(len, bodies))
    meta = {k: v for k, v in response.items() if k != ANSWER}
    meta[_PACKED] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in sent.headers], \
        sent.frames is not None, size
    return orjson.dumps({**entry, "response": meta}), b"".join(bodies)


def unpack(packed: bytes, raw: bytes | None) -> dict[str, Any]:
    """An entry :func:`pack` made, as the admin API shows it."""
    entry = orjson.loads(packed)
    response = entry.get("response")
    if raw is None or response is None or _PACKED not in response:
        return entry
    pairs, stream, size = response.pop(_PACKED)
    headers = dict(pairs)
    text = kept_text(raw)
    if stream or headers.get("content-type", "").startswith("text/event-stream"):
        response["body"], response["chunks"] = None, events_of(text)
    else:
        response["body"], response["chunks"] = text, None
    response.update(headers=redact_headers(headers), size=size, truncated=size > MAX_JOURNAL_BODY_BYTES)
    return entry


_PACKED = "_packed"


def kept_events(writes: Sequence[bytes], room: int = MAX_JOURNAL_BODY_BYTES,
                size: int | None = None) -> list[str]:
    """A planned stream's writes (one event each, ending with its blank line) as events,
    within ``room`` bytes in all; ``size``: their total, if known.

    Each write decoded alone: for a stream's few-hundred-byte events that is
    twice as fast as joining them and splitting the text again.
    """
    if (size if size is not None else sum(map(len, writes))) <= room:
        return [write[:-2].decode("utf-8", "ignore") for write in writes]
    events: list[str] = []
    for write in writes:
        if room <= 0:
            break
        text = (write if len(write) <= room else write[:room]).decode("utf-8", "ignore")
        room -= len(write)
        if text:
            events.append(text[:-2] if text.endswith("\n\n") else text.rstrip("\n"))
    return events


@dataclass
class Record:
    method: str
    path: str
    headers: dict[str, str]
    session: str = "default"
    started: float = field(default_factory=time.time)
    spec: str | None = None
    operation: str | None = None
    body: Any = None
    body_checked: bool = False  # the body's depth was measured on the way in (not again here)
    status: int | None = None
    error: dict[str, Any] | None = None
    source: str | None = None  # "generated", "fixture:ID", "unmatched", "prefer:code"
    near_misses: list[str] = field(default_factory=list)
    stream: dict[str, Any] | None = None
    request_id: str | None = None  # the x-request-id the answer carried
    query: str = ""
    http_version: str = "1.1"
    # Names this exchange in the live feed, where a stream's entry is sent again as it progresses.
    id: str = field(default_factory=lambda: fresh_hex(16))
    response_headers: Sequence[tuple[bytes, bytes]] | None = None  # as sent with the status line
    answered: float | None = None  # when the status line went out
    # A paced stream's planned writes (mockserver.stream.Frame) and, after them, a write
    # that was not planned (the error event of a shutdown); None for every other answer.
    frames: list[Any] | None = None
    tail: bytes = b""
    _out: list[bytes] = field(default_factory=list)  # any other answer's writes, within the budget
    _out_size: int = 0
    _published: int = 0  # stream events already in the live feed, and their bytes
    _published_size: int = 0

    def take(self, body: bytes) -> None:
        """One write of an answer that is not a planned stream (a JSON body, a relayed stream's piece)."""
        if body:
            if self._out_size < MAX_JOURNAL_BODY_BYTES:
                self._out.append(body)
            self._out_size += len(body)

    def _sent_stream(self) -> Sent:
        """A planned stream's writes that went out: the events counted, then the closing write and a tail."""
        assert self.frames is not None
        stats = self.stream or {}
        sent = stats.get("events", 0)
        extra: list[bytes] = []
        if sent < len(self.frames):
            last = self.frames[sent]  # the closing write, if it went out
            if (last.kind == "done" and stats.get("done")) or \
                    (last.kind == "error" and stats.get("error") and not stats.get("cut")):
                extra.append(last.body)
        if self.tail:
            extra.append(self.tail)
        # Only what went out, and no more of it than the journal keeps: a stream cut
        # short must not hold on to the rest of its plan, nor a long one to all of it.
        sent_frames = self.frames[:sent]
        size = sum(len(frame.body) for frame in sent_frames) + sum(map(len, extra))
        if size > MAX_JOURNAL_BODY_BYTES:
            kept, room = [], MAX_JOURNAL_BODY_BYTES
            for frame in sent_frames:
                if room <= 0:
                    break
                kept.append(frame)
                room -= len(frame.body)
            sent_frames, extra = kept, (extra if room > 0 else [])
        return Sent(self.response_headers or (), sent_frames, len(sent_frames), extra, size)

    def _response(self) -> dict[str, Any] | None:
        if self.response_headers is None:
            return None  # no status line went out (the client left first)
        first = round((self.answered - self.started) * 1000, 3) if self.answered else None
        if self.frames is None:
            sent = Sent(self.response_headers, None, 0, self._out, self._out_size)
        else:
            sent = self._sent_stream()
        return {"first_byte_ms": first, ANSWER: sent}  # the rest is built when read (materialize)

    def _stream(self, live: bool) -> dict[str, Any] | None:
        if self.stream is None:
            return None
        return {**self.stream, "state": STREAMING if live else stream_state(self.stream)}

    def entry(self, live: bool = False) -> dict[str, Any]:
        """The journal entry; ``live``: of a stream still being sent (the live feed's view of it)."""
        # A body is refused past this depth on the way in; this guards the
        # store's encoder (254 levels) against a body that never went through that check.
        body = (self.body if self.body_checked or nesting.within(self.body, MAX_JSON_DEPTH)
                else f"[a JSON body nested deeper than {MAX_JSON_DEPTH} levels]")
        entry = {
            "id": self.id,
            "time": self.started,
            "session": self.session,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "http_version": self.http_version,
            "spec": self.spec,
            "operation": self.operation,
            "headers": redact_headers(self.headers),
            "body": body,
            "status": self.status,
            "error": self.error,
            "source": self.source,
            "fixture": self.source[8:] if self.source and self.source.startswith("fixture:") else None,
            "near_misses": self.near_misses,
            "stream": self._stream(live),
            "request_id": self.request_id,
            "response": self._response(),
            "duration_ms": round((time.time() - self.started) * 1000, 3),
        }
        return materialize(entry) if live else entry  # the live feed shows events at once

    def progress(self) -> dict[str, Any] | None:
        """What a stream still being sent did since the last call: a partial entry for the
        live feed (``update: true``, only the new events), or None if it sent nothing new.

        Why partial: a full entry every tenth of a second would send the
        request and every event again; the page keeps what it has and appends.
        """
        if self.frames is None or self.stream is None:
            return None
        sent = self.stream.get("events", 0)
        if sent <= self._published:
            return None
        writes = [frame.body for frame in self.frames[self._published:sent]]
        first, before = self._published, self._published_size
        size = before + sum(map(len, writes))
        self._published, self._published_size = sent, size
        return {
            "id": self.id,
            "update": True,
            "time": self.started,
            "session": self.session,
            "method": self.method,
            "path": self.path,
            "spec": self.spec,
            "operation": self.operation,
            "status": self.status,
            "source": self.source,
            "stream": self._stream(live=True),
            "response": {"chunks": kept_events(writes, MAX_JOURNAL_BODY_BYTES - before, size - before),
                         "chunks_from": first, "size": size, "truncated": size > MAX_JOURNAL_BODY_BYTES},
            "duration_ms": round((time.time() - self.started) * 1000, 3),
        }
