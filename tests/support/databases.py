"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created and dropped here."""

import asyncio
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg

T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get(
    "OPENHITL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def in_own_thread(work: Callable[[], T]) -> T:
    """Runs work that starts its own event loop, even when the caller's thread has one (Playwright's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'openhitl.db'}"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database() -> tuple[str, str]:
    """(name, url) of a new, empty database. Fails loudly when PostgreSQL is not reachable."""
    name = f"openhitl_test_{uuid.uuid4().hex[:12]}"
    in_own_thread(lambda: asyncio.run(_admin(f'CREATE DATABASE "{name}"')))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


def drop_postgres_database(name: str) -> None:
    in_own_thread(lambda: asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))
