"""What a change sets in motion: the webhooks, pushes and emails it causes, queued in the same transaction.

The channels (webhooks/, notifications/) read the requests and loops whose changes they announce, so those
domains cannot import them. They call here instead, and the process wires the channels in once, where it
is built (openhitl/channels.py, given to `Database.listen` by runtime.py; each unit of work carries them).
Without them a change refuses to commit rather than silently reach nobody.
"""

from datetime import datetime
from typing import Any, Protocol, cast

from openhitl.kit.work import WritingSession, unit_of_work


class Channels(Protocol):
    async def request_event(
        self, session: WritingSession, *, event: str, request: Any, actor_id: str | None, now: datetime
    ) -> None:
        """A request changed (`request` is its `requests.models.Request`, flushed)."""

    async def member_joined(
        self, session: WritingSession, *, loop_id: str, user_id: str, now: datetime
    ) -> None:
        """Someone joined a loop."""


def _channels(session: WritingSession) -> Channels:
    channels = unit_of_work(session).channels
    if channels is None:
        raise RuntimeError("no channels wired: Database.listen(channels=...) first (runtime.py does)")
    return cast(Channels, channels)


async def request_event(
    session: WritingSession, *, event: str, request: Any, actor_id: str | None, now: datetime
) -> None:
    """Called by the lifecycle in the unit of work that made the change, after the change is flushed."""
    await _channels(session).request_event(session, event=event, request=request, actor_id=actor_id, now=now)


async def member_joined(session: WritingSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    """Someone joined a loop: their welcome notification (the guide's "test connection" step)."""
    await _channels(session).member_joined(session, loop_id=loop_id, user_id=user_id, now=now)
