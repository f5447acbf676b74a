"""HTTP routes for reviewers: join and leave loops, the inbox, claim, release and respond."""

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from openhitl.accounts.auth import CurrentPrincipal, LoopsWrite, raw_call
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.errors import BadRequest
from openhitl.kit.guessing import guarded_lookup
from openhitl.kit.ids import is_valid_id
from openhitl.kit.pagination import page_info, page_params
from openhitl.kit.params import LimitQuery, LoopId, OffsetQuery, RequestId, choice, optional_id
from openhitl.kit.routing import raw_route
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops import repository as loops_repository
from openhitl.loops import service as loops_service
from openhitl.loops.schemas import DeletedData, LoopDeleted
from openhitl.realtime.events import closing
from openhitl.requests.models import PRIORITIES
from openhitl.requests.presenter import plain_answer
from openhitl.requests.schemas import UserRef
from openhitl.reviewers import presenter, repository, service
from openhitl.reviewers.schemas import (
    Answered,
    AnsweredOne,
    HistoryCounts,
    Inbox,
    JoinBody,
    JoinedLoop,
    JoinedLoopOne,
    LeftLoop,
    RespondBody,
    ReviewItemOne,
)

INBOX_VIEWS = ("queue", "history")
router = APIRouter(tags=["reviewers"])
# Deleting a loop cancels its open requests, so it sits here, above loops/ and requests/; documented with
# the other loop routes.
loop_router = APIRouter(tags=["loops"])
ERRORS = error_responses(400, 401, 403, 404, 409, 429)
REQUEST_ID = TypeAdapter(RequestId)


# Claims and answers first: routes are tried in order (app.api_router), and these are the busiest here.
@router.post("/requests/{request_id}/claim", responses=ERRORS)
async def claim_request(
    request_id: RequestId, principal: CurrentPrincipal, state: State
) -> Envelope[ReviewItemOne]:
    """Take a request for yourself for a while (the lease); claiming again renews it."""
    now = state.clock.now()
    async with state.db.write() as session:  # in the body, as for respond_to_request
        claimed, loop = await service.claim(
            session,
            request_id=request_id,
            user_id=principal.user_id,
            lease_seconds=state.settings.claim_lease_seconds,
            now=now,
        )
    return ok(
        ReviewItemOne(request=presenter.review_item(claimed, loop, user_id=principal.user_id, now=now)),
        "Request claimed",
    )


async def _documents_respond_to_request(
    request_id: RequestId, body: RespondBody, principal: CurrentPrincipal
) -> None:
    """The document's account of `respond_to_request` (kit/routing.py: `RawRoute`)."""


@raw_route(
    router,
    "/requests/{request_id}/respond",
    method="POST",
    documented_by=_documents_respond_to_request,
    response_model=Envelope[AnsweredOne],
    responses=ERRORS,
)
async def respond_to_request(request: Request) -> Response:
    """Answer a pending request, or one you have claimed."""
    # A raw route, as creating is: answers are frequent, and FastAPI's routing, dependency solving and
    # response validation cost more than the answer's own work (BENCHMARKS.md, "Answers").
    request_id: str = request.path_params["request_id"]
    state, principal, parsed = await raw_call(
        request,
        RespondBody,
        well_formed=is_valid_id(request_id),
        path={"request_id": (request_id, REQUEST_ID)},
    )
    responder = UserRef(user_id=principal.user_id, name=principal.name, email=principal.email)
    async with state.db.write() as session:  # committed before the answer leaves
        answered, _ = await service.respond(
            session,
            request_id=request_id,
            user_id=principal.user_id,
            response_data=parsed.response_data,
            now=state.clock.now(),
        )
        closing(session, answered, responder)  # this process's waiters answer with who it was
    assert answered.response_at is not None and answered.response_time_seconds is not None
    envelope = ok(
        AnsweredOne(
            request=Answered(
                id=answered.id,
                request_id=answered.id,
                status=answered.status,
                response_data=answered.response_data,
                response_value=plain_answer(answered),
                response_by=responder,
                response_at=answered.response_at,
                response_time_seconds=answered.response_time_seconds,
            )
        ),
        "Response submitted",
    )
    return Response(envelope.model_dump_json(by_alias=True), media_type="application/json")


@router.post("/requests/{request_id}/release", responses=ERRORS)
async def release_request(
    request_id: RequestId, principal: CurrentPrincipal, session: WriteSession, state: State
) -> Envelope[ReviewItemOne]:
    """Give a claimed request back to the queue."""
    now = state.clock.now()
    released, loop = await service.release(session, request_id=request_id, user_id=principal.user_id, now=now)
    return ok(
        ReviewItemOne(request=presenter.review_item(released, loop, user_id=principal.user_id, now=now)),
        "Request released",
    )


@router.post("/loops/join", responses=ERRORS)
async def join_loop(
    body: JoinBody, principal: CurrentPrincipal, session: WriteSession, state: State, request: Request
) -> Envelope[JoinedLoopOne]:
    """Join a loop with its invite code (also accepts a pending email invitation to it)."""
    await service.guard_guessing(state, request, principal.user_id)
    async with guarded_lookup(state, request):
        joined = await service.join(
            session, user_id=principal.user_id, invite_code=body.invite_code, now=state.clock.now()
        )
    members = await loops_repository.active_member_ids(session, joined.loop.id)
    loop = joined.loop
    return ok(
        JoinedLoopOne(
            loop=JoinedLoop(
                id=loop.id,
                name=loop.name,
                description=loop.description,
                icon=loop.icon,
                role=joined.membership.role,
                member_count=len(members),
            )
        ),
        "Joined loop successfully",
    )


