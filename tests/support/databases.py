"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created and dropped here.

Databases with the schema are copies of one migrated once per backend and test process (`migrated_*`):
migrating takes seconds (alembic, and a sync per DDL statement), a copy a fraction of that.
tests/integration/test_migrations.py checks that migrating an empty database builds the models' schema.
"""

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openhitl.kit.db import normalise_url

POSTGRES_ADMIN_URL = os.environ.get(
    "OPENHITL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'openhitl.db'}"


async def _admin(statement: str, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def admin_execute(admin_url: str, statement: str) -> None:
    """One statement outside any transaction (CREATE DATABASE cannot run in one)."""
    asyncio.run(_admin(statement, admin_url))


def create_postgres_database(template: str | None = None) -> tuple[str, str]:
    """(name, url) of a new database, empty or a copy of `template`. Fails loudly when PostgreSQL is not
    reachable."""
    name = f"openhitl_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{copy}'))
    return name, _url(name)


def _url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


def drop_postgres_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def throwaway_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database of the kind `backend` names (a SQLite file in `directory`, or a
    database on the shared PostgreSQL), dropped afterwards."""
    if backend == "sqlite":
        yield sqlite_url(directory)
        return
    name, url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


class _Templates:
    """The migrated database of each backend that this test process copies, made when first needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def sqlite_file(self) -> Path:
        with self._lock:
            if self._sqlite is None:
                from openhitl.migrations import upgrade

                directory = Path(tempfile.mkdtemp(prefix="openhitl-template-"))
                upgrade(sqlite_url(directory))
                self._sqlite = directory / "openhitl.db"
            return self._sqlite

    def postgres_name(self) -> str:
        """Only ever copied, never connected to once migrated: PostgreSQL copies a database nobody is in."""
        with self._lock:
            if self._postgres is None:
                from openhitl.migrations import upgrade

                name, url = create_postgres_database()
                upgrade(url)
                self._postgres = name
            return self._postgres

    def drop(self) -> None:
        with self._lock:
            if self._postgres is not None:
                drop_postgres_database(self._postgres)
            if self._sqlite is not None:
                shutil.rmtree(self._sqlite.parent, ignore_errors=True)
            self._sqlite = self._postgres = None


TEMPLATES = _Templates()


def migrated_sqlite_url(directory: Path) -> str:
    """The URL of a new SQLite database with the schema, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES.sqlite_file(), directory / "openhitl.db")
    return sqlite_url(directory)


def create_migrated_postgres_database() -> tuple[str, str]:
    """(name, url) of a new PostgreSQL database with the schema; drop it with drop_postgres_database."""
    return create_postgres_database(template=TEMPLATES.postgres_name())


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """`throwaway_database` with the schema migrated in."""
    if backend == "sqlite":
        yield migrated_sqlite_url(directory)
        return
    name, url = create_migrated_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


def query(url: str, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement, read straight from the database (SQLite or PostgreSQL)."""

    async def read() -> list[tuple[Any, ...]]:
        engine = create_async_engine(normalise_url(url))
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(text(sql), parameters)]
        finally:
            await engine.dispose()

    return asyncio.run(read())
