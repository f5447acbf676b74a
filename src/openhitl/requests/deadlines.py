"""Deadlines: requests whose timeout_at passed become `timeout`; claims whose lease ran out go back to pending.

The sweeper sleeps until the earliest deadline (at most `poll_seconds`), so a request times out within
moments of its timeout_at, and an idle server makes one indexed query a second.
"""

import asyncio
from contextlib import suppress
from datetime import datetime

import structlog
from sqlalchemy import func, select

from openhitl.kit import prepared
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.requests import lifecycle
from openhitl.requests.models import OPEN_STATUSES, Request, status_in

log = structlog.get_logger("openhitl.timeouts")
# One statement, each half answered from its own partial index.
NEXT_DEADLINES = prepared.Statements(
    lambda: select(
        select(func.min(Request.timeout_at)).where(status_in(OPEN_STATUSES)).scalar_subquery(),
        select(func.min(Request.claim_expires_at)).where(status_in(("claimed",))).scalar_subquery(),
    )
)


class DeadlineSweeper:
    def __init__(
        self, db: Database, clock: Clock, *, batch_size: int = 500, poll_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.clock = clock
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run_once(self) -> int:
        """One batch of each sweep; the number of requests moved."""
        now = self.clock.now()
        async with self.db.write() as session:
            timed_out = await lifecycle.apply_due(
                session,
                lifecycle.TIME_OUT,
                due=Request.timeout_at <= now,
                order_by=Request.timeout_at,
                now=now,
                limit=self.batch_size,
                values={"claim_expires_at": None},
            )
        async with self.db.write() as session:
            expired = await lifecycle.apply_due(
                session,
                lifecycle.EXPIRE_CLAIM,
                due=(Request.claim_expires_at <= now) & (Request.timeout_at > now),
                order_by=Request.claim_expires_at,
                now=now,
                limit=self.batch_size,
                values={"claimed_by": None, "claimed_at": None, "claim_expires_at": None},
            )
        return len(timed_out) + len(expired)

    async def next_deadline(self) -> datetime | None:
        # Two partial indexes: a lookup, prepared once, as an idle server makes it every second.
        ((timeout_at, lease_end),) = await self.db.lookup_rows(NEXT_DEADLINES)
        candidates = [d for d in (timeout_at, lease_end) if d is not None]
        return min(candidates) if candidates else None

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                # Reads first: an idle server never opens a write transaction here.
                deadline = await self.next_deadline()
                wait = self.poll_seconds
                if deadline is not None:
                    wait = min(wait, max(0.0, (deadline - self.clock.now()).total_seconds()))
                if wait <= 0:
                    if await self.run_once():
                        continue
                    wait = 0.05  # due rows held by another sweeper: let it finish instead of spinning
                delay = 0.2
            except Exception as exc:  # the database may be restarting
                log.warning("deadline sweep failed", error=str(exc))
                wait, delay = delay, min(delay * 2, 5)
            await self._sleep(wait, stop)

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        if seconds <= 0:
            return
        stopping = asyncio.create_task(stop.wait())
        woken = asyncio.create_task(self._wakeup.wait())
        try:
            await asyncio.wait({stopping, woken}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopping, woken):
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            self._wakeup.clear()
