"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created and dropped here."""

import asyncio
import os
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


def create_postgres_database() -> tuple[str, str]:
    """(name, url) of a new, empty database. Fails loudly when PostgreSQL is not reachable."""
    name = f"openhitl_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


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
