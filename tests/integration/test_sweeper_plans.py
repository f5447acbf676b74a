"""The deadline sweeper runs every second on every server: its statements must use indexes, never scan the
requests table (a plan regression shows here, not as idle CPU in production)."""

from typing import Any

import pytest
from sqlalchemy import event

from openhitl.kit import prepared
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.requests.deadlines import DeadlineSweeper

pytestmark = pytest.mark.anyio


async def sweeper_statements(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every statement on `requests` that an idle sweep and a sweep with nothing due execute, through
    SQLAlchemy or prepared (kit/prepared.py)."""
    seen: dict[tuple[int, str], Any] = {}
    fetchall = prepared.Driver.fetchall

    async def fetch_and_record(
        driver: prepared.Driver, statements: prepared.Statements, values: Any
    ) -> list[tuple[Any, ...]]:
        compiled = statements.get(driver.dialect)
        seen[(id(compiled), compiled.sql)] = tuple(compiled.arguments(values))
        return await fetchall(driver, statements, values)

    monkeypatch.setattr(prepared.Driver, "fetchall", fetch_and_record)

    def record(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "requests" in statement:
            # By cursor: an engine made with execution_options also fires its parent's listeners.
            seen[(id(cursor), statement)] = parameters

    engines = {db.write_engine.sync_engine, db.read_engine.sync_engine, db.lookup_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        sweeper = DeadlineSweeper(db, Clock())
        await sweeper.next_deadline()
        await sweeper.run_once()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    return [(statement, parameters) for (_, statement), parameters in seen.items()]


async def plan_of(db: Database, statement: str, parameters: Any) -> str:
    async with db.write_engine.connect() as connection:
        if db.dialect == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # An index the query can use beats any sequential scan once those are priced out.
        await connection.exec_driver_sql("SET enable_seqscan = off")
        rows = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


async def test_the_sweeper_never_scans_the_requests_table(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = await sweeper_statements(db, monkeypatch)
    # min(timeout_at) and min(claim_expires_at) in one, then each sweep's UPDATE … WHERE id IN (SELECT …)
    assert len(statements) == 3
    for statement, parameters in statements:
        plan = await plan_of(db, statement, parameters)
        assert "SCAN requests" not in plan and "Seq Scan on requests" not in plan, f"{statement}\n{plan}"
