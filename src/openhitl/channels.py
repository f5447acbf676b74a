"""The channels a change reaches, wired into delivery/fanout.py: webhooks first, then pushes and emails."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery import fanout
from openhitl.notifications import dispatch
from openhitl.requests.models import Request
from openhitl.webhooks import messages


class Channels:
    async def request_event(
        self, session: AsyncSession, *, event: str, request: Request, actor_id: str | None, now: datetime
    ) -> None:
        await messages.enqueue_request_event(session, event=event, request=request, now=now)
        await dispatch.enqueue_request_event(
            session, event=event, request=request, actor_id=actor_id, now=now
        )

    async def member_joined(
        self, session: AsyncSession, *, loop_id: str, user_id: str, now: datetime
    ) -> None:
        await dispatch.enqueue_welcome(session, loop_id=loop_id, user_id=user_id, now=now)


def wire() -> None:
    fanout.wire(Channels())
