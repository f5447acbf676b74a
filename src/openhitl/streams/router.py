"""Live updates over HTTP: the reviewer's event stream, and one request's outcome (waiting in requests/waiting.py)."""

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.responses import Response

from openhitl.accounts.auth import CurrentPrincipal, RequestsRead, authenticate
from openhitl.kit.envelope import error_responses
from openhitl.kit.errors import BadRequest
from openhitl.kit.params import EVENT_ID, RequestId
from openhitl.kit.routing import raw_route
from openhitl.kit.state import AppState, app_state
from openhitl.kit.uow import State
from openhitl.loops.models import Membership
from openhitl.realtime.feed import EventFeed, events_after, latest_event_id
from openhitl.realtime.stream import EventStreamResponse
from openhitl.requests import waiting

router = APIRouter(tags=["events"])
KEEPALIVE_SECONDS = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "description": "JSON"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SSE_RESPONSES = {
    200: {
        # OpenAPI 3.1 reads the schema of an event stream as the schema of each event.
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
        "description": "A stream of server-sent events",
    },
    **error_responses(400, 401, 403, 404, 429),
}


def sse(*, data: object, event: str | None = None, id: int | None = None) -> str:
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event:
        lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'), default=str)}")
    return "\n".join(lines) + "\n\n"


@router.get("/requests/{request_id}/events", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def request_outcome_stream(
    request_id: RequestId,
    principal: RequestsRead,
    state: State,
) -> StreamingResponse:
    """Server-sent events: one `completed`, `cancelled` or `timeout` event with the request, then the end."""
    subscriber = waiting.subscribe(state, request_id)
    try:
        # Rendered now, so that a close this process commits is answered without reading it back.
        seen = await waiting.read_request(
            state, request_id=request_id, user_id=principal.user_id, render=True
        )
    except Exception:
        waiting.unsubscribe(state, subscriber)
        raise

    parked = seen.detail

    async def stream() -> AsyncIterator[str]:
        nonlocal seen
        try:
            yield ": connected\n\n"
            while not seen.closed:
                seen = await waiting.wait_until_closed(
                    state,
                    subscriber,
                    seen,
                    request_id=request_id,
                    user_id=principal.user_id,
                    seconds=KEEPALIVE_SECONDS,
                    parked=parked,
                )
                if not seen.closed:
                    yield ": keep-alive\n\n"
            detail = await waiting.render(state, seen)
            yield sse(event=seen.readable.request.status, data={"request": detail.model_dump(mode="json")})
        finally:
            waiting.unsubscribe(state, subscriber)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _active_loops(state: AppState, user_id: str) -> set[str]:
    async with state.db.read() as session:
        rows = await session.execute(
            select(Membership.loop_id).where(Membership.user_id == user_id, Membership.status == "active")
        )
        return set(rows.scalars())


def _parse_last_event_id(header: str | None, query: str | None) -> int | None:
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None
    if not re.fullmatch(EVENT_ID, str(raw)):
        raise BadRequest("Invalid Last-Event-ID", "Last-Event-ID must be the id of an event received earlier")
    return int(str(raw))


async def _documents_the_event_stream(
    principal: CurrentPrincipal,
    # Plain strings, "" when absent: a header cannot be null, so the document must not say it may be.
    last_event_id: Annotated[
        str,
        Header(description="Resume after this event id", json_schema_extra={"pattern": EVENT_ID}),
    ] = "",
    after: Annotated[
        str,
        Query(
            description="Resume after this event id (for clients without headers)",
            json_schema_extra={"pattern": EVENT_ID},
        ),
    ] = "",
) -> None:
    """The document's account of `reviewer_event_stream` (kit/routing.py: `RawRoute`)."""


@raw_route(
    router,
    "/events",
    method="GET",
    documented_by=_documents_the_event_stream,
    response_class=StreamingResponse,
    responses=SSE_RESPONSES,
)
async def reviewer_event_stream(request: Request) -> Response:
    """Server-sent events of the caller's loops: new, claimed, answered, cancelled and timed-out requests,
    members joining and leaving. Each event has an `id`; reconnect with Last-Event-ID to resume exactly."""
    # A raw route: FastAPI would keep its request-scoped exit stacks, solved dependencies and response task
    # group alive for as long as the stream stays open, a thousand times over.
    state = await app_state(request)
    principal = await authenticate(request, state)
    resume = _parse_last_event_id(
        request.headers.get("last-event-id", ""), request.query_params.get("after", "")
    )
    loops = await _active_loops(state, principal.user_id)
    feed = state.get(EventFeed)
    subscriber = feed.subscribe_stream(user_id=principal.user_id, loops=loops)
    try:
        # Subscribed first, then the starting point read: nothing can fall in between.
        start = await latest_event_id(state.db) if resume is None else resume
        missed = await events_after(state.db, after_id=start, loops=loops) if resume is not None else []
    except BaseException:
        feed.unsubscribe(subscriber)
        raise
    return EventStreamResponse(subscriber, catch_up=missed, after=start, unsubscribe=feed.unsubscribe)
