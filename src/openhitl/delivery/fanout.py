"""What a change sets in motion: the webhooks, pushes and emails it causes, queued in the same transaction."""

from datetime import datetime

from openhitl.delivery import notifications, webhooks
from openhitl.kit.work import WritingSession
from openhitl.requests.models import Request


async def request_event(
    session: WritingSession, *, event: str, request: Request, actor_id: str | None, now: datetime
) -> None:
    """Called by the lifecycle in the unit of work that made the change, after the change is flushed."""
    await webhooks.enqueue_request_event(session, event=event, request=request, now=now)
    await notifications.enqueue_request_event(
        session, event=event, request=request, actor_id=actor_id, now=now
    )


async def member_joined(session: WritingSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    """Someone joined a loop: their welcome notification (the guide's "test connection" step)."""
    await notifications.enqueue_welcome(session, loop_id=loop_id, user_id=user_id, now=now)
