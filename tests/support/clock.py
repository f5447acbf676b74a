"""A clock tests can move forward: real time plus an offset, shared with the live server."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from openhitl.kit.clock import Clock


class ShiftedClock(Clock):
    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return super().now() + self.offset

    @contextmanager
    def shifted(self, seconds: float) -> Iterator[None]:
        """Time runs `seconds` ahead inside the block, and is back to normal after it."""
        self.offset += timedelta(seconds=seconds)
        try:
            yield
        finally:
            self.offset -= timedelta(seconds=seconds)


class ManualClock(Clock):
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.current = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta
