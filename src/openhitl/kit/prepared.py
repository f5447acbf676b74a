"""Statements compiled once per dialect and run straight on the unit of work's driver connection.

Running a statement through SQLAlchemy (cache key, execution context, result metadata) costs more CPU than
SQLite or PostgreSQL take to run it: BENCHMARKS.md, "Where the create-request time goes", has the cost per
layer. The hottest statements (creating a request, writing the event log) are built as Core statements as usual, compiled once per dialect, and handed to
the driver with their SQL text, parameter order and the columns' own type processors, so values are
stored exactly as SQLAlchemy would store them and read back as it would read them. They run on the
session's connection, inside its transaction: what they write commits or rolls back with the rest of the
unit of work, and the ORM statements of the same unit of work see it.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

from openhitl.kit import sqlite_inline
from openhitl.kit.work import WritingSession, unit_of_work

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement, compiled for one dialect; `binds` in the order the SQL takes its parameters."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, *, keys: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(
                dialect=dialect,
                column_keys=list(keys) if keys is not None else None,
                # Lists known when the statement is built (`status_in`'s, say) written out in the SQL.
                compile_kwargs={"render_postcompile": True},
            ),
        )
        self.sql = compiled.string
        names = compiled.positiontup or []
        if keys is not None and not set(names) <= set(keys):  # a column default would need its own value
            raise ValueError(
                f"parameters {sorted(set(names) - set(keys))} are not among the statement's keys"
            )
        binds: list[tuple[str | None, Processor, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                binds.append((name, process, None))
            else:  # a value written into the statement (a literal status, say): converted once, here
                value = bind.effective_value
                binds.append((None, None, value if process is None else process(value)))
        self.binds: tuple[tuple[str | None, Processor, Any], ...] = tuple(binds)
        columns = getattr(statement, "exported_columns", ())
        self.results: tuple[Processor, ...] = tuple(
            _result_processor(column.type, dialect) for column in columns
        )
        # Most columns come back from the driver as they are stored (text, numbers): only the others are visited.
        self._converted = tuple((index, process) for index, process in enumerate(self.results) if process)

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        return [
            constant if name is None else values[name] if process is None else process(values[name])
            for name, process, constant in self.binds
        ]

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if len(raw) != len(self.results):
            raise ValueError(f"a row of {len(raw)} columns for a statement of {len(self.results)}")
        values = list(raw)
        for index, process in self._converted:
            values[index] = process(values[index])
        return tuple(values)


def _result_processor(column_type: Any, dialect: Dialect) -> Processor:
    impl = column_type.dialect_impl(dialect)
    if dialect.driver == "asyncpg" and isinstance(impl, sqltypes.Float) and not impl.asdecimal:
        # SQLAlchemy's asyncpg numerics choose by the type code a cursor reports, which no cursor gives here;
        # asyncpg returns a float column (float4 or float8) as a Python float, as that choice would leave it.
        return None
    processor: Processor = impl.result_processor(dialect, None)
    return processor


class Statements:
    """A statement prepared lazily for each dialect it meets."""

    def __init__(self, build: Callable[[], ClauseElement], *, keys: Sequence[str] | None = None) -> None:
        self._build = build
        self._keys = keys
        self._by_dialect: dict[str, Prepared] = {}

    def get(self, dialect: Dialect) -> Prepared:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = Prepared(self._build(), dialect, keys=self._keys)
        return found


class Driver:
    """The unit of work's own driver connection: sqlite3 (on the event loop's thread) or asyncpg."""

    def __init__(self, dialect: Dialect, connection: Any) -> None:
        self.dialect = dialect
        self._connection = connection
        self._sqlite = isinstance(connection, sqlite_inline.InlineConnection)
        if not self._sqlite and dialect.name == "sqlite":
            raise TypeError("prepared statements on SQLite need the writer's or the lookups' connection")

    async def fetchone(self, statements: Statements, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The row of a statement that finds at most one (by key), or None."""
        rows = await self.fetchall(statements, values)
        return rows[0] if rows else None

    async def fetchall(self, statements: Statements, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        prepared = statements.get(self.dialect)
        arguments = prepared.arguments(values)
        if self._sqlite:
            found = await self._connection.fetchall(prepared.sql, arguments)
        else:
            found = await self._connection.fetch(prepared.sql, *arguments)
        return [prepared.row(row) for row in found]

    async def executemany(self, statements: Statements, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row, sent together (asyncpg pipelines them: one round trip)."""
        prepared = statements.get(self.dialect)
        arguments = [prepared.arguments(values) for values in rows]
        if self._sqlite:
            (await self._connection.run(self._connection.raw.executemany, prepared.sql, arguments)).close()
        else:
            await self._connection.executemany(prepared.sql, arguments)

    async def savepoint(self, name: str) -> None:
        await self._plain(f"SAVEPOINT {name}")

    async def rollback_to(self, name: str) -> None:
        await self._plain(f"ROLLBACK TO SAVEPOINT {name}")

    async def release(self, name: str) -> None:
        await self._plain(f"RELEASE SAVEPOINT {name}")

    async def _plain(self, sql: str) -> None:
        if self._sqlite:
            await self._connection.execute_now(sql, ())
        else:
            await self._connection.execute(sql)

    async def execute(self, statements: Statements, values: Mapping[str, Any]) -> None:
        prepared = statements.get(self.dialect)
        arguments = prepared.arguments(values)
        if self._sqlite:
            await self._connection.execute_now(prepared.sql, arguments)
        else:
            await self._connection.execute(prepared.sql, *arguments)


async def driver(session: WritingSession) -> Driver:
    """The driver connection under this session's unit of work, its transaction begun."""
    work = unit_of_work(session)
    if work.driver is None:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        if connection.dialect.name == "postgresql":
            await _begin_asyncpg(raw.dbapi_connection)
        work.driver = Driver(connection.dialect, raw.driver_connection)
    return work.driver


async def execute_soon(session: WritingSession, statements: Statements, values: Mapping[str, Any]) -> None:
    """Runs a write now or, where the unit of work defers them (kit/batch.py's group commit), with the
    other rows of the same statement just before its commit, in one round trip. Only for writes nothing in
    the unit of work reads back, and that nothing written after them depends on (a foreign key, say)."""
    deferred = unit_of_work(session).deferred
    if deferred is None:
        await (await driver(session)).execute(statements, values)
    else:
        deferred.setdefault(statements, []).append(values)


async def write_deferred(session: WritingSession) -> None:
    """Writes what `execute_soon` deferred so far, each statement's rows in the order they came, now (before
    a read of them, say); deferring goes on for what comes later."""
    work = unit_of_work(session)
    if work.deferred:
        deferred, work.deferred = work.deferred, {}
        connection = await driver(session)
        for statements, rows in deferred.items():
            await connection.executemany(statements, rows)


async def run_deferred(session: WritingSession) -> None:
    """The writes `execute_soon` deferred; deferring ends (kit/batch.py, just before its commit)."""
    await write_deferred(session)
    unit_of_work(session).deferred = None


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """`session.begin_nested()` for blocks that run driver statements: the ORM sends SAVEPOINT with its
    next statement of its own, so the block would begin after the driver's first statement otherwise."""
    async with session.begin_nested():
        await session.connection()
        yield


async def _begin_asyncpg(adapter: Any) -> None:
    """SQLAlchemy's asyncpg adapter sends BEGIN with its own first statement; statements sent straight to
    asyncpg before that would run outside the transaction, so begin it now, as the adapter would. These
    are the adapter's private names: kit/versions.py says why, and refuses to start with a SQLAlchemy they
    were not tested with (tests/integration/test_group_commit.py exercises them)."""
    async with adapter._execute_mutex:
        if adapter._transaction is None:
            await adapter._start_transaction()
