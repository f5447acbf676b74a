"""Web sessions: a random token in an HttpOnly cookie, its HMAC digest in the database."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Response
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User, WebSession
from openhitl.config import Settings
from openhitl.kit.crypto import token_digest
from openhitl.kit.ids import new_id

SESSION_COOKIE = "openhitl_session"
# Sliding expiry is written at most this often, so reads stay reads.
REFRESH_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


async def create(
    session: AsyncSession, *, user_id: str, user_agent: str, settings: Settings, now: datetime
) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(24)
    expires_at = now + timedelta(days=settings.session_days)
    session.add(
        WebSession(
            id=new_id(),
            user_id=user_id,
            digest=token_digest(settings.resolved_secret_key, token),
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
            user_agent=user_agent[:300],
        )
    )
    await session.flush()
    return NewSession(token=token, csrf_token=csrf_token, expires_at=expires_at)


async def find(session: AsyncSession, *, token: str, settings: Settings) -> Any:
    statement = (
        select(
            WebSession.id.label("session_id"),
            WebSession.csrf_token,
            WebSession.expires_at,
            WebSession.last_seen_at,
            User.id.label("user_id"),
            User.email,
            User.name,
            User.status,
            User.is_admin,
        )
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.digest == token_digest(settings.resolved_secret_key, token))
    )
    return (await session.execute(statement)).one_or_none()


async def refresh(session: AsyncSession, *, session_id: str, settings: Settings, now: datetime) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.id == session_id)
        .values(last_seen_at=now, expires_at=now + timedelta(days=settings.session_days))
    )


async def destroy(session: AsyncSession, *, token: str, settings: Settings) -> None:
    await session.execute(
        delete(WebSession).where(WebSession.digest == token_digest(settings.resolved_secret_key, token))
    )


def set_cookie(response: Response, new: NewSession, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        expires=new.expires_at,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
