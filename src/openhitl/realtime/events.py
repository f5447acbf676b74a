"""The event log: changes record events in their unit of work; the log is written last, in commit order.

Writing the buffered events as the unit of work's final statement (under `Database.serialize_commits`)
makes event ids increase in commit order on every database, so a stream that resumes "after id N"
never skips an event that committed late.
"""

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert

from openhitl.kit.db import BeforeCommit, Database
from openhitl.kit.prepared import Statements, driver
from openhitl.kit.work import WritingSession, unit_of_work
from openhitl.realtime.models import Event

EVENT_COLUMNS = ("type", "loop_id", "request_id", "actor_id", "data", "created_at")
MAX_ROWS = 64  # events per INSERT: a batch of creates writes its events in one statement


@cache
def _insert_events(rows: int) -> Statements:
    """INSERT of `rows` events in one statement, their values bound as `<column>_<row>`."""
    table = cast(Table, Event.__table__)

    def build() -> Any:
        values = [
            {name: bindparam(f"{name}_{row}", type_=table.c[name].type) for name in EVENT_COLUMNS}
            for row in range(rows)
        ]
        return insert(table).values(values).returning(table.c.id)

    return Statements(build, keys=[f"{name}_{row}" for row in range(rows) for name in EVENT_COLUMNS])


def hints(session: WritingSession) -> dict[str, Any]:
    """What this unit of work will tell the notifier after it commits (loops, requests, outbox)."""
    return unit_of_work(session).hints


async def append_event(
    session: WritingSession,
    *,
    type: str,
    at: datetime,
    loop_id: str | None = None,
    request_id: str | None = None,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    unit_of_work(session).events.append(
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


def closing(session: WritingSession, request: Any, responder: Any = None) -> None:
    """Keeps a request this unit of work moved to a terminal state (an ORM object with every column
    loaded), and the `UserRef` of who answered it if known, for this process's waiters: once the commit
    is handed to the event feed they answer from it, without reading the request back (realtime/router.py).
    """
    unit_of_work(session).closed[request.id] = (request, responder)


def log_writer(db: Database) -> BeforeCommit:
    """The `before_commit` listener that writes each unit of work's buffered events as its last statements.

    The written events, with their ids, stay in `UnitOfWork.written_events` for this process's event feed,
    which hands them to its streams after the commit without reading them back; the hint carries the
    last id, so a feed that has it already need not read the log.
    """

    async def write_events(session: WritingSession) -> None:
        work = session.work
        pending, work.events = work.events, []
        if pending:
            await db.serialize_commits(session)
            connection = await driver(session)
            written: list[dict[str, Any]] = []
            for start in range(0, len(pending), MAX_ROWS):
                chunk = pending[start : start + MAX_ROWS]
                values = {
                    f"{name}_{row}": value for row, event in enumerate(chunk) for name, value in event.items()
                }
                returned = await connection.fetchall(_insert_events(len(chunk)), values)
                # Both databases number a statement's rows in the order of its VALUES; RETURNING need
                # not list them in that order, so the ids are sorted back onto the events.
                ids = sorted(row[0] for row in returned)
                written.extend({"id": id, **event} for id, event in zip(ids, chunk, strict=True))
            work.written_events.extend(written)
            work.hints["events"] = True
            work.hints["last_event_id"] = written[-1]["id"]

    return write_events
