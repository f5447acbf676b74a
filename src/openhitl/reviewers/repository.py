"""Queries for reviewers. What a reviewer may see is a join on their active memberships."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.kit.prepared import Statements, driver
from openhitl.kit.work import WritingSession
from openhitl.loops.models import Loop, Membership, answering
from openhitl.realtime.models import Event
from openhitl.requests.lifecycle import REQUEST_ID, UserId, held_by, open_to
from openhitl.requests.models import OPEN_STATUSES, ROW_COLUMNS, Request, Response, from_row, status_in

HISTORY_STATUSES = ("completed", "timeout", "cancelled")


def _member_of(user_id: UserId) -> Any:
    """An active membership of the request's loop in a role that answers (a viewer only reads)."""
    return and_(
        Membership.loop_id == Request.loop_id,
        Membership.user_id == user_id,
        Membership.status == "active",
        answering(Membership.role),
    )


async def queue(
    session: AsyncSession,
    *,
    user_id: str,
    now: datetime,
    loop_id: str | None,
    priority: str | None,
    limit: int,
    offset: int,
    others_claims: bool = False,
) -> tuple[list[tuple[Request, Loop]], int]:
    """Open requests of the user's loops plus those they hold: critical first, then oldest first. With
    `others_claims`, also those someone else holds (the reviewer app shows them, dimmed, with who)."""
    # Both halves imply an open status; said outright (and literally) it lets the index on (loop_id, status,
    # …) reach the open requests alone, not every request the loop ever had.
    still_open = Request.timeout_at > now
    visible = still_open if others_claims else or_(open_to(user_id, now), held_by(user_id, now))
    conditions = [status_in(OPEN_STATUSES), visible]
    if loop_id:
        conditions.append(Request.loop_id == loop_id)
    if priority:
        conditions.append(Request.priority == priority)
    base = select(Request, Loop).join(Loop, Loop.id == Request.loop_id).join(Membership, _member_of(user_id))
    total = await session.scalar(
        select(func.count()).select_from(Request).join(Membership, _member_of(user_id)).where(*conditions)
    )
    rows = await session.execute(
        base.where(*conditions)
        .order_by(Request.priority_rank.desc(), Request.created_at.asc(), Request.id.asc())
        .limit(limit)
        .offset(offset)
    )
    return [(r, loop) for r, loop in rows.all()], int(total or 0)


def _history_condition(user_id: str) -> Any:
    """Answered by the user, or closed unanswered in one of their loops after they joined."""
    mine = Request.response_by == user_id
    missed = and_(
        Request.status.in_(("timeout", "cancelled")),
        Request.loop_id.in_(
            select(Membership.loop_id).where(
                Membership.user_id == user_id,
                Membership.status == "active",
                answering(Membership.role),
                Membership.joined_at <= Request.created_at,
            )
        ),
    )
    return or_(mine, missed)


