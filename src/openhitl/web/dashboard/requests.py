"""Requests for their owners: a filtered, paged table, and one request with its audit trail and deliveries."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from openhitl.kit.errors import BadRequest
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops import repository as loops_repository
from openhitl.loops.models import READER_ROLES
from openhitl.requests import export, presenter, repository, service
from openhitl.requests.models import PRIORITIES, STATUSES
from openhitl.requests.repository import SEARCH_MAX_LENGTH, RequestFilters, parse_filters
from openhitl.web.dashboard.common import ItemId, back, page
from openhitl.web.routing import page_kwargs
from openhitl.web.security import FormViewer, Viewer
from openhitl.webhooks import repository as webhooks_repository
from openhitl.webhooks import service as webhooks

router = APIRouter(prefix="/dashboard", **page_kwargs())
PAGE_SIZE = 25
DELIVERIES_SHOWN = 50
Filter = Annotated[str, Query(max_length=40)]


def parse_day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"Invalid {name} date", f"{name} must be a date like 2030-01-31") from exc


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def table_filters(
    *, loop: str, status: str, priority: str, created_from: str, created_to: str, q: str = ""
) -> RequestFilters:
    """The table's filters; the "to" day is included whole."""
    chosen = parse_filters(status or None, priority or None, loop or None, None, q)
    first, last = parse_day(created_from, "from"), parse_day(created_to, "to")
    if first and last and last < first:
        raise BadRequest("Invalid date range", "The “to” date must not be before the “from” date")
    return RequestFilters(
        status=chosen.status,
        priority=chosen.priority,
        loop_id=chosen.loop_id,
        created_from=day_start(first) if first else None,
        created_before=day_start(last + timedelta(days=1)) if last else None,
        text=chosen.text,
    )


class TableQuery:
    """The table's filters as the page's address carries them (the search box, the selects, the dates)."""

    def __init__(
        self,
        loop: Filter = "",
        status: Filter = "",
        priority: Filter = "",
        q: Annotated[str, Query(max_length=SEARCH_MAX_LENGTH)] = "",
        created_from: Annotated[str, Query(alias="from", max_length=40)] = "",
        created_to: Annotated[str, Query(alias="to", max_length=40)] = "",
    ) -> None:
        self.chosen = {
            "q": q.strip(),
            "loop": loop,
            "status": status,
            "priority": priority,
            "from": created_from,
            "to": created_to,
        }
        self.query = urlencode({name: value for name, value in self.chosen.items() if value})

    def filters(self) -> RequestFilters:
        chosen = self.chosen
        return table_filters(
            loop=chosen["loop"],
            status=chosen["status"],
            priority=chosen["priority"],
            created_from=chosen["from"],
            created_to=chosen["to"],
            q=chosen["q"],
        )


@router.get("/requests")
async def requests_table(
    request: Request,
    viewer: Viewer,
    session: ReadSession,
    table: Annotated[TableQuery, Depends()],
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    rows, total = await repository.list_readable(
        session,
        user_id=viewer.user_id,
        filters=table.filters(),
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    loops = await loops_repository.list_for_member(session, user_id=viewer.user_id)
    return page(
        request,
        "dashboard/requests.html",
        viewer=viewer,
        section="requests",
        items=await presenter.summaries(session, rows),
        total=total,
        page_number=page_number,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=table.query,
        chosen=table.chosen,
        loops=[each for each, membership in loops if membership.role in READER_ROLES],
        statuses=STATUSES,
        priorities=PRIORITIES,
        formats=list(export.FORMATS),
    )


@router.get("/requests/export")
async def export_requests(
    viewer: Viewer,
    state: State,
    table: Annotated[TableQuery, Depends()],
    format: Annotated[str, Query(max_length=10)] = "csv",
) -> Response:
    """The table's requests, with its filters, as a file (the API's export, with the table's dates too)."""
    chosen = export.check_format(format)
    return export.download(state, user_id=viewer.user_id, filters=table.filters(), format=chosen)


@router.get("/requests/{request_id}")
async def request_detail(
    request: Request, request_id: ItemId, viewer: Viewer, session: ReadSession
) -> Response:
    readable = await service.get_readable(session, request_id=request_id, user_id=viewer.user_id)
    detail = await presenter.detail(
        session, readable.request, loop_name=readable.loop.name, responder=readable.responder
    )
    deliveries, total = await webhooks_repository.list_deliveries(
        session, user_id=viewer.user_id, request_id=request_id, limit=DELIVERIES_SHOWN, offset=0
    )
    return page(
        request,
        "dashboard/request.html",
        viewer=viewer,
        section="requests",
        item=detail,
        the_loop=readable.loop,
        read_only=readable.role == "viewer" and readable.request.creator_id != viewer.user_id,
        trail=await repository.audit_trail(session, request_id),
        deliveries=await webhooks.explain(session, deliveries),
        delivery_total=total,
        back_to=f"/dashboard/requests/{request_id}",
    )


@router.post("/requests/{request_id}/cancel")
async def cancel_request(
    request_id: ItemId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    readable = await service.get_changeable(session, request_id=request_id, user_id=viewer.user_id)
    await service.cancel(
        session,
        readable=readable,
        actor_id=viewer.user_id,
        reason="Cancelled in the dashboard",
        now=state.clock.now(),
    )
    return back(f"/dashboard/requests/{request_id}", "cancelled")


@router.post("/deliveries/{delivery_id}/redeliver")
async def redeliver(
    delivery_id: ItemId,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
    back_to: Annotated[str, Form(max_length=200, pattern=r"^/dashboard/[a-z0-9/]*$")] = "/dashboard/settings",
) -> Response:
    await webhooks.redeliver(session, user_id=viewer.user_id, delivery_id=delivery_id, now=state.clock.now())
    return back(back_to, "redelivered")
