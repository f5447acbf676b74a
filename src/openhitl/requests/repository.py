"""Queries on requests. Readability is expressed as SQL: created by me, or in a loop I manage."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, exists, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from openhitl.accounts.models import User
from openhitl.kit import upsert
from openhitl.kit.bodies import first_problem
from openhitl.kit.errors import BadRequest
from openhitl.kit.ids import is_valid_id, new_id
from openhitl.kit.prepared import Statements, driver
from openhitl.kit.types import json_value_like
from openhitl.kit.work import WritingSession
from openhitl.loops import audience
from openhitl.loops.models import READER_ROLES, Loop, Membership, answering
from openhitl.realtime.models import Event
from openhitl.requests import tallies
from openhitl.requests.models import PRIORITIES, STATUSES, Feedback, IdempotencyKey, Request, RequestTally

SORTS = ("created_at_desc", "created_at_asc", "priority_desc", "status_asc")


@dataclass(frozen=True)
class RequestFilters:
    status: str | None = None
    priority: str | None = None
    loop_id: str | None = None
    sort: str = "created_at_desc"
    created_from: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None  # found in the request's text, title or context values, in any case


def read_loop_ids(user_id: str) -> Select[Any]:
    """The loops whose every request this user reads: those they manage, and those they view."""
    return select(Membership.loop_id).where(
        Membership.user_id == user_id, Membership.status == "active", Membership.role.in_(READER_ROLES)
    )


def readable(user_id: str) -> Any:
    """Requests this user may read as a caller: their own, and every request of loops they manage or view."""
    return or_(Request.creator_id == user_id, Request.loop_id.in_(read_loop_ids(user_id)))


def _ordering(sort: str) -> list[Any]:
    newest = [Request.created_at.desc(), Request.id.desc()]
    if sort == "created_at_asc":
        return [Request.created_at.asc(), Request.id.asc()]
    if sort == "priority_desc":
        return [Request.priority_rank.desc(), *newest]
    if sort == "status_asc":
        return [Request.status.asc(), *newest]
    return newest


def text_matches(text: str) -> Any:
    """The request's text, title or one of its context's values holds `text`, in any case (keys do not
    count: a context {"email": "x"} is not found by "email")."""
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        Request.request_text.ilike(pattern, escape="\\"),
        Request.title.ilike(pattern, escape="\\"),
        json_value_like(Request.context, pattern),
    )


def _key_conditions(filters: RequestFilters, keys: Any) -> list[Any]:
    """The filters the tally has keys for (requests/tallies.py)."""
    conditions = []
    if filters.status:
        conditions.append(keys.status == filters.status)
    if filters.priority:
        conditions.append(keys.priority == filters.priority)
    if filters.loop_id:
        conditions.append(keys.loop_id == filters.loop_id)
    return conditions


def _other_conditions(filters: RequestFilters) -> list[Any]:
    """The filters only the requests themselves can answer: with any of them, the total is counted."""
    conditions = []
    if filters.created_from:
        conditions.append(Request.created_at >= filters.created_from)
    if filters.created_before:
        conditions.append(Request.created_at < filters.created_before)
    if filters.text:
        conditions.append(text_matches(filters.text))
    return conditions


def filter_conditions(user_id: str, filters: RequestFilters) -> list[Any]:
    """What the list and the export both select by: readable by this user, then each filter given."""
    return [readable(user_id), *_key_conditions(filters, Request), *_other_conditions(filters)]


# Above this many loops in one list, one statement over all of them beats one branch per loop.
MAX_BRANCHES = 64


def _page_ids(
    *, user_id: str, whole: set[str], created_in: set[str], filters: RequestFilters, limit: int, offset: int
) -> Any:
    """The page's request ids as a subquery, read loop by loop: each loop's rows come in the list's order
    from its index (ix_requests_loop_created, or the creator's for a loop the user does not read whole), and
    each branch stops at offset + limit rows, so a page costs the same with a thousand requests or a million.
    `whole`: the loops the user reads whole; `created_in`: the loops the user created requests in."""
    loops = sorted(whole | created_in)
    if filters.loop_id:
        loops = [loop for loop in loops if loop == filters.loop_id]
    conditions = [*_key_conditions(filters, Request), *_other_conditions(filters)]
    ordering = _ordering(filters.sort)
    if len(loops) > MAX_BRANCHES:
        return (
            select(Request.id).where(readable(user_id), *conditions).order_by(*ordering).limit(offset + limit)
        )
    if not loops:
        return None
    branches = [
        select(Request.id)
        .where(
            Request.loop_id == loop,
            *([] if loop in whole else [Request.creator_id == user_id]),
            *conditions,
        )
        .order_by(*ordering)
        .limit(offset + limit)
        .subquery()
        for loop in loops
    ]
    return union_all(*(select(branch.c.id) for branch in branches))


async def list_readable(
    session: AsyncSession, *, user_id: str, filters: RequestFilters, limit: int, offset: int
) -> tuple[list[tuple[Request, str]], int]:
    whole = set((await session.scalars(read_loop_ids(user_id))).all())
    if _other_conditions(filters):
        total = await session.scalar(
            select(func.count()).select_from(Request).where(*filter_conditions(user_id, filters))
        )
    else:
        total = await tallies.total(
            session,
            or_(RequestTally.creator_id == user_id, RequestTally.loop_id.in_(whole)),
            *_key_conditions(filters, RequestTally),
        )
    created_in = set(
        (
            await session.scalars(
                select(RequestTally.loop_id).where(RequestTally.creator_id == user_id).distinct()
            )
        ).all()
    )
    ids = _page_ids(
        user_id=user_id, whole=whole, created_in=created_in, filters=filters, limit=limit, offset=offset
    )
    if ids is None:
        return [], int(total or 0)
    chosen = ids.subquery()
    statement = (
        select(Request, Loop.name)
        .join(chosen, chosen.c.id == Request.id)
        .join(Loop, Loop.id == Request.loop_id)
        .order_by(*_ordering(filters.sort))
        .limit(limit)
        .offset(offset)
    )
    rows = [(request, name) for request, name in (await session.execute(statement)).all()]
    return rows, int(total or 0)


async def export_batch(
    session: AsyncSession,
    *,
    user_id: str,
    filters: RequestFilters,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Request, str]]:
    """The next `limit` requests the list would show for these filters, newest first, after the (created_at,
    id) of the previous batch's last one: read in batches, an export never holds the whole table."""
    conditions = filter_conditions(user_id, filters)
    if after is not None:
        created_at, request_id = after
        conditions.append(
            or_(
                Request.created_at < created_at,
                and_(Request.created_at == created_at, Request.id < request_id),
            )
        )
    statement = (
        select(Request, Loop.name)
        .join(Loop, Loop.id == Request.loop_id)
        .where(*conditions)
        .order_by(Request.created_at.desc(), Request.id.desc())
        .limit(limit)
    )
    return [(request, name) for request, name in (await session.execute(statement)).all()]


async def audit_trails(
    session: AsyncSession, request_ids: list[str]
) -> dict[str, list[tuple[Event, str | None]]]:
    """`audit_trail` of several requests in one query: {request_id: [(event, actor name)]}, oldest first."""
    trails: dict[str, list[tuple[Event, str | None]]] = {request_id: [] for request_id in request_ids}
    if not request_ids:
        return trails
    statement = (
        select(Event, User.name)
        .outerjoin(User, User.id == Event.actor_id)
        .where(Event.request_id.in_(request_ids))
        .order_by(Event.id)
    )
    for event, name in (await session.execute(statement)).all():
        trails[event.request_id or ""].append((event, name))
    return trails


async def get_with_loop(session: AsyncSession, request_id: str) -> tuple[Request, Loop] | None:
    statement = select(Request, Loop).join(Loop, Loop.id == Request.loop_id).where(Request.id == request_id)
    row = (await session.execute(statement)).one_or_none()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class ReaderView:
    """A request as one query finds it for a reader: its loop, the reader's role, and who answered it."""

    request: Request
    loop: Loop
    role: str | None
    responder: User | None


async def get_for_reader(session: AsyncSession, *, request_id: str, user_id: str) -> ReaderView | None:
    role = (
        select(Membership.role)
        .where(
            Membership.loop_id == Request.loop_id,
            Membership.user_id == user_id,
            Membership.status == "active",
        )
        .correlate(Request)
        .scalar_subquery()
    )
    statement = (
        select(Request, Loop, role, User)
        .join(Loop, Loop.id == Request.loop_id)
        .outerjoin(User, User.id == Request.response_by)
        .where(Request.id == request_id)
    )
    row = (await session.execute(statement)).one_or_none()
    return ReaderView(request=row[0], loop=row[1], role=row[2], responder=row[3]) if row else None


async def users_by_id(session: AsyncSession, user_ids: set[str]) -> dict[str, User]:
    if not user_ids:
        return {}
    return {u.id: u for u in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars()}


async def recipients(session: AsyncSession, request: Request) -> list[tuple[Membership, User]]:
    """Who the request was broadcast to: the loop's active members who had joined by its creation."""
    statement = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.loop_id == request.loop_id,
            Membership.status == "active",
            answering(Membership.role),
            Membership.joined_at <= request.created_at,
        )
        .order_by(case((Membership.role == "creator", 0), else_=1), Membership.joined_at)
    )
    return [(m, u) for m, u in (await session.execute(statement)).all()]


