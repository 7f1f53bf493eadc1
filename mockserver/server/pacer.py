"""Send the paced writes of every open stream from one timer.

Why: a paced stream spends most of its life waiting for its next write. With
one task per stream sleeping between writes, every write costs a timer, a
future, a task wake-up and a resumption through the whole middleware stack
before the bytes move; at 1,000 streams x 20 writes a second that overhead
alone kept one core busy enough to make writes late. Here the writes that
are due are sent straight from one loop-wide timer callback: a heap of
(due time, stream), one ``call_at`` for the earliest, and every write due
within :data:`BATCH_S` sent in the same callback.

The stream's own task stays alive (ASGI ends the response when the app
returns) but sleeps on one future until its stream is over. A write that
cannot complete at once (the client is not reading: uvicorn waits for the
socket to drain) is handed back to that task, which finishes it and
re-enters the pacer, so a slow client never holds up the others.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any, Awaitable, Callable

from mockserver.stream import Frame

Send = Callable[[dict[str, Any]], Awaitable[None]]

BATCH_S = 0.001  # writes due this close together go out in one callback (the clock keeps them in order)


class StreamCut(Exception):
    """Raised to drop the connection mid-stream (a ``cut_after`` fault).

    ASGI has no "abort": an exception after the response started makes the
    server close the connection without finishing the body, which is exactly
    what a client sees when a real stream breaks. Its log line is filtered out
    (``dispatch.QuietEnds``): it is a fault that was asked for, not a bug.
    """


def _message(frame: Frame, stats: dict[str, Any]) -> dict[str, Any]:
    if not frame.more:
        # Marked before the write: once the response's last write is out, the server
        # answers receive() with a disconnect, and the stream's watcher must know
        # that this one is the end of the exchange, not the client leaving.
        stats["closing"] = True
    return {"type": "http.response.body", "body": frame.body, "more_body": frame.more}


def _cut(frame: Frame, stats: dict[str, Any]) -> StreamCut:
    count(frame, stats)
    return StreamCut("cut after the events the fixture asks for")


def count(frame: Frame, stats: dict[str, Any]) -> None:
    """What a sent write means for the journal's stream summary."""
    if frame.kind == "event":
        stats["events"] += 1
    elif frame.kind in ("done", "error", "cut"):
        stats[frame.kind] = True


class _Player:
    """One stream's remaining writes, sent by the pacer's callback."""

    __slots__ = ("frames", "index", "start", "send", "stats", "waiter", "active")

    def __init__(self, frames: list[Frame], index: int, start: float, send: Send,
                 stats: dict[str, Any], waiter: asyncio.Future) -> None:
        self.frames, self.index, self.start = frames, index, start
        self.send, self.stats, self.waiter = send, stats, waiter
        self.active = True

    @property
    def due(self) -> float:
        return self.start + self.frames[self.index].due

    def step(self) -> bool:
        """Send the next write now; True if the pacer should keep this stream."""
        frame = self.frames[self.index]
        if frame.kind == "cut":
            self._end(exc=_cut(frame, self.stats))
            return False
        sending = self.send(_message(frame, self.stats))
        try:
            blocked = sending.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            count(frame, self.stats)
            self.index += 1
            if self.index == len(self.frames):
                self._end(result=None)
                return False
            return True
        except BaseException as exc:  # noqa: BLE001 - the stream's task re-raises it where it used to
            self._end(exc=exc)
            return False
        # The write waits for the socket to drain: the task finishes it and comes back.
        self._end(result=(sending, blocked))
        return False

    def _end(self, result: Any = None, exc: BaseException | None = None) -> None:
        self.active = False
        if not self.waiter.done():
            if exc is not None:
                self.waiter.set_exception(exc)
            else:
                self.waiter.set_result(result)


class Pacer:
    """The loop-wide timer and the heap of streams waiting for their next write."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, _Player]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._firing = False

    async def play(self, frames: list[Frame], send: Send, stats: dict[str, Any]) -> None:
        """Send ``frames`` on their schedule (the clock started at the first write)."""
        start = self.loop.time()
        index = 0
        while index < len(frames):
            frame = frames[index]
            if start + frame.due > self.loop.time() + BATCH_S:
                index = await self._hand_over(frames, index, start, send, stats)
                continue
            if frame.kind == "cut":
                raise _cut(frame, stats)
            await send(_message(frame, stats))
            count(frame, stats)
            index += 1

    async def _hand_over(self, frames: list[Frame], index: int, start: float, send: Send,
                         stats: dict[str, Any]) -> int:
        """Let the pacer send from ``index`` on; the index the task continues from."""
        player = _Player(frames, index, start, send, stats, self.loop.create_future())
        self._push(player)
        try:
            outcome = await player.waiter
        finally:
            player.active = False  # cancelled (the client left, shutdown): never write for it again
        if outcome is None:
            return len(frames)
        sending, blocked = outcome
        await _finish(sending, blocked)
        count(frames[player.index], stats)
        return player.index + 1

    def _push(self, player: _Player) -> None:
        due = player.due
        heapq.heappush(self._heap, (due, next(self._order), player))
        if not self._firing and (self._timer is None or due < self._timer_at):
            self._arm(due)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        self._timer = None
        self._firing = True
        try:
            heap = self._heap
            horizon = self.loop.time() + BATCH_S
            while heap and heap[0][0] <= horizon:
                _, _, player = heapq.heappop(heap)
                if player.active and player.step():
                    heapq.heappush(heap, (player.due, next(self._order), player))
        finally:
            self._firing = False
            if self._heap:
                self._arm(self._heap[0][0])


async def _finish(sending: Any, blocked: Any) -> None:
    """Drive a send coroutine that suspended (on the socket draining) to its end, in this task.

    What a Task does for the coroutine it runs: wait until the future it
    yielded is done (whatever its outcome: the coroutine sees that when
    resumed), then resume it; again, until it returns.
    """
    while True:
        try:
            if blocked is None:  # a bare yield: give the loop one turn
                await asyncio.sleep(0)
            else:
                await asyncio.wait([blocked])
        except asyncio.CancelledError:
            sending.close()  # this task is being cancelled: abandon the send, run its clean-up
            raise
        try:
            blocked = sending.send(None)
        except StopIteration:
            return
