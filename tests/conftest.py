"""Shared fixtures: a live server per database backend, accounts, and HTTP clients."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from openhitl.config import Settings
from openhitl.migrations import upgrade
from tests.support.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.support.live import LiveServer

BACKENDS = ["sqlite", "postgres"]


# Every test client comes from 127.0.0.1: per-address guessing guards are opened up, except where tested.
TEST_DEFAULTS: dict[str, object] = {
    "join_attempts_per_minute_per_address": 100_000,
    "login_attempts_per_minute": 100_000,
}


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values = {**TEST_DEFAULTS, **overrides}
    return Settings(data_dir=data_dir, database_url=database_url, secret_key="test-secret-key", **values)  # type: ignore[arg-type]


def start_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, **overrides: object
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"openhitl-{backend}")
    pg_name = None
    if backend == "postgres":
        pg_name, url = create_postgres_database()
    else:
        url = sqlite_url(data_dir)
    try:
        upgrade(url)
        server = LiveServer(make_settings(data_dir, url, **overrides), backend=backend).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        if pg_name:
            drop_postgres_database(pg_name)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server per backend for the whole session; tests isolate themselves by their own accounts."""
    yield from start_server(request.param, tmp_path_factory)
