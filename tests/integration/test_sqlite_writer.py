"""SQLite's writer runs on the event loop's thread, yet waiting for another process's lock never holds the loop."""

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from openhitl.kit.db import Database
from tests.support.databases import migrated_sqlite_url

pytestmark = pytest.mark.anyio


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    return migrated_sqlite_url(tmp_path)


async def test_a_write_waits_for_another_process_lock_off_the_loop(sqlite_database: str) -> None:
    url = sqlite_database
    db = Database(url)
    other = sqlite3.connect(make_url(url).database or "", isolation_level=None)  # another process, in effect
    try:
        async with db.write() as session:  # the server is up: its first connection switched to WAL
            await session.execute(text("SELECT 1"))
        other.execute("BEGIN IMMEDIATE")  # holds SQLite's one write lock

        async def write() -> int:
            async with db.write() as session:
                await session.execute(
                    text(
                        "INSERT INTO server_secrets (name, value, created_at) VALUES ('probe', 'x', '2026-01-01')"
                    )
                )
            return 1

        writing = asyncio.create_task(write())
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
        assert not writing.done()
        other.execute("COMMIT")
        assert await writing == 1
        async with db.read() as reading:
            stored = await reading.scalar(text("SELECT value FROM server_secrets WHERE name = 'probe'"))
        assert stored == "x"
    finally:
        other.close()
        await db.dispose()


async def test_statements_that_fail_for_other_reasons_fail_at_once(sqlite_database: str) -> None:
    url = sqlite_database
    db = Database(url)
    try:
        with pytest.raises(Exception, match="no such table"):
            async with db.write() as session:
                await session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        async with db.write() as session:  # the writer is usable again
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_the_writer_commits_in_place_and_its_wal_is_checkpointed_beside_it(
    sqlite_database: str,
) -> None:
    db = Database(sqlite_database)
    assert db.checkpointer is not None
    db.checkpointer.every = 10
    path = make_url(sqlite_database).database or ""

    async def insert(number: int) -> None:
        async with db.write() as session:
            await session.execute(
                text("INSERT INTO server_secrets (name, value, created_at) VALUES (:n, 'x', '2026-01-01')"),
                {"n": f"probe-{number}"},
            )

    def in_file() -> int:
        # A connection that ignores the WAL: only what a checkpoint copied into the database file.
        copied = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return int(
                copied.execute("SELECT count(*) FROM server_secrets WHERE name LIKE 'probe-%'").fetchone()[0]
            )
        finally:
            copied.close()

    try:
        async with db.write() as session:
            autocheckpoint = await session.scalar(text("PRAGMA wal_autocheckpoint"))
        assert autocheckpoint == 0  # no checkpoint (and its fsync) inside a commit on the loop
        for number in range(9):  # commits 2 to 10: the tenth starts a checkpoint on a worker thread
            await insert(number)
        await db.checkpointer.settled()
        assert in_file() == 9
        for number in range(9, 14):  # five more commits stay in the WAL: no commit checkpoints by itself
            await insert(number)
        await db.checkpointer.settled()
        assert in_file() == 9
        async with db.read() as reading:
            assert (
                await reading.scalar(text("SELECT count(*) FROM server_secrets WHERE name LIKE 'probe-%'"))
                == 14
            )
    finally:
        await db.dispose()


async def test_under_steady_writes_the_wal_starts_over_once_it_is_long(sqlite_database: str) -> None:
    """A checkpoint that runs while a write transaction is open can never let the WAL start over by itself
    (the writer commits more frames before its next transaction begins): the writer does, between two
    units of work, once the WAL is `restart_frames` long."""
    db = Database(sqlite_database)
    assert db.checkpointer is not None
    db.checkpointer.every = 1_000_000  # checkpoints run only where this test runs them
    db.checkpointer.restart_frames = 10
    path = make_url(sqlite_database).database or ""
    numbers = iter(range(1_000_000))

    async def insert(session: Any) -> None:
        await session.execute(
            text("INSERT INTO server_secrets (name, value, created_at) VALUES (:n, 'x', '2026-01-01')"),
            {"n": f"probe-{next(numbers)}"},
        )

    def wal_salts() -> bytes:
        """The WAL header's salts, which change each time the WAL starts over (read without a checkpoint)."""
        return Path(f"{path}-wal").read_bytes()[16:24]

    try:
        for _ in range(20):
            async with db.write() as session:
                await insert(session)
        before = wal_salts()
        async with db.write() as session:  # steady writes: the checkpoint runs inside a write transaction
            await insert(session)
            await asyncio.to_thread(db.checkpointer.checkpoint)
        async with db.write() as session:  # the next write transaction began on a WAL started over
            await insert(session)
        assert wal_salts() != before
        assert db.checkpointer.restarts == 1 and not db.checkpointer.restart_due
        async with db.read() as reading:
            assert (
                await reading.scalar(text("SELECT count(*) FROM server_secrets WHERE name LIKE 'probe-%'"))
                == 22
            )
    finally:
        await db.dispose()
