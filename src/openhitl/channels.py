"""The channels a change reaches: webhooks first, then pushes and emails. Wired into the Database where the
app is built (runtime.py); delivery/fanout.py hands each change to them."""

from datetime import datetime

from openhitl.kit.work import WritingSession
from openhitl.notifications import dispatch
from openhitl.requests.models import Request
from openhitl.webhooks import messages


class Channels:
    async def request_event(
        self, session: WritingSession, *, event: str, request: Request, actor_id: str | None, now: datetime
    ) -> None:
        await messages.enqueue_request_event(session, event=event, request=request, now=now)
        await dispatch.enqueue_request_event(
            session, event=event, request=request, actor_id=actor_id, now=now
        )

    async def member_joined(
        self, session: WritingSession, *, loop_id: str, user_id: str, now: datetime
    ) -> None:
        await dispatch.enqueue_welcome(session, loop_id=loop_id, user_id=user_id, now=now)
