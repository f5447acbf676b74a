"""The reviewer's screens: queue, history, a request and its answer, joining loops, settings."""

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import repository as accounts_repository
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
from openhitl.web.routing import page_kwargs, wants_json
from openhitl.web.security import FormViewer, MaybeViewer, Viewer, form_token

router = APIRouter(**page_kwargs())
QUEUE_SIZE = 100
FLASHES = {
    "answered": "Answer sent.",
    "released": "Request released back to the queue.",
    "left": "You left the loop.",
    "joined": "You joined the loop.",
    "saved": "Settings saved.",
}


async def _queue(
    session: AsyncSession, *, user_id: str, loop_id: str | None, now: datetime
) -> list[ReviewItem]:
    """The loops' open requests, those someone else holds too (shown dimmed, with who)."""
    rows, _ = await repository.queue(
        session,
        user_id=user_id,
        now=now,
        loop_id=loop_id,
        priority=None,
        limit=QUEUE_SIZE,
        offset=0,
        others_claims=True,
    )
    return [review_item(r, loop, user_id=user_id, now=now) for r, loop in rows]


async def _names(session: AsyncSession, items: Iterable[ReviewItem]) -> dict[str, str]:
    """The names of whoever holds or answered these requests, as their loops' members see them."""
    people = [person for item in items for person in (item.claimed_by, item.response_by)]
    return await accounts_repository.names_of(session, people)


def _name(names: Mapping[str, str], user_id: str | None) -> str:
    return names.get(user_id or "") or "Another reviewer"


TIMED_OUT = "Timed out: time ran out before an answer was sent."


def conflict_notice(item: ReviewItem, names: Mapping[str, str] | None = None) -> str:
    """What happened to a request someone had open, in the words a reviewer expects."""
    names = names or {}
    if item.status == "cancelled":
        return "The requester cancelled this request."
    if item.status == "completed":
        if item.answered_by_me:
            return "You answered this request."
        return f"{_name(names, item.response_by)} answered this request first."
    if item.status == "timeout" or item.time_left_seconds <= 0:
        return TIMED_OUT
    if item.status == "claimed" and not item.claimed_by_me:
        return f"{_name(names, item.claimed_by)} is answering this request now."
    return "This request changed while you had it open. Try again."


def live_state(item: ReviewItem, names: Mapping[str, str]) -> dict[str, Any]:
    """Where a request stands for the reviewer whose page has it open (live.js switches the page by it)."""
    still_open = item.status in ("pending", "claimed") and item.time_left_seconds > 0
    answerable = still_open and (item.status == "pending" or item.claimed_by_me)
    return {
        "status": item.status if still_open or item.status not in ("pending", "claimed") else "timeout",
        "held": still_open and item.claimed_by_me,
        "answerable": answerable,
        "notice": None if answerable else conflict_notice(item, names),
    }


