"""The numbers of a set of loops (one loop's page, or the overview's chosen loops) over the last 30 days:
volume, speed by priority, response targets, reviewers.

The rows of the window are read once (a few columns each) and summarised in Python, so the same code
gives the same percentiles on SQLite and PostgreSQL.
"""

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.types import utc_day
from openhitl.requests import repository
from openhitl.requests.models import PRIORITIES, Request

WINDOW_DAYS = 30
# The guide's response targets: how soon each priority should be answered.
TARGET_SECONDS = {"critical": 15 * 60, "high": 60 * 60, "medium": 4 * 60 * 60, "low": 24 * 60 * 60}


@dataclass(frozen=True)
class Row:
    day: str  # the UTC day it was created, 'YYYY-MM-DD'
    priority: str
    status: str
    response_by: str | None
    response_time_seconds: float | None
    # To the first claim; a request answered without being claimed was taken when it was answered.
    seconds_to_claim: float | None


@dataclass(frozen=True)
class Spread:
    count: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class PriorityStats:
    priority: str
    requests: int
    time_to_claim: Spread
    time_to_decide: Spread
    target_seconds: int
    closed: int  # answered or timed out: the requests the target can be judged on
    within_target: int
    timeouts: int

    @property
    def share_within_target(self) -> float | None:
        return self.within_target / self.closed if self.closed else None


@dataclass(frozen=True)
class ReviewerStats:
    user_id: str
    name: str
    answered: int
    median_seconds: float


@dataclass(frozen=True)
class LoopAnalytics:
    since: datetime
    days: list[tuple[date, int]]
    statuses: dict[str, int]
    priorities: list[PriorityStats]
    reviewers: list[ReviewerStats]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (what spreadsheets and numpy call the default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: Sequence[float]) -> Spread:
    return Spread(count=len(values), p50=percentile(values, 0.5), p90=percentile(values, 0.9))


def window_start(now: datetime) -> datetime:
    """Midnight UTC, 29 days before today: today and the 29 days before it."""
    first_day = (now.astimezone(UTC) - timedelta(days=WINDOW_DAYS - 1)).date()
    return datetime.combine(first_day, time.min, tzinfo=UTC)


async def window_rows(session: AsyncSession, *, loop_ids: Collection[str], since: datetime) -> list[Row]:
    """The window's requests, a few columns each (no datetime to parse), from the (loop_id, created_at)
    index's range of each loop."""
    if not loop_ids:
        return []
    statement = select(
        utc_day(Request.created_at),
        Request.priority,
        Request.status,
        Request.response_by,
        Request.response_time_seconds,
        Request.claim_seconds,
    ).where(Request.loop_id.in_(loop_ids), Request.created_at >= since)
    return [Row(*values) for values in (await session.execute(statement)).all()]


def daily_volume(rows: list[Row], since: datetime) -> list[tuple[date, int]]:
    per_day = Counter(row.day for row in rows)
    first = since.date()
    days = (first + timedelta(days=n) for n in range(WINDOW_DAYS))
    return [(day, per_day[day.isoformat()]) for day in days]


def priority_stats(priority: str, rows: list[Row]) -> PriorityStats:
    target = TARGET_SECONDS[priority]
    answered = [
        r.response_time_seconds
        for r in rows
        if r.status == "completed" and r.response_time_seconds is not None
    ]
    claims = [seconds for r in rows if (seconds := r.seconds_to_claim) is not None]
    timeouts = sum(1 for r in rows if r.status == "timeout")
    return PriorityStats(
        priority=priority,
        requests=len(rows),
        time_to_claim=spread(claims),
        time_to_decide=spread(answered),
        target_seconds=target,
        closed=len(answered) + timeouts,
        within_target=sum(1 for seconds in answered if seconds <= target),
        timeouts=timeouts,
    )


async def reviewer_stats(session: AsyncSession, rows: list[Row]) -> list[ReviewerStats]:
    times: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.status == "completed" and row.response_by and row.response_time_seconds is not None:
            times[row.response_by].append(row.response_time_seconds)
    users = await repository.users_by_id(session, set(times))
    found = [
        ReviewerStats(
            user_id=user_id,
            name=users[user_id].name if user_id in users else "(removed account)",
            answered=len(seconds),
            median_seconds=statistics.median(seconds),
        )
        for user_id, seconds in times.items()
    ]
    return sorted(found, key=lambda r: (-r.answered, r.median_seconds, r.name))


async def loop_analytics(session: AsyncSession, *, loop_ids: Collection[str], now: datetime) -> LoopAnalytics:
    """The measures of these loops together (readable by the caller: access is the caller's to check)."""
    since = window_start(now)
    rows = await window_rows(session, loop_ids=loop_ids, since=since)
    by_priority: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_priority[row.priority].append(row)
    return LoopAnalytics(
        since=since,
        days=daily_volume(rows, since),
        statuses=dict(Counter(row.status for row in rows)),
        priorities=[priority_stats(p, by_priority[p]) for p in reversed(PRIORITIES)],
        reviewers=await reviewer_stats(session, rows),
    )
