"""The analytics measures as the dashboard shows them (a loop's page and the overview): charts and filter."""

from collections.abc import Callable, Sequence

from markupsafe import Markup

from openhitl.loops.models import Loop
from openhitl.requests.analytics import LoopAnalytics, PriorityStats, Spread
from openhitl.web.charts import NARROW, TIME_STEPS, Series, bar_chart, line_chart
from openhitl.web.pages import duration


def speed_chart(numbers: LoopAnalytics, verb: str, spread_of: Callable[[PriorityStats], Spread]) -> Markup:
    """Time to `verb` by priority: p50 and p90 side by side."""
    return bar_chart(
        [p.priority for p in numbers.priorities],
        [
            Series("p50", [spread_of(p).p50 for p in numbers.priorities], "series-a"),
            Series("p90", [spread_of(p).p90 for p in numbers.priorities], "series-b"),
        ],
        title=f"Time to {verb} by priority (p50 and p90)",
        fmt=duration,
        width=NARROW,
        steps=TIME_STEPS,
    )


def charts(numbers: LoopAnalytics) -> dict[str, Markup]:
    days = [day.strftime("%d %b") for day, _ in numbers.days]
    names = [r.name for r in numbers.reviewers]
    return {
        "volume": line_chart(
            days,
            [Series("Requests", [count for _, count in numbers.days])],
            title="Requests created per day, last 30 days",
            label_every=7,
        ),
        "claim": speed_chart(numbers, "claim", lambda p: p.time_to_claim),
        "decide": speed_chart(numbers, "decide", lambda p: p.time_to_decide),
        "reviewers": bar_chart(
            names,
            [Series("Answered", [r.answered for r in numbers.reviewers], "series-c")],
            title="Requests answered per reviewer",
            width=NARROW,
        ),
    }


def chosen_loops(readable: Sequence[Loop], wanted: Sequence[str]) -> list[Loop]:
    """The loops a filter picks among those the viewer may read: none picked is all of them; a loop the
    viewer may not read is never picked, whatever the filter says."""
    if not wanted:
        return list(readable)
    picked = set(wanted)
    return [loop for loop in readable if loop.id in picked]
