"""The request lifecycle: the only place a request changes status.

Every transition is one guarded `UPDATE … WHERE status IN (…) RETURNING …`: of two racing callers the
database lets exactly one through, and the other gets no row back.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, case, literal, or_, select, update

from openhitl.delivery import fanout
from openhitl.kit.prepared import Statements, driver
from openhitl.kit.types import UTCDateTime
from openhitl.kit.work import WritingSession
from openhitl.realtime.events import append_event, closing
from openhitl.requests.models import ROW_COLUMNS, Request, from_row, status_in
from openhitl.requests.states import CANCEL as CANCEL
from openhitl.requests.states import CLAIM as CLAIM
from openhitl.requests.states import EXPIRE_CLAIM as EXPIRE_CLAIM
from openhitl.requests.states import RELEASE as RELEASE
from openhitl.requests.states import RESPOND as RESPOND
from openhitl.requests.states import TERMINAL_STATUSES, UPDATED
from openhitl.requests.states import TIME_OUT as TIME_OUT
from openhitl.requests.states import Transition as Transition


def cancelled(now: datetime, reason: str | None) -> dict[str, Any]:
    """The columns a cancellation sets beside the status."""
    # claimed_by stays: who held the request is told it was cancelled, and the record keeps it.
    return {"cancelled_at": now, "cancel_reason": reason, "claim_expires_at": None}


async def apply(
    session: WritingSession,
    transition: Transition,
    *,
    request_id: str,
    now: datetime,
    actor_id: str | None,
    values: dict[str, Any] | None = None,
    where: tuple[ColumnElement[bool], ...] = (),
    condition: ColumnElement[bool] | None = None,
    event_data: dict[str, Any] | None = None,
    version: int | None = None,
) -> Request | None:
    """Move one request along `transition`; None when its current state does not allow it.

    `condition` replaces the plain "status is one of the sources" guard where a lease matters. `version`,
    the version the caller read and checked its input against, makes the move wait for nothing else to
    have changed the request since (an answer validated against a config being replaced is refused).
    """
    guard = condition if condition is not None else Request.status.in_(transition.sources)
    statement = _moving(
        transition, now, values, Request.id == request_id, guard, *where, *_unchanged_since(version)
    )
    moved = (await session.execute(statement)).scalar_one_or_none()
    if moved is not None:
        await _moved(session, transition, moved, actor_id=actor_id, now=now, event_data=event_data)
    return moved


def _moving(
    transition: Transition, now: datetime, values: dict[str, Any] | None, *where: ColumnElement[bool]
) -> Any:
    """The one guarded UPDATE every transition is: the rows `where` picks move to the target, RETURNING them."""
    return (
        _guarded_update(transition, now, values, *where)
        .returning(Request)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


def _guarded_update(
    transition: Transition, now: Any, values: dict[str, Any] | None, *where: ColumnElement[bool]
) -> Any:
    return (
        update(Request)
        .where(*where)
        .values(
            status=transition.target,
            previous_status=Request.status,  # SET sees the old row, so this keeps where we came from
            version=Request.version + 1,
            updated_at=now,
            **(values or {}),
        )
    )


# The bound parameters every `Move` has; a move's own conditions and values may use them too.
REQUEST_ID = bindparam("request_id", type_=String())
NOW = bindparam("now", type_=UTCDateTime())
VERSION = bindparam("version", type_=Request.version.type)


class Move:
    """One transition along a fixed path, built and compiled once: the moves a reviewer makes all day
    (claim, answer). `apply` would build, compile and run the guarded UPDATE through the ORM on every call;
    a Move's statement names what varies as bound parameters (`REQUEST_ID`, `NOW`, `VERSION` and its own)
    and runs on the unit of work's driver connection (kit/prepared.py). The same `_guarded_update`, and
    the same side effects (`_moved`), as every other transition.

    `condition` and `where` build the guard as `apply` takes it; `versioned` adds "the version the caller
    read is still the request's" (`apply`'s `version`)."""

    def __init__(
        self,
        transition: Transition,
        *,
        values: Callable[[], dict[str, Any]],
        condition: Callable[[], ColumnElement[bool]] | None = None,
        where: Callable[[], tuple[ColumnElement[bool], ...]] = tuple,
        versioned: bool = False,
    ) -> None:
        def build() -> Any:
            guard = condition() if condition is not None else Request.status.in_(transition.sources)
            unchanged = (Request.version == VERSION,) if versioned else ()
            moving = _guarded_update(
                transition, NOW, values(), Request.id == REQUEST_ID, guard, *where(), *unchanged
            )
            return moving.returning(*ROW_COLUMNS)

        self.transition = transition
        self.statements = Statements(build)


async def make(
    session: WritingSession,
    move: Move,
    *,
    request_id: str,
    now: datetime,
    actor_id: str | None,
    params: dict[str, Any],
    version: int | None = None,
    event_data: dict[str, Any] | None = None,
) -> Request | None:
    """`apply` for a prepared `Move`: the request as it is now, or None when its state does not allow it.
    `params` are the move's own bound parameters."""
    connection = await driver(session)
    bound = {**params, "request_id": request_id, "now": now, "version": version}
    row = await connection.fetchone(move.statements, bound)
    if row is None:
        return None
    moved = from_row(session, row)
    await _moved(session, move.transition, moved, actor_id=actor_id, now=now, event_data=event_data)
    return moved


