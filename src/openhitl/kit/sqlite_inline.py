"""SQLite on the event loop's own thread, for the single writer connection.

aiosqlite runs every call (cursor, execute, fetch, close) as a job on a thread of its own: each is a thread
hand-off and an event-loop wake-up, several per statement, and together they cost more CPU than SQLite
itself, which with WAL and `synchronous=NORMAL` writes without waiting for the disk (BENCHMARKS.md, "Where
the create-request time goes"). This connection has
aiosqlite's shape, so SQLAlchemy's aiosqlite dialect drives it unchanged, but its coroutines run the
`sqlite3` calls in place.

Two things could hold the event loop, and both go to a worker thread instead:

- Waiting for a lock another process holds (an `openhitl worker`, a CLI command): the connection's own
  busy timeout is 0, so a statement that finds the database locked fails at once and is retried on a
  thread with the full busy timeout. Nothing else uses the connection meanwhile: the pool hands it to one
  unit of work at a time, and that unit of work is awaiting the thread.
- Checkpoints, which copy the WAL into the database file and fsync it. A commit with WAL and
  `synchronous=NORMAL` only appends to the WAL (no fsync), so it runs in place; the writer's automatic
  checkpoint, which would run inside some commit, is switched off, and a `Checkpointer` runs a passive
  checkpoint from a connection of its own on a worker thread every `CHECKPOINT_EVERY` commits instead.

The WAL starts over from its first frame only when a write transaction begins with every frame already
copied. Under steady writes a checkpoint on another thread never sees that: a write transaction is open
while it copies, and commits more frames before the next one begins. The WAL then grew by every commit for
as long as the load lasted (~6.5 KB per created request: gigabytes after some hundred thousand), and so did
what readers search through it. So once a checkpoint finds `RESTART_FRAMES` frames, the writer, right after
its next commit and before it lets the next unit of work in, waits (off the loop) for a RESTART checkpoint:
it copies the few frames committed since, and the next write transaction starts the WAL over.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("openhitl.db")
# SQLite's own automatic checkpoint runs at 1,000 WAL pages; a create request writes ~6 pages.
CHECKPOINT_EVERY = 200
# A WAL this long (32 MiB with 4 KiB pages) is started over (see above); SQLite's own automatic checkpoint,
# from inside a commit, would keep it near 1,000 frames.
RESTART_FRAMES = 8192
# How long a restart may wait for readers to leave the WAL, while writes wait for it; past that it is tried
# again after a later checkpoint.
RESTART_WAIT_MS = 100

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


class Checkpointer:
    """Passive WAL checkpoints for a writer whose automatic ones are off, on a worker thread.

    Passive: it copies what no reader still needs and never waits for or blocks anyone; what it cannot copy
    yet is copied by a later one. Failures are logged and retried at the next turn. Once the WAL is
    `restart_frames` long, `restart_due` asks the writer for a moment without writes to start it over.
    """

    def __init__(
        self, database: str, *, uri: bool, every: int = CHECKPOINT_EVERY, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.database = database
        self.uri = uri
        self.every = every
        self.restart_frames = restart_frames
        self.restart_due = False
        self.restarts = 0  # how many restarts went through, for tests and metrics
        self._commits = 0
        self._running: asyncio.Future[None] | None = None
        self._connection: sqlite3.Connection | None = None

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= self.every and (self._running is None or self._running.done()):
            self._commits = 0
            self._running = asyncio.get_running_loop().run_in_executor(None, self.checkpoint)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite3.connect(
                self.database,
                uri=self.uri,
                isolation_level=None,
                check_same_thread=False,
                timeout=RESTART_WAIT_MS / 1000,
            )
        return self._connection

    def checkpoint(self) -> None:
        try:
            _busy, frames, _copied = self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            log.warning("WAL checkpoint failed; the next one will catch up", error=str(error))
            return
        if frames >= self.restart_frames:
            self.restart_due = True

    def _restart(self) -> None:
        try:
            busy, _frames, _copied = self._connect().execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as error:
            log.warning("WAL restart failed; a later checkpoint asks again", error=str(error))
            return
        if not busy:  # else a reader still needed the WAL: a later checkpoint asks again
            self.restarts += 1

    async def restart(self) -> None:
        """Copies the rest of the WAL and waits for readers to leave it, so that the next write transaction
        starts it over. The writer calls it between its commit and its next transaction."""
        self.restart_due = False
        await self.settled()
        await asyncio.get_running_loop().run_in_executor(None, self._restart)

    async def settled(self) -> None:
        """Returns once the checkpoint under way (if any) has finished."""
        if self._running is not None:
            with suppress(Exception):
                await self._running

    async def close(self) -> None:
        await self.settled()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class InlineConnection:
    """The parts of `aiosqlite.Connection` SQLAlchemy's aiosqlite dialect uses."""

    def __init__(
        self, raw: sqlite3.Connection, *, busy_timeout_ms: int, checkpointer: Checkpointer | None = None
    ) -> None:
        self.raw = raw
        self.busy_timeout_ms = busy_timeout_ms
        self.checkpointer = checkpointer
        self._open = True

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # aiosqlite's private name, which SQLAlchemy's adapter checks before commit and rollback; the
        # SQLAlchemy versions that do so are pinned and checked at start-up by kit/versions.py.
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

    async def fetchall(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """One statement and all its rows, for statements prepared by kit/prepared.py."""
        cursor = await self.run(self.raw.execute, sql, parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def execute_now(self, sql: str, parameters: Sequence[Any]) -> None:
        (await self.run(self.raw.execute, sql, parameters)).close()

    async def commit(self) -> None:
        # In place: with the automatic checkpoint off (see Checkpointer) a commit only appends to the WAL.
        await self.run(self.raw.commit)
        if self.checkpointer is not None:
            if self.checkpointer.restart_due:  # the pool hands this connection to nobody meanwhile
                await self.checkpointer.restart()
            self.checkpointer.committed()

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


async def connect(
    database: str, *, uri: bool, busy_timeout_ms: int, checkpointer: Checkpointer | None = None
) -> InlineConnection:
    """A connection for the writer (with the checkpointer that stands in for its automatic checkpoints)
    or for lookups (which only read, and leave checkpoints to SQLite)."""
    # isolation_level=None: SQLAlchemy's events emit BEGIN; check_same_thread=False: a locked-database
    # retry runs on a worker thread while the loop waits for it.
    raw = sqlite3.connect(database, uri=uri, isolation_level=None, check_same_thread=False, timeout=0)
    if checkpointer is not None:
        raw.execute("PRAGMA wal_autocheckpoint=0").close()
    return InlineConnection(raw, busy_timeout_ms=busy_timeout_ms, checkpointer=checkpointer)
