"""The reviewer's screens: queue, history, a request and its answer, joining loops, settings."""

import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.auth import Principal
from openhitl.kit.errors import ApiError, Conflict, NotFound
from openhitl.kit.guessing import guarded_lookup
from openhitl.kit.ids import ID_PATTERN
from openhitl.kit.params import LoopId, RequestId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops import repository as loops_repository
from openhitl.loops import service as loops_service
from openhitl.notifications import service as notifications
from openhitl.realtime.feed import latest_event_id
from openhitl.requests.response_configs import parse_config
from openhitl.reviewers import notices, repository, service
from openhitl.reviewers.presenter import HISTORY_FILTERS, review_item
from openhitl.reviewers.schemas import ReviewItem
from openhitl.reviewers.service import guard_guessing
from openhitl.web import answers
from openhitl.web.pages import flash_message, problem, render
from openhitl.web.routing import page_kwargs
from openhitl.web.security import FormViewer, MaybeViewer, Viewer, form_token

router = APIRouter(**page_kwargs())
QUEUE_SIZE = 100
FLASHES = {
    "answered": "Answer sent. Thank you!",
    "released": "Request released back to the queue.",
    "left": "You left the loop.",
    "joined": "You joined the loop.",
    "saved": "Settings saved.",
}


async def _queue(
    session: AsyncSession, *, user_id: str, loop_id: str | None, now: datetime
) -> list[ReviewItem]:
    rows, _ = await repository.queue(
        session, user_id=user_id, now=now, loop_id=loop_id, priority=None, limit=QUEUE_SIZE, offset=0
    )
    return [review_item(r, loop, user_id=user_id, now=now) for r, loop in rows]


def conflict_notice(item: ReviewItem) -> str:
    """What happened to a request someone had open, in the words a reviewer expects."""
    if item.status == "cancelled":
        return "The requester cancelled this request."
    if item.status == "completed":
        return (
            "Someone else answered this request first."
            if not item.answered_by_me
            else "You already answered."
        )
    if item.status == "timeout" or item.time_left_seconds <= 0:
        return "Time ran out: this request timed out before an answer arrived."
    if item.status == "claimed" and not item.claimed_by_me:
        return "Someone else got this one first and is answering it now."
    return "This request changed while you had it open. Try again."


