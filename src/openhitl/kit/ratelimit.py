"""HITL.sh-style rate limiting: N requests per API key per clock hour, off unless configured.

Counters live in memory, or in Redis when OPENHITL_REDIS_URL is set (then they are shared by replicas).
While Redis cannot be reached, each process counts in its own memory instead: the API stays up, and the
limits hold per replica until Redis is back.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = structlog.get_logger("openhitl.ratelimit")
T = TypeVar("T")
# Redis on the same network answers in well under this; a lost one must not hold requests for long.
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at.timestamp())),
        }


def next_hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class Counters:
    """Where counters live: Redis when configured, with this process's memory standing in while it is down."""

    def __init__(self, redis_url: str | None) -> None:
        self.memory = MemoryStorage()
        self.shared: Storage | None = (
            RedisStorage(
                redis_url.replace("redis://", "async+redis://", 1),
                implementation="redispy",
                wrap_exceptions=True,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if redis_url
            else None
        )

    async def use(self, action: Callable[[Storage], Awaitable[T]]) -> T:
        if self.shared is not None:
            try:
                return await action(self.shared)
            except StorageError as exc:
                log.warning("redis unavailable; counting in this process", error=str(exc.storage_error))
        return await action(self.memory)


class RateLimiter:
    def __init__(self, per_hour: int, redis_url: str | None = None) -> None:
        self.per_hour = per_hour
        self.counters = Counters(redis_url)

    @property
    def enabled(self) -> bool:
        return self.per_hour > 0

    def _key(self, subject: str, reset_at: datetime) -> str:
        return f"openhitl:rl:{subject}:{int(reset_at.timestamp())}"

    async def hit(self, subject: str, now: datetime) -> RateLimitState:
        reset_at = next_hour(now)
        expiry = max(1, int((reset_at - now).total_seconds()) + 5)
        key = self._key(subject, reset_at)
        used = await self.counters.use(lambda storage: storage.incr(key, expiry))
        return RateLimitState(self.per_hour, used, reset_at)

    async def peek(self, subject: str, now: datetime) -> RateLimitState:
        reset_at = next_hour(now)
        key = self._key(subject, reset_at)
        used = await self.counters.use(lambda storage: storage.get(key))
        return RateLimitState(self.per_hour, int(used or 0), reset_at)


class Throttle:
    """Guards against guessing (invite codes, passwords): N attempts per minute per key, moving window."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    async def allow(self, scope: str, key: str, per_minute: int) -> bool:
        """Counts an attempt; False when it is one too many."""
        item = RateLimitItemPerMinute(per_minute)
        return await self.counters.use(
            lambda storage: MovingWindowRateLimiter(storage).hit(item, "openhitl-throttle", scope, key)
        )

    async def has_room(self, scope: str, key: str, per_minute: int) -> bool:
        """Whether one more attempt would be allowed, without counting one."""
        item = RateLimitItemPerMinute(per_minute)
        return await self.counters.use(
            lambda storage: MovingWindowRateLimiter(storage).test(item, "openhitl-throttle", scope, key)
        )
