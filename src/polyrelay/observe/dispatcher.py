"""Delivering call records to sinks, off the call's path.

One daemon thread per process runs its own event loop; the call path only
appends to a bounded deque (``submit``) and, when the loop is idle, wakes it
once; while records keep coming the loop takes them every ``TICK`` (10 ms)
instead of being woken for each. On that loop each sink has a worker with its own bounded queue, so a
sink that is slow, down or answering 500 delays only itself:

- batches: a worker takes up to ``sink.batch_size`` records at once, waiting
  at most ``FLUSH_INTERVAL`` seconds to fill a batch, and has up to
  ``PARALLEL_BATCHES`` of them in delivery at once (on a loop that is also
  serving calls, one batch at a time falls behind: each round trip then
  takes many turns of the loop);
- retries: a batch that raises is sent again after 0.5 s, 1 s, 2 s... up to
  ``sink.retries`` times, each try bounded by ``sink.timeout``;
- dropped: a record that finds a queue full, or whose batch failed every
  try, is counted in ``dropped[sink name]`` (exported by the gateway as
  ``polyrelay_callback_events_dropped_total``) and logged, never raised;
- flush: ``flush(timeout)`` waits until every queued record is delivered
  (or dropped). The gateway calls it at shutdown (SIGTERM), the SDK at exit.

Running on a thread of its own also means a record queued by a short
``asyncio.run(...)`` is still delivered after that loop has closed.

The served gateway instead runs the dispatcher on its own event loop
(``attach``, at start-up): a second thread in a process that is busy
relaying calls costs more than the sinks' work, because every time the
gateway's thread releases the GIL (a socket send, a file write) the
dispatcher's thread takes it, and the gateway then waits for it back;
measured, callbacks on a thread cost ~2x what the same work costs on the
loop. A ``CustomLogger``'s async methods then run on the loop that serves
the calls, as LiteLLM's proxy runs them.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("polyrelay.observe")

MAX_PENDING = 10_000  # records waiting for the loop to pick them up
SINK_QUEUE_SIZE = 10_000  # records waiting per sink
FLUSH_INTERVAL = 1.0
BACKOFF_BASE = 0.5
PARALLEL_BATCHES = 4  # batches of one sink in delivery at once
TICK = 0.01  # seconds between takes while records keep coming (see Dispatcher._tick)

# This process's id, kept current across os.fork: the checks below run per record, and
# os.getpid() is a system call each time (glibc caches nothing): measured at 6% of the
# sink process's CPU.
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def current_pid() -> int:
    return _PID[0]


class Dispatcher:
    def __init__(self) -> None:
        self._pending: collections.deque = collections.deque()
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._loop_thread: int | None = None  # ident of the thread running self._loop
        self._wake_pending = False
        self._workers: dict[int, _Worker] = {}
        self.dropped: collections.Counter[str] = collections.Counter()
        self.delivered: collections.Counter[str] = collections.Counter()

    def submit(self, phase: str, record: Any, sinks: tuple) -> None:
        """Queue ``record`` for each sink in ``sinks``. Never blocks, never raises."""
        if self._pid != current_pid():
            self._start()
        if len(self._pending) >= MAX_PENDING:
            for sink in sinks:
                _count(self.dropped, sink, 1)
            return
        self._pending.append((phase, record, sinks))
        if not self._wake_pending:
            self._wake_pending = True
            if threading.get_ident() == self._loop_thread:
                self._loop.call_soon(self._tick)  # attached, on the loop itself: no pipe write
            else:
                self._loop.call_soon_threadsafe(self._tick)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on deliver on ``loop`` (the served gateway's, called from it) instead
        of a thread of our own; ``detach`` before that loop stops."""
        if self._pid == current_pid() and self._thread is not None:
            self.close()  # records queued before start-up go out on the thread they were given to
        self._pending.clear()
        self._workers = {}
        self._wake_pending = False
        self._loop, self._thread, self._pid = loop, None, current_pid()
        self._loop_thread = threading.get_ident()

    def attached_to(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self._loop is loop and self._thread is None and self._pid == current_pid()

    async def detach(self, timeout: float = 10.0) -> bool:
        """On the attached loop, before it stops: deliver what is queued (within
        ``timeout``), stop the workers; the next record starts a thread again."""
        delivered = True
        try:
            await asyncio.wait_for(self.drained(), timeout)
        except TimeoutError:
            log.warning("callback flush: records still queued after %gs", timeout)
            delivered = False
        from .sink_process import CHANNEL

        if not await asyncio.to_thread(CHANNEL.flush, timeout):
            log.warning("callback flush: the sink process still held records after %gs", timeout)
            delivered = False
        for worker in self._workers.values():
            worker.task.cancel()
        await asyncio.gather(*(w.task for w in self._workers.values()), return_exceptions=True)
        for sink in {id(w.sink): w.sink for w in self._workers.values()}.values():
            aclose = getattr(sink, "aclose", None)
            if aclose is not None:
                await aclose()  # its HTTP client belongs to this loop
        self._workers = {}
        self._loop = self._pid = self._loop_thread = None
        return delivered

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (from any thread but the dispatcher's) until everything queued is
        delivered or dropped; False if ``timeout`` passed first."""
        loop = self._loop
        if loop is None or self._pid != current_pid() or not loop.is_running():
            return True
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("Dispatcher.flush would wait on its own loop: await detach() there instead")
        deadline = time.monotonic() + timeout
        future = asyncio.run_coroutine_threadsafe(self.drained(), loop)
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            log.warning("callback flush: records still queued after %gs", timeout)
            return False
        from .sink_process import CHANNEL  # what went to the sink process is delivered there

        if not CHANNEL.flush(max(0.1, deadline - time.monotonic())):
            log.warning("callback flush: the sink process still held records after %gs", timeout)
            return False
        return True

    def counts(self) -> tuple[collections.Counter, collections.Counter]:
        """(dropped, delivered) by callback, the sink process's included."""
        from .sink_process import CHANNEL

        dropped, delivered = collections.Counter(self.dropped), collections.Counter(self.delivered)
        if CHANNEL.active():
            CHANNEL.refresh()
            dropped.update(CHANNEL.dropped)
            delivered.update(CHANNEL.delivered)
        return dropped, delivered

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the loop and its workers (at interpreter exit)."""
        self.flush(timeout)
        from .sink_process import CHANNEL

        CHANNEL.close(timeout)
        loop, thread = self._loop, self._thread
        if loop is None or self._pid != current_pid() or not loop.is_running():
            return

        def stop() -> None:
            for worker in self._workers.values():
                worker.task.cancel()
            loop.call_soon(loop.stop)  # after the cancellations have run

        loop.call_soon_threadsafe(stop)
        thread.join(timeout)
        if not loop.is_running():
            loop.run_until_complete(asyncio.sleep(0))  # let cancelled workers finish
            loop.close()
        self._loop = None
        self._pid = None

    # --- on the dispatcher's loop ----------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == current_pid():
                return
            # A forked worker inherits the parent's object but not its thread: start afresh.
            self._pending.clear()
            self._workers = {}
            self._wake_pending = False
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="polyrelay-observe", daemon=True)
            self._thread.start()
            self._loop = loop
            self._loop_thread = self._thread.ident
            self._pid = current_pid()

    def _tick(self) -> None:
        """While records keep coming, take them every ``TICK`` seconds rather than being woken
        for each (a wake-up is a pipe write, a thread switch and a GIL hand-over: per call, at
        thousands of calls a second, that cost more than the sinks' own work). Once a tick finds
        nothing, the next ``submit`` wakes us again."""
        if self._pending:
            self._fan_out()
            self._loop.call_later(TICK, self._tick)
            return
        self._wake_pending = False
        if self._pending:  # appended between the check and the flag: it did not wake us
            self._wake_pending = True
            self._loop.call_soon(self._tick)

    def _fan_out(self) -> None:
        pending = self._pending
        while pending:
            phase, record, sinks = pending.popleft()
            for sink in sinks:
                worker = self._workers.get(id(sink))
                if worker is None:
                    worker = self._workers[id(sink)] = _Worker(self, sink)
                if not worker.put((phase, record)):
                    _count(self.dropped, sink, 1)

    async def drained(self) -> None:
        """On the attached loop: until everything submitted so far is delivered (or dropped)."""
        self._fan_out()
        for worker in list(self._workers.values()):
            await worker.join()


class _Worker:
    """One sink's queue and its delivery task. The queue is a plain deque with a future the
    task waits on, not an asyncio.Queue: a put and a get of asyncio's cost ~3 us a record
    per sink, on the gateway's loop, and a waiting task is woken only once its batch is full
    (or its flush interval is over), not for every record."""

    def __init__(self, dispatcher: Dispatcher, sink: Any) -> None:
        self.dispatcher = dispatcher
        self.sink = sink
        self.queue: collections.deque = collections.deque()
        self.unfinished = 0  # records queued or in delivery
        self._waiting: asyncio.Future | None = None  # the task's, while it waits for records
        self._wanted = 1  # records that must be queued before it is woken
        self._joiners: list[asyncio.Future] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    def put(self, item: tuple) -> bool:
        """Queue ``item``; False when the queue is full (the caller counts it dropped)."""
        if len(self.queue) >= SINK_QUEUE_SIZE:
            return False
        self.queue.append(item)
        self.unfinished += 1
        waiting = self._waiting
        if waiting is not None and len(self.queue) >= self._wanted and not waiting.done():
            waiting.set_result(None)
        return True

    async def join(self) -> None:
        """Until everything queued so far is delivered (or dropped)."""
        while self.unfinished:
            joined = asyncio.get_running_loop().create_future()
            self._joiners.append(joined)
            await joined

    async def _wait(self, wanted: int, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiting = self._waiting = loop.create_future()
        self._wanted = wanted
        timer = loop.call_later(timeout, _wake, waiting) if timeout is not None else None
        try:
            await waiting
        finally:
            self._waiting = None
            if timer is not None:
                timer.cancel()

    def _take(self, most: int) -> list:
        queue = self.queue
        return [queue.popleft() for _ in range(min(most, len(queue)))]

    async def _run(self) -> None:
        sink, loop = self.sink, asyncio.get_running_loop()
        size = max(1, getattr(sink, "batch_size", 1))
        interval = getattr(sink, "flush_interval", FLUSH_INTERVAL)
        slots = asyncio.Semaphore(PARALLEL_BATCHES)
        in_delivery: set[asyncio.Task] = set()
        while True:
            if not self.queue:
                await self._wait(1, None)
            batch = self._take(size)
            if len(batch) < size and interval > 0:  # wait a little for a fuller batch
                deadline = loop.time() + interval
                while len(batch) < size and (left := deadline - loop.time()) > 0:
                    await self._wait(size - len(batch), left)
                    batch += self._take(size - len(batch))
            await slots.acquire()
            task = loop.create_task(self._deliver_batch(batch, slots))
            in_delivery.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(in_delivery.discard)

    async def _deliver_batch(self, batch: list, slots: asyncio.Semaphore) -> None:
        try:
            await self._deliver(batch)
        finally:
            slots.release()
            self.unfinished -= len(batch)
            if not self.unfinished:
                for joined in self._joiners:
                    _wake(joined)
                self._joiners.clear()

    async def _deliver(self, batch: list) -> None:
        sink = self.sink
        retries = getattr(sink, "retries", 0)
        for attempt in range(retries + 1):
            try:
                await asyncio.wait_for(sink.send(batch), getattr(sink, "timeout", 30.0))
                if not getattr(sink, "remote", False):  # the sink process counts what it delivers
                    self.dispatcher.delivered[sink.name] += len(batch)
                return
            except Exception as exc:  # a sink's failure must never reach a caller: counted and logged
                if attempt >= retries:
                    _count(self.dispatcher.dropped, sink, len(batch))
                    log.warning("callback %s: %d record(s) dropped after %d tr%s (%s: %s)", sink.name, len(batch),
                                attempt + 1, "y" if attempt == 0 else "ies", type(exc).__name__, str(exc)[:200])
                    return
                await asyncio.sleep(BACKOFF_BASE * 2**attempt)


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _count(counter: collections.Counter, sink: Any, n: int) -> None:
    """By callback name: a stand-in for several sinks in the sink process counts for each."""
    for name in getattr(sink, "names", None) or (sink.name,):
        counter[name] += n


DISPATCHER = Dispatcher()
atexit.register(DISPATCHER.close, 5.0)  # a script's last calls are still logged
