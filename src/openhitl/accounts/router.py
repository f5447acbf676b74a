"""Account routes for API callers: the HITL.sh key test, who am I, and API keys."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from openhitl.accounts import service
from openhitl.accounts.auth import CurrentPrincipal, Principal
from openhitl.accounts.models import ApiKey, User
from openhitl.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOne,
    ApiKeyRead,
    Me,
    UserRead,
)
from openhitl.accounts.service import KNOWN_PERMISSIONS
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.errors import Forbidden, ValidationFailed
from openhitl.kit.params import ApiKeyId
from openhitl.kit.ratelimit import next_hour
from openhitl.kit.uow import ReadSession, State, WriteSession

router = APIRouter(tags=["accounts"])


class RateLimitInfo(BaseModel):
    limit: int | None
    remaining: int | None
    reset_at: datetime


class KeyTest(BaseModel):
    api_key_id: str | None
    user_id: str
    email: str
    name: str
    account_status: str
    rate_limit: RateLimitInfo
    permissions: list[str]


@router.get("/test", responses=error_responses(401, 403, 429))
async def test_api_key(principal: CurrentPrincipal, state: State) -> Envelope[KeyTest]:
    """Check an API key and see whose it is, its permissions and its rate limit."""
    limit = principal.rate_limit
    info = (
        RateLimitInfo(limit=limit.limit, remaining=limit.remaining, reset_at=limit.reset_at)
        if limit
        else RateLimitInfo(limit=None, remaining=None, reset_at=next_hour(state.clock.now()))
    )
    return ok(
        KeyTest(
            api_key_id=principal.api_key_id,
            user_id=principal.user_id,
            email=principal.email,
            name=principal.name,
            account_status="active",
            rate_limit=info,
            permissions=list(principal.permissions),
        ),
        "API key is valid",
    )


def user_read(principal_or_user: Any) -> UserRead:
    return UserRead.model_validate(principal_or_user, from_attributes=True)


def key_read(key: ApiKey, now: datetime) -> ApiKeyRead:
    active = key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        key_prefix=key.prefix,
        permissions=list(key.permissions),
        is_active=active,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


def _may_manage_keys(principal: Principal, permission: str) -> None:
    # A key may not mint keys unless it was given that power: a leaked read-only key stays read-only.
    if not principal.via_session and permission not in principal.permissions:
        raise Forbidden(f"Insufficient permissions: requires {permission}")


@router.get("/me", responses=error_responses(401, 403, 429))
async def me(principal: CurrentPrincipal, session: ReadSession) -> Envelope[Me]:
    """Who is calling, how, and (for a browser session) the CSRF token its changing requests must send."""
    user = await session.get(User, principal.user_id)
    assert user is not None
    return ok(
        Me(
            user=user_read(user),
            auth="session" if principal.via_session else "api_key",
            api_key_id=principal.api_key_id,
            permissions=list(principal.permissions) or list(KNOWN_PERMISSIONS),
            csrf_token=principal.csrf_token,
        ),
        "Current user retrieved successfully",
    )


@router.get("/api-keys", responses=error_responses(401, 403, 429))
async def list_api_keys(
    principal: CurrentPrincipal, session: ReadSession, state: State
) -> Envelope[ApiKeyList]:
    """Your API keys (never the keys themselves: only their prefixes)."""
    _may_manage_keys(principal, "api_keys:read")
    keys = await service.list_api_keys(session, user_id=principal.user_id)
    now = state.clock.now()
    return ok(ApiKeyList(api_keys=[key_read(k, now) for k in keys], count=len(keys)), "API keys retrieved")


@router.post("/api-keys", status_code=201, responses=error_responses(400, 401, 403, 429))
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: WriteSession, state: State
) -> Envelope[ApiKeyCreated]:
    """Create an API key. The key is in this answer only; store it now."""
    _may_manage_keys(principal, "api_keys:write")
    name = body.name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("name must be between 1 and 100 characters")
    now = state.clock.now()
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise ValidationFailed("expires_at must include a time zone, e.g. 2030-01-01T00:00:00Z")
    if body.expires_at is not None and body.expires_at <= now:
        raise ValidationFailed("expires_at must be in the future")
    permissions = [str(p) for p in dict.fromkeys(body.permissions)] if body.permissions is not None else None
    if principal.api_key_id is not None and permissions is not None:
        beyond = [p for p in permissions if p not in principal.permissions]
        if beyond:
            raise Forbidden("A key cannot grant permissions it does not have", ", ".join(beyond))
    issued = await service.issue_api_key(
        session,
        user=principal.user_id,
        name=name,
        secret_key=state.settings.resolved_secret_key,
        now=now,
        permissions=permissions,
        expires_at=body.expires_at,
    )
    return ok(ApiKeyCreated(api_key=key_read(issued.api_key, now), key=issued.secret), "API key created")


@router.delete("/api-keys/{api_key_id}", responses=error_responses(400, 401, 403, 404, 429))
async def revoke_api_key(
    api_key_id: ApiKeyId,
    principal: CurrentPrincipal,
    session: WriteSession,
    state: State,
) -> Envelope[ApiKeyOne]:
    """Revoke one of your API keys; it stops working at once."""
    _may_manage_keys(principal, "api_keys:write")
    now = state.clock.now()
    key = await service.revoke_api_key(session, user_id=principal.user_id, api_key_id=api_key_id, now=now)
    return ok(ApiKeyOne(api_key=key_read(key, now)), "API key revoked")