async def history(
    session: AsyncSession,
    *,
    user_id: str,
    status: str | None,
    loop_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Request, Loop]], int, dict[str, int]]:
    condition = _history_condition(user_id)
    scoped = [condition] + ([Request.loop_id == loop_id] if loop_id else [])
    counts_rows = await session.execute(
        select(Request.status, func.count()).where(*scoped).group_by(Request.status)
    )
    counts = {name: 0 for name in HISTORY_STATUSES}
    for name, count in counts_rows.all():
        if name in counts:
            counts[name] = int(count)
    counts["all"] = sum(counts[name] for name in HISTORY_STATUSES)
    filters = [*scoped, Request.status.in_([status] if status else HISTORY_STATUSES)]
    rows = await session.execute(
        select(Request, Loop)
        .join(Loop, Loop.id == Request.loop_id)
        .where(*filters)
        .order_by(Request.updated_at.desc(), Request.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = counts[status] if status else counts["all"]
    return [(r, loop) for r, loop in rows.all()], total, counts


async def get_for_member(
    session: AsyncSession, *, request_id: str, user_id: str
) -> tuple[Request, Loop] | None:
    statement = (
        select(Request, Loop)
        .join(Loop, Loop.id == Request.loop_id)
        .join(Membership, _member_of(user_id))
        .where(Request.id == request_id)
    )
    row = (await session.execute(statement)).one_or_none()
    return (row[0], row[1]) if row else None


USER_ID = bindparam("user_id", type_=String())
_MEMBERS_REQUEST = Statements(
    lambda: (
        select(*ROW_COLUMNS, Loop.name, Loop.icon, User.name)
        .join(Loop, Loop.id == Request.loop_id)
        .join(Membership, _member_of(USER_ID))
        .join(User, User.id == Membership.user_id)
        .where(Request.id == REQUEST_ID)
    )
)
_REQUEST = Statements(lambda: select(*ROW_COLUMNS).where(Request.id == REQUEST_ID))


@dataclass(frozen=True)
class MemberRequest:
    request: Request
    loop: Loop
    member_name: str  # who is asking: the events of their claim or answer name them to the loop


async def member_request(session: WritingSession, *, request_id: str, user_id: str) -> MemberRequest | None:
    """`get_for_member` in a unit of work that changes the request (a claim, an answer): one prepared read
    on its own connection (kit/prepared.py). The Loop carries what a reviewer's item shows of it (id, name,
    icon) and is not in the session."""
    row = await (await driver(session)).fetchone(
        _MEMBERS_REQUEST, {"request_id": request_id, "user_id": user_id}
    )
    if row is None:
        return None
    request = from_row(session, row[: len(ROW_COLUMNS)])
    name, icon, member_name = row[len(ROW_COLUMNS) :]
    return MemberRequest(request, Loop(id=request.loop_id, name=name, icon=icon), member_name or "")


async def reload(session: WritingSession, request_id: str) -> Request | None:
    """The request as it is now, also when this unit of work read it before."""
    row = await (await driver(session)).fetchone(_REQUEST, {"request_id": request_id})
    return from_row(session, row) if row is not None else None


async def viewer_of_request_loop(session: AsyncSession, *, request_id: str, user_id: str) -> bool:
    """Whether the user views (reads only) the loop of this request: why a reviewer's action found nothing."""
    statement = (
        select(Membership.id)
        .join(Request, Request.loop_id == Membership.loop_id)
        .where(
            Request.id == request_id,
            Membership.user_id == user_id,
            Membership.status == "active",
            Membership.role == "viewer",
        )
    )
    return (await session.execute(statement)).first() is not None


async def loop_by_invite_code(session: AsyncSession, code: str) -> Loop | None:
    return (await session.execute(select(Loop).where(Loop.invite_code == code))).scalar_one_or_none()


async def claimed_in_loop(session: AsyncSession, *, loop_id: str, user_id: str) -> list[str]:
    statement = select(Request.id).where(
        Request.loop_id == loop_id, Request.status == "claimed", Request.claimed_by == user_id
    )
    return list((await session.execute(statement)).scalars())


async def count_loop_contents(session: AsyncSession, loop_id: str) -> tuple[int, int, int]:
    members = await session.scalar(select(func.count()).where(Membership.loop_id == loop_id))
    requests = await session.scalar(select(func.count()).where(Request.loop_id == loop_id))
    responses = await session.scalar(
        select(func.count())
        .select_from(Response)
        .join(Request, Request.id == Response.request_id)
        .where(Request.loop_id == loop_id)
    )
    return int(members or 0), int(requests or 0), int(responses or 0)


async def loop_events(
    session: AsyncSession, *, user_id: str, types: tuple[str, ...], limit: int
) -> list[tuple[Event, Request, Loop]]:
    """The newest events of these types in the user's loops since they joined each, with their requests."""
    statement = (
        select(Event, Request, Loop)
        .join(
            Membership,
            and_(
                Membership.loop_id == Event.loop_id,
                Membership.user_id == user_id,
                Membership.status == "active",
                Membership.joined_at <= Event.created_at,
            ),
        )
        .join(Request, Request.id == Event.request_id)
        .join(Loop, Loop.id == Event.loop_id)
        .where(Event.type.in_(types))
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return [(event, request, loop) for event, request, loop in (await session.execute(statement)).all()]


async def request_events(
    session: AsyncSession, *, request_ids: set[str], types: tuple[str, ...]
) -> list[Event]:
    """These requests' events of these types, oldest first."""
    if not request_ids:
        return []
    statement = (
        select(Event).where(Event.request_id.in_(request_ids), Event.type.in_(types)).order_by(Event.id)
    )
    return list((await session.execute(statement)).scalars())