@router.get("/")
async def home(
    request: Request,
    viewer: Viewer,
    session: ReadSession,
    state: State,
    loop: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    # Read before the queue: the live feed resumes after it, so nothing that lands while the page loads
    # and connects is missed.
    after = await latest_event_id(state.db)
    loops = await loops_repository.list_for_member(session, user_id=viewer.user_id)
    items = await _queue(session, user_id=viewer.user_id, loop_id=loop, now=state.clock.now())
    return render(
        request,
        "app/home.html",
        viewer=viewer,
        tab="home",
        loops=[found for found, _ in loops],
        selected_loop=loop,
        items=items,
        flash=flash_message(request, FLASHES),
        events_after=after,
    )


@router.get("/queue")
async def queue_fragment(
    request: Request,
    viewer: Viewer,
    session: ReadSession,
    state: State,
    loop: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    """The queue alone, fetched again whenever the live feed says something changed."""
    items = await _queue(session, user_id=viewer.user_id, loop_id=loop, now=state.clock.now())
    return render(request, "app/_queue.html", viewer=viewer, items=items, selected_loop=loop)


@router.get("/history")
async def history(
    request: Request,
    viewer: Viewer,
    session: ReadSession,
    state: State,
    status: Annotated[str, Query(pattern="^(all|completed|timeout|timed_out|cancelled)$")] = "all",
) -> Response:
    rows, _, counts = await repository.history(
        session, user_id=viewer.user_id, status=HISTORY_FILTERS[status], loop_id=None, limit=100, offset=0
    )
    now = state.clock.now()
    items = [review_item(r, loop, user_id=viewer.user_id, now=now) for r, loop in rows]
    return render(
        request,
        "app/history.html",
        viewer=viewer,
        tab="history",
        items=items,
        counts=counts,
        status=HISTORY_FILTERS[status] or "all",
    )


@router.get("/notifications")
async def notifications_screen(
    request: Request, viewer: Viewer, session: ReadSession, state: State
) -> Response:
    """What the bell opens: the notification list, kept up to date by the live feed."""
    after = await latest_event_id(state.db)  # read first, as on the home screen
    found = await notices.notices_for(session, user_id=viewer.user_id)
    return render(
        request,
        "app/notifications.html",
        viewer=viewer,
        tab="notifications",
        notices=found,
        events_after=after,
    )


@router.get("/notifications/list")
async def notifications_fragment(request: Request, viewer: Viewer, session: ReadSession) -> Response:
    """The list alone, fetched again whenever the live feed says something changed."""
    found = await notices.notices_for(session, user_id=viewer.user_id)
    return render(request, "app/_notices.html", viewer=viewer, notices=found)


async def _item(session: AsyncSession, *, request_id: str, user_id: str, now: datetime) -> ReviewItem:
    found = await repository.get_for_member(session, request_id=request_id, user_id=user_id)
    if found is None:
        refusal = await service.not_answerable(session, request_id=request_id, user_id=user_id)
        if isinstance(refusal, NotFound):
            raise NotFound("Request not found", "It may have been deleted, or you are not in its loop")
        raise refusal
    return review_item(*found, user_id=user_id, now=now)


def _answer_widget(item: ReviewItem) -> dict[str, Any]:
    """What the answer widget needs to show the request's response type."""
    config = parse_config(item.response_type, item.response_config)
    return {
        "item": item,
        "config": config,
        "stars": answers.rating_steps(config) if config.response_type == "rating" else [],
        "number_step": answers.number_step(config),
        "shown": answers.display_fields(item.response_config),
    }


def _request_page(
    request: Request,
    viewer: Principal,
    item: ReviewItem,
    *,
    status_code: int = 200,
    error: str | None = None,
    error_detail: str | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "app/request.html",
        status_code=status_code,
        viewer=viewer,
        tab="home",
        error=error,
        error_detail=error_detail,
        notice=notice,
        **_answer_widget(item),
    )


@router.get("/requests/{request_id}")
async def request_screen(
    request: Request, request_id: RequestId, viewer: Viewer, session: ReadSession, state: State
) -> Response:
    item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=state.clock.now())
    return _request_page(request, viewer, item)


@router.post("/requests/{request_id}/claim")
async def claim(
    request: Request, request_id: RequestId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    """Claimed when the screen opens, so two reviewers do not answer the same request at once."""
    now = state.clock.now()
    notice = None
    try:
        claimed, loop = await service.claim(
            session,
            request_id=request_id,
            user_id=viewer.user_id,
            lease_seconds=state.settings.claim_lease_seconds,
            now=now,
        )
        item = review_item(claimed, loop, user_id=viewer.user_id, now=now)
    except Conflict:
        item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=now)
        notice = conflict_notice(item)
    return render(request, "app/_answer.html", viewer=viewer, notice=notice, **_answer_widget(item))


@router.post("/requests/{request_id}/release")
async def release(
    request: Request, request_id: RequestId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    """Also sent by the page as it closes (a beacon), so an abandoned claim goes back to the queue at once."""
    with contextlib.suppress(Conflict):  # not ours any more (answered, expired, cancelled): nothing to give
        await service.release(session, request_id=request_id, user_id=viewer.user_id, now=state.clock.now())
    if request.headers.get("hx-request") or request.query_params.get("beacon"):
        return Response(status_code=204)
    return RedirectResponse("/?done=released", status_code=303)


@router.post("/requests/{request_id}/respond")
async def respond(request: Request, request_id: RequestId, viewer: FormViewer, state: State) -> Response:
    now = state.clock.now()
    form = await request.form()
    values = [value for value in form.getlist("answer") if isinstance(value, str)]
    try:
        async with state.db.write() as session:
            item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=now)
            config = parse_config(item.response_type, item.response_config)
            await service.respond(
                session,
                request_id=request_id,
                user_id=viewer.user_id,
                response_data=answers.form_answer(config, values),
                now=now,
            )
            upcoming = await _queue(session, user_id=viewer.user_id, loop_id=None, now=now)
    except NotFound:
        raise
    except ApiError as exc:
        async with state.db.read() as session:
            item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=now)
        if exc.status_code == 409:
            return _request_page(request, viewer, item, status_code=409, notice=conflict_notice(item))
        return _request_page(request, viewer, item, status_code=exc.status_code, **problem(exc))
    following = next((item for item in upcoming if item.status == "pending"), None)
    target = f"/requests/{following.id}?done=answered" if following else "/?done=answered"
    return RedirectResponse(target, status_code=303)


