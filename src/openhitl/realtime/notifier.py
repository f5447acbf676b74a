"""Wake-up hints between the units of work that commit changes and whatever waits for them.

A hint says "loops L, requests R have new events; the outbox has work; timeouts may have moved". It is
never the data itself: streams read the event log, workers read their tables. A lost hint costs latency
only, because every waiter also polls on a slow timer. Backends: in-process, PostgreSQL LISTEN/NOTIFY,
Redis pub/sub; the last two carry hints across replicas.
"""

import asyncio
import json
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import structlog

log = structlog.get_logger("openhitl.notifier")
CHANNEL = "openhitl_hints"
Listener = Callable[[dict[str, Any]], None]
# Hints sent while a process was not listening are gone: once it listens again, everything looks afresh.
RESYNC: dict[str, Any] = {"events": True, "outbox": True}
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0


def encode(hint: dict[str, Any]) -> dict[str, Any]:
    """JSON-able, small: NOTIFY payloads are limited to 8000 bytes, so large id sets collapse to 'all'."""
    wire: dict[str, Any] = {}
    for key, value in hint.items():
        if isinstance(value, set):
            wire[key] = sorted(value) if len(value) <= 50 else "all"
        elif isinstance(value, bool | int | str):
            wire[key] = value
    return wire


class Notifier:
    """In-process fan-out of hints to listeners on this event loop; the base of the other backends."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = False  # between start() and stop(): hints published otherwise are dropped

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with suppress(ValueError):
            self._listeners.remove(listener)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def publish(self, hint: dict[str, Any]) -> None:
        """Called after a commit; never blocks and never raises into the caller."""
        if not self.running:
            return
        wire = encode(hint)
        if not wire:
            return
        self._dispatch(wire)
        self._broadcast(wire)

    def _broadcast(self, wire: dict[str, Any]) -> None:
        return None

    def _dispatch(self, wire: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(wire)
            except Exception:
                log.exception("hint listener failed")

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("origin") != self.origin:
            self._dispatch(message.get("hint") or {})

    def _envelope(self, wire: dict[str, Any]) -> str:
        return json.dumps({"origin": self.origin, "hint": wire}, separators=(",", ":"))


class PostgresNotifier(Notifier):
    """LISTEN on one dedicated connection; NOTIFY from another, outside any business transaction."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self._listen_conn: Any = None
        self._send_conn: Any = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await super().start()
        self._tasks = [asyncio.create_task(self._listen_forever()), asyncio.create_task(self._send_forever())]

    async def stop(self) -> None:
        await super().stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for conn in (self._listen_conn, self._send_conn):
            if conn is not None:
                with suppress(Exception):
                    await conn.close()

    def _broadcast(self, wire: dict[str, Any]) -> None:
        with suppress(asyncio.QueueFull):  # a dropped hint costs latency, not correctness
            self._outgoing.put_nowait(self._envelope(wire))

    async def _connect(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        return await asyncpg.connect(self.dsn, timeout=10)

    async def _listen_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                self._listen_conn = await self._connect()
                lost = asyncio.Event()
                self._listen_conn.add_termination_listener(lambda *_, lost=lost: lost.set())
                await self._listen_conn.add_listener(CHANNEL, lambda *args: self._receive(args[-1]))
                delay = RECONNECT_MIN_SECONDS
                self._dispatch(RESYNC)
                await lost.wait()
                log.warning("listen connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listen connection failed; retrying", error=str(exc), retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _send_forever(self) -> None:
        while True:
            payload = await self._outgoing.get()
            try:
                if self._send_conn is None or self._send_conn.is_closed():
                    self._send_conn = await self._connect()
                await self._send_conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify failed; hint dropped", error=str(exc))
                self._send_conn = None
                await asyncio.sleep(0.2)


class RedisNotifier(Notifier):
    """Redis pub/sub: no database lock at commit, for higher event rates."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._redis: Any = None
        self._task: asyncio.Task[None] | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        import redis.asyncio as redis

        self._redis = redis.from_url(self.url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS)
        self._task = asyncio.create_task(self._listen_forever())
        self._sender = asyncio.create_task(self._send_forever())

    async def stop(self) -> None:
        await super().stop()
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task
        if self._redis is not None:
            with suppress(Exception):
                await self._redis.aclose()

    def _broadcast(self, wire: dict[str, Any]) -> None:
        with suppress(asyncio.QueueFull):
            self._outgoing.put_nowait(self._envelope(wire))

    async def _send_forever(self) -> None:
        while True:
            payload = await self._outgoing.get()
            try:
                await self._redis.publish(CHANNEL, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis publish failed; hint dropped", error=str(exc))
                await asyncio.sleep(0.2)

    async def _listen_forever(self) -> None:
        """Subscribed while Redis is up; while it is down, the event feed's own polling carries the updates."""
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                delay = RECONNECT_MIN_SECONDS
                self._dispatch(RESYNC)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis subscription lost; retrying", error=str(exc), retry_in_seconds=delay)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)


def make_notifier(*, backend: str, database_url: str, redis_url: str | None) -> Notifier:
    """`auto`: Redis when configured, else LISTEN/NOTIFY on PostgreSQL, else in-process."""
    if backend == "auto":
        backend = (
            "redis" if redis_url else ("postgres" if database_url.startswith("postgresql") else "memory")
        )
    if backend == "redis":
        if not redis_url:
            raise ValueError("OPENHITL_NOTIFIER=redis needs OPENHITL_REDIS_URL")
        return RedisNotifier(redis_url)
    if backend == "postgres":
        from sqlalchemy.engine import make_url

        url = make_url(database_url).set(drivername="postgresql")
        return PostgresNotifier(url.render_as_string(hide_password=False))
    return Notifier()
