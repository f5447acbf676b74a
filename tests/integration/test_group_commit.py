"""Statements sent straight to the driver, and creates committed together, on SQLite and PostgreSQL."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, text

from openhitl.kit import prepared
from openhitl.kit.db import Database
from openhitl.kit.errors import NotFound
from openhitl.kit.work import ReadOnly, WritingSession
from openhitl.realtime import events
from openhitl.realtime.models import Event

pytestmark = pytest.mark.anyio
KEYS = ("type", "loop_id", "request_id", "actor_id", "data", "created_at")
INSERT = prepared.Statements(lambda: insert(cast(Table, Event.__table__)), keys=KEYS)
SELECT = prepared.Statements(
    lambda: select(Event.data, Event.created_at).where(Event.type == bindparam("type")).limit(1)
)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "loop_id": None,
        "request_id": None,
        "actor_id": None,
        "data": data,
        "created_at": datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC),
    }


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=4)
    database.listen(before_commit=[events.log_writer(database)], after_commit=[])
    try:
        yield database
    finally:
        await database.dispose()


async def count(db: Database, kind: str) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(text("SELECT count(*) FROM events WHERE type = :t"), {"t": kind}) or 0
        )


async def test_driver_statements_store_and_read_values_as_sqlalchemy_does(db: Database) -> None:
    async with db.write() as session:
        connection = await prepared.driver(session)
        await connection.execute(INSERT, event("typed", nested={"a": [1, 2]}, text="é"))
    async with db.write() as session:
        connection = await prepared.driver(session)
        raw = await connection.fetchone(SELECT, {"type": "typed"})
        orm = (await session.execute(select(Event).where(Event.type == "typed"))).scalar_one()
    assert (
        raw
        == (orm.data, orm.created_at)
        == ({"nested": {"a": [1, 2]}, "text": "é"}, event("x")["created_at"])
    )


async def test_driver_statements_roll_back_with_their_unit_of_work_and_savepoint(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            connection = await prepared.driver(session)  # its first statement: BEGIN comes before it
            await connection.execute(INSERT, event("undone"))
            raise RuntimeError("the unit of work fails")
    async with db.write() as session:
        connection = await prepared.driver(session)
        await connection.execute(INSERT, event("kept"))
        with pytest.raises(RuntimeError):
            async with prepared.savepoint(session):
                await connection.execute(INSERT, event("undone"))
                raise RuntimeError("the savepoint fails")
    assert await count(db, "undone") == 0
    assert await count(db, "kept") == 1


def recording(db: Database, kind: str, *, fail: BaseException | None = None) -> Any:
    async def job(session: WritingSession) -> str:
        await events.append_event(session, type=kind, at=datetime.now(UTC))
        connection = await prepared.driver(session)
        await connection.execute(INSERT, event(f"{kind}-row"))
        if fail is not None:
            raise fail
        return kind

    return job


async def test_jobs_queued_together_commit_in_one_transaction(db: Database) -> None:
    committed: list[list[str]] = []
    db.listen(
        before_commit=db.before_commit,
        after_commit=[lambda work: committed.append([e["type"] for e in work.written_events])],
    )
    kinds = [f"job-{n}" for n in range(12)]
    results = await asyncio.gather(*(db.group_commit.run(recording(db, kind)) for kind in kinds))
    assert results == kinds
    # All twelve were queued before the drainer's first turn: one transaction, one commit, ids in order.
    assert db.group_commit.batches == 1
    assert committed == [kinds]
    for kind in kinds:
        assert await count(db, kind) == 1 and await count(db, f"{kind}-row") == 1


async def test_a_failing_job_leaves_nothing_and_the_others_commit(db: Database) -> None:
    jobs = [
        recording(db, "before"),
        recording(db, "failing", fail=NotFound("Loop not found")),
        recording(db, "after"),
    ]
    outcomes = await asyncio.gather(*(db.group_commit.run(job) for job in jobs), return_exceptions=True)
    assert outcomes[0] == "before" and outcomes[2] == "after"
    assert isinstance(outcomes[1], NotFound)
    assert await count(db, "failing") == 0 and await count(db, "failing-row") == 0  # event and row gone
    assert await count(db, "before-row") == 1 and await count(db, "after") == 1


async def test_when_the_commit_fails_every_job_of_the_batch_hears_it(db: Database) -> None:
    async def refuse(_: WritingSession) -> None:
        raise OSError("disk full")

    db.listen(before_commit=[*db.before_commit, refuse], after_commit=db.after_commit)
    outcomes = await asyncio.gather(
        *(db.group_commit.run(recording(db, f"lost-{n}")) for n in range(3)), return_exceptions=True
    )
    db.listen(before_commit=db.before_commit[:-1], after_commit=db.after_commit)
    assert all(isinstance(outcome, OSError) for outcome in outcomes), outcomes
    assert await count(db, "lost-0-row") + await count(db, "lost-1-row") + await count(db, "lost-2-row") == 0
    assert await db.group_commit.run(recording(db, "later")) == "later"  # the next batch is fine


async def test_a_job_whose_statement_fails_in_the_database_does_not_spoil_the_batch(db: Database) -> None:
    async def broken(session: WritingSession) -> None:
        # type is NOT NULL: PostgreSQL aborts the transaction until the savepoint is rolled back
        await session.execute(
            text("INSERT INTO events (type, data, created_at) VALUES (NULL, '{}', '2026-01-01')")
        )

    outcomes = await asyncio.gather(
        db.group_commit.run(recording(db, "first")),
        db.group_commit.run(broken),
        db.group_commit.run(recording(db, "third")),
        return_exceptions=True,
    )
    assert outcomes[0] == "first" and outcomes[2] == "third" and isinstance(outcomes[1], Exception)
    assert await count(db, "first-row") == 1 and await count(db, "third") == 1


def deferring(kind: str) -> Any:
    """A job whose row waits for the end of the batch (prepared.execute_soon); a None kind breaks it there."""

    async def job(session: WritingSession) -> str | None:
        await prepared.execute_soon(session, INSERT, {**event("deferred"), "type": kind})
        return kind

    return job


async def test_deferred_rows_go_in_at_the_end_and_a_bad_one_fails_only_its_job(db: Database) -> None:
    outcomes = await asyncio.gather(
        *(db.group_commit.run(deferring(kind)) for kind in ("kept-1", None, "kept-2")),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert outcomes[0] == "kept-1" and outcomes[2] == "kept-2", outcomes
    assert isinstance(outcomes[1], Exception) and "null" in str(outcomes[1]).lower()
    # The batch failed at its deferred insert, was rolled back whole, and ran again job by job.
    assert db.group_commit.batches == 1
    assert await count(db, "kept-1") == 1 and await count(db, "kept-2") == 1
    async with db.write() as session:  # outside a batch nothing is deferred: the row is there at once
        await prepared.execute_soon(session, INSERT, event("at-once"))
        assert await session.scalar(text("SELECT count(*) FROM events WHERE type = 'at-once'")) == 1


async def test_a_failing_after_commit_listener_leaves_every_job_answered_and_stored_once(
    db: Database,
) -> None:
    heard: list[int] = []

    def broken(_: Any) -> None:
        raise RuntimeError("a listener's bug")

    db.listen(
        before_commit=db.before_commit,
        after_commit=[broken, lambda work: heard.append(len(work.written_events))],
    )
    kinds = [f"heard-{n}" for n in range(6)]
    results = await asyncio.gather(*(db.group_commit.run(recording(db, kind)) for kind in kinds))
    assert results == kinds  # the commit's answer stands
    for kind in kinds:
        assert await count(db, kind) == 1 and await count(db, f"{kind}-row") == 1
    assert sum(heard) == len(kinds)  # the listeners after the broken one still ran


async def test_events_recorded_without_a_log_writer_fail_the_unit_of_work(database_url: str) -> None:
    bare = Database(database_url, pool_size=1)  # nothing listening: the events would be lost
    try:
        with pytest.raises(RuntimeError, match="no event log writer"):
            async with bare.write() as session:
                await events.append_event(session, type="lost", at=datetime.now(UTC))
                await session.execute(
                    text("INSERT INTO events (type, data, created_at) VALUES ('row', '{}', '2026-01-01')")
                )
        assert await count(bare, "row") == 0
    finally:
        await bare.dispose()


async def test_a_read_session_refuses_to_write(db: Database) -> None:
    for opened in (db.read, db.lookup):
        async with opened() as session:
            with pytest.raises(ReadOnly):
                await session.execute(insert(Event).values(**event("sneaked")))
            session.add(Event(**event("sneaked")))
            with pytest.raises(ReadOnly):
                await session.flush()
            session.expunge_all()
            # Nor a unit of work's buffers (events, hints, the driver): mypy refuses these calls too.
            with pytest.raises(ReadOnly):
                await events.append_event(session, type="sneaked", at=datetime.now(UTC))  # type: ignore[arg-type]
            with pytest.raises(ReadOnly):
                await prepared.driver(session)  # type: ignore[arg-type]
    assert await count(db, "sneaked") == 0
