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
from typing import Awaitable, TypeVar

from .http import ClientGone

T = TypeVar("T")


class DisconnectWatch:
    """Cancels ``task`` if the client disconnects before ``stop()``."""

    def __init__(self, receive, task: asyncio.Task) -> None:
        self.disconnected = False
        self._stopped = False
        self._receive = receive
        self._target = task
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
        self._task.cancel()


async def cancel_on_disconnect(receive, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (the request body must already be read); if the
    client disconnects meanwhile, it is cancelled and ``ClientGone`` raised."""
    task = asyncio.current_task()
    assert task is not None
    watch = DisconnectWatch(receive, task)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise  # the server is shutting down: let cancellation run its course
        task.uncancel()
        raise ClientGone() from None
    finally:
        watch.stop()