async def feedback_for(session: AsyncSession, request_id: str) -> list[Feedback]:
    statement = select(Feedback).where(Feedback.request_id == request_id).order_by(Feedback.created_at)
    return list((await session.execute(statement)).scalars())


def _create_access() -> Select[Any]:
    counted = aliased(Membership)
    return (
        select(
            Membership.role,
            Loop.settings,
            select(func.count())
            .select_from(counted)
            .where(counted.loop_id == Loop.id, counted.status == "active", answering(counted.role))
            .correlate(Loop)
            .scalar_subquery(),
            # Whom a new request could reach: delivery's own rules (loops/audience.py).
            exists()
            .where(
                audience.webhook_endpoints(creator_id=bindparam("user_id"), loop_creator_id=Loop.creator_id)
            )
            .correlate(Loop),
            exists(audience.push_subscriptions(Loop.id)).correlate(Loop),
            exists(audience.listening_members(Loop.id, email=True)).correlate(Loop),
        )
        .join(Membership, Membership.loop_id == Loop.id)
        .where(
            Loop.id == bindparam("loop_id"),
            Membership.user_id == bindparam("user_id"),
            Membership.status == "active",
        )
    )


# Built once per dialect and run on the driver: creating a request reads nothing else before it writes.
_CREATE_ACCESS = Statements(_create_access)


