"""What the app holds for its lifetime, reached by dependencies through `app_state`."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from openhitl.config import Settings
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.kit.ratelimit import RateLimiter, Throttle

if TYPE_CHECKING:
    from openhitl.accounts.keycache import KeyCache
    from openhitl.realtime.feed import EventFeed
    from openhitl.realtime.notifier import Notifier


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock
    rate_limiter: RateLimiter
    throttle: Throttle
    notifier: "Notifier"
    feed: "EventFeed"
    api_keys: "KeyCache"


async def app_state(request: Request) -> AppState:
    # async: a plain def dependency would cost a thread-pool hop on every request.
    state: AppState = request.app.state.openhitl
    return state
