"""SQLite on the event loop's own thread, for the single writer connection.

aiosqlite runs every call (cursor, execute, fetch, close) as a job on a thread of its own: each is a thread
hand-off and an event-loop wake-up, ~40 of them per write unit of work, which cost more CPU than SQLite
itself (a write statement with WAL and `synchronous=NORMAL` takes microseconds). This connection has
aiosqlite's shape, so SQLAlchemy's aiosqlite dialect drives it unchanged, but its coroutines run the
`sqlite3` calls in place.

Two things could hold the event loop, and both go to a worker thread instead. Waiting for a lock another
process holds (an `openhitl worker`, a CLI command): the connection's own busy timeout is 0, so a
statement that finds the database locked fails at once and is retried on a thread with the full busy
timeout. And the commit, which writes the WAL and now and then checkpoints it with an fsync: one thread
hop per unit of work. Nothing else uses the connection meanwhile: the pool hands it to one unit of work
at a time, and that unit of work is awaiting the thread.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class InlineCursor:
    def __init__(self, connection: "InlineConnection") -> None:
        self._owner = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> "InlineCursor":
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> "InlineCursor":
        await self._owner.run(self._cursor.execute, operation, parameters)
        return self

    async def executemany(self, operation: str, seq_of_parameters: Iterable[Any]) -> "InlineCursor":
        rows = list(seq_of_parameters)  # a retry must see the same parameters again
        await self._owner.run(self._cursor.executemany, operation, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The parts of `aiosqlite.Connection` SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, raw: sqlite3.Connection, *, busy_timeout_ms: int) -> None:
        self.raw = raw
        self.busy_timeout_ms = busy_timeout_ms
        self._open = True

    @property
    def _connection(self) -> sqlite3.Connection | None:  # the dialect checks it before commit and rollback
        return self.raw if self._open else None

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        return await self._off_loop(call, *args)

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        job = asyncio.ensure_future(asyncio.to_thread(self._run_waiting, call, *args))
        cancelled = False
        while not job.done():
            try:
                await asyncio.wait([job])
            except asyncio.CancelledError:
                cancelled = True  # the connection stays the thread's until its call returns
        if cancelled:
            raise asyncio.CancelledError
        return job.result()

    def _run_waiting(self, call: Callable[..., T], *args: Any) -> T:
        self.raw.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        try:
            return call(*args)
        finally:
            self.raw.execute("PRAGMA busy_timeout=0")

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        # Off the loop: a commit writes the WAL and now and then checkpoints it, with an fsync.
        await self._off_loop(self.raw.commit)

    async def rollback(self) -> None:
        self.raw.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._open:
            self._open = False
            self.raw.close()


async def connect(database: str, *, uri: bool, busy_timeout_ms: int) -> InlineConnection:
    # isolation_level=None: SQLAlchemy's events emit BEGIN; check_same_thread=False: a locked-database
    # retry runs on a worker thread while the loop waits for it.
    raw = sqlite3.connect(database, uri=uri, isolation_level=None, check_same_thread=False, timeout=0)
    return InlineConnection(raw, busy_timeout_ms=busy_timeout_ms)
