"""A loop's analytics page: the numbers of requests.analytics, as tables and server-drawn charts."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openhitl.kit.params import LoopId
from openhitl.kit.uow import ReadSession, State
from openhitl.loops import service
from openhitl.requests import analytics
from openhitl.web.dashboard.common import page
from openhitl.web.dashboard.measures import charts
from openhitl.web.routing import page_kwargs
from openhitl.web.security import Viewer

router = APIRouter(prefix="/dashboard/loops", **page_kwargs())


@router.get("/{loop_id}/analytics")
async def loop_analytics(
    request: Request, loop_id: LoopId, viewer: Viewer, session: ReadSession, state: State
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    numbers = await analytics.loop_analytics(session, loop_ids=[loop_id], now=state.clock.now())
    return page(
        request,
        "dashboard/analytics.html",
        viewer=viewer,
        section="loops",
        the_loop=access.loop,
        numbers=numbers,
        charts=charts(numbers),
    )
