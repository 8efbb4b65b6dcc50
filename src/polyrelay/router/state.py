"""Router state behind one small interface: counters with a time-to-live,
and plain values with one. In-process by default; Redis when configured, so
several processes share rpm/tpm counts, in-flight counts, latencies and
cooldowns.

If Redis fails, ``RedisState`` answers from a local ``MemoryState`` and logs
a warning (once per outage): shared limits then hold per process only, but no
request fails because of the state store.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

log = logging.getLogger("polyrelay.router")
REDIS_RETRY_SECONDS = 5.0

# ``apply`` as one command: GET each read key, then INCRBYFLOAT each counter and give it
# its time-to-live unless it has one. The same work as a pipeline of MGET + INCRBYFLOAT
# + EXPIRE NX, but one command to encode and one reply to parse: redis-py spends ~20 us
# of CPU per pipelined command (a ledger admission of 9 commands: ~200 us, now ~100 us).
# KEYS: the reads, then the counters; ARGV: the number of reads, then amount, ttl per counter.
# (false in a Lua table is a nil in the reply: a missing key does not cut the array short.)
APPLY_SCRIPT = """
local reads = tonumber(ARGV[1])
local out = {}
for i = 1, reads do
  out[i] = redis.call('GET', KEYS[i]) or false
end
for i = reads + 1, #KEYS do
  local at = 2 * (i - reads)
  out[i] = redis.call('INCRBYFLOAT', KEYS[i], ARGV[at])
  redis.call('EXPIRE', KEYS[i], ARGV[at + 1], 'NX')
