"""Fixtures for integration tests: databases and a database handle per backend, an owner with a loop."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from openhitl.kit.db import Database
from tests.conftest import BACKENDS
from tests.support.databases import migrated_database, throwaway_database
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP


@dataclass
class Owner:
    account: Account
    http: httpx.Client
    loop_id: str


@pytest.fixture
def owner(server: LiveServer) -> Owner:
    account = server.account("owner")
    http = server.client(account)
    answer = http.post("/v1/api/loops", json=SEED_LOOP)
    assert answer.status_code == 201, answer.text
    return Owner(account=account, http=http, loop_id=answer.json()["data"]["loop"]["id"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of each kind, dropped afterwards."""
    with throwaway_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database of each kind with the schema migrated in, dropped afterwards."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()
