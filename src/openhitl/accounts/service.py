"""Account rules: creating users and issuing API keys."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import repository
from openhitl.accounts.models import DEFAULT_PERMISSIONS, ApiKey, User
from openhitl.kit.crypto import generate_api_key, token_digest
from openhitl.kit.ids import new_id


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


async def get_or_create_user(session: AsyncSession, *, email: str, name: str | None, now: datetime) -> User:
    """The first account on an instance is its admin."""
    email = email.strip().lower()
    user = await repository.get_user_by_email(session, email)
    if user is not None:
        return user
    first = await repository.count_users(session) == 0
    user = User(
        id=new_id(),
        email=email,
        name=(name or email.split("@")[0]).strip(),
        is_admin=first,
        status="active",
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def issue_api_key(
    session: AsyncSession, *, user: User, name: str, secret_key: str, now: datetime
) -> IssuedKey:
    secret = generate_api_key()
    api_key = ApiKey(
        id=new_id(),
        user_id=user.id,
        name=name,
        prefix=secret[:14],
        digest=token_digest(secret_key, secret),
        permissions=list(DEFAULT_PERMISSIONS),
        created_at=now,
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(api_key=api_key, secret=secret)