@router.post("/loops/{loop_id}/leave", responses=ERRORS)
async def leave_loop(
    loop_id: LoopId, principal: CurrentPrincipal, session: WriteSession, state: State
) -> Envelope[LeftLoop]:
    """Leave a loop; requests you had claimed there go back to the queue."""
    access = await loops_service.get_access(session, loop_id=loop_id, user_id=principal.user_id)
    now = state.clock.now()
    await service.leave(session, access=access, user_id=principal.user_id, now=now)
    return ok(LeftLoop(loop_id=loop_id, left_at=now), "Left loop successfully")


@router.get("/inbox", responses=ERRORS)
async def inbox(
    principal: CurrentPrincipal,
    session: ReadSession,
    state: State,
    view: Annotated[str, choice(INBOX_VIEWS, "queue (default) or history", empty_means_all=False)] = "queue",
    status: Annotated[
        str | None, choice(presenter.HISTORY_FILTERS, "History filter: all, completed, timeout, cancelled")
    ] = None,
    loop_id: Annotated[str | None, optional_id("Only this loop")] = None,
    priority: Annotated[str | None, choice(PRIORITIES, "Queue filter: low, medium, high, critical")] = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Envelope[Inbox]:
    """Requests to answer now (critical first, then oldest), or the history of answered and missed ones."""
    page = page_params(limit, offset)
    if view not in INBOX_VIEWS:
        raise BadRequest("Invalid view", "view must be one of: queue, history")
    if loop_id and not is_valid_id(loop_id):
        raise BadRequest("Invalid loop ID format", "loop_id must be a 24-character hex id")
    if priority and priority not in PRIORITIES:
        raise BadRequest("Invalid priority filter value", f"priority must be one of: {', '.join(PRIORITIES)}")
    if status and status not in presenter.HISTORY_FILTERS:
        raise BadRequest(
            "Invalid status filter value", "status must be one of: all, completed, timeout, cancelled"
        )
    now = state.clock.now()
    counts = None
    if view == "queue":
        rows, total = await repository.queue(
            session,
            user_id=principal.user_id,
            now=now,
            loop_id=loop_id,
            priority=priority,
            limit=page.limit,
            offset=page.offset,
        )
    else:
        rows, total, tallies = await repository.history(
            session,
            user_id=principal.user_id,
            status=presenter.HISTORY_FILTERS[status or "all"],
            loop_id=loop_id,
            limit=page.limit,
            offset=page.offset,
        )
        counts = HistoryCounts(**tallies)
    items = [presenter.review_item(r, loop, user_id=principal.user_id, now=now) for r, loop in rows]
    has_more, info = page_info(page, count=len(items), total=total)
    return ok(
        Inbox(
            view=view,
            requests=items,
            count=len(items),
            total=total,
            has_more=has_more,
            pagination=info,
            counts=counts,
        ),
        "Inbox retrieved successfully",
    )


@router.get("/inbox/{request_id}", responses=ERRORS)
async def inbox_item(
    request_id: RequestId, principal: CurrentPrincipal, session: ReadSession, state: State
) -> Envelope[ReviewItemOne]:
    """One request of your loops, as a reviewer sees it."""
    found = await repository.get_for_member(session, request_id=request_id, user_id=principal.user_id)
    if found is None:
        raise await service.not_answerable(session, request_id=request_id, user_id=principal.user_id)
    item = presenter.review_item(*found, user_id=principal.user_id, now=state.clock.now())
    return ok(ReviewItemOne(request=item), "Request retrieved successfully")


@loop_router.delete("/loops/{loop_id}", responses=error_responses(400, 401, 403, 404, 429))
async def delete_loop(
    loop_id: LoopId, principal: LoopsWrite, session: WriteSession, state: State
) -> Envelope[LoopDeleted]:
    """Delete a loop with its memberships, requests, responses and feedback. Only the creator may.

    Open requests (pending or claimed) are not dropped silently: in the same transaction they are cancelled
    first, with the reason "The loop was deleted", as `DELETE /requests/{id}` would cancel them. Each one's
    `request.cancelled` event is in the feed, its `callback_url` and matching webhooks are called, and
    callers waiting on it (`?wait=` long-polls, `GET /requests/{id}/events`) are answered with the cancelled
    request. `deleted_data.requests_cancelled` lists them. After that the requests are gone: reading one
    answers 404."""
    access = await loops_service.get_access(session, loop_id=loop_id, user_id=principal.user_id)
    now = state.clock.now()
    deleted = await service.delete_loop(session, access=access, actor_id=principal.user_id, now=now)
    return ok(
        LoopDeleted(
            loop_id=loop_id,
            deleted_at=now,
            deleted_data=DeletedData(
                members_removed=deleted.members,
                requests_deleted=deleted.requests,
                responses_deleted=deleted.responses,
                requests_cancelled=deleted.cancelled,
            ),
        ),
        "Loop deleted successfully",
    )
