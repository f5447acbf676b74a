"""The outbox worker: claims due messages under a lease, delivers them outside any transaction, records outcomes."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from openhitl.delivery import outbox
from openhitl.delivery.outbox import ClaimedMessage, PermanentFailure
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database, database_unavailable

Handler = Callable[[ClaimedMessage], Awaitable[None]]

logger = structlog.get_logger("openhitl.outbox")

ERROR_BACKOFF_MIN_SECONDS = 0.2
ERROR_BACKOFF_MAX_SECONDS = 5.0
# When something is due but another worker holds it, look again soon rather than at once.
RACE_PAUSE_SECONDS = 0.05
# A hint wakes the worker this much later, so that the waiters of the same commit answer first (see `wake`):
# those of this process answer from the closed request itself, without reading the database (BENCHMARKS.md,
# "Decision latency", "Third round (2026-11-21, evening): waiters answer from the closed request").
HINT_DELAY_SECONDS = 0.002


class OutboxWorker:
    """One worker per process is enough; several (in one or many processes) share the work safely."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        batch_size: int = 50,
        lease_seconds: float = 60,
        poll_seconds: float = 1.0,
        concurrency: int = 16,
        delivery_timeout_seconds: float = 30.0,
    ) -> None:
        if not handlers:
            raise ValueError("an outbox worker needs at least one handler")
        if not 0 < delivery_timeout_seconds < lease_seconds:
            raise ValueError("delivery_timeout_seconds must be positive and shorter than lease_seconds")
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.delivery_timeout_seconds = delivery_timeout_seconds
        self._kinds = sorted(self.handlers)
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._hinted = False

    def wake(self) -> None:
        """A hint that something was enqueued (call it after the commit, on the worker's event loop).

        The worker starts a moment later: the streams and long-polls woken by the same commit answer
        first, without the claim, the POST and its log interleaving with their reads. A webhook has a
        50 ms budget; a person waiting on a long-poll, 10.
        """
        if self._hinted:
            return
        self._hinted = True
        asyncio.get_running_loop().call_later(HINT_DELAY_SECONDS, self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Delivers until `stop` is set; sleeps while nothing is due, and never dies of a failure.

        Deliveries run as tasks and new messages are claimed as soon as a slot frees up, so one slow or
        hanging receiver holds up only its own slot, never the messages queued behind it. Woken by the
        poll timer alone, it reads when the next message is due before it opens a write transaction to
        claim, so an idle server only reads.
        """
        backoff = ERROR_BACKOFF_MIN_SECONDS
        inflight: set[asyncio.Task[None]] = set()
        look = True  # something may be due: claim without reading first
        try:
            while not stop.is_set():
                self._wakeup.clear()
                self._hinted = False
                free = self.concurrency - len(inflight)
                wanted = min(free, self.batch_size)
                next_due: datetime | None = None
                try:
                    if wanted > 0 and not look:
                        next_due = await self._next_due()
                        look = next_due is not None and next_due <= self.clock.now()
                    if wanted > 0 and look:
                        claimed = await self._claim(wanted)
                        for message in claimed:
                            task = asyncio.create_task(self._deliver(message))
                            inflight.add(task)
                            task.add_done_callback(inflight.discard)
                        if claimed and len(claimed) == wanted:
                            continue  # more may be due
                        next_due = await self._next_due()
                except Exception as exc:
                    if database_unavailable(exc):  # restarting or out of reach: no stack trace each time
                        logger.warning(
                            "outbox.database_unavailable", error=str(exc), retry_in_seconds=backoff
                        )
                    else:
                        logger.exception("outbox.worker_error", retry_in_seconds=backoff)
                    await self._sleep(backoff, stop)
                    backoff = min(backoff * 2, ERROR_BACKOFF_MAX_SECONDS)
                    look = True
                    continue
                backoff = ERROR_BACKOFF_MIN_SECONDS
                busy = {task for task in inflight if not task.done()}
                await self._sleep(self._idle_seconds(next_due), stop, also=busy if wanted == 0 else set())
                # A hint, a freed slot, or the time the next message was due: claim straight away.
                look = (
                    self._wakeup.is_set()
                    or wanted == 0
                    or (next_due is not None and next_due <= self.clock.now())
                )
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _next_due(self) -> datetime | None:
        async with self.db.read() as session:
            return await outbox.next_due_at(session, kinds=self._kinds)

    async def _claim(self, limit: int) -> list[ClaimedMessage]:
        async with self.db.write() as session:
            return await outbox.claim_due(
                session, kinds=self._kinds, now=self.clock.now(), lease=self.lease, limit=limit
            )

    async def run_once(self) -> int:
        """Claims one batch, delivers it and records every outcome. Returns how many were claimed."""
        claimed = await self._claim(self.batch_size)
        if claimed:
            await asyncio.gather(*(self._deliver(message) for message in claimed))
        return len(claimed)

    def _idle_seconds(self, next_due: datetime | None) -> float:
        if next_due is None:
            return self.poll_seconds
        wait = (next_due - self.clock.now()).total_seconds()
        return min(max(wait, RACE_PAUSE_SECONDS), self.poll_seconds)

    async def _sleep(
        self, seconds: float, stop: asyncio.Event, also: set[asyncio.Task[None]] | None = None
    ) -> None:
        """Until `seconds` pass, a wake-up hint, the stop, or (when every slot is busy) a delivery ends."""
        woken = asyncio.ensure_future(self._wakeup.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                {woken, stopped, *(also or set())}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
            stopped.cancel()

    async def _deliver(self, message: ClaimedMessage) -> None:
        log = logger.bind(message_id=message.id, kind=message.kind, attempt=message.attempt)
        async with self._slots:
            lease_left = (message.locked_until - self.clock.now()).total_seconds()
            if lease_left <= self.delivery_timeout_seconds:
                # It waited so long for a slot that its lease could run out mid-delivery: hand it back.
                await self._release(log, message)
                return
            error: str | None = None
            permanent = False
            deadline = asyncio.timeout(self.delivery_timeout_seconds)
            try:
                async with deadline:
                    await self.handlers[message.kind](message)
            except PermanentFailure as exc:
                error, permanent = _describe(exc), True
            except Exception as exc:
                error = (
                    f"timed out after {self.delivery_timeout_seconds:g} s"
                    if deadline.expired()
                    else _describe(exc)
                )
            # Inside the slot: `concurrency` bounds database connections as well as deliveries.
            await self._record_outcome(log, message, error=error, permanent=permanent)

    async def _release(self, log: Any, message: ClaimedMessage) -> None:
        try:
            async with self.db.write() as session:
                await outbox.release(session, message=message)
        except Exception:
            log.exception("outbox.release_failed")

    async def _record_outcome(
        self, log: Any, message: ClaimedMessage, *, error: str | None, permanent: bool
    ) -> None:
        now = self.clock.now()
        delay = None if error is None or permanent else outbox.retry_delay(message.attempt)
        retry_at = None if delay is None else now + delay
        backoff = ERROR_BACKOFF_MIN_SECONDS
        while True:
            try:
                applied = await self._write_outcome(message, error=error, retry_at=retry_at, now=now)
                break
            except Exception as exc:
                lease_left = (message.locked_until - self.clock.now()).total_seconds()
                if not database_unavailable(exc) or lease_left <= backoff:
                    # The lease runs out and the message is delivered again: at-least-once, never lost.
                    log.exception("outbox.record_failed", error=error)
                    return
                # The database is restarting: keep the outcome until it is back rather than deliver twice.
                log.warning("outbox.record_waiting_for_database", retry_in_seconds=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_SECONDS)
        if not applied:
            log.warning("outbox.lease_lost", error=error)
        elif error is None:
            log.debug("outbox.delivered")
        elif retry_at is not None:
            log.warning("outbox.retry_scheduled", error=error, run_at=retry_at.isoformat())
        else:
            log.error("outbox.failed", error=error, permanent=permanent)

    async def _write_outcome(
        self, message: ClaimedMessage, *, error: str | None, retry_at: datetime | None, now: datetime
    ) -> bool:
        async with self.db.write() as session:
            if error is None:
                return await outbox.mark_done(session, message=message, now=now)
            if retry_at is None:
                return await outbox.mark_failed(session, message=message, error=error, now=now)
            return await outbox.schedule_retry(session, message=message, error=error, run_at=retry_at)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
