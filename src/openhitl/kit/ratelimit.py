"""HITL.sh-style rate limiting: N requests per API key per clock hour, off unless configured.

Counters live in memory, or in Redis when OPENHITL_REDIS_URL is set (then they are shared by replicas).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


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


class RateLimiter:
    def __init__(self, per_hour: int, redis_url: str | None = None) -> None:
        self.per_hour = per_hour
        self.storage: Storage = (
            RedisStorage(redis_url.replace("redis://", "async+redis://", 1), implementation="redispy")
            if redis_url
            else MemoryStorage()
        )

    @property
    def enabled(self) -> bool:
        return self.per_hour > 0

    def _key(self, subject: str, reset_at: datetime) -> str:
        return f"openhitl:rl:{subject}:{int(reset_at.timestamp())}"

    async def hit(self, subject: str, now: datetime) -> RateLimitState:
        reset_at = next_hour(now)
        expiry = max(1, int((reset_at - now).total_seconds()) + 5)
        used = await self.storage.incr(self._key(subject, reset_at), expiry)
        return RateLimitState(self.per_hour, used, reset_at)

    async def peek(self, subject: str, now: datetime) -> RateLimitState:
        reset_at = next_hour(now)
        used = await self.storage.get(self._key(subject, reset_at))
        return RateLimitState(self.per_hour, int(used or 0), reset_at)


class Throttle:
    """Guards against guessing (invite codes, passwords): N attempts per minute per key, moving window."""

    def __init__(self, storage: Storage) -> None:
        self.limiter = MovingWindowRateLimiter(storage)

    async def allow(self, scope: str, key: str, per_minute: int) -> bool:
        return await self.limiter.hit(RateLimitItemPerMinute(per_minute), "openhitl-throttle", scope, key)
