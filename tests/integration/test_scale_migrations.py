"""The migrations that keep lists and analytics fast at scale fill in what was stored before them exactly as
the live paths keep it: the tally of requests (0007) and the seconds to the first claim (0008). Requests
are made, claimed, answered and cancelled at head; the schema goes down below both and up again, and the
backfilled values must equal the ones kept live."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select

from openhitl.accounts.service import get_or_create_user
from openhitl.channels import Channels
from openhitl.config import Settings
from openhitl.kit.db import Database
from openhitl.loops import service as loops
from openhitl.loops.schemas import LoopCreate
from openhitl.migrations import alembic_config, upgrade_async
from openhitl.realtime import events
from openhitl.requests import service
from openhitl.requests.models import Request, RequestTally
from openhitl.requests.schemas import RequestCreate
from openhitl.reviewers import service as reviewers
from tests.conftest import make_settings
from tests.support.payloads import request_body

pytestmark = pytest.mark.anyio
NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


def wired(url: str) -> Database:
    """A Database with the commit listeners the app wires (runtime.py): the event log, and delivery."""
    db = Database(url)
    db.listen(before_commit=[events.log_writer(db)], after_commit=[], channels=Channels())
    return db


async def stored_figures(db: Database) -> tuple[dict[tuple[str, ...], int], dict[str, float | None]]:
    keys = (RequestTally.loop_id, RequestTally.creator_id, RequestTally.status, RequestTally.priority)
    async with db.read() as session:
        tally = await session.execute(select(*keys, func.sum(RequestTally.n)).group_by(*keys))
        seconds = await session.execute(select(Request.id, Request.claim_seconds))
        return (
            {tuple(row[:4]): int(row[4]) for row in tally.all() if row[4]},
            {request_id: value for request_id, value in seconds.all()},
        )


async def make_requests(db: Database, settings: Settings) -> None:
    async with db.write() as session:
        owner = await get_or_create_user(session, email="owner@example.com", name="Owner", now=NOW)
        reviewer = await get_or_create_user(session, email="rev@example.com", name="Rev", now=NOW)
        created = await loops.create(
            session, creator=owner, data=LoopCreate(name="Refunds", icon="shield-check"), now=NOW
        )
        await reviewers.join(session, user_id=reviewer.id, invite_code=created.loop.invite_code, now=NOW)
        ids = []
        for n, priority in enumerate(("low", "high", "high", "critical", "medium")):
            made = await service.create(
                session,
                loop_id=created.loop.id,
                body=RequestCreate.model_validate(request_body(priority=priority, timeout_seconds=3600)),
                user_id=owner.id,
                api_key_id=None,
                idempotency_key=None,
                settings=settings,
                now=NOW + timedelta(seconds=n),
            )
            ids.append(str(made.values["id"]))
        later = NOW + timedelta(seconds=90)
        # Claimed, released, claimed again and answered: the first claim counts.
        await reviewers.claim(session, request_id=ids[0], user_id=reviewer.id, lease_seconds=60, now=later)
        await reviewers.release(
            session, request_id=ids[0], user_id=reviewer.id, now=later + timedelta(seconds=5)
        )
        await reviewers.claim(
            session,
            request_id=ids[0],
            user_id=reviewer.id,
            lease_seconds=60,
            now=later + timedelta(seconds=9),
        )
        await reviewers.respond(
            session,
            request_id=ids[0],
            user_id=reviewer.id,
            response_data="Approve",
            now=later + timedelta(seconds=30),
        )
        # Answered straight from the queue: taken when it was answered.
        await reviewers.respond(
            session, request_id=ids[1], user_id=reviewer.id, response_data="Reject", now=later
        )
        await reviewers.claim(session, request_id=ids[2], user_id=reviewer.id, lease_seconds=60, now=later)
        found = await service.get_readable(session, request_id=ids[3], user_id=owner.id)
        await service.cancel(session, readable=found, actor_id=owner.id, reason=None, now=later)


async def test_the_tally_and_claim_seconds_backfilled_equal_the_live_ones(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url)
    db = wired(database_url)
    try:
        await make_requests(db, settings)
        live = await stored_figures(db)
    finally:
        await db.dispose()
    tally, seconds = live
    assert sum(tally.values()) == 5 and len(tally) == 5  # by status and priority: five keys here
    assert sorted(v for v in seconds.values() if v is not None) == [88.0, 89.0, 90.0]
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0006")
    await upgrade_async(database_url)
    db = wired(database_url)
    try:
        assert await stored_figures(db) == live
    finally:
        await db.dispose()
