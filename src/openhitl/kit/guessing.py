"""Guessing guards for everything looked up by a code or token taken from a URL or a form: invite codes
(join links, QR codes, joining, sign-up), invitation links and sign-in links.

Only misses count, per client address and from all clients together (guessing spread over many
addresses); once either is used up for the minute, every lookup is refused, the right code included, so
a guesser learns nothing more until the minute has passed. All routes share one count: moving from one
route to another does not buy more guesses."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from openhitl.kit.errors import ApiError, NotFound, TooManyRequests
from openhitl.kit.state import AppState

SCOPE = "code-miss"
EVERYONE = "*"
TOO_MANY = "Too many wrong codes or links"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limits(state: AppState, request: Request) -> tuple[tuple[str, int], ...]:
    settings = state.settings
    return (
        (client_address(request), settings.code_misses_per_minute_per_address),
        (EVERYONE, settings.code_misses_per_minute),
    )


async def refuse_if_guessing(state: AppState, request: Request) -> None:
    """Before a lookup: refused while this client, or everyone together, has no misses left this minute."""
    for key, per_minute in _limits(state, request):
        if not await state.throttle.has_room(SCOPE, key, per_minute):
            raise TooManyRequests(TOO_MANY, "Wait a minute before trying again")


async def missed(state: AppState, request: Request) -> None:
    """After a lookup that found nothing."""
    for key, per_minute in _limits(state, request):
        await state.throttle.allow(SCOPE, key, per_minute)


@asynccontextmanager
async def guarded_lookup(
    state: AppState, request: Request, misses: tuple[type[ApiError], ...] = (NotFound,)
) -> AsyncIterator[None]:
    """Around a lookup by code or token: refused while guessing, and a miss (one of `misses` raised
    inside) is counted."""
    await refuse_if_guessing(state, request)
    try:
        yield
    except misses:
        await missed(state, request)
        raise


async def throttle_sign_in(state: AppState, scope: str, *keys: str) -> None:
    """Password and sign-in attempts: each key (an address, an email, an account) has so many a minute."""
    for key in keys:
        if not await state.throttle.allow(scope, key, state.settings.login_attempts_per_minute):
            raise TooManyRequests("Too many attempts", "Wait a minute before trying again")
