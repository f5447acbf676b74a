"""The dashboard's first page: the loops you manage, their analytics together (or a chosen few), how to start."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from openhitl.accounts import service as accounts
from openhitl.kit.uow import ReadSession, State
from openhitl.kit.urls import public_base_url
from openhitl.loops import repository as loops_repository
from openhitl.loops.models import MANAGER_ROLES
from openhitl.requests import analytics, repository
from openhitl.requests.analytics import window_start
from openhitl.web.dashboard.common import page
from openhitl.web.dashboard.measures import charts, chosen_loops
from openhitl.web.routing import page_kwargs
from openhitl.web.security import Viewer

router = APIRouter(**page_kwargs())
# The overview's loop filter: loop ids, repeated (`?loop=a&loop=b`); none is every loop you manage.
LoopFilter = Annotated[list[str] | None, Query(max_length=200)]


@router.get("/dashboard")
async def overview(
    request: Request, viewer: Viewer, session: ReadSession, state: State, loop: LoopFilter = None
) -> Response:
    now = state.clock.now()
    pairs = await loops_repository.list_for_member(session, user_id=viewer.user_id)
    managed = [each for each, membership in pairs if membership.role in MANAGER_ROLES]
    counts = await repository.status_counts(
        session, loop_ids=[each.id for each in managed], since=window_start(now)
    )
    members = await loops_repository.members_of(session, [each.id for each in managed])
    chosen = chosen_loops(managed, loop or [])
    numbers = await analytics.loop_analytics(session, loop_ids=[each.id for each in chosen], now=now)
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
        filtered=bool(loop),
        chosen={each.id for each in chosen},
        numbers=numbers,
        charts=charts(numbers),
        has_key=any(key.revoked_at is None for key in keys),
        base_url=public_base_url(request, state.settings),
        example_loop=managed[0] if managed else None,
    )