async def _moved_all(
    session: WritingSession,
    transition: Transition,
    statement: Any,
    *,
    actor_id: str | None,
    now: datetime,
    event_data: dict[str, Any] | None = None,
) -> list[Request]:
    moved = list((await session.execute(statement)).scalars().all())
    for request in moved:
        await _moved(session, transition, request, actor_id=actor_id, now=now, event_data=event_data)
    return moved


async def _moved(
    session: WritingSession,
    transition: Transition,
    request: Request,
    *,
    actor_id: str | None,
    now: datetime,
    event_data: dict[str, Any] | None = None,
) -> None:
    """What every transition sets in motion: its side effects and its audit event."""
    if transition.target in TERMINAL_STATUSES:
        closing(session, request)
    await fanout.request_event(session, event=transition.event, request=request, actor_id=actor_id, now=now)
    await append_event(
        session,
        type=transition.event,
        at=now,
        loop_id=request.loop_id,
        request_id=request.id,
        actor_id=actor_id,
        data={"from": request.previous_status, "to": transition.target, **(event_data or {})},
    )


async def apply_all(
    session: WritingSession,
    transition: Transition,
    *,
    where: ColumnElement[bool],
    now: datetime,
    actor_id: str | None,
    values: dict[str, Any] | None = None,
    event_data: dict[str, Any] | None = None,
) -> list[Request]:
    """The same transition for every request matching `where` whose state allows it (a loop's open
    requests, say), each with its own event, webhooks and released waiters, as if moved one by one."""
    statement = _moving(transition, now, values, where, status_in(transition.sources))
    return await _moved_all(session, transition, statement, actor_id=actor_id, now=now, event_data=event_data)


# Who and when, as values or as bound parameters (a `Move`'s statement is built once, with parameters).
UserId = str | ColumnElement[str]
Moment = datetime | ColumnElement[datetime]


def open_to(user_id: UserId, now: Moment) -> ColumnElement[bool]:
    """Answerable or claimable by this user: unclaimed, claimed by them, or a claim whose lease ran out."""
    return and_(
        Request.timeout_at > now,
        or_(
            Request.status == "pending",
            and_(
                Request.status == "claimed",
                or_(Request.claimed_by == user_id, Request.claim_expires_at <= now),
            ),
        ),
    )


def held_by(user_id: UserId, now: Moment) -> ColumnElement[bool]:
    return and_(Request.status == "claimed", Request.claimed_by == user_id, Request.claim_expires_at > now)


def claim_started(user_id: UserId, now: Moment) -> ColumnElement[datetime]:
    """When this user's hold began: their claim's start if they hold it, else now (a claim taken as it closes)."""
    moment = literal(now, UTCDateTime()) if isinstance(now, datetime) else now
    return case((Request.claimed_by == user_id, Request.claimed_at), else_=moment)


def _unchanged_since(version: int | None) -> tuple[ColumnElement[bool], ...]:
    return () if version is None else (Request.version == version,)


async def update_pending(
    session: WritingSession,
    *,
    request_id: str,
    now: datetime,
    actor_id: str,
    values: dict[str, Any],
    version: int | None = None,
) -> Request | None:
    """Change a request's content while nobody has started on it; None once it is claimed or closed, or
    (given the `version` the change was checked against) once anything else changed it."""
    statement = (
        update(Request)
        .where(Request.id == request_id, Request.status == "pending", *_unchanged_since(version))
        .values(version=Request.version + 1, updated_at=now, **values)
        .returning(Request)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    changed = (await session.execute(statement)).scalar_one_or_none()
    if changed is not None:
        await append_event(
            session,
            type=UPDATED,
            at=now,
            loop_id=changed.loop_id,
            request_id=changed.id,
            actor_id=actor_id,
            data={"fields": sorted(values)},
        )
    return changed


async def renew_claim(
    session: WritingSession,
    *,
    request_id: str,
    user_id: str,
    now: datetime,
    claim_expires_at: datetime,
    where: tuple[ColumnElement[bool], ...] = (),
) -> Request | None:
    """Extend a claim its holder still has; None when they no longer hold it (released, expired and taken,
    closed). Not a transition: the status stays `claimed`, so no event, webhook or audit row, and the version
    stays, so an answer being checked meanwhile is not refused for it."""
    statement = (
        update(Request)
        .where(
            Request.id == request_id,
            Request.status == "claimed",
            Request.claimed_by == user_id,
            Request.timeout_at > now,
            *where,
        )
        .values(claim_expires_at=claim_expires_at)
        .returning(Request)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def apply_due(
    session: WritingSession,
    transition: Transition,
    *,
    due: ColumnElement[bool],
    order_by: Any,
    now: datetime,
    limit: int,
    values: dict[str, Any] | None = None,
) -> list[Request]:
    """The same transition for every request that is `due`, at most `limit` of them, for background sweeps.

    Rows another sweeper holds are skipped (SKIP LOCKED on PostgreSQL; SQLite has one writer anyway), and
    the guard is repeated in the UPDATE, so each request still moves exactly once.
    """
    chosen = (
        select(Request.id)
        .where(status_in(transition.sources), due)
        .order_by(order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = _moving(
        transition, now, values, Request.id.in_(chosen.scalar_subquery()), status_in(transition.sources), due
    )
    return await _moved_all(session, transition, statement, actor_id=None, now=now)
