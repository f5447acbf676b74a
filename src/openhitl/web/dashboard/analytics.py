"""A loop's analytics page: the numbers of requests.analytics, as tables and server-drawn charts."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from openhitl.kit.params import LoopId
from openhitl.kit.uow import ReadSession, State
from openhitl.loops import service
from openhitl.requests import analytics
from openhitl.requests.analytics import LoopAnalytics
from openhitl.web.charts import NARROW, TIME_STEPS, Series, bar_chart, line_chart
from openhitl.web.dashboard.common import page
from openhitl.web.pages import duration
from openhitl.web.routing import page_kwargs
from openhitl.web.security import Viewer

router = APIRouter(prefix="/dashboard/loops", **page_kwargs())


def charts(numbers: LoopAnalytics) -> dict[str, Markup]:
    days = [day.strftime("%d %b") for day, _ in numbers.days]
    priorities = [p.priority for p in numbers.priorities]
    names = [r.name for r in numbers.reviewers]
    return {
        "volume": line_chart(
            days,
            [Series("Requests", [count for _, count in numbers.days])],
            title="Requests created per day, last 30 days",
            label_every=7,
        ),
        "claim": bar_chart(
            priorities,
            [
                Series("p50", [p.time_to_claim.p50 for p in numbers.priorities], "series-a"),
                Series("p90", [p.time_to_claim.p90 for p in numbers.priorities], "series-b"),
            ],
            title="Time to claim by priority (p50 and p90)",
            fmt=duration,
            width=NARROW,
            steps=TIME_STEPS,
        ),
        "decide": bar_chart(
            priorities,
            [
                Series("p50", [p.time_to_decide.p50 for p in numbers.priorities], "series-a"),
                Series("p90", [p.time_to_decide.p90 for p in numbers.priorities], "series-b"),
            ],
            title="Time to decide by priority (p50 and p90)",
            fmt=duration,
            width=NARROW,
            steps=TIME_STEPS,
        ),
        "reviewers": bar_chart(
            names,
            [Series("Answered", [r.answered for r in numbers.reviewers], "series-c")],
            title="Requests answered per reviewer",
            width=NARROW,
        ),
    }


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
