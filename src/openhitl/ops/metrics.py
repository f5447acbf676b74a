"""`/metrics` in Prometheus text format.

Two kinds of numbers, chosen by who can count them right:

- What the database knows (requests by loop, priority and status; time to claim and to decide; the
  outbox backlog and its age; failed deliveries) is read from it at scrape time. Every replica answers
  the same, nothing is lost when a process restarts, and work done by `openhitl worker` processes (which
  serve no HTTP) is counted too. The queries are bounded: one grouped scan of the loop-queue index, the
  latest `RECENT_REQUESTS` requests by primary key, and the outbox's partial index of open messages.
  Distributions over that recent sample are gauge histograms (a current picture, not a running count).
- What only one process sees (HTTP answers, open live connections) is counted in that process and
  labelled with `process` (host:pid), so replicas add up and a restart shows as a counter reset.
"""

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery.models import Delivery, OutboxMessage
from openhitl.kit.state import AppState
from openhitl.realtime.feed import EventFeed
from openhitl.requests.models import PRIORITY_RANK, Request

log = structlog.get_logger("openhitl.http")
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
RECENT_REQUESTS = 5000
SECONDS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, float("inf"))

PROCESS_METRICS = CollectorRegistry()
HTTP_RESPONSES = Counter(
    "openhitl_http_responses",
    "HTTP answers of this process by route template, method and status",
    ["process", "route", "method", "status"],
    registry=PROCESS_METRICS,
)


def _histogram(name: str, documentation: str, seconds: Iterable[float]) -> GaugeHistogramMetricFamily:
    values = sorted(seconds)
    buckets = [
        ("+Inf" if bound == float("inf") else str(bound), float(sum(1 for v in values if v <= bound)))
        for bound in SECONDS_BUCKETS
    ]
    return GaugeHistogramMetricFamily(name, documentation, buckets=buckets, gsum_value=float(sum(values)))


async def database_metrics(session: AsyncSession, now: datetime) -> list[Metric]:
    requests = GaugeMetricFamily(
        "openhitl_requests", "Requests by loop, priority and status", labels=["loop_id", "priority", "status"]
    )
    grouped = select(Request.loop_id, Request.priority_rank, Request.status, func.count()).group_by(
        Request.loop_id, Request.priority_rank, Request.status
    )
    for loop_id, rank, status, count in await session.execute(grouped):
        requests.add_metric([loop_id, _priority_name(rank), status], count)

    recent = (
        select(Request.created_at, Request.claimed_at, Request.response_time_seconds)
        .order_by(Request.id.desc())
        .limit(RECENT_REQUESTS)
    )
    rows = (await session.execute(recent)).all()
    to_claim = [(claimed - created).total_seconds() for created, claimed, _ in rows if claimed is not None]
    to_decide = [seconds for _, _, seconds in rows if seconds is not None]

    open_messages = select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.done_at.is_(None), OutboxMessage.failed_at.is_(None)
    )
    backlog, oldest = (await session.execute(open_messages)).one()
    failed_messages = await session.scalar(
        select(func.count()).where(OutboxMessage.done_at.is_(None), OutboxMessage.failed_at.is_not(None))
    )
    failed_deliveries = await session.scalar(select(func.count()).where(Delivery.succeeded.is_(False)))
    return [
        requests,
        _histogram(
            "openhitl_time_to_claim_seconds",
            f"Created to claimed, over the latest {RECENT_REQUESTS} requests",
            to_claim,
        ),
        _histogram(
            "openhitl_time_to_decide_seconds",
            f"Created to answered, over the latest {RECENT_REQUESTS} requests",
            to_decide,
        ),
        GaugeMetricFamily("openhitl_outbox_backlog", "Side effects not yet done", value=backlog),
        GaugeMetricFamily(
            "openhitl_outbox_oldest_age_seconds",
            "Age of the oldest side effect not yet done (0 when none)",
            value=(now - oldest).total_seconds() if oldest is not None else 0.0,
        ),
        GaugeMetricFamily(
            "openhitl_outbox_failed",
            "Side effects that gave up after their last retry",
            value=failed_messages,
        ),
        GaugeMetricFamily(
            "openhitl_webhook_delivery_failures",
            "Logged webhook attempts that failed",
            value=failed_deliveries,
        ),
    ]


_PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}


def _priority_name(rank: int) -> str:
    return _PRIORITY_NAMES.get(rank, str(rank))


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


async def render(state: AppState) -> bytes:
    """The text exposition: this process's counters, then what the database says now."""
    now = state.clock.now()
    async with state.db.read() as session:
        from_database = await database_metrics(session, now)
    live = GaugeMetricFamily(
        "openhitl_live_connections",
        "Open server-sent event streams and long-polls of this process",
        labels=["process"],
    )
    live.add_metric([PROCESS], state.get(EventFeed).subscriber_count)
    scrape = CollectorRegistry()
    scrape.register(_Snapshot([*from_database, live]))
    return generate_latest(PROCESS_METRICS) + generate_latest(scrape)


_counters: dict[tuple[str, str, int], Any] = {}
_debug = logging.getLogger("openhitl.http")


def count_response(route: str, method: str, status: int) -> None:
    """Counts an HTTP answer by route template (never the raw path: ids would explode the label set)."""
    counter = _counters.get((route, method, status))
    if counter is None:  # one labelled child per route, method and status, looked up once
        counter = _counters[(route, method, status)] = HTTP_RESPONSES.labels(
            PROCESS, route, method, str(status)
        )
    counter.inc()
    if _debug.isEnabledFor(logging.DEBUG):
        log.debug("http.response", method=method, route=route, status=str(status))
