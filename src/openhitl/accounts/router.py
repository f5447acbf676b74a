"""Account routes for API callers: the HITL.sh key test."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from openhitl.accounts.auth import CurrentPrincipal
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.ratelimit import next_hour
from openhitl.kit.uow import State

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
