"""Queries on loops and memberships. "Readable by this user" is a membership join, never a later check."""

from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.loops.models import Loop, Membership


async def get_with_membership(
    session: AsyncSession, *, loop_id: str, user_id: str
) -> tuple[Loop, Membership] | None:
    statement = (
        select(Loop, Membership)
        .join(Membership, Membership.loop_id == Loop.id)
        .where(Loop.id == loop_id, Membership.user_id == user_id, Membership.status == "active")
    )
    row = (await session.execute(statement)).one_or_none()
    return (row[0], row[1]) if row else None


async def list_for_member(session: AsyncSession, *, user_id: str) -> list[tuple[Loop, Membership]]:
    statement = (
        select(Loop, Membership)
        .join(Membership, Membership.loop_id == Loop.id)
        .where(Membership.user_id == user_id, Membership.status == "active")
        .order_by(Loop.created_at.desc(), Loop.id.desc())
    )
    return [(loop, membership) for loop, membership in (await session.execute(statement)).all()]


async def members_of(session: AsyncSession, loop_ids: list[str]) -> dict[str, list[tuple[Membership, User]]]:
    if not loop_ids:
        return {}
    statement = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.loop_id.in_(loop_ids))
        .order_by(Membership.created_at, Membership.id)
    )
    grouped: dict[str, list[tuple[Membership, User]]] = defaultdict(list)
    for membership, user in (await session.execute(statement)).all():
        grouped[membership.loop_id].append((membership, user))
    return grouped


async def get_member(session: AsyncSession, *, loop_id: str, user_id: str) -> Membership | None:
    statement = select(Membership).where(Membership.loop_id == loop_id, Membership.user_id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def invite_code_taken(session: AsyncSession, code: str) -> bool:
    return (await session.execute(select(Loop.id).where(Loop.invite_code == code))).first() is not None


async def active_member_ids(session: AsyncSession, loop_id: str) -> list[str]:
    statement = select(Membership.user_id).where(Membership.loop_id == loop_id, Membership.status == "active")
    return list((await session.execute(statement)).scalars())


async def lock(session: AsyncSession, loop_id: str) -> None:
    """Holds the loop's row until the unit of work ends (SQLite's single writer holds everything already)."""
    await session.execute(select(Loop.id).where(Loop.id == loop_id).with_for_update())


async def delete_loop(session: AsyncSession, loop_id: str) -> None:
    # Foreign keys cascade to memberships, requests, responses and feedback on both dialects.
    await session.execute(delete(Loop).where(Loop.id == loop_id))


async def delete_member(session: AsyncSession, membership_id: str) -> None:
    await session.execute(delete(Membership).where(Membership.id == membership_id))
