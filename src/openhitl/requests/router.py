"""HTTP routes for requests (HITL.sh §3.3): create, list, get, update, cancel, feedback."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request
from pydantic import Field, TypeAdapter
from starlette.responses import Response, StreamingResponse

from openhitl.accounts.auth import Principal, RequestsRead, RequestsWrite, raw_call
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.errors import BadRequest
from openhitl.kit.ids import is_valid_id
from openhitl.kit.pagination import page_info, page_params
from openhitl.kit.params import LimitQuery, LoopId, OffsetQuery, RequestId, choice, optional_id
from openhitl.kit.routing import raw_route
from openhitl.kit.state import AppState
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops import service as loops_service
from openhitl.requests import export, presenter, repository, service, waiting
from openhitl.requests.models import PRIORITIES, STATUSES
from openhitl.requests.repository import SEARCH_MAX_LENGTH, SORTS, STATUS_ALIASES, parse_filters
from openhitl.requests.schemas import (
    CancelBody,
    FeedbackBody,
    FeedbackCreated,
    LoopRequestList,
    RefundInfo,
    RequestCancelled,
    RequestCreate,
    RequestCreated,
    RequestDetail,
    RequestList,
    RequestOne,
    RequestUpdate,
)

router = APIRouter(tags=["requests"])
COMMON_ERRORS = error_responses(400, 401, 403, 404, 429)
MAX_WAIT_SECONDS = 60


StatusQuery = Annotated[
    str | None,
    choice([*STATUSES, *STATUS_ALIASES], "pending, claimed, completed, timeout (or timed_out), cancelled"),
]
PriorityQuery = Annotated[str | None, choice(PRIORITIES, "low, medium, high, critical")]
SortQuery = Annotated[str | None, choice(SORTS, ", ".join(SORTS))]
SearchQuery = Annotated[
    str | None,
    Query(
        description="Only requests whose text, title or context values hold this, in any case (context keys "
        "are not searched)",
        json_schema_extra={"maxLength": SEARCH_MAX_LENGTH},
    ),
]
LoopFilterQuery = Annotated[str | None, optional_id("Only this loop's requests")]


IDEMPOTENCY_KEY_MAX = 255
CREATED_MSG = "Request created and broadcasted successfully"
LOOP_ID = TypeAdapter(LoopId)
IDEMPOTENCY_KEY = TypeAdapter(Annotated[str | None, Field(max_length=IDEMPOTENCY_KEY_MAX)])


async def _create(
    state: AppState, *, loop_id: str, body: RequestCreate, principal: Principal, idempotency_key: str | None
) -> Response:
    created = await service.create_soon(
        state,
        loop_id=loop_id,
        body=body,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        idempotency_key=idempotency_key or None,
    )
    envelope = Envelope[RequestCreated](msg=CREATED_MSG, data=presenter.created(created.values))
    return Response(
        envelope.model_dump_json(by_alias=True),
        status_code=201,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if created.replayed else None,
    )


async def _documents_create_request(
    loop_id: LoopId,
    body: RequestCreate,
    principal: RequestsWrite,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=IDEMPOTENCY_KEY_MAX,
            description="Retries with the same key and body return the first request",
        ),
    ] = None,
) -> None:
    """The document's account of `create_request` (kit/routing.py: `RawRoute`)."""


