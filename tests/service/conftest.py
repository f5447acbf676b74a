"""Service tests: the domain rules called as functions, each test in a transaction rolled back at its end.

Each backend's database is made once per test process (a copy of the migrated one). Every test gets a
session on the server's own write engine, inside a transaction that is never committed: the service's
savepoints and driver statements run as they do in production, and the next test starts from an empty
database without paying for one of its own.
"""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from openhitl.accounts.models import User
from openhitl.accounts.service import get_or_create_user
from openhitl.channels import Channels
from openhitl.config import Settings
from openhitl.kit.db import Database
from openhitl.kit.work import UnitOfWork, WritingSession
from openhitl.loops import service as loops
from openhitl.loops.models import Loop
from openhitl.loops.schemas import LoopCreate, LoopSettings
from openhitl.requests import service as requests
from openhitl.requests.models import Request
from openhitl.requests.schemas import RequestCreate
from openhitl.reviewers import service as reviewers
from tests.conftest import BACKENDS, make_settings
from tests.support.databases import migrated_database
from tests.support.payloads import request_body

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-wide, so that a module's tests share one event loop and with it the engine below."""
    return "asyncio"


@pytest.fixture(
    scope="session",
    params=[pytest.param(b, marks=[pytest.mark.postgres] if b == "postgres" else []) for b in BACKENDS],
)
def schema(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a database of each kind with the schema migrated in, for the whole session."""
    with migrated_database(request.param, tmp_path_factory.mktemp(f"service-{request.param}")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(schema: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("settings"), schema)


@pytest.fixture(scope="module")
async def database(schema: str) -> AsyncIterator[Database]:
    """The server's engines, kept for a module's tests: SQLAlchemy caches compiled statements per engine,
    and a new one for every test would compile them all again (half of a test's time)."""
    database = Database(schema, pool_size=1)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[WritingSession]:
    """A session as `Database.write()` makes it, in a transaction rolled back after the test. The service's
    own commits (if any) and savepoints become savepoints inside it."""
    async with database.write_engine.connect() as connection:
        transaction = await connection.begin()
        session = WritingSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
        )
        session.work = UnitOfWork(channels=Channels())  # what the app wires (runtime.py)
        try:
            # A test that left rows behind would show here, in the test after it.
            assert await session.scalar(select(func.count()).select_from(User)) == 0
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@dataclass(frozen=True)
class Team:
    """A loop and the people around it: its creator, an admin, a plain member, and someone outside it."""

    loop: Loop
    creator: User
    admin: User
    member: User
    stranger: User


async def person(session: WritingSession, name: str) -> User:
    return await get_or_create_user(session, email=f"{name}@example.com", name=name.title(), now=NOW)


async def make_team(session: WritingSession, **loop_settings: bool) -> Team:
    creator = await person(session, "creator")
    admin, member, stranger = [await person(session, name) for name in ("admin", "member", "stranger")]
    created = await loops.create(
        session,
        creator=creator,
        data=LoopCreate(name="Moderation", icon="shield-check", settings=LoopSettings(**loop_settings)),
        now=NOW,
    )
    for joiner in (admin, member):
        await reviewers.join(session, user_id=joiner.id, invite_code=created.loop.invite_code, now=NOW)
    await loops.set_role(session, access=created, user_id=admin.id, role="admin", now=NOW)
    return Team(created.loop, creator, admin, member, stranger)


@pytest.fixture
async def team(session: WritingSession) -> Team:
    return await make_team(session)


async def create(
    session: WritingSession,
    settings: Settings,
    loop_id: str,
    user_id: str,
    *,
    idempotency_key: str | None = None,
    **overrides: Any,
) -> requests.Created:
    """A request made through the service, from the seed's body with `overrides` (... drops a field)."""
    return await requests.create(
        session,
        loop_id=loop_id,
        body=RequestCreate.model_validate(request_body(**overrides)),
        user_id=user_id,
        api_key_id=None,
        idempotency_key=idempotency_key,
        settings=settings,
        now=NOW,
    )


async def stored(session: WritingSession, request_id: str) -> Request:
    """The request's row as the database has it now."""
    statement = select(Request).where(Request.id == request_id).execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one()
