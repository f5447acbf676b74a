"""The reviewer's queue reads open requests only: with a million stored it must not walk every request its
loops ever had (DESIGN.md §7: the inbox answers within 50 ms p99 at that size)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from openhitl.kit.db import Database
from openhitl.reviewers import repository
from tests.integration.test_sweeper_plans import plan_of

pytestmark = pytest.mark.anyio


async def queue_statements(db: Database, *, others_claims: bool) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM requests" in statement:
            seen.append((statement, parameters))

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.read() as session:
            await repository.queue(
                session,
                user_id="0" * 24,
                now=datetime.now(UTC),
                loop_id=None,
                priority=None,
                limit=50,
                offset=0,
                others_claims=others_claims,
            )
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("others_claims", [False, True], ids=["api-inbox", "app-queue"])
async def test_the_queue_reaches_open_requests_through_the_index(db: Database, others_claims: bool) -> None:
    statements = await queue_statements(db, others_claims=others_claims)
    assert len(statements) == 2  # the count and the page
    for statement, parameters in statements:
        plan = await plan_of(db, statement, parameters)
        if db.dialect == "sqlite":
            reads = [line for line in plan.splitlines() if " requests " in f"{line} "]
            assert reads and all("status=" in line for line in reads), f"{statement}\n{plan}"
        else:
            # The status bounds the index scan (an Index Cond, or the partial index of open requests), not
            # a Filter applied to every row the scan returns.
            open_only = "ix_requests_open_timeout_at" in plan or any(
                "Index Cond" in line and "status" in line for line in plan.splitlines()
            )
            assert "Seq Scan on requests" not in plan and open_only, f"{statement}\n{plan}"
