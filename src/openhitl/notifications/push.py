"""Web Push notifications into the outbox: one message per subscription, sent by `push_sender`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openhitl.delivery.outbox import enqueue
from openhitl.kit.work import WritingSession

PUSH_KIND = "push"
URGENCY_BY_PRIORITY = {"critical": "high", "high": "high", "medium": "normal", "low": "low"}


@dataclass(frozen=True)
class Notification:
    """What the service worker shows: `url` is opened on a tap, `tag` replaces an earlier notification."""

    title: str
    body: str
    url: str
    tag: str
    request_id: str | None = None
    loop_id: str | None = None
    priority: str | None = None
    response_type: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "tag": self.tag,
            "request_id": self.request_id,
            "loop_id": self.loop_id,
            "priority": self.priority,
            "response_type": self.response_type,
        }


async def enqueue_push(
    session: WritingSession,
    *,
    subscription_ids: list[str],
    notification: Notification,
    urgency: str,
    topic: str,
    expires_at: datetime,
    now: datetime,
    counts_for_request: str | None = None,
) -> None:
    """Queues one push per subscription. `expires_at` bounds the TTL; `counts_for_request` gets each accepted
    push added to that request's notifications_sent."""
    for subscription_id in subscription_ids:
        payload = {
            "subscription_id": subscription_id,
            "notification": notification.as_payload(),
            "urgency": urgency,
            "topic": topic,
            "expires_at": expires_at.isoformat(),
            "counts_for_request": counts_for_request,
        }
        await enqueue(session, kind=PUSH_KIND, payload=payload, now=now)
