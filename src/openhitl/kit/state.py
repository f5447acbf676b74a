"""What the app holds for its lifetime, reached by dependencies through `app_state`.

The ground floor's parts are fields; the parts a domain owns (the event feed, the API key cache, the
notifier) are kept by their type, so kit/ need not know them: `state.get(EventFeed)`. The app adds them
once, where it is built (runtime.build_state).
"""

from dataclasses import dataclass, field
from typing import TypeVar, cast

from fastapi import Request

from openhitl.config import Settings
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.kit.ratelimit import RateLimiter, Throttle

Part = TypeVar("Part")


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock
    rate_limiter: RateLimiter
    throttle: Throttle
    parts: dict[type, object] = field(default_factory=dict)

    def add(self, kind: type[Part], part: Part) -> None:
        """Keeps `part` for the app's lifetime, found by `kind` (one of each kind)."""
        if kind in self.parts:
            raise ValueError(f"the app already holds a {kind.__name__}")
        self.parts[kind] = part

    def get(self, kind: type[Part]) -> Part:
        try:
            return cast(Part, self.parts[kind])
        except KeyError:
            raise LookupError(f"the app holds no {kind.__name__}: runtime.build_state adds it") from None


async def app_state(request: Request) -> AppState:
    # async: a plain def dependency would cost a thread-pool hop on every request.
    state: AppState = request.app.state.openhitl
    return state