@raw_route(
    router,
    "/loops/{loop_id}/requests",
    method="POST",
    documented_by=_documents_create_request,
    status_code=201,
    response_model=Envelope[RequestCreated],
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def create_request(request: Request) -> Response:
    """Send a request to a loop's reviewers."""
    # A raw route: FastAPI's routing and dependency solving would cost more than the create.
    loop_id: str = request.path_params["loop_id"]
    idempotency_key = request.headers.get("idempotency-key")
    state, principal, parsed = await raw_call(
        request,
        RequestCreate,
        well_formed=is_valid_id(loop_id)
        and (idempotency_key is None or len(idempotency_key) <= IDEMPOTENCY_KEY_MAX),
        path={"loop_id": (loop_id, LOOP_ID)},
        headers={"idempotency-key": (idempotency_key, IDEMPOTENCY_KEY)},
        permission="requests:write",
    )
    return await _create(
        state, loop_id=loop_id, body=parsed, principal=principal, idempotency_key=idempotency_key
    )


@router.get("/requests", responses=error_responses(400, 401, 403, 429))
async def list_requests(
    principal: RequestsRead,
    session: ReadSession,
    status: StatusQuery = None,
    priority: PriorityQuery = None,
    loop_id: LoopFilterQuery = None,
    sort: SortQuery = None,
    q: SearchQuery = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Envelope[RequestList]:
    """Requests the caller created, and every request of loops the caller created, administers or views.
    `q` finds requests whose text, title or context values hold it, in any case."""
    page = page_params(limit, offset)
    filters = parse_filters(status, priority, loop_id, sort, q)
    rows, total = await repository.list_readable(
        session, user_id=principal.user_id, filters=filters, limit=page.limit, offset=page.offset
    )
    items = await presenter.summaries(session, rows)
    has_more, info = page_info(page, count=len(items), total=total)
    return ok(
        RequestList(requests=items, count=len(items), total=total, has_more=has_more, pagination=info),
        "Requests retrieved successfully",
    )


@router.get("/loops/{loop_id}/requests", responses=COMMON_ERRORS)
async def list_loop_requests(
    loop_id: LoopId,
    principal: RequestsRead,
    session: ReadSession,
    status: StatusQuery = None,
    priority: PriorityQuery = None,
    sort: SortQuery = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Envelope[LoopRequestList]:
    """A loop's requests, for its creator, admins and viewers."""
    await loops_service.get_readable_loop(session, loop_id=loop_id, user_id=principal.user_id)
    page = page_params(limit, offset)
    filters = parse_filters(status, priority, loop_id, sort)
    rows, total = await repository.list_readable(
        session, user_id=principal.user_id, filters=filters, limit=page.limit, offset=page.offset
    )
    items = await presenter.summaries(session, rows)
    has_more, info = page_info(page, count=len(items), total=total)
    return ok(
        LoopRequestList(
            loop_id=loop_id, requests=items, count=len(items), total=total, has_more=has_more, pagination=info
        ),
        "Loop requests retrieved successfully",
    )


EXPORT_RESPONSES = {
    200: {
        "description": "The requests, newest first: CSV with a header row, or one JSON object per line (with "
        "`events`, the request's audit trail)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    },
    **error_responses(400, 401, 403, 429),
}


@router.get("/requests/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def export_requests(
    principal: RequestsRead,
    state: State,
    format: Annotated[str, choice(export.FORMATS, "csv or jsonl", empty_means_all=False)] = "csv",
    status: StatusQuery = None,
    priority: PriorityQuery = None,
    loop_id: LoopFilterQuery = None,
    q: SearchQuery = None,
) -> StreamingResponse:
    """Every request the list would show for these filters, newest first, streamed: each request's fields,
    its answer raw (`response_data`, `response_value`) and as shown (`response_display`), who answered and
    when. CSV cells that a spreadsheet would run as a formula start with an apostrophe."""
    chosen = export.check_format(format)
    filters = parse_filters(status, priority, loop_id, None, q)
    return export.download(state, user_id=principal.user_id, filters=filters, format=chosen)


@router.get("/requests/{request_id}", responses=COMMON_ERRORS)
async def get_request(
    request_id: RequestId,
    principal: RequestsRead,
    state: State,
    wait: Annotated[
        float | None,
        Query(
            description="Long-poll: hold the answer up to this many seconds (0-60) until the "
            "request is completed, cancelled or timed out",
            json_schema_extra={"minimum": 0, "maximum": MAX_WAIT_SECONDS},
        ),
    ] = None,
) -> Envelope[RequestDetail]:
    """One request: its fields at the top level of `data` and again under `data.request`."""
    if wait is not None and not 0 <= wait <= MAX_WAIT_SECONDS:
        raise BadRequest("Validation failed", f"wait must be between 0 and {MAX_WAIT_SECONDS} seconds")
    # Subscribe before reading, so a decision landing in between still wakes us.
    subscriber = waiting.subscribe(state, request_id) if wait else None
    try:
        # Rendered while open too when waiting: a close this process commits is answered from it.
        seen = await waiting.read_request(
            state, request_id=request_id, user_id=principal.user_id, render=True
        )
        if subscriber is not None and wait:
            seen = await waiting.wait_until_closed(
                state, subscriber, seen, request_id=request_id, user_id=principal.user_id, seconds=wait
            )
    finally:
        if subscriber is not None:
            waiting.unsubscribe(state, subscriber)
    read = await waiting.render(state, seen)
    return ok(RequestDetail(**read.model_dump(), request=read), "Request retrieved successfully")


@router.patch("/requests/{request_id}", responses=error_responses(400, 401, 403, 404, 409, 429))
async def update_request(
    request_id: RequestId, body: RequestUpdate, principal: RequestsWrite, session: WriteSession, state: State
) -> Envelope[RequestOne]:
    """Change a request while it is still pending (fields of the create body; `status: cancelled` cancels).

    The change is checked against the request as read and applied only if nothing changed it meanwhile;
    otherwise 409 (read it again and resend). Likewise an answer checked against the old fields is refused
    with 409 once a change lands first: no answer is ever stored against a config it was not checked with.
    Changing fields needs the right to send requests into the loop now: the request's creator may always
    read and cancel it, but once they are no longer allowed to send requests there (an admin removed from
    the loop) a change is refused with 403.
    """
    readable = await service.get_changeable(session, request_id=request_id, user_id=principal.user_id)
    updated = await service.update(
        session,
        readable=readable,
        body=body,
        actor_id=principal.user_id,
        settings=state.settings,
        now=state.clock.now(),
    )
    read = await presenter.detail(session, updated, loop_name=readable.loop.name)
    return ok(RequestOne(request=read), "Request updated successfully")


async def _cancel(
    request_id: str, reason: str | None, principal_id: str, session: WriteSession, state: State
) -> Envelope[RequestCancelled]:
    readable = await service.get_changeable(session, request_id=request_id, user_id=principal_id)
    now = state.clock.now()
    cancelled = await service.cancel(
        session, readable=readable, actor_id=principal_id, reason=reason, now=now
    )
    refund = (
        RefundInfo(refunded=True, reason="Request cancelled before processing began")
        if cancelled.previous_status == "pending"
        else RefundInfo(refunded=False, reason="Request was already being processed by reviewer")
    )
    return ok(
        RequestCancelled(
            request_id=cancelled.id,
            status="cancelled",
            cancelled_at=now,
            previous_status=cancelled.previous_status or "pending",
            reason=reason,
            refund_info=refund,
        ),
        "Request cancelled successfully",
    )


@router.delete("/requests/{request_id}", responses=COMMON_ERRORS)
async def cancel_request(
    request_id: RequestId,
    principal: RequestsWrite,
    session: WriteSession,
    state: State,
    body: Annotated[CancelBody | None, Body()] = None,
) -> Envelope[RequestCancelled]:
    """Cancel a pending or claimed request. An optional body `{"reason": "..."}` is kept."""
    return await _cancel(request_id, body.reason if body else None, principal.user_id, session, state)


@router.post("/requests/{request_id}/cancel", responses=COMMON_ERRORS)
async def cancel_request_post(
    request_id: RequestId,
    principal: RequestsWrite,
    session: WriteSession,
    state: State,
    body: Annotated[CancelBody | None, Body()] = None,
) -> Envelope[RequestCancelled]:
    """The same as DELETE, as the official MCP server calls it."""
    return await _cancel(request_id, body.reason if body else None, principal.user_id, session, state)


@router.post("/requests/{request_id}/feedback", responses=COMMON_ERRORS)
async def add_feedback(
    request_id: RequestId, body: FeedbackBody, principal: RequestsWrite, session: WriteSession, state: State
) -> Envelope[FeedbackCreated]:
    """Rate or comment on a completed request's answer."""
    readable = await service.get_changeable(session, request_id=request_id, user_id=principal.user_id)
    entry = await service.add_feedback(
        session, readable=readable, feedback=body.feedback, user_id=principal.user_id, now=state.clock.now()
    )
    return ok(
        FeedbackCreated(
            request_id=request_id,
            feedback_id=entry.id,
            feedback=entry.feedback,
            submitted_at=entry.created_at,
            reviewer_notified=False,
        ),
        "Feedback added successfully",
    )
