"""The one clock: every "now" in the server comes from here, so tests can move time."""

from datetime import UTC, datetime


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """UTC ISO-8601 with a trailing Z, millisecond precision kept when present."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