@router.get("/join")
async def join_screen(
    request: Request, viewer: MaybeViewer, code: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    """The code-entry screen (6 boxes, 3-3); also the place a camera's QR scan lands on."""
    return render(
        request, "app/join.html", viewer=viewer, tab="home", code=code, csrf_token=form_token(request, viewer)
    )


@router.post("/join")
async def join(
    request: Request,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
    code: Annotated[list[str], Form(max_length=20)],
) -> Response:
    invite_code = "".join(code)
    await guard_guessing(state, request, viewer.user_id)
    try:
        async with guarded_lookup(state, request):
            joined = await service.join(
                session, user_id=viewer.user_id, invite_code=invite_code, now=state.clock.now()
            )
    except Conflict:
        return RedirectResponse("/", status_code=303)
    except ApiError as exc:
        page = render(
            request,
            "app/join.html",
            status_code=exc.status_code,
            viewer=viewer,
            tab="home",
            code=invite_code,
            csrf_token=viewer.csrf_token,
            **problem(exc),
        )
        page.headers.update(exc.headers)
        return page
    return RedirectResponse(f"/?loop={joined.loop.id}&done=joined", status_code=303)


@router.get("/join/{code}")
async def join_link(
    request: Request,
    code: Annotated[str, Path(max_length=20)],
    viewer: MaybeViewer,
    session: ReadSession,
    state: State,
) -> Response:
    """Where a join link or a scanned QR code lands: one tap to join, or sign up with the code filled in."""
    try:
        normalised = service.normalise_invite_code(code)
    except ApiError:
        normalised = ""
    async with guarded_lookup(state, request):
        loop = await repository.loop_by_invite_code(session, normalised) if normalised else None
        if loop is None:
            raise NotFound("This invite code does not match any loop", "Ask for a new link or code")
    if viewer is None:
        return render(
            request,
            "auth/signup.html",
            viewer=None,
            loop=loop,
            values={"invite_code": normalised, "next": "/"},
            csrf_token=form_token(request, None),
        )
    member = await loops_repository.get_member(session, loop_id=loop.id, user_id=viewer.user_id)
    if member is not None and member.status == "active":
        return RedirectResponse(f"/?loop={loop.id}", status_code=303)
    members = await loops_repository.active_member_ids(session, loop.id)
    return render(
        request,
        "app/join_loop.html",
        viewer=viewer,
        tab="home",
        loop=loop,
        code=normalised,
        member_count=len(members),
    )


@router.get("/settings")
async def settings_screen(request: Request, viewer: Viewer, session: ReadSession) -> Response:
    loops = await loops_repository.list_for_member(session, user_id=viewer.user_id)
    return render(
        request,
        "app/settings.html",
        viewer=viewer,
        tab="settings",
        loops=loops,
        flash=flash_message(request, FLASHES),
    )


@router.post("/settings/loops/{loop_id}/mute")
async def mute_loop(
    loop_id: LoopId,
    viewer: FormViewer,
    session: WriteSession,
    push: Annotated[str, Form(pattern="^(on|off)$")],
) -> Response:
    await notifications.set_preferences(
        session, loop_id=loop_id, user_id=viewer.user_id, push=push == "on", email=None
    )
    return RedirectResponse("/settings?done=saved", status_code=303)


@router.post("/settings/loops/{loop_id}/leave")
async def leave_loop(loop_id: LoopId, viewer: FormViewer, session: WriteSession, state: State) -> Response:
    access = await loops_service.get_access(session, loop_id=loop_id, user_id=viewer.user_id)
    await service.leave(session, access=access, user_id=viewer.user_id, now=state.clock.now())
    return RedirectResponse("/settings?done=left", status_code=303)