end
return out
"""


class State(Protocol):
    async def incr(self, key: str, amount: float, ttl: float) -> float: ...

    async def get_many(self, keys: list[str]) -> list[float | None]: ...

    async def set(self, key: str, value: float, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def seed(self, key: str, value: float, ttl: float) -> float:
        """Set ``key`` to ``value`` unless it exists; return what it holds."""
        ...

    async def apply(self, reads: list[str], incrs: list[tuple[str, float, float]]) -> tuple[list, list[float]]:
        """Read ``reads``, then ``incr`` each (key, amount, ttl) of ``incrs``, in one round trip:
        (values read, values after each increment)."""
        ...


class MemoryState:
    """A dict of (value, expires_at). Single event loop: no locks needed."""

    def __init__(self, clock=time.monotonic) -> None:
        self._values: dict[str, tuple[float, float]] = {}
        self._clock = clock
        self._next_sweep = 0.0

    def _live(self, key: str, now: float) -> float | None:
        found = self._values.get(key)
        if found is None:
            return None
        if found[1] <= now:
            del self._values[key]
            return None
        return found[0]

    def _sweep(self, now: float) -> None:
        # Drop expired keys now and then, so per-minute counters don't pile up.
        if now < self._next_sweep:
            return
        self._next_sweep = now + 30
        for key in [k for k, (_, expires) in self._values.items() if expires <= now]:
            del self._values[key]

    async def incr(self, key: str, amount: float, ttl: float) -> float:
        now = self._clock()
        self._sweep(now)
        current = self._live(key, now)
        if current is None:
            value, expires = amount, now + ttl
        else:
            value, expires = current + amount, self._values[key][1]
        self._values[key] = (value, expires)
        return value

    async def get_many(self, keys: list[str]) -> list[float | None]:
        now = self._clock()
        return [self._live(k, now) for k in keys]

    async def set(self, key: str, value: float, ttl: float) -> None:
        self._values[key] = (value, self._clock() + ttl)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def seed(self, key: str, value: float, ttl: float) -> float:
        now = self._clock()
        current = self._live(key, now)
        if current is None:
            self._values[key] = (value, now + ttl)
            return value
        return current

    async def apply(self, reads: list[str], incrs: list[tuple[str, float, float]]) -> tuple[list, list[float]]:
        read = await self.get_many(reads) if reads else []
        return read, [await self.incr(key, amount, ttl) for key, amount, ttl in incrs]


class RedisState:
    """The same interface over Redis (INCRBYFLOAT + EXPIRE in one round trip)."""

    def __init__(self, *, url: str | None = None, host: str | None = None, port: int | None = None,
                 password: str | None = None, prefix: str = "polyrelay:") -> None:
        import redis.asyncio as redis  # optional dependency: only routers that share state need it

        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._module = redis
        self._errors = (redis.RedisError, OSError)
        # No client-side retries: a request must not wait on a dead Redis.
        self._options = dict(socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        self._url = url
        self._address = dict(host=host or "localhost", port=int(port or 6379), password=password)
        # A redis.asyncio client is bound to the loop it was made on: one per loop.
        self._clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
        self._prefix = prefix
        self._local = MemoryState()
        self._degraded = False
        self._retry_at = 0.0  # while degraded, Redis is tried again only after this
        self._closing: set[asyncio.Task] = set()
        self._scripts: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
        self._incrs_waiting: dict[asyncio.AbstractEventLoop, list] = {}  # increments for this loop turn

    @property
    def _redis(self):
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            if self._url:
                client = self._module.Redis.from_url(self._url, **self._options)
            else:
                client = self._module.Redis(**self._address, **self._options)
            self._clients[loop] = client
        return client

    def _failed(self, exc: BaseException) -> None:
        if not self._degraded:
            log.warning("router state: Redis unavailable (%s); using in-process state until it is back",
                        exc.__class__.__name__)
            # Drop the client and its pooled connections: after a Redis restart every one
            # of them is dead and would fail once, each failure putting us back in degraded
            # mode for REDIS_RETRY_SECONDS (measured: rpm limits flapping for ~10 s after Redis was back).
            stale = self._clients.pop(asyncio.get_running_loop(), None)
            if stale is not None:
                task = asyncio.get_running_loop().create_task(self._close_quietly(stale))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._degraded = True
        self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS

    @staticmethod
    async def _close_quietly(client) -> None:
        try:
            await client.aclose()
        except Exception:  # it is dead already: nothing to close cleanly
            pass

    def _skip(self) -> bool:
        """While Redis is down, go straight to local state between probes."""
        return self._degraded and time.monotonic() < self._retry_at

    def _recovered(self) -> None:
        if self._degraded:
            log.warning("router state: Redis is back; sharing state again")
        self._degraded = False

    async def incr(self, key: str, amount: float, ttl: float) -> float:
        _, (value,) = await self.apply([], [(key, amount, ttl)])
        return value

    async def apply(self, reads: list[str], incrs: list[tuple[str, float, float]]) -> tuple[list, list[float]]:
        if reads or not incrs:
            return await self._apply_now(reads, incrs)
        # Increments alone (settlements, give-backs, the Router's counters) asked for in the same
        # turn of the loop go to Redis together, in one script call: under load a round trip
        # carries several calls' settlements. Each caller still gets the values after its own
        # increments, as if they had run one after the other.
        loop = asyncio.get_running_loop()
        waiting = self._incrs_waiting.get(loop)
        if waiting is None:
            waiting = self._incrs_waiting[loop] = []
            loop.call_soon(self._send_waiting_incrs, loop)
        future = loop.create_future()
        waiting.append((incrs, future))
        return [], await future

    def _send_waiting_incrs(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._apply_together(self._incrs_waiting.pop(loop)))
        self._closing.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._closing.discard)

    async def _apply_together(self, waiting: list) -> None:
        try:
            _, values = await self._apply_now([], [incr for incrs, _ in waiting for incr in incrs])
        except asyncio.CancelledError:  # the loop is shutting down
            for _, future in waiting:
                future.cancel()
            raise
        except Exception as exc:  # not Redis's errors (those fall back to local state): pass it on
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        at = 0
        for incrs, future in waiting:
            if not future.done():  # a caller that left: its increments are counted all the same
                future.set_result(values[at:at + len(incrs)])
            at += len(incrs)

    async def _apply_now(self, reads: list[str], incrs: list[tuple[str, float, float]]) -> tuple[list, list[float]]:
        if self._skip():
            return await self._local.apply(reads, incrs)
        prefix = self._prefix
        keys = [prefix + k for k in reads] + [prefix + k for k, _, _ in incrs]
        args: list = [len(reads)]
        for _, amount, ttl in incrs:
            args += (repr(float(amount)), max(1, int(ttl + 0.999)))
        try:
            replies = await self._apply_script()(keys=keys, args=args)
        except self._errors as exc:
            self._failed(exc)
            return await self._local.apply(reads, incrs)
        self._recovered()
        return ([None if v is None else float(v) for v in replies[:len(reads)]],
                [float(v) for v in replies[len(reads):]])

    def _apply_script(self):
        """The script bound to this loop's client (redis-py sends EVALSHA, and loads it
        again after a Redis restart forgot it)."""
        client = self._redis
        script = self._scripts.get(client)
        if script is None:
            script = self._scripts[client] = client.register_script(APPLY_SCRIPT)
        return script

    async def get_many(self, keys: list[str]) -> list[float | None]:
        if not keys:
            return []
        if self._skip():
            return await self._local.get_many(keys)
        try:
            values = await self._redis.mget([self._prefix + k for k in keys])
        except self._errors as exc:
            self._failed(exc)
            return await self._local.get_many(keys)
        self._recovered()
        return [None if v is None else float(v) for v in values]

    async def set(self, key: str, value: float, ttl: float) -> None:
        if self._skip():
            return await self._local.set(key, value, ttl)
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))
        except self._errors as exc:
            self._failed(exc)
            await self._local.set(key, value, ttl)
            return
        self._recovered()

    async def delete(self, key: str) -> None:
        if self._skip():
            return await self._local.delete(key)
        try:
            await self._redis.delete(self._prefix + key)
        except self._errors as exc:
            self._failed(exc)
            await self._local.delete(key)

    async def seed(self, key: str, value: float, ttl: float) -> float:
        if self._skip():
            return await self._local.seed(key, value, ttl)
        name = self._prefix + key
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(name, value, px=max(1, int(ttl * 1000)), nx=True)
                pipe.get(name)
                _, current = await pipe.execute()
        except self._errors as exc:
            self._failed(exc)
            return await self._local.seed(key, value, ttl)
        self._recovered()
        return float(current)

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def make_state(settings: dict[str, Any]) -> State:
    """Redis when the settings (or REDIS_* variables) name one, else in-process."""
    import os

    url = settings.get("redis_url") or os.environ.get("REDIS_URL")
    host = settings.get("redis_host") or os.environ.get("REDIS_HOST")
    if url or host:
        return RedisState(url=url, host=host,
                          port=settings.get("redis_port") or os.environ.get("REDIS_PORT"),
                          password=settings.get("redis_password") or os.environ.get("REDIS_PASSWORD"))
    return MemoryState()
