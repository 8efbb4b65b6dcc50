"""The gateway's service sinks (``langfuse``, ``otel``, ``s3``, ``generic_api``)
run in a child process of their own, one per serving process.

Why: building OpenTelemetry spans through the SDK, encoding OTLP and
Langfuse batches costs ~0.3-0.5 ms of Python per call. On the dispatcher's
thread that time holds the GIL the event loop needs, so the gateway served
a third to a half of its plain req/s with those sinks on (bench
``--scenario callbacks``). In a child process it runs beside the loop.

The serving process keeps what is cheap: the standard logging payload is
built there (message masking and ``turn_off_message_logging`` applied, as
before, so no prompt text ever leaves when logging is off), encoded once
with orjson, and written as one line per record and sink to the child's
stdin, straight from the caller when the pipe takes it (a non-blocking
write: no other thread wakes, so no GIL hand-over), else queued for a
writer thread that waits for the pipe. That queue is bounded: when it is
full the record is dropped and counted, as a sink's own queue does. Custom
Python callbacks (``CustomLogger`` instances, functions) stay in the serving
process: they are the user's code and may need its state.

The child (``python -m polyrelay.observe.sink_process``) makes the real
sinks and feeds them through its own ``Dispatcher`` (batches, retries,
bounded queues), reporting its delivered/dropped counts back on stdout for
``/metrics``. ``flush`` (SIGTERM) asks the child to deliver everything it
holds and waits for its answer. The child ignores SIGINT/SIGTERM (the
gateway flushes it first) and exits when its stdin closes, after one last
flush; so a gateway killed outright still gets its queued records out.

Wire (stdin): a first line with the sink settings (orjson), then lines
``name \\t phase \\t payload-json``, ``!flush \\t n`` or ``!report \\t n``. Stdout: lines of
orjson ``{"dropped": {...}, "delivered": {...}, "flushed": n}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import select
import subprocess
import sys
import threading
from typing import Any

import orjson

from .dispatcher import current_pid

log = logging.getLogger("polyrelay.observe")

SERVICE_SINKS = frozenset({"langfuse", "otel", "s3", "generic_api"})
PIPE_SIZE = 1 << 20  # bytes; an unprivileged process may ask up to /proc/sys/fs/pipe-max-size (1 MiB)
WRITE_QUEUE_SIZE = 2_000  # encoded batches waiting for the pipe (each up to a worker's batch)
SETTINGS = ("s3_callback_params",)  # module settings the child's sinks read


class RemoteSink:
    """Stands in, in the serving process, for named sinks the child runs: one per set of
    names a phase delivers to (``handlers.resolve`` groups them), so a record crosses the
    pipe once, as one line for all of them, and takes one turn of the dispatcher."""

    remote = True  # the dispatcher does not count these as delivered: the child reports that
    batch_size, retries, timeout = 200, 0, 5.0
    flush_interval = 0.02  # hand records to the child soon; the child batches them for the service

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.name = "+".join(names)
        self.handler = None
        self._prefix = ",".join(names).encode()

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        prefix = self._prefix
        lines = []
        for phase, record in batch:
            wire = record.wire
            if wire is None:
                wire = record.wire = encode(record.standard_logging_object())
            lines.append(b"%s\t%s\t%s\n" % (prefix, phase.encode(), wire))
        if not CHANNEL.put(b"".join(lines)):
            raise RuntimeError("the sink process is not keeping up (its queue is full)")


def encode(payload: dict[str, Any]) -> bytes:
    """One payload as JSON. Keys that are not strings (a caller's metadata may have them)
    need orjson's OPT_NON_STR_KEYS, which makes every dump ~1.6x slower: asked for only
    when the plain dump refuses."""
    try:
        return orjson.dumps(payload, default=str)
    except TypeError:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)


_groups: dict[tuple[str, ...], RemoteSink] = {}


def remote_group(names: tuple[str, ...]) -> RemoteSink:
    """The one stand-in for these names (the same object each time: the dispatcher keeps a
    worker per sink object)."""
    group = _groups.get(names)
    if group is None:
        group = _groups[names] = RemoteSink(names)
    return group


class Channel:
    """The pipe to this serving process's sink process (started once per process id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._child: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()
        self._write_lock = threading.Lock()  # orders direct writes against the writer thread's
        self._backlog = 0  # items in _queue or being written by the writer thread
        self._flushes = 0
        self._flushed = threading.Condition()
        self._acked = 0
        self.dropped: dict[str, int] = {}
        self.delivered: dict[str, int] = {}

    def start(self, names: tuple[str, ...] = ()) -> None:
        """Start the child; ``names``: sinks it makes (and loads the modules of) before any record."""
        with self._lock:
            if self._pid == current_pid():
                return
            module = sys.modules.get("polyrelay")
            settings = {name: getattr(module, name, None) for name in SETTINGS}
            settings["sinks"] = list(names)
            self._queue, self._backlog = queue.Queue(), 0
            self._flushes = self._acked = 0
            self.dropped, self.delivered = {}, {}
            self._child = subprocess.Popen([sys.executable, "-m", "polyrelay.observe.sink_process"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            self._child.stdin.write(orjson.dumps(settings, default=str) + b"\n")
            _widen(self._child.stdin.fileno())
            os.set_blocking(self._child.stdin.fileno(), False)
            self._pid = current_pid()
            threading.Thread(target=self._write, args=(self._child, self._queue), name="polyrelay-sinks-writer",
                             daemon=True).start()
            threading.Thread(target=self._read, args=(self._child,), name="polyrelay-sinks-reader",
                             daemon=True).start()

    def active(self) -> bool:
        return self._pid == current_pid()

    def put(self, data: bytes | None) -> bool:
        """Send ``data`` to the child (None: close its stdin once all before it is written).
        False when the writer's backlog is full (the caller counts the records dropped)."""
        if self._pid != current_pid():
            self.start()
        with self._write_lock:
            if self._backlog == 0 and data is not None:  # nothing waits before us: write now
                try:
                    written = os.write(self._child.stdin.fileno(), data)
                except BlockingIOError:
                    written = 0
                except (OSError, ValueError):  # the child is gone (its exit is logged by the writer)
                    return False
                if written == len(data):
                    return True
                data = data[written:]
            if self._backlog >= WRITE_QUEUE_SIZE and data is not None:
                return False
            self._backlog += 1
            self._queue.put_nowait(data)
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until the child has delivered (or dropped) everything sent so far."""
        return self._ask(b"!flush", timeout)

    def refresh(self, timeout: float = 0.5) -> None:
        """Fresh counts from the child (at a /metrics scrape): it answers at once."""
        self._ask(b"!report", timeout)

    def _ask(self, command: bytes, timeout: float) -> bool:
        if self._pid != current_pid() or self._child is None or self._child.poll() is not None:
            return True
        with self._flushed:
            self._flushes += 1
            wanted = self._flushes
        if not self.put(b"%s\t%d\n" % (command, wanted)):
            return False
        with self._flushed:
            return self._flushed.wait_for(lambda: self._acked >= wanted or self._child.poll() is not None, timeout)

    def close(self, timeout: float) -> None:
        """Stop feeding the child: it flushes once more and exits."""
        if self._pid != current_pid() or self._child is None:
            return
        try:
            self.put(None)
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("callback sink process did not finish in %gs; stopping it", timeout)
            self._child.kill()
        self._pid = None

    def _write(self, child: subprocess.Popen, source: queue.Queue) -> None:
        """What ``put`` could not write at once, in order, waiting for the pipe."""
        pipe = child.stdin
        fd = pipe.fileno()
        try:
            while True:
                data = source.get()
                if data is None:
                    break
                view = memoryview(data)
                while view:
                    select.select([], [fd], [])
                    try:
                        view = view[os.write(fd, view):]
                    except BlockingIOError:
                        continue
                with self._write_lock:
                    self._backlog -= 1
        except (BrokenPipeError, OSError, ValueError) as exc:
            log.warning("callback sink process: pipe closed (%s)", exc)
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def _read(self, child: subprocess.Popen) -> None:
        for line in child.stdout:
            try:
                report = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            self.dropped, self.delivered = report.get("dropped", {}), report.get("delivered", {})
            if "flushed" in report:
                with self._flushed:
                    self._acked = max(self._acked, report["flushed"])
                    self._flushed.notify_all()
        with self._flushed:  # the child is gone: nobody waits for it
            self._flushed.notify_all()


def _widen(fd: int) -> None:
    """Give the pipe room for a few loop turns of records (Linux's default is 64 KiB,
    ~25 records): a write that does not fit goes to the writer thread, and that thread
    taking the GIL from the event loop cost more than the records' own work."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default stays
        pass


CHANNEL = Channel()


# --- the child ------------------------------------------------------------------------------

def quiet_collector() -> None:
    """Keep the cyclic collector's passes rare and short in a process that
    decodes thousands of acyclic dicts a second. What is loaded now lives as
    long as the process: frozen, never scanned again. Its young generation is
    collected after 20,000 new containers instead of 700: a record's dicts are
    freed by reference counting long before, so few survive into the older
    generations that the expensive passes scan (measured: the collector was a
    fifth of the sink process's CPU)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


class Received:
    """A record as the child gets it: the payload, already built by the serving process."""

    __slots__ = ("std",)

    def __init__(self, std: dict[str, Any]) -> None:
        self.std = std

    def standard_logging_object(self) -> dict[str, Any]:
        return self.std


def main() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway flushes us, then closes our stdin
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from .diagnostics import env_level

    try:
        level = env_level() or "WARNING"
    except ValueError:  # refused by the gateway at start-up already
        level = "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve())


async def _serve() -> None:
    """One thread does it all: stdin is read on the loop the sinks deliver on. (A reading
    thread beside the dispatcher's cost more in GIL hand-overs than the reading itself:
    measured, ~20 us of a ~100 us record.)"""
    from .dispatcher import DISPATCHER

    loop = asyncio.get_running_loop()
    DISPATCHER.attach(loop)
    feed = Feed(DISPATCHER)
    await loop.connect_read_pipe(lambda: feed, sys.stdin.buffer)
    reporting = loop.create_task(feed.report_forever())
    await feed.closed
    await DISPATCHER.detach(30.0)  # everything received is delivered (or dropped) before we go
    reporting.cancel()
    feed.report(flushed=-1)


class Feed(asyncio.Protocol):
    """The lines from the serving process: its settings first, then records and commands."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self.closed = asyncio.get_running_loop().create_future()
        self._rest = b""
        self._settings_read = False
        self._sinks: dict[bytes, Any] = {}
        self._targets: dict[bytes, tuple] = {}  # a line's names ("langfuse,otel") -> the sinks they name
        self._flushes: set[asyncio.Task] = set()

    def data_received(self, data: bytes) -> None:
        lines = (self._rest + data if self._rest else data).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            try:
                self._line(line)
            except Exception as exc:  # one bad line is lost (and said), not the process and all after it
                log.warning("callback sink process: a line it could not read (%s: %s)", type(exc).__name__, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def _line(self, line: bytes) -> None:
        if not self._settings_read:
            self._settings_read = True
            self._start(orjson.loads(line or b"{}"))
            return
        names, _, rest = line.partition(b"\t")
        if names == b"!flush":
            task = asyncio.get_running_loop().create_task(self._flush(int(rest)))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
            return
        if names == b"!report":
            self.report(flushed=int(rest))
            return
        phase, _, body = rest.partition(b"\t")
        target = self._targets.get(names)
        if target is None:
            target = self._targets_of(names)
        if target:
            self.dispatcher.submit(phase.decode(), Received(orjson.loads(body)), target)

    def _start(self, settings: dict[str, Any]) -> None:
        import polyrelay

        eager = settings.pop("sinks", None) or ()
        for name, value in settings.items():  # before any sink is made: sinks read them
            setattr(polyrelay, name, value)
        for name in eager:  # made now, not with the first record: its imports are not paid under load
            self._sinks[name.encode()] = _make_sink(name)
        quiet_collector()

    def _targets_of(self, names: bytes) -> tuple:
        for name in names.split(b","):
            if name not in self._sinks:
                self._sinks[name] = _make_sink(name.decode())
        found = self._targets[names] = tuple(self._sinks[n] for n in names.split(b",") if self._sinks[n] is not None)
        return found

    async def _flush(self, number: int) -> None:
        try:
            await asyncio.wait_for(self.dispatcher.drained(), 30.0)
        except TimeoutError:
            log.warning("callback sink process: records still queued after 30s")
        self.report(flushed=number)

    def report(self, **extra: Any) -> None:
        try:
            sys.stdout.buffer.write(orjson.dumps({"dropped": dict(self.dispatcher.dropped),
                                                  "delivered": dict(self.dispatcher.delivered), **extra}) + b"\n")
            sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError):  # the gateway is gone: nobody to tell
            pass

    async def report_forever(self) -> None:
        last = None
        while True:
            await asyncio.sleep(0.5)
            now = (dict(self.dispatcher.dropped), dict(self.dispatcher.delivered))
            if now != last:
                last = now
                self.report()


def _make_sink(name: str) -> Any:
    from .handlers import sink_for

    try:
        return sink_for(name)
    except Exception as exc:  # checked at the gateway's start-up; a sink that fails here is logged
        log.warning("callback sink process: %s unavailable (%s)", name, exc)
        return None


if __name__ == "__main__":
    main()
