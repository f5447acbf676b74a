"""Exporting requests as CSV or JSON Lines: every field, the answer raw and as shown, who answered and when,
and (in JSON Lines) each request's audit trail. Read in batches, written as it is read."""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse

from openhitl.kit.errors import BadRequest
from openhitl.kit.state import AppState
from openhitl.realtime.models import Event
from openhitl.requests import display, presenter, repository
from openhitl.requests.repository import RequestFilters
from openhitl.requests.schemas import RequestSummary

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
BATCH_SIZE = 500
# A spreadsheet runs a cell starting with one of these as a formula; request text is written by callers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The CSV's columns: every field of a request as the list shows it, with who answered spelled out.
COLUMNS = [
    *(name for name in RequestSummary.model_fields if name != "response_by_user"),
    "response_display",
    "response_by_name",
    "response_by_email",
]

OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise BadRequest("Invalid export format", f"format must be one of: {', '.join(FORMATS)}")
    return value


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return safe_cell(json.dumps(value, ensure_ascii=False))
    return safe_cell(str(value))


def record(summary: RequestSummary) -> dict[str, Any]:
    """A request as the export writes it (JSON types): the list's fields, plus the answer as shown."""
    fields = summary.model_dump(mode="json")
    fields["response_display"] = (
        display.answer_text(summary.response_type, summary.response_config, summary.response_data)
        if summary.response_data
        else None
    )
    return fields


def csv_row(fields: dict[str, Any]) -> list[str]:
    answered_by = fields.get("response_by_user") or {}
    flat = {
        **fields,
        "response_by_name": answered_by.get("name"),
        "response_by_email": answered_by.get("email"),
    }
    return [_cell(flat.get(column)) for column in COLUMNS]


def trail(events: list[tuple[Event, str | None]]) -> list[dict[str, Any]]:
    return [
        {
            "id": event.id,
            "type": event.type,
            "at": event.created_at.isoformat().replace("+00:00", "Z"),
            "actor_id": event.actor_id,
            "actor_name": name,
            "data": event.data or {},
        }
        for event, name in events
    ]


async def _batches(
    open_session: OpenSession, *, user_id: str, filters: RequestFilters, with_events: bool
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each batch read in its own short transaction: a long download holds no snapshot open."""
    after = None
    while True:
        async with open_session() as session:
            rows = await repository.export_batch(
                session, user_id=user_id, filters=filters, after=after, limit=BATCH_SIZE
            )
            records = [record(summary) for summary in await presenter.summaries(session, rows)]
            if with_events:
                trails = await repository.audit_trails(session, [request.id for request, _ in rows])
                for fields in records:
                    fields["events"] = trail(trails[fields["id"]])
        if records:
            yield records
        if len(rows) < BATCH_SIZE:
            return
        last = rows[-1][0]
        after = (last.created_at, last.id)


async def stream(
    open_session: OpenSession, *, user_id: str, filters: RequestFilters, format: str
) -> AsyncIterator[bytes]:
    """The export, one batch of lines at a time."""
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        yield buffer.getvalue().encode()
        async for records in _batches(open_session, user_id=user_id, filters=filters, with_events=False):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerows(csv_row(fields) for fields in records)
            yield buffer.getvalue().encode()
        return
    async for records in _batches(open_session, user_id=user_id, filters=filters, with_events=True):
        yield "".join(json.dumps(fields, ensure_ascii=False) + "\n" for fields in records).encode()


def download(state: AppState, *, user_id: str, filters: RequestFilters, format: str) -> StreamingResponse:
    """The export as a file to save: the API's route and the dashboard's link answer with it."""
    day = state.clock.now().strftime("%Y-%m-%d")
    return StreamingResponse(
        stream(state.db.read, user_id=user_id, filters=filters, format=format),
        media_type=FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="requests-{day}.{format}"'},
    )