@dataclass(frozen=True)
class CreateAccess:
    """What creating a request in a loop needs to know, read in one statement."""

    role: str
    settings: dict[str, Any]
    members: int  # active members: who hears of the new request
    has_endpoints: bool  # an enabled webhook endpoint of the caller or of the loop's creator
    has_push: bool  # a push subscription of an active member (and account) who keeps push on
    has_email: bool  # an active member (and account) who takes emails


async def create_access(session: WritingSession, *, loop_id: str, user_id: str) -> CreateAccess | None:
    """The caller's active membership of the loop, and whom a new request there could reach."""
    connection = await driver(session)
    found = await connection.fetchone(_CREATE_ACCESS, {"loop_id": loop_id, "user_id": user_id})
    if found is None:
        return None
    role, settings, members, endpoints, push, email = found
    return CreateAccess(role, settings or {}, int(members), bool(endpoints), bool(push), bool(email))


async def claim_idempotency_key(
    session: AsyncSession, *, user_id: str, key: str, body_digest: str, request_id: str, now: datetime
) -> bool:
    """Stores the caller's key for this request; False if the key was already taken (nothing stored).

    On PostgreSQL a claim by a transaction still running waits for it to end (and is then taken or not).
    """
    statement = (
        upsert.insert(session, IdempotencyKey)
        .values(
            id=new_id(),
            user_id=user_id,
            key=key,
            body_digest=body_digest,
            request_id=request_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[IdempotencyKey.user_id, IdempotencyKey.key])
        .returning(IdempotencyKey.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def get_idempotency_key(session: AsyncSession, *, user_id: str, key: str) -> IdempotencyKey | None:
    statement = select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_status(session: AsyncSession, request_id: str) -> str | None:
    return (
        await session.execute(select(Request.status).where(Request.id == request_id))
    ).scalar_one_or_none()


async def status_counts(
    session: AsyncSession, *, loop_ids: list[str], since: datetime
) -> dict[str, dict[str, int]]:
    """How many requests each loop received since `since`, by status: {loop_id: {status: count}}."""
    if not loop_ids:
        return {}
    statement = (
        select(Request.loop_id, Request.status, func.count())
        .where(Request.loop_id.in_(loop_ids), Request.created_at >= since)
        .group_by(Request.loop_id, Request.status)
    )
    counts: dict[str, dict[str, int]] = {loop_id: {} for loop_id in loop_ids}
    for loop_id, status, count in (await session.execute(statement)).all():
        counts[loop_id][status] = int(count)
    return counts


async def audit_trail(session: AsyncSession, request_id: str) -> list[tuple[Event, str | None]]:
    """Every event of one request, oldest first, with the name of who caused it (None: the server)."""
    statement = (
        select(Event, User.name)
        .outerjoin(User, User.id == Event.actor_id)
        .where(Event.request_id == request_id)
        .order_by(Event.id)
    )
    return [(event, name) for event, name in (await session.execute(statement)).all()]


STATUS_ALIASES = {"timed_out": "timeout", "canceled": "cancelled"}


SEARCH_MAX_LENGTH = 200


def parse_filters(
    status: str | None, priority: str | None, loop_id: str | None, sort: str | None, q: str | None = None
) -> RequestFilters:
    if status:
        status = STATUS_ALIASES.get(status, status)
        if status not in STATUSES:
            raise BadRequest("Invalid status filter value", f"status must be one of: {', '.join(STATUSES)}")
    if priority and priority not in PRIORITIES:
        raise BadRequest("Invalid priority filter value", f"priority must be one of: {', '.join(PRIORITIES)}")
    if loop_id and not is_valid_id(loop_id):
        raise BadRequest("Invalid loop ID format", "loop_id must be a 24-character hex id")
    if sort and sort not in SORTS:
        raise BadRequest("Invalid sort value", f"sort must be one of: {', '.join(SORTS)}")
    text = (q or "").strip()
    if len(text) > SEARCH_MAX_LENGTH:
        raise BadRequest("Search text too long", f"q must be at most {SEARCH_MAX_LENGTH} characters")
    if (problem := first_problem(text)) is not None:
        raise BadRequest("Invalid search text", f"q {problem}")
    return RequestFilters(
        status=status or None,
        priority=priority or None,
        loop_id=loop_id or None,
        sort=sort or "created_at_desc",
        text=text or None,
    )
