"""Account rules: users, API keys, sign-up and sign-in by password or emailed link."""

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import keycache, repository
from openhitl.accounts.models import DEFAULT_PERMISSIONS, ApiKey, LoginLink, User
from openhitl.config import Settings
from openhitl.kit.crypto import generate_api_key, hash_password, token_digest, verify_password
from openhitl.kit.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from openhitl.kit.ids import new_id

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
KNOWN_PERMISSIONS = (
    *DEFAULT_PERMISSIONS,
    "api_keys:read",
    "api_keys:write",
    "webhooks:read",
    "webhooks:write",
)
MIN_PASSWORD = 8
MAX_EMAIL_LENGTH = 320  # before trimming, as the OpenAPI document states it
# A hash to verify against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def looks_like_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL_LENGTH and bool(EMAIL_RE.match(value))


def clean_email(value: str) -> str:
    email = value.strip().lower()
    if len(value) > MAX_EMAIL_LENGTH or not looks_like_email(email):
        raise ValidationFailed("email must be a valid email address")
    return email


async def get_or_create_user(
    session: AsyncSession, *, email: str, name: str | None, now: datetime, invited: bool = False
) -> User:
    """The first account on an instance is its admin (an invited placeholder never is)."""
    email = email.strip().lower()
    user = await repository.get_user_by_email(session, email)
    if user is not None:
        return user
    first = not invited and await repository.count_users(session) == 0
    user = User(
        id=new_id(),
        email=email,
        name=(name or email.split("@")[0]).strip()[:200],
        is_admin=first,
        status="active",
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def issue_api_key(
    session: AsyncSession,
    *,
    user: User | str,
    name: str,
    secret_key: str,
    now: datetime,
    permissions: list[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    secret = generate_api_key()
    api_key = ApiKey(
        id=new_id(),
        user_id=user if isinstance(user, str) else user.id,
        name=name,
        prefix=secret[:14],
        digest=token_digest(secret_key, secret),
        permissions=list(permissions if permissions is not None else DEFAULT_PERMISSIONS),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(api_key=api_key, secret=secret)


async def list_api_keys(session: AsyncSession, *, user_id: str) -> list[ApiKey]:
    statement = (
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list((await session.execute(statement)).scalars())


async def revoke_api_key(session: AsyncSession, *, user_id: str, api_key_id: str, now: datetime) -> ApiKey:
    key = (
        await session.execute(select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.user_id == user_id))
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is None:
        key.revoked_at = now
        await session.flush()
    keycache.mark_revoked(session, key.id)
    return key


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > 1000:
        raise ValidationFailed("password must be at most 1000 characters")


def check_sign_up(*, name: str, email: str, password: str) -> tuple[str, str]:
    """(name, email) cleaned, or a 400 saying what to fix; checked before any hashing or database work."""
    email = clean_email(email)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed("name must be between 1 and 200 characters")
    check_password(password)
    return name, email


async def hash_password_off_loop(password: str) -> str:
    """argon2id takes a large fraction of a second: keep it off the event loop and out of transactions."""
    return await asyncio.to_thread(hash_password, password)


async def sign_up(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    password_hash: str,
    invited: bool,
    settings: Settings,
    now: datetime,
) -> User:
    """Creates an account, or completes the placeholder an email invitation made for this address.

    `invited` says the caller holds an invite (join link, invite code or invitation link) for this sign-up.
    """
    existing = await repository.get_user_by_email(session, email)
    if existing is not None and existing.password_hash is not None:
        raise Conflict("An account with this email already exists", "Sign in instead")
    if existing is not None and not invited:
        # An invited placeholder is claimed only by someone who can read that mailbox.
        raise Forbidden(
            "This address was invited", "Follow the link in the invitation email, or sign in by email"
        )
    if (
        existing is None
        and not invited
        and settings.signup != "open"
        and await repository.count_users(session) > 0
    ):
        raise Forbidden(
            "Sign-up is by invitation", "Use a join link, an invite code or the link in an invitation email"
        )
    user = existing or await get_or_create_user(session, email=email, name=name, now=now)
    user.name = name
    user.password_hash = password_hash
    user.updated_at = now
    await session.flush()
    return user


async def authenticate_password(session: AsyncSession, *, email: str, password: str) -> User:
    user = await repository.get_user_by_email(session, email.strip().lower())
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    valid = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not user.password_hash or not valid:
        raise Unauthorized("Invalid email or password")
    if user.status != "active":
        raise Forbidden("Account suspended")
    return user


async def create_login_link(
    session: AsyncSession, *, email: str, next_path: str, settings: Settings, now: datetime
) -> str | None:
    """A single-use sign-in token for this address, or None when the address may not sign in here."""
    email = clean_email(email)
    user = await repository.get_user_by_email(session, email)
    if user is None and settings.signup != "open":
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        LoginLink(
            id=new_id(),
            email=email,
            digest=token_digest(settings.resolved_secret_key, token),
            next_path=safe_next_path(next_path),
            created_at=now,
            expires_at=now + timedelta(minutes=settings.login_link_minutes),
        )
    )
    await session.flush()
    return token


async def use_login_link(
    session: AsyncSession, *, token: str, settings: Settings, now: datetime
) -> tuple[User, str]:
    """Spends a sign-in token (once, before it expires); returns the user and where to go next."""
    used = (
        await session.execute(
            update(LoginLink)
            .where(
                LoginLink.digest == token_digest(settings.resolved_secret_key, token),
                LoginLink.used_at.is_(None),
                LoginLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(LoginLink.email, LoginLink.next_path)
        )
    ).one_or_none()
    if used is None:
        raise Unauthorized("This sign-in link has expired or was already used", "Ask for a new link")
    user = await get_or_create_user(session, email=used.email, name=None, now=now)
    if user.status != "active":
        raise Forbidden("Account suspended")
    return user, used.next_path


def safe_next_path(value: str | None) -> str:
    """Only local paths: a sign-in link must not bounce people to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:500]
