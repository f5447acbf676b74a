"""Queries on users and API keys."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import ApiKey, User


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email.lower()))
    return result.scalar_one_or_none()


async def any_user_with_password(session: AsyncSession) -> bool:
    found = await session.execute(select(User.id).where(User.password_hash.is_not(None)).limit(1))
    return found.first() is not None


async def names_of(session: AsyncSession, user_ids: Iterable[str | None]) -> dict[str, str]:
    """The display names of these users (no addresses): what people in a loop see of each other."""
    wanted = {user_id for user_id in user_ids if user_id}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows.all()}


async def count_users(session: AsyncSession) -> int:
    result = await session.execute(select(User.id).limit(1))
    return len(result.all())


async def get_key_with_owner(session: AsyncSession, digest: str) -> Row[Any] | None:
    statement = (
        select(
            ApiKey.id.label("api_key_id"),
            ApiKey.permissions,
            ApiKey.revoked_at,
            ApiKey.expires_at,
            ApiKey.last_used_at,
            User.id.label("user_id"),
            User.email,
            User.name,
            User.status,
            User.is_admin,
        )
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.digest == digest)
    )
    return (await session.execute(statement)).one_or_none()


async def touch_key(session: AsyncSession, *, api_key_id: str, now: datetime, stale_before: datetime) -> None:
    """Record use at most once per interval, so reads do not turn into a write per call."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == api_key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < stale_before))
        .values(last_used_at=now)
    )
