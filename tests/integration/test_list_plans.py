"""Request lists at scale (DESIGN.md §7: list pages within 50 ms p99 with a million requests stored): a page
is read loop by loop from an index in the list's order, never by sorting every readable request, and its
total comes from the tally, not from counting the requests."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from openhitl.accounts.service import get_or_create_user
from openhitl.channels import Channels
from openhitl.kit.db import Database
from openhitl.loops import service as loops
from openhitl.loops.schemas import LoopCreate
from openhitl.realtime import events
from openhitl.requests import repository
from openhitl.requests.repository import RequestFilters
from tests.integration.test_sweeper_plans import plan_of

pytestmark = pytest.mark.anyio
NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


async def list_statements(db: Database, filters: RequestFilters) -> list[tuple[str, Any]]:
    db.listen(before_commit=[events.log_writer(db)], after_commit=[], channels=Channels())
    async with db.write() as session:
        owner = await get_or_create_user(session, email="owner@example.com", name="Owner", now=NOW)
        for name in ("Refunds", "Moderation", "Contracts"):
            await loops.create(
                session, creator=owner, data=LoopCreate(name=name, icon="shield-check"), now=NOW
            )
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "request" in statement:  # the requests and their tally
            seen.append((statement, parameters))

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.read() as reading:
            await repository.list_readable(reading, user_id=owner.id, filters=filters, limit=50, offset=0)
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("sort", ["created_at_desc", "created_at_asc"])
async def test_a_page_reads_each_loop_from_its_index_and_the_total_from_the_tally(
    db: Database, sort: str
) -> None:
    statements = await list_statements(db, RequestFilters(sort=sort))
    counts = [s for s, _ in statements if "count(" in s.lower() or "sum(" in s.lower()]
    assert counts and all("FROM request_tallies" in s and "FROM requests" not in s for s in counts)
    (page, parameters), *_ = [(s, p) for s, p in statements if "FROM requests" in s]
    plan = await plan_of(db, page, parameters)
    if db.dialect == "sqlite":
        assert "SCAN requests" not in plan, plan
        branches = [line for line in plan.splitlines() if "ix_requests_loop_created" in line]
        assert len(branches) == 3, plan  # one per loop, each from the index in the list's order
        # Each branch is materialised with its LIMIT before anything is sorted: the sorts left are of
        # at most 3 times 50 rows, not of every request.
        assert plan.count("MATERIALIZE") == 3, plan
        assert plan.count("USE TEMP B-TREE FOR ORDER BY") <= 3, plan
    else:
        assert "Seq Scan on requests" not in plan, plan
        assert plan.count("ix_requests_loop_created") == 3, plan
        assert plan.count("Sort  (") == 1, plan  # the page's, over the branches' rows
