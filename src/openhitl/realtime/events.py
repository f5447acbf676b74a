"""The event log: changes record events in their unit of work; the log is written last, in commit order.

Writing the buffered events as the unit of work's final statement (under `Database.serialize_commits`)
makes event ids increase in commit order on every database, so a stream that resumes "after id N"
never skips an event that committed late.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.db import Database
from openhitl.realtime.models import Event

PENDING = "openhitl.pending_events"
HINTS = "openhitl.hints"


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
    """Writes each unit of work's buffered events as its last statements."""

    async def write_events(session: AsyncSession) -> None:
        pending = session.info.pop(PENDING, None)
        if pending:
            await db.serialize_commits(session)
            await session.execute(insert(Event), pending)
            hints(session)["events"] = True

    db.before_commit.append(write_events)
