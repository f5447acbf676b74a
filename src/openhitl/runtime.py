"""What runs beside the HTTP server: the notifier, the event feed, the outbox worker and the deadline sweeper.

`openhitl serve` runs all of it; `openhitl worker` runs the workers alone (for scaled deployments).
"""

import asyncio
from contextlib import suppress
from typing import Any

import structlog

from openhitl.accounts.keycache import KeyCache
from openhitl.channels import Channels
from openhitl.config import Settings
from openhitl.delivery.worker import OutboxWorker
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.kit.ratelimit import RateLimiter, Throttle
from openhitl.kit.state import AppState
from openhitl.kit.work import UnitOfWork
from openhitl.realtime import events
from openhitl.realtime.feed import EventFeed
from openhitl.realtime.notifier import Notifier, make_notifier
from openhitl.requests.deadlines import DeadlineSweeper
from openhitl.requests.tallies import TallyCompactor

log = structlog.get_logger("openhitl.runtime")
SHUTDOWN_GRACE_SECONDS = 10


def open_database(settings: Settings, *, pool_size: int | None = None) -> Database:
    """The database with its event log writer and channels; for commands that need no more of the app."""
    db = Database(settings.resolved_database_url, pool_size=pool_size or settings.db_pool_size)
    db.listen(before_commit=[events.log_writer(db)], after_commit=[], channels=Channels())
    return db


def build_state(settings: Settings, clock: Clock | None = None) -> AppState:
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    api_keys = KeyCache(settings.api_key_cache_seconds)
    notifier = make_notifier(backend=settings.notifier, database_url=db.url, redis_url=settings.redis_url)
    feed = EventFeed(db, poll_seconds=settings.feed_poll_seconds)

    def publish_hints(work: UnitOfWork) -> None:
        if work.hints:
            notifier.publish(work.hints)

    # Every commit, in this order: the log written last in the transaction; once durable, this process's
    # streams first (a hint must find its events delivered here), the key cache, then the other processes.
    db.listen(
        before_commit=[events.log_writer(db)],
        after_commit=[feed.committed, api_keys.after_commit, publish_hints],
        channels=Channels(),
    )
    rate_limiter = RateLimiter(settings.rate_limit_per_hour, settings.redis_url)
    state = AppState(
        settings=settings,
        db=db,
        clock=clock or Clock(),
        rate_limiter=rate_limiter,
        throttle=Throttle(rate_limiter.counters),
    )
    state.add(Notifier, notifier)
    state.add(EventFeed, feed)
    state.add(KeyCache, api_keys)
    return state


class Background:
    """Starts and stops the background parts in order; wakes each on the hints that concern it."""

    def __init__(self, state: AppState, *, worker: OutboxWorker | None, streams: bool) -> None:
        self.state = state
        self.worker = worker
        self.streams = streams
        self.notifier = state.get(Notifier)
        self.feed = state.get(EventFeed)
        self.sweeper = (
            DeadlineSweeper(state.db, state.clock, poll_seconds=state.settings.deadline_poll_seconds)
            if worker is not None
            else None
        )
        self.compactor = TallyCompactor(state.db) if worker is not None else None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _on_hint(self, hint: dict[str, Any]) -> None:
        if self.streams and ("events" in hint or "loops" in hint or "requests" in hint):
            last_event_id = hint.get("last_event_id")  # from another replica, perhaps an older version
            self.feed.wake(last_event_id if type(last_event_id) is int else None)
        if self.worker is not None and hint.get("outbox"):
            self.worker.wake()

    async def start(self) -> None:
        await self.notifier.start()
        self.notifier.add_listener(self._on_hint)
        if self.streams:
            await self.feed.start()
        if self.worker is not None and self.sweeper is not None and self.compactor is not None:
            self._tasks = [
                asyncio.create_task(self.worker.run(self._stop), name="openhitl-outbox-worker"),
                asyncio.create_task(self.sweeper.run(self._stop), name="openhitl-deadline-sweeper"),
                asyncio.create_task(self.compactor.run(self._stop), name="openhitl-tally-compactor"),
            ]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            try:  # the current batch may finish; a hung delivery may not hold up shutdown
                await asyncio.wait_for(task, timeout=SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning("background task did not stop in time; cancelled", task=task.get_name())
            except Exception:
                log.exception("background task failed", task=task.get_name())
        if self.worker is not None:
            for handler in self.worker.handlers.values():
                closer = getattr(handler, "aclose", None)
                if closer is not None:  # outbound HTTP clients of the webhook and push senders
                    with suppress(Exception):
                        await closer()
        if self.streams:
            await self.feed.stop()
        self.notifier.remove_listener(self._on_hint)
        await self.notifier.stop()

    def stopped_tasks(self) -> list[str]:
        """Background tasks that ended while they should be running (a crash, or a stop not asked for)."""
        if self._stop.is_set():
            return []
        tasks = [*self._tasks, *([self.feed.task] if self.streams and self.feed.task else [])]
        return [task.get_name() for task in tasks if task.done()]

    async def run_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