def _json(msg: str, data: object, *, status_code: int = 200) -> JSONResponse:
    """The envelope, for the page's own script (live.js)."""
    return JSONResponse({"error": status_code >= 400, "msg": msg, "data": data}, status_code=status_code)


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
    now = state.clock.now()
    items = await _queue(session, user_id=viewer.user_id, loop_id=loop, now=now)
    answered = request.query_params.get("done") == "answered"
    # After an answer: the next request is offered, never claimed for the reviewer.
    following = (
        next((i for i in items if i.status == "pending" or i.claimed_by_me), None) if answered else None
    )
    return render(
        request,
        "app/home.html",
        viewer=viewer,
        tab="home",
        loops=[found for found, _ in loops],
        selected_loop=loop,
        items=items,
        names=await _names(session, items),
        now=now,
        following=following,
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
    """The queue alone, fetched again whenever the live feed brings a request the page has not got."""
    now = state.clock.now()
    items = await _queue(session, user_id=viewer.user_id, loop_id=loop, now=now)
    return render(
        request,
        "app/_queue.html",
        viewer=viewer,
        items=items,
        names=await _names(session, items),
        now=now,
        selected_loop=loop,
    )


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
    """What the answer widget needs to show the request's response type and check an answer to it."""
    config = parse_config(item.response_type, item.response_config)
    return {
        "item": item,
        "config": config,
        "limits": answers.limits(config),
        "stars": answers.rating_steps(config) if config.response_type == "rating" else [],
        "number_step": answers.number_step(config),
        "shown": answers.display_fields(item.response_config),
    }


async def _request_page(
    request: Request,
    viewer: Principal,
    item: ReviewItem,
    *,
    state: State,
    session: AsyncSession,
    events_after: int,
    status_code: int = 200,
    notice: str | None = None,
    answer_error: str | None = None,
    values: Sequence[str] = (),
) -> Response:
    return render(
        request,
        "app/request.html",
        status_code=status_code,
        viewer=viewer,
        tab="home",
        notice=notice,
        answer_error=answer_error,
        values=list(values),
        names=await _names(session, [item]),
        now=state.clock.now(),
        lease_seconds=state.settings.web_claim_lease_seconds,
        events_after=events_after,
        **_answer_widget(item),
    )


@router.get("/requests/{request_id}")
async def request_screen(
    request: Request, request_id: RequestId, viewer: Viewer, session: ReadSession, state: State
) -> Response:
    after = await latest_event_id(state.db)  # before the request: the page's feed resumes after it
    item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=state.clock.now())
    return await _request_page(request, viewer, item, state=state, session=session, events_after=after)


@router.post("/requests/{request_id}/claim")
async def claim(
    request: Request, request_id: RequestId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    """Sent by the open page (live.js) as it opens, while it stays visible (renewing the app's short lease)
    and when it is shown again; answers where the request stands, 409 when it cannot be held."""
    now = state.clock.now()
    try:
        claimed, loop = await service.claim(
            session,
            request_id=request_id,
            user_id=viewer.user_id,
            lease_seconds=state.settings.web_claim_lease_seconds,
            now=now,
        )
    except Conflict:
        item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=now)
        names = await _names(session, [item])
        return _json(conflict_notice(item, names), {"state": live_state(item, names)}, status_code=409)
    item = review_item(claimed, loop, user_id=viewer.user_id, now=now)
    return _json("Request claimed", {"state": live_state(item, {})})


@router.post("/requests/{request_id}/release")
async def release(
    request: Request, request_id: RequestId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    """Also sent by the page as it is hidden or closed (a beacon: its CSRF token in the form body, as a
    beacon cannot set headers), so an abandoned claim goes back to the queue at once."""
    with contextlib.suppress(Conflict):  # not ours any more (answered, expired, cancelled): nothing to give
        await service.release(session, request_id=request_id, user_id=viewer.user_id, now=state.clock.now())
    if request.headers.get("hx-request") or request.query_params.get("beacon") or wants_json(request):
        return Response(status_code=204)
    return RedirectResponse("/?done=released", status_code=303)


@router.post("/requests/{request_id}/respond")
async def respond(request: Request, request_id: RequestId, viewer: FormViewer, state: State) -> Response:
    """An answer from the page: sent by its script (JSON back, the page keeps what was typed) or as a plain
    form (a refused one is shown again, filled in). Either way the next screen is the queue, saying so."""
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
    except NotFound:
        raise
    except ApiError as exc:
        after = await latest_event_id(state.db)
        async with state.db.read() as session:
            item = await _item(session, request_id=request_id, user_id=viewer.user_id, now=state.clock.now())
            names = await _names(session, [item])
            conflict = exc.status_code == 409
            message = conflict_notice(item, names) if conflict else answers.answer_problem(exc)
            if wants_json(request):
                return _json(message, {"state": live_state(item, names)}, status_code=exc.status_code)
            return await _request_page(
                request,
                viewer,
                item,
                state=state,
                session=session,
                events_after=after,
                status_code=exc.status_code,
                notice=message if conflict else None,
                answer_error=None if conflict else message,
                values=values,
            )
    if wants_json(request):
        return _json("Answer sent", {"location": "/?done=answered"})
    return RedirectResponse("/?done=answered", status_code=303)


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
