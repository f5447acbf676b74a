"""The event log: changes record events in their unit of work; the log is written last, in commit order.

Writing the buffered events as the unit of work's final statement (under `Database.serialize_commits`)
makes event ids increase in commit order on every database, so a stream that resumes "after id N"
never skips an event that committed late.
"""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.db import Database
from openhitl.kit.prepared import Statements, driver
from openhitl.realtime.models import Event

PENDING = "openhitl.pending_events"
WRITTEN = "openhitl.written_events"
HINTS = "openhitl.hints"
EVENT_COLUMNS = ("type", "loop_id", "request_id", "actor_id", "data", "created_at")
_INSERT_EVENT = Statements(
    lambda: insert(cast(Table, Event.__table__)).returning(Event.__table__.c.id),
    keys=EVENT_COLUMNS,
)


def hints(session: AsyncSession) -> dict[str, Any]:
    """What this unit of work will tell the notifier after it commits (loops, requests, outbox)."""
    found: dict[str, Any] = session.info.setdefault(HINTS, {})
    return found


async def append_event(
    session: AsyncSession,
    *,
    type: str,
    at: datetime,
    loop_id: str | None = None,
    request_id: str | None = None,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.info.setdefault(PENDING, []).append(
        {
            "type": type,
            "loop_id": loop_id,
            "request_id": request_id,
            "actor_id": actor_id,
            "data": data or {},
            "created_at": at,
        }
    )
    wake = hints(session)
    if loop_id:
        wake.setdefault("loops", set()).add(loop_id)
    if request_id:
        wake.setdefault("requests", set()).add(request_id)


def install(db: Database) -> None:
    """Writes each unit of work's buffered events as its last statements.

    The written events, with their ids, stay in `session.info[WRITTEN]` for this process's event feed,
    which hands them to its streams after the commit without reading them back; the hint carries the
    last id, so a feed that has it already need not read the log.
    """

    async def write_events(session: AsyncSession) -> None:
        pending = session.info.pop(PENDING, None)
        if pending:
            await db.serialize_commits(session)
            connection = await driver(session)
            written = []
            for event in pending:  # one at a time, so ids follow the order the events were recorded in
                row = await connection.fetchone(_INSERT_EVENT, event)
                assert row is not None
                written.append({"id": row[0], **event})
            session.info.setdefault(WRITTEN, []).extend(written)
            hint = hints(session)
            hint["events"] = True
            hint["last_event_id"] = written[-1]["id"]

    db.before_commit.append(write_events)
    db.job_buffers.append(PENDING)
