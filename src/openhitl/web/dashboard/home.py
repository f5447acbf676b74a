"""The dashboard's first page: the loops you manage, the last 30 days at a glance, how to start."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openhitl.accounts import service as accounts
from openhitl.kit.uow import ReadSession, State
from openhitl.kit.urls import public_base_url
from openhitl.loops import repository as loops_repository
from openhitl.loops.models import MANAGER_ROLES
from openhitl.requests import repository
from openhitl.requests.analytics import window_start
from openhitl.requests.states import STATUSES
from openhitl.web.dashboard.common import page
from openhitl.web.routing import page_kwargs
from openhitl.web.security import Viewer

router = APIRouter(**page_kwargs())


@router.get("/dashboard")
async def overview(request: Request, viewer: Viewer, session: ReadSession, state: State) -> Response:
    now = state.clock.now()
    pairs = await loops_repository.list_for_member(session, user_id=viewer.user_id)
    managed = [loop for loop, membership in pairs if membership.role in MANAGER_ROLES]
    counts = await repository.status_counts(
        session, loop_ids=[loop.id for loop in managed], since=window_start(now)
    )
    members = await loops_repository.members_of(session, [loop.id for loop in managed])
    totals = {status: sum(per_loop.get(status, 0) for per_loop in counts.values()) for status in STATUSES}
    keys = await accounts.list_api_keys(session, user_id=viewer.user_id)
    return page(
        request,
        "dashboard/home.html",
        viewer=viewer,
        section="home",
        loops=managed,
        counts=counts,
        member_counts={
            loop_id: sum(1 for membership, _ in rows if membership.status == "active")
            for loop_id, rows in members.items()
        },
        totals=totals,
        has_key=any(key.revoked_at is None for key in keys),
        base_url=public_base_url(request, state.settings),
        example_loop=managed[0] if managed else None,
    )
