"""Sync wrappers run the async core on one background event loop.

A single daemon thread owns a loop for the whole process, so sync calls
share its pooled HTTP client, work inside programs that already run a loop
(notebooks, async servers calling sync code), and need no logic of their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, AsyncIterator, Awaitable, Iterator, TypeVar

T = TypeVar("T")

# True inside work a sync wrapper started: code that can serve a call either
# way (custom provider handlers) then picks the caller's kind (sync or async).
called_from_sync: contextvars.ContextVar[bool] = contextvars.ContextVar("polyrelay_called_from_sync", default=False)


class SyncCallInLoop(RuntimeError):
    """A sync polyrelay call made on polyrelay's own loop thread (it would wait on itself)."""


class _LoopThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="polyrelay-sync", daemon=True)
                self._thread.start()
            return self._loop

    def run(self, awaitable: Awaitable[T]) -> T:
        if threading.current_thread() is self._thread:
            raise SyncCallInLoop("a polyrelay sync call was made from inside its own loop; use the async call")
        future = asyncio.run_coroutine_threadsafe(_await(awaitable), self.loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


async def _await(awaitable: Awaitable[T]) -> T:
    called_from_sync.set(True)  # this task's own context: nothing outside it sees the flag
    return await awaitable


_runner = _LoopThread()


def run(awaitable: Awaitable[T]) -> T:
    return _runner.run(awaitable)


class SyncStream:
    """A sync iterator over an async stream, pulled one item at a time."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._done = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        try:
            return run(self._stream.__anext__())
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None

    def close(self) -> None:
        if not self._done:
            self._done = True
            run(self._stream.aclose())

    def __enter__(self) -> "SyncStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # usage, response_cost, _hidden_params of the underlying stream
        return getattr(self._stream, name)


def iterate(stream: AsyncIterator[Any]) -> SyncStream:
    return SyncStream(stream)
