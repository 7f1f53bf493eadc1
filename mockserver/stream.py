"""Server-sent events: framing and pacing, with no knowledge of HTTP.

OpenAI framing: each event is ``data: <json>`` followed by a blank line; the
stream ends with ``data: [DONE]``. An error mid-stream is an ``error`` event
carrying an OpenAI error body, after which the stream ends.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import orjson

from mockserver.errors import InvalidRequest
from mockserver.limits import MAX_STREAM_SECONDS, MAX_TTFT_MS, MIN_TPS

DONE = b"data: [DONE]\n\n"


def event(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def error_event(body: dict[str, Any]) -> bytes:
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def pacing_problem(name: str, value: float) -> str | None:
    """What is wrong with one pacing value (``ttft``, ``tps`` or ``jitter``), or None.

    Why here: ``Prefer``, the command line and fixtures all set pacing, and
    each must refuse the same values with the same words. A value that is
    not finite (``nan`` would slip past every comparison) or past its limit
    would hold a stream open for hours; the whole planned stream is bounded
    as well, by :func:`timeline`.
    """
    if not math.isfinite(value):
        return f"must be a finite number, not {value}"
    if value < 0:
        return "must not be negative"
    if name == "tps":
        if 0 < value < MIN_TPS:
            return (f"{value:g} tokens/s is slower than the limit of {MIN_TPS:g} tokens/s "
                    "(limits.MIN_TPS; 0 means no pacing)")
    elif value > MAX_TTFT_MS:
        return f"{value:g} ms is more than the limit of {MAX_TTFT_MS:g} ms (limits.MAX_TTFT_MS)"
    return None


@dataclass(frozen=True)
class Pacing:
    """Time to first token, tokens per second and jitter; zero means no delay."""

    ttft_ms: float = 0.0
    tps: float = 0.0
    jitter_ms: float = 0.0

    @property
    def idle(self) -> bool:
        return self.ttft_ms <= 0 and self.tps <= 0 and self.jitter_ms <= 0

    def gap(self) -> float:
        return 1.0 / self.tps if self.tps > 0 else 0.0


@dataclass(frozen=True)
class StreamPlan:
    """How a stream is sent: pacing, and the faults a fixture asks for.

    Events are counted from 1 (the role delta is event 1). ``cut_after`` closes
    the connection after that many events (the client sees a broken stream);
    ``no_done`` ends cleanly without ``data: [DONE]``; ``error_after`` sends an
    ``error`` event after that many events, then ends; ``pause_after`` waits
    ``pause_ms`` after that event; ``delay_ms`` delays the status line.
    """

    pacing: Pacing = Pacing()
    seed: int = 0  # drives jitter, so a seeded run replays the same timings
    delay_ms: float = 0.0
    pause_after: int | None = None
    pause_ms: float = 0.0
    cut_after: int | None = None
    no_done: bool = False
    error_after: int | None = None
    error: dict[str, Any] | None = None
    schedule: tuple[float, ...] | None = None  # a recording's own clock: seconds from the start, per event


@dataclass(frozen=True)
class Frame:
    """One write of a stream: what it is, its bytes, when it is due (seconds from the start).

    ``kind`` is ``event`` (a data chunk), ``done`` (``data: [DONE]``), ``end``
    (the end without ``[DONE]``), ``error`` (an error event, the end) or
    ``cut`` (drop the connection here: a ``cut_after`` fault; no bytes).
    """

    due: float
    kind: str
    body: bytes = b""

    @property
    def more(self) -> bool:
        return self.kind == "event"


def due_times(plan: StreamPlan) -> Iterator[float]:
    """When each event of a stream is due, in seconds from its start (endless).

    The first event (the role delta) at once, the first token after the time
    to first token, the others one token interval apart, each shifted by up
    to +/- jitter, later ones shifted by the plan's pause. A recording's own
    schedule replaces all of that; events past its end are due at once.
    The clock is absolute: a late event does not delay the next one.
    """
    if plan.schedule is not None:
        last = 0.0
        for n in itertools.count():
            if n < len(plan.schedule):
                last = plan.schedule[n]
            yield last
    pacing = plan.pacing
    if pacing.idle and not plan.pause_ms:
        while True:
            yield 0.0
    rng = random.Random(plan.seed)  # a seeded run replays the same jitter
    gap = pacing.gap()
    ttft = pacing.ttft_ms / 1000.0
    jitter = pacing.jitter_ms / 1000.0
    extra = 0.0
    for n in itertools.count():
        due = 0.0 if n == 0 else extra + ttft + (n - 1) * gap
        if n > 0 and jitter:
            due += rng.uniform(-jitter, jitter)
        yield max(due, 0.0)
        if plan.pause_after is not None and n + 1 == plan.pause_after and plan.pause_ms > 0:
            extra += plan.pause_ms / 1000.0


def timeline(chunks: Iterable[Any], plan: StreamPlan,
             violation: Callable[[Any], dict[str, Any] | None]) -> list[Frame]:
    """Every write of a stream, rendered and checked before the first is sent.

    ``violation(chunk)`` returns an error body for a chunk that must not be
    sent (it breaks the contract), else None: the stream then carries the
    chunks before it and ends with that ``error`` event, where the bad chunk
    would have been. The plan's faults end it early: ``cut_after`` drops the
    connection, ``error_after`` sends its error event; ``no_done`` ends it
    without ``[DONE]``. The closing write follows the last chunk at once
    (after the plan's pause, if that chunk is the one it follows).
    """
    frames: list[Frame] = []
    dues = due_times(plan)
    due = 0.0
    budget = MAX_STREAM_SECONDS - plan.delay_ms / 1000.0
    for chunk in chunks:
        due = next(dues)
        if not due <= budget:  # "not <=": a NaN is refused too
            raise _too_long(plan, len(frames) + 1, due)
        count = len(frames)
        if plan.cut_after is not None and count >= plan.cut_after:
            frames.append(Frame(due, "cut"))
            return frames
        if plan.error_after is not None and count >= plan.error_after:
            frames.append(Frame(due, "error", error_event(plan.error or {})))
            return frames
        error = violation(chunk)
        if error is not None:
            frames.append(Frame(due, "error", error_event(error)))
            return frames
        frames.append(Frame(due, "event", event(chunk)))
    if plan.pause_after is not None and plan.pause_after == len(frames) and plan.pause_ms > 0 and frames:
        due += plan.pause_ms / 1000.0
    if not due <= budget:
        raise _too_long(plan, len(frames), due)
    if plan.cut_after is not None and len(frames) >= plan.cut_after:
        frames.append(Frame(due, "cut"))
    elif plan.error_after is not None and len(frames) >= plan.error_after:
        # the error comes after the last chunk (a recorded upstream failure): at its own time
        frames.append(Frame(next(dues) if plan.schedule is not None else due, "error", error_event(plan.error or {})))
    elif plan.no_done:
        frames.append(Frame(due, "end"))
    else:
        frames.append(Frame(due, "done", DONE))
    return frames


def _too_long(plan: StreamPlan, event: int, due: float) -> InvalidRequest:
    """The answer to a stream planned to outlast ``MAX_STREAM_SECONDS``: refused before its first byte."""
    pacing = plan.pacing
    how = ("its recorded timing at this --replay-speed" if plan.schedule is not None else
           f"ttft {pacing.ttft_ms:g} ms, tps {pacing.tps:g}, jitter {pacing.jitter_ms:g} ms"
           + (f", a pause of {plan.pause_ms:g} ms" if plan.pause_ms else "")
           + (f", a delay of {plan.delay_ms:g} ms" if plan.delay_ms else ""))
    return InvalidRequest(
        f"This stream would last longer than the limit of {MAX_STREAM_SECONDS:g} s (limits.MAX_STREAM_SECONDS): "
        f"with {how}, its event {event} would be sent {plan.delay_ms / 1000.0 + due:g} s after the request. "
        "Ask for faster pacing (Prefer: ttft=MS, tps=N) or a shorter answer (max_completion_tokens).",
        code="stream_too_long",
    )
