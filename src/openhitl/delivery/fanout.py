"""What a change sets in motion: the webhooks, pushes and emails it causes, queued in the same transaction.

The channels (webhooks/, notifications/) read the requests and loops whose changes they announce, so those
domains cannot import them. They call here instead, and the process wires the channels in once, where it
is built (openhitl/channels.py, called by runtime.build_state). Until then a change refuses to commit
rather than silently reach nobody.
"""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Channels(Protocol):
    async def request_event(
        self, session: AsyncSession, *, event: str, request: Any, actor_id: str | None, now: datetime
    ) -> None:
        """A request changed (`request` is its `requests.models.Request`, flushed)."""

    async def member_joined(
        self, session: AsyncSession, *, loop_id: str, user_id: str, now: datetime
    ) -> None:
        """Someone joined a loop."""


_wired: list[Channels] = []  # the one set of channels, once wired


def wire(channels: Channels) -> None:
    """Sets the channels every change of this process reaches (the same ones each time it is called)."""
    _wired[:] = [channels]


def _channels() -> Channels:
    if not _wired:
        raise RuntimeError(
            "no channels wired: call openhitl.channels.wire() first (runtime.build_state does)"
        )
    return _wired[0]


def wants_email(*, priority: str, processing_type: str) -> bool:
    """Emails go out for critical requests and deferred ones (which push nobody at once)."""
    return priority == "critical" or processing_type == "deferred"


async def request_event(
    session: AsyncSession, *, event: str, request: Any, actor_id: str | None, now: datetime
) -> None:
    """Called by the lifecycle in the unit of work that made the change, after the change is flushed."""
    await _channels().request_event(session, event=event, request=request, actor_id=actor_id, now=now)


async def member_joined(session: AsyncSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    """Someone joined a loop: their welcome notification (the guide's "test connection" step)."""
    await _channels().member_joined(session, loop_id=loop_id, user_id=user_id, now=now)
