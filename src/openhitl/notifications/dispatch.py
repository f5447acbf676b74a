"""Who hears about what: the pushes and emails a request change or a new member causes, queued with the change."""

from datetime import datetime, timedelta

from openhitl.kit.work import WritingSession
from openhitl.loops import audience
from openhitl.notifications import repository
from openhitl.notifications.emails import enqueue_request_email
from openhitl.notifications.push import URGENCY_BY_PRIORITY, Notification, enqueue_push
from openhitl.requests.display import headline
from openhitl.requests.models import Request

BODY_LENGTH = 200
# Pushes about something other than a waiting request are worth showing for a day at most.
INFO_PUSH_LIFETIME = timedelta(days=1)
CLAIMER_NOTICES = {
    "request.cancelled": ("Request cancelled", "was cancelled"),
    "request.timeout": ("Request timed out", "expired without a response"),
}


def _about(request: Request, title: str, body: str) -> Notification:
    return Notification(
        title=title,
        body=body,
        url=f"/requests/{request.id}",
        # One tag per request: a cancellation replaces the "new request" notification on the device.
        tag=f"request-{request.id}",
        request_id=request.id,
        loop_id=request.loop_id,
        priority=request.priority,
        response_type=request.response_type,
    )


async def enqueue_request_event(
    session: WritingSession, *, event: str, request: Request, actor_id: str | None, now: datetime
) -> None:
    """Called with every request change, in its unit of work."""
    if event == "request.created":
        await notify_reviewers_of_new_request(session, request=request, now=now)
    elif event in CLAIMER_NOTICES:
        await notify_claimer_of_closed_request(
            session, event=event, request=request, actor_id=actor_id, now=now
        )


async def notify_reviewers_of_new_request(
    session: WritingSession, *, request: Request, now: datetime
) -> None:
    """Time-sensitive requests push to every listening member at once; deferred ones wait in the queue."""
    if audience.pushes_at_once(processing_type=request.processing_type):
        notification = _about(
            request,
            f"New {request.priority} request",
            headline(request.title, request.request_text, BODY_LENGTH),
        )
        await enqueue_push(
            session,
            subscription_ids=await repository.push_subscription_ids(session, loop_id=request.loop_id),
            notification=notification,
            urgency=URGENCY_BY_PRIORITY.get(request.priority, "normal"),
            topic=request.id,
            expires_at=request.timeout_at,
            now=now,
            counts_for_request=request.id,
        )
    if audience.wants_email(priority=request.priority, processing_type=request.processing_type):
        for user_id in await repository.email_recipient_ids(session, loop_id=request.loop_id):
            await enqueue_request_email(session, user_id=user_id, request_id=request.id, now=now)


async def notify_claimer_of_closed_request(
    session: WritingSession, *, event: str, request: Request, actor_id: str | None, now: datetime
) -> None:
    """The reviewer who held the claim learns their work is moot; nobody else was busy with it."""
    if request.previous_status != "claimed":
        return
    claimer = request.claimed_by or await repository.last_claimer(session, request_id=request.id)
    if claimer is None or claimer == actor_id:
        return
    title, what = CLAIMER_NOTICES[event]
    notification = _about(
        request, title, f'"{headline(request.title, request.request_text, BODY_LENGTH - 30)}" {what}'
    )
    await enqueue_push(
        session,
        subscription_ids=await repository.push_subscription_ids(
            session, loop_id=request.loop_id, user_id=claimer
        ),
        notification=notification,
        urgency="normal",
        topic=request.id,
        expires_at=now + INFO_PUSH_LIFETIME,
        now=now,
    )


async def enqueue_welcome(session: WritingSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    """The new member's devices hear that notifications from this loop work."""
    name = await repository.loop_name(session, loop_id)
    if name is None:
        return
    notification = Notification(
        title=f"You joined {name}",
        body="You'll be notified here when a request needs your review.",
        url="/",
        tag=f"loop-{loop_id}",
        loop_id=loop_id,
    )
    await enqueue_push(
        session,
        subscription_ids=await repository.push_subscription_ids(session, loop_id=loop_id, user_id=user_id),
        notification=notification,
        urgency="normal",
        topic=f"join{loop_id}",
        expires_at=now + INFO_PUSH_LIFETIME,
        now=now,
    )
