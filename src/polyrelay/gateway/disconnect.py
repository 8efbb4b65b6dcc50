"""Noticing that the client left, so that the upstream call it started is
cancelled: nobody pays for tokens nobody reads.

The server does not tell us by failing ``send`` (ASGI 2.3), and an app
that is awaiting the Router never calls ``receive``: a watcher task waits
for ``http.disconnect`` on ``receive`` and cancels the task serving the
request. The cancellation reaches the upstream request, whose connection
is closed (http1 and aiohttp both close a connection cancelled mid-answer).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Awaitable, TypeVar

from .http import ClientGone

T = TypeVar("T")


# A call still running after one to two ticks gets a watcher. Starting one
# costs ~12 us (a task and a receive() call), and even a timer per request
# ~3 us on uvloop: a real share of the gateway's own ~60 us per request. So
# watches wait in per-loop batches with one timer per tick, and fast
# answers, which dominate under load, never start one. A client that leaves
# sooner is still noticed, a tick or two after its request: uvicorn
# remembers the disconnect, so the watcher's first receive() sees it.
TICK_SECONDS = 0.05


class DisconnectWatch:
    """Cancels ``task`` if the client disconnects before ``stop()``; with
    ``delayed``, watching starts only if it has not stopped within a tick or two."""

    __slots__ = ("disconnected", "_stopped", "_receive", "_target", "_task")

    def __init__(self, receive, task: asyncio.Task, delayed: bool = False) -> None:
        self.disconnected = False
        self._stopped = False
        self._receive = receive
        self._target = task
        self._task: asyncio.Task | None = None
        if delayed:
            _ticker(task.get_loop()).add(self)
        else:
            self.start()

    def start(self) -> None:
        if not self._stopped and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self._stopped:
                    self.disconnected = True
                    self._target.cancel()
                return

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()


class _Ticker:
    """Starts, each tick, the watches added in the tick before that are still running."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._current: list[DisconnectWatch] = []
        self._previous: list[DisconnectWatch] = []
        self._armed = False

    def add(self, watch: DisconnectWatch) -> None:
        self._current.append(watch)
        if not self._armed:
            self._armed = True
            self._loop.call_later(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        for watch in self._previous:
            watch.start()  # nothing for those already stopped
        self._previous, self._current = self._current, []
        self._armed = bool(self._previous)
        if self._armed:
            self._loop.call_later(TICK_SECONDS, self._tick)


_tickers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Ticker]" = weakref.WeakKeyDictionary()


def _ticker(loop: asyncio.AbstractEventLoop) -> _Ticker:
    found = _tickers.get(loop)
    if found is None:
        found = _tickers[loop] = _Ticker(loop)
    return found


async def cancel_on_disconnect(receive, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (the request body must already be read); if the
    client disconnects meanwhile, it is cancelled and ``ClientGone`` raised."""
    task = asyncio.current_task()
    watch = DisconnectWatch(receive, task, delayed=True)  # type: ignore[arg-type]
    try:
        return await awaitable
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise  # the server is shutting down: let cancellation run its course
        task.uncancel()  # type: ignore[union-attr]
        raise ClientGone() from None
    finally:
        watch.stop()
