"""Engines and units of work. Every dialect difference of the storage layer lives here."""

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import BigInteger, MetaData, bindparam, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from openhitl.kit import prepared, sqlite_inline, versions
from openhitl.kit.batch import GroupCommit
from openhitl.kit.work import ReadingSession, UnitOfWork, WritingSession

log = structlog.get_logger("openhitl.db")
# What runs at each commit: inside the transaction, last (the event log is written there), and once the
# commit is durable (the event feed, the key cache, the hints to other processes).
BeforeCommit = Callable[[WritingSession], Awaitable[None]]
AfterCommit = Callable[[UnitOfWork], None]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


COMMIT_ORDER_LOCK = 0x6F68_6576  # "ohev"
# SQLSTATEs of a database that is out of reach for now: class 08 (connection exceptions), no connection slot
# free (53300, too many clients), and an administrator's shutdown, a crash shutdown, or a server starting up.
UNAVAILABLE_SQLSTATES = ("08", "53300", "57P01", "57P02", "57P03")
BUSY_TIMEOUT_MS = 10_000
LOOKUP_POOL_SIZE = 4
_COMMIT_ORDER = prepared.Statements(
    lambda: select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def normalise_url(url: str) -> str:
    """Accept plain driver-less URLs (postgresql://, sqlite://) and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached, or the connection died under the unit of work: not a bug, and
    the same call may well succeed a moment later (the pool replaces dead connections as it hands them out).
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    return isinstance(exc, OSError | TimeoutError) or "connection is closed" in str(exc)


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn.isolation_level is not None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        pragmas = (
            "journal_mode=WAL",
            f"busy_timeout={busy_timeout_ms}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        )
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred BEGIN cannot upgrade to a writer once another writer committed: writes start IMMEDIATE.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Session factories: `write()` for units of work that change data, `read()` for the rest, and
    `lookup()` for reads of a handful of rows by key.

    On SQLite the writer is one connection (SQLite has one writer anyway, and queueing in the pool is
    cheaper than SQLite's sleeping busy handler); readers run beside it under WAL. The writer and the
    lookups run on the event loop's thread (kit/sqlite_inline.py); `read()` keeps aiosqlite's threads, so
    a query that scans never holds the loop. On PostgreSQL all three share one pool; reads autocommit.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        versions.check_installed()
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if sqlite3.sqlite_version_info < (3, 35):
                raise RuntimeError(f"SQLite >= 3.35 is needed for RETURNING; found {sqlite3.sqlite_version}")
            ensure_sqlite_directory(self.url)
            database, uri = parsed.database or "", bool(parsed.query.get("uri"))
            inline = partial(sqlite_inline.connect, database, uri=uri, busy_timeout_ms=BUSY_TIMEOUT_MS)
            in_memory = database in ("", ":memory:") or "mode=memory" in database
            self.checkpointer = None if in_memory else sqlite_inline.Checkpointer(database, uri=uri)
            self.write_engine = create_async_engine(
                self.url,
                echo=echo,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                async_creator=partial(inline, checkpointer=self.checkpointer),
            )
            self.lookup_engine = create_async_engine(
                self.url, echo=echo, pool_size=LOOKUP_POOL_SIZE, max_overflow=0, async_creator=inline
            )
            self.read_engine = create_async_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=0,
                connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
            )
            _configure_sqlite(self.write_engine, immediate=True, busy_timeout_ms=0)
            _configure_sqlite(self.lookup_engine, immediate=False, busy_timeout_ms=0)
            _configure_sqlite(self.read_engine, immediate=False, busy_timeout_ms=BUSY_TIMEOUT_MS)
        else:
            self.checkpointer = None
            # No pre-ping: it costs a round trip per unit of work. A connection found dead mid-statement
            # invalidates the whole pool (SQLAlchemy recycles every older connection at its next checkout)
            # and that unit of work answers 503, like any other moment the database is out of reach.
            self.write_engine = create_async_engine(
                self.url, echo=echo, pool_size=pool_size, max_overflow=pool_size
            )
            # Reads run without BEGIN and COMMIT (two round trips of three for a one-statement read): at READ
            # COMMITTED each statement sees its own snapshot inside a transaction too. Same pool; the
            # asyncpg adapter switches a connection's autocommit on checkout without a round trip.
            self.read_engine = self.lookup_engine = self.write_engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        self.before_commit: tuple[BeforeCommit, ...] = ()
        self.after_commit: tuple[AfterCommit, ...] = ()
        self.channels: Any = None
        # SQLite has one writer: one batch at a time. PostgreSQL runs a few side by side.
        self.group_commit = GroupCommit(
            self, drainers=1 if self.dialect == "sqlite" else max(1, pool_size // 2)
        )
        self._writer = async_sessionmaker(
            self.write_engine, class_=WritingSession, expire_on_commit=False, autoflush=False
        )
        self._reader = async_sessionmaker(
            self.read_engine, class_=ReadingSession, expire_on_commit=False, autoflush=False
        )
        self._looker = async_sessionmaker(
            self.lookup_engine, class_=ReadingSession, expire_on_commit=False, autoflush=False
        )

    def listen(
        self,
        *,
        before_commit: Sequence[BeforeCommit],
        after_commit: Sequence[AfterCommit],
        channels: Any = None,
    ) -> None:
        """Wires what runs at every commit, in this order, and the channels changes reach (delivery/fanout.py).
        Called once, where the app is built."""
        self.before_commit = tuple(before_commit)
        self.after_commit = tuple(after_commit)
        self.channels = channels

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WritingSession]:
        """One unit of work: commits when the block ends normally, rolls back otherwise.

        The `before_commit` listeners run last inside the transaction; the `after_commit` ones get the
        `UnitOfWork` once the commit is durable. Those are hints to this process (streams, caches, other
        replicas): each runs on its own, and one that fails is logged, never reported as a failed write.
        """
        async with self._writer() as session:
            work = session.work = UnitOfWork(channels=self.channels)
            async with session.begin():
                yield session
                for hook in self.before_commit:
                    await hook(session)
                if work.events:
                    raise RuntimeError(
                        "events recorded but no event log writer is listening (Database.listen)"
                    )
        for after in self.after_commit:
            try:
                after(work)
            except Exception:
                log.exception("after-commit listener failed; the commit stands", listener=repr(after))

    async def serialize_commits(self, session: WritingSession) -> None:
        """Make commit order follow id order for what is inserted from here to the commit.

        SQLite has one writer, so it already does. PostgreSQL hands out sequence values at insert time and
        transactions may commit out of that order; a transaction-scoped advisory lock, taken just before the
        last insert and released by the commit, keeps readers that resume "after id N" from missing rows.
        """
        if self.dialect == "postgresql":
            connection = await prepared.driver(session)
            await connection.execute(_COMMIT_ORDER, {"key": COMMIT_ORDER_LOCK})

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ReadingSession]:
        async with self._reader() as session, session.begin():
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[ReadingSession]:
        """A read of a few rows by key or through an index. On SQLite it runs on the event loop's thread,
        so nothing that scans may use it: that goes to `read()`."""
        async with self._looker() as session, session.begin():
            yield session

    async def lookup_rows(
        self, statements: prepared.Statements, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """A prepared read (kit/prepared.py) on a lookup connection, without a session around it: for the
        reads an idle server repeats every second, where the ORM's work per statement is most of the cost.
        Same rules as `lookup()`: by key or through an index, nothing that scans. On PostgreSQL the
        connection autocommits; on SQLite the statement is a transaction of its own."""
        async with self.lookup_engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = prepared.Driver(connection.dialect, raw.driver_connection)
            return await driver.fetchall(statements, values or {})

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.checkpointer is not None:
            await self.checkpointer.close()
        if self.dialect == "sqlite":  # elsewhere the three share the write engine's pool
            await self.read_engine.dispose()
            await self.lookup_engine.dispose()
