"""The transactional outbox: enqueue in the caller's unit of work; claim, lease, retry and fence for the worker."""

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery.models import OutboxMessage
from openhitl.kit import upsert
from openhitl.kit.ids import new_id
from openhitl.kit.types import UTCDateTime
from openhitl.kit.work import WritingSession
from openhitl.realtime.events import hints

# DESIGN.md §5: the wait before attempt n+1 is RETRY_DELAYS[n]; attempt 1 runs at once.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=1),
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS)
JITTER = 0.10
ERROR_MAX_LENGTH = 2000


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: the message is marked failed at once."""


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """One message as a handler sees it. `id` is stable across attempts: use it as the idempotency id."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    created_at: datetime
    claim_token: str
    locked_until: datetime

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= MAX_ATTEMPTS


def retry_delay(attempt: int) -> timedelta | None:
    """The jittered wait after failed attempt number `attempt` (1-based), or None when none is left."""
    if attempt >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempt] * random.uniform(1 - JITTER, 1 + JITTER)


async def enqueue(
    session: WritingSession,
    *,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    message_id: str | None = None,
) -> str | None:
    """Adds a message to the caller's unit of work. None when a message with this dedupe_key already exists."""
    statement = (
        upsert.insert(session, OutboxMessage)
        .values(
            id=message_id or new_id(),
            kind=kind,
            payload=payload,
            dedupe_key=dedupe_key,
            run_at=run_at or now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
        .returning(OutboxMessage.id)
    )
    hints(session)["outbox"] = True  # wakes the workers once the message is committed
    return (await session.execute(statement)).scalar_one_or_none()


async def payloads_for_update(
    session: AsyncSession, *, message_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The payloads of these messages, locked until the caller's unit of work ends (SQLite: its one writer)."""
    statement = (
        select(OutboxMessage.id, OutboxMessage.payload)
        .where(OutboxMessage.id.in_(message_ids))
        .with_for_update()
    )
    return {row.id: row.payload for row in await session.execute(statement)}


async def replace_payload(session: AsyncSession, *, message_id: str, payload: dict[str, Any]) -> None:
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def redeliver(session: WritingSession, *, message_id: str, now: datetime) -> bool:
    """Schedules a delivered or failed message again now, with a fresh retry schedule.

    False when there is no such message or it is being delivered at this moment.
    """
    statement = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
        )
        .values(
            run_at=now,
            attempts=0,
            done_at=None,
            failed_at=None,
            locked_until=None,
            claim_token=None,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    hints(session)["outbox"] = True
    return (await session.execute(statement)).first() is not None


def _claimable(kinds: Sequence[str], now: datetime) -> list[Any]:
    return [
        OutboxMessage.done_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.kind.in_(kinds),
        OutboxMessage.run_at <= now,
        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
    ]


async def claim_due(
    session: AsyncSession, *, kinds: Sequence[str], now: datetime, lease: timedelta, limit: int
) -> list[ClaimedMessage]:
    """Leases up to `limit` due messages to a fresh claim token and counts the attempt.

    SKIP LOCKED lets PostgreSQL workers claim side by side; SQLite drops it, and its single
    BEGIN IMMEDIATE writer serialises claims instead.
    """
    token = secrets.token_hex(16)
    locked_until = now + lease
    due = (
        select(OutboxMessage.id)
        .where(*_claimable(kinds, now))
        .order_by(OutboxMessage.run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(attempts=OutboxMessage.attempts + 1, locked_until=locked_until, claim_token=token)
        .returning(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.payload,
            OutboxMessage.attempts,
            OutboxMessage.created_at,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(statement)).all()
    claimed = [
        ClaimedMessage(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempt=row.attempts,
            created_at=row.created_at,
            claim_token=token,
            locked_until=locked_until,
        )
        for row in rows
    ]
    # RETURNING keeps no order; ids are time-ordered, so this is creation order.
    claimed.sort(key=lambda message: message.id)
    return claimed


async def _fenced_update(
    session: WritingSession, message: ClaimedMessage, *, wake: bool, **values: Any
) -> bool:
    """Applies `values` only while `message`'s claim is still the current one.

    `wake`: the message will be due again (a retry, a release), so the workers should look at their
    next due time; a message done or failed for good wakes nobody.
    """
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim_token == message.claim_token)
        .values(locked_until=None, claim_token=None, **values)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    if wake:
        hints(session)["outbox"] = True
    return (await session.execute(statement)).first() is not None


async def mark_done(session: WritingSession, *, message: ClaimedMessage, now: datetime) -> bool:
    """Each outcome is fenced by the claim token: False means another worker owns the message now."""
    return await _fenced_update(session, message, wake=False, done_at=now)


async def schedule_retry(
    session: WritingSession, *, message: ClaimedMessage, error: str, run_at: datetime
) -> bool:
    return await _fenced_update(
        session, message, wake=True, run_at=run_at, last_error=error[:ERROR_MAX_LENGTH]
    )


async def mark_failed(session: WritingSession, *, message: ClaimedMessage, error: str, now: datetime) -> bool:
    """No attempt left, or not worth one: the message stays failed until someone redelivers it."""
    return await _fenced_update(
        session, message, wake=False, failed_at=now, last_error=error[:ERROR_MAX_LENGTH]
    )


async def release(session: WritingSession, *, message: ClaimedMessage) -> bool:
    """Gives a claimed message back unattempted, so the next claim takes it at once."""
    return await _fenced_update(session, message, wake=True, attempts=OutboxMessage.attempts - 1)


_CLAIMABLE_AT = case(
    (OutboxMessage.locked_until > OutboxMessage.run_at, OutboxMessage.locked_until),
    else_=OutboxMessage.run_at,
)
# Built once: idle workers ask this every poll.
_NEXT_DUE = select(type_coerce(func.min(_CLAIMABLE_AT), UTCDateTime())).where(
    OutboxMessage.done_at.is_(None),
    OutboxMessage.failed_at.is_(None),
    OutboxMessage.kind.in_(bindparam("kinds", expanding=True)),
)


async def next_due_at(session: AsyncSession, *, kinds: Sequence[str]) -> datetime | None:
    """When the earliest pending message becomes claimable: its run_at, or its lease's end if later."""
    result: datetime | None = (await session.execute(_NEXT_DUE, {"kinds": list(kinds)})).scalar_one_or_none()
    return result
