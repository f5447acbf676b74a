"""Who is calling: Bearer API keys and web sessions resolved to a Principal."""

import hmac
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from pydantic import TypeAdapter, ValidationError

from openhitl.accounts import repository, sessions
from openhitl.accounts.keycache import KeyCache, KeyOwner
from openhitl.config import Settings
from openhitl.kit.crypto import token_digest
from openhitl.kit.errors import Forbidden, TooManyRequests, Unauthorized
from openhitl.kit.ratelimit import RateLimitState
from openhitl.kit.state import AppState, app_state
from openhitl.kit.uow import State
from openhitl.kit.validation import JSON_TYPES, Model, read_json_body, validated

KEY_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    name: str
    is_admin: bool
    api_key_id: str | None
    permissions: tuple[str, ...] = field(default_factory=tuple)
    rate_limit: RateLimitState | None = None
    session_id: str | None = None
    csrf_token: str | None = None

    @property
    def via_session(self) -> bool:
        return self.session_id is not None


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"


def _bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing or invalid authorization header")
    return token.strip()


async def _key_owner(state: AppState, digest: str, now: datetime) -> KeyOwner | None:
    cached = state.get(KeyCache).get(digest, now)
    if cached is not None:
        return cached
    generation = state.get(KeyCache).generation
    async with state.db.lookup() as session:
        row = await repository.get_key_with_owner(session, digest)
    if row is None:
        return None
    owner = KeyOwner.from_row(row)
    state.get(KeyCache).put(digest, owner, now=now, generation=generation)
    return owner


async def _from_api_key(request: Request, state: AppState, header: str) -> Principal:
    token = _bearer_token(header)
    digest = token_digest(state.settings.resolved_secret_key, token)
    now = state.clock.now()
    row = await _key_owner(state, digest, now)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthorized("Invalid authorization token")
    if row.status != "active":
        raise Forbidden("Account suspended")
    if row.last_used_at is None or row.last_used_at < now - KEY_TOUCH_INTERVAL:
        async with state.db.write() as session:
            await repository.touch_key(
                session, api_key_id=row.api_key_id, now=now, stale_before=now - KEY_TOUCH_INTERVAL
            )
        state.get(KeyCache).touched(digest, now)
    rate_limit = None
    if state.rate_limiter.enabled:
        rate_limit = await state.rate_limiter.hit(row.api_key_id, now)
        request.state.rate_limit_headers = rate_limit.headers()
        if rate_limit.exceeded:
            raise TooManyRequests(
                "API key request limit exceeded",
                {
                    "usage_count": rate_limit.used,
                    "usage_limit": rate_limit.limit,
                    "remaining": 0,
                    "reset_at": rate_limit.reset_at.isoformat().replace("+00:00", "Z"),
                },
            )
    return Principal(
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        is_admin=row.is_admin,
        api_key_id=row.api_key_id,
        permissions=tuple(row.permissions or ()),
        rate_limit=rate_limit,
    )


async def session_principal(state: AppState, token: str) -> Principal:
    """The signed-in browser behind a session cookie; refreshes the sliding expiry now and then."""
    now = state.clock.now()
    async with state.db.read() as session:
        row = await sessions.find(session, token=token, settings=state.settings)
    if row is None or row.expires_at <= now:
        raise Unauthorized("Session expired or signed out; sign in again")
    if row.status != "active":
        raise Forbidden("Account suspended")
    if row.last_seen_at < now - sessions.REFRESH_AFTER:
        async with state.db.write() as session:
            await sessions.refresh(session, session_id=row.session_id, settings=state.settings, now=now)
    return Principal(
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        is_admin=row.is_admin,
        api_key_id=None,
        session_id=row.session_id,
        csrf_token=row.csrf_token,
    )


CROSS_SITE = Forbidden(
    "Cross-site request refused",
    "Send it from this server's own pages, or with an API key instead of a cookie",
)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, settings: Settings) -> None:
    """A browser names the site a request comes from (Origin, Sec-Fetch-Site); a changing request that a
    cookie would authenticate, or that would set one, is refused when that site is another one. Scripts
    send neither header and pass to the token checks."""
    origin = request.headers.get("origin")
    if origin is None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise CROSS_SITE
        return
    origin = origin.strip().lower()
    # The Host the browser used (a page elsewhere cannot choose it), or the configured public URL.
    host = request.headers.get("host", "").lower()
    if host and urlsplit(origin).netloc == host:
        return
    if settings.base_url and origin == _origin_of(settings.base_url):
        return
    raise CROSS_SITE


async def _from_session(request: Request, state: AppState, token: str) -> Principal:
    principal = await session_principal(state, token)
    # Cookies ride along on cross-site requests; a changing request must prove it came from our pages.
    if request.method in UNSAFE_METHODS:
        check_origin(request, state.settings)
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), principal.csrf_token or ""):
            raise Forbidden(
                "Missing or invalid CSRF token", f"Send the session's csrf_token in the {CSRF_HEADER} header"
            )
    return principal


async def authenticate(request: Request, state: State) -> Principal:
    """Who is calling: a Bearer API key, or else the session cookie of a signed-in browser. A dependency
    (`CurrentPrincipal`, `require`), and called as it is by the raw routes and the MCP endpoint."""
    header = request.headers.get("authorization")
    if header:
        return await _from_api_key(request, state, header)
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if cookie:
        return await _from_session(request, state, cookie)
    raise Unauthorized("Missing or invalid authorization header")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


async def raw_call(
    request: Request,
    model: type[Model],
    *,
    well_formed: bool,
    path: Mapping[str, tuple[str, TypeAdapter[Any]]],
    headers: Mapping[str, tuple[str | None, TypeAdapter[Any]]] | None = None,
    permission: str | None = None,
) -> tuple[AppState, Principal, Model]:
    """What a raw route (kit/routing.py) needs before its work: the app's state, the caller and the JSON body
    as `model`, refused as FastAPI refuses them: an unreadable body first, then who is calling, then every
    other error together. `well_formed` is the route's cheap check of its path parameters and headers; when
    it holds and the body parses at once, nothing is validated twice."""
    content_type = request.headers.get("content-type")
    body = await request.body()
    parsed = None
    if content_type is not None and content_type.lower() in JSON_TYPES:
        with suppress(ValidationError):
            parsed = model.model_validate_json(body)
    well_formed = well_formed and parsed is not None
    document = None if well_formed else read_json_body(body, content_type)
    state = await app_state(request)
    principal = await authenticate(request, state)
    if permission is not None:
        principal = permitted(principal, permission)
    if parsed is None or not well_formed:
        parsed = validated(model, document, path=path, headers=headers or {})
    return state, principal, parsed


def permitted(principal: Principal, permission: str) -> Principal:
    if principal.api_key_id is not None and permission not in principal.permissions:
        raise Forbidden(f"Insufficient permissions: requires {permission}")
    return principal


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency for a route that needs `permission` of an API key (sessions have them all)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        return permitted(principal, permission)

    return dependency


LoopsRead = Annotated[Principal, Depends(require("loops:read"))]
LoopsWrite = Annotated[Principal, Depends(require("loops:write"))]
RequestsRead = Annotated[Principal, Depends(require("requests:read"))]
RequestsWrite = Annotated[Principal, Depends(require("requests:write"))]
