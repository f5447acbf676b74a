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
from openhitl.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from openhitl.kit.ids import new_id
from openhitl.kit.work import WritingSession

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


async def revoke_api_key(session: WritingSession, *, user_id: str, api_key_id: str, now: datetime) -> ApiKey:
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


@dataclass(frozen=True)
class SignUpLink:
    """A sign-up that waits for its address to be proven: the token of the link emailed to it."""

    token: str
    existing: bool  # the address already has an account: the link only signs in, it changes nothing


async def create_account(
    session: AsyncSession, *, name: str | None, email: str, password_hash: str | None, now: datetime
) -> User:
    """A new account for an address nobody holds (the caller made sure of that, or proved the address)."""
    user = await get_or_create_user(session, email=email, name=name, now=now)
    if user.password_hash is None and password_hash is not None:
        user.password_hash = password_hash
        user.updated_at = now
        await session.flush()
    return user


async def is_first_account(session: AsyncSession) -> bool:
    return await repository.count_users(session) == 0


async def sign_up_link(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    password_hash: str,
    invite_code: str | None,
    next_path: str | None,
    settings: Settings,
    now: datetime,
) -> SignUpLink:
    """Signing up never touches an existing account, and answers alike whether or not the address has one:
    the link emailed to it finishes a new account, or (for an account that exists, with or without a
    password) only signs its owner in. Nobody can set the password of an account they cannot prove."""
    existing = await repository.get_user_by_email(session, email) is not None
    # An existing account's link only signs in, and offers the loop's join page; it joins nothing by itself.
    token = await _add_login_link(
        session,
        email=email,
        next_path=f"/join/{invite_code}" if existing and invite_code else next_path,
        settings=settings,
        now=now,
        name=None if existing else name,
        password_hash=None if existing else password_hash,
        invite_code=None if existing else invite_code,
    )
    return SignUpLink(token=token, existing=existing)


async def _add_login_link(
    session: AsyncSession,
    *,
    email: str,
    next_path: str | None,
    settings: Settings,
    now: datetime,
    name: str | None = None,
    password_hash: str | None = None,
    invite_code: str | None = None,
) -> str:
    """A new single-use link for this address (a sign-up's account waiting in it when `password_hash`
    is given); returns its token, of which only the digest is kept."""
    token = secrets.token_urlsafe(32)
    session.add(
        LoginLink(
            id=new_id(),
            email=email,
            digest=token_digest(settings.resolved_secret_key, token),
            next_path=safe_next_path(next_path),
            created_at=now,
            expires_at=now + timedelta(minutes=settings.login_link_minutes),
            name=name,
            password_hash=password_hash,
            invite_code=invite_code,
        )
    )
    await session.flush()
    return token


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
    return await _add_login_link(session, email=email, next_path=next_path, settings=settings, now=now)


async def find_login_link(
    session: AsyncSession, *, token: str, settings: Settings, now: datetime
) -> LoginLink | None:
    """The link a token belongs to while it can still be used (looked at, not spent)."""
    statement = select(LoginLink).where(
        LoginLink.digest == token_digest(settings.resolved_secret_key, token),
        LoginLink.used_at.is_(None),
        LoginLink.expires_at > now,
    )
    return (await session.execute(statement)).scalar_one_or_none()


def login_link_used() -> Unauthorized:
    return Unauthorized("This sign-in link has expired or was already used", "Ask for a new link")


@dataclass(frozen=True)
class UsedLink:
    user: User
    next_path: str
    invite_code: str | None  # a sign-up's loop to join now that its account exists


async def use_login_link(session: AsyncSession, *, token: str, settings: Settings, now: datetime) -> UsedLink:
    """Spends a sign-in token (once, before it expires). A sign-up's link makes its account, unless the
    address has one by now: then it only signs in, and the password given at sign-up is dropped."""
    used = (
        await session.execute(
            update(LoginLink)
            .where(
                LoginLink.digest == token_digest(settings.resolved_secret_key, token),
                LoginLink.used_at.is_(None),
                LoginLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(
                LoginLink.email,
                LoginLink.next_path,
                LoginLink.name,
                LoginLink.password_hash,
                LoginLink.invite_code,
            )
        )
    ).one_or_none()
    if used is None:
        raise login_link_used()
    user = await repository.get_user_by_email(session, used.email)
    invite_code = None
    if user is None:
        user = await create_account(
            session, name=used.name, email=used.email, password_hash=used.password_hash, now=now
        )
        invite_code = used.invite_code
    if user.status != "active":
        raise Forbidden("Account suspended")
    return UsedLink(user, used.next_path, invite_code)


def login_link_url(settings: Settings, token: str) -> str:
    """The address of a sign-in link: the public URL, never a request's Host header."""
    return f"{settings.link_base_url}/login/email/{token}"


async def operator_login_link(session: AsyncSession, *, email: str, settings: Settings, now: datetime) -> str:
    """A sign-in link for an account that exists, made by the operator (`openhitl login-link`): the same
    single-use, expiring link that `/login/email` emails."""
    email = clean_email(email)
    if await repository.get_user_by_email(session, email) is None:
        raise NotFound(
            f"no account with the email {email}",
            f"make one with: openhitl api-key create --email {email}",
        )
    token = await _add_login_link(session, email=email, next_path="/dashboard", settings=settings, now=now)
    return login_link_url(settings, token)


async def check_password_change(
    session: AsyncSession, *, user_id: str, current_password: str | None, new_password: str
) -> str | None:
    """Checks a new password for an account, before any hashing or writing: an account with a password
    must give it (`current_password`; None: the operator on the command line, who needs none); one without
    (made by an operator or an invitation, signed in by a link) sets its first. Returns the hash it replaces."""
    check_password(new_password)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("Account not found")
    if (
        current_password is not None
        and user.password_hash
        and not await asyncio.to_thread(verify_password, user.password_hash, current_password)
    ):
        raise BadRequest("The current password is not right", "Type your current password again")
    return user.password_hash


async def store_password(
    session: AsyncSession, *, user_id: str, password_hash: str, replaces: str | None, now: datetime
) -> None:
    """Stores a new password hash, unless the password changed since it was checked (then 409)."""
    unchanged = User.password_hash.is_(None) if replaces is None else User.password_hash == replaces
    stored = await session.execute(
        update(User)
        .where(User.id == user_id, unchanged)
        .values(password_hash=password_hash, updated_at=now)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if stored.first() is None:
        raise Conflict("The password was changed meanwhile", "Reload the page and try again")


async def has_password(session: AsyncSession, *, user_id: str) -> bool:
    found = await session.execute(select(User.password_hash).where(User.id == user_id))
    return found.scalar_one_or_none() is not None


def safe_next_path(value: str | None) -> str:
    """Only local paths: a sign-in link must not bounce people to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:500]
