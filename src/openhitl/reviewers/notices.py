"""The reviewer's notification list, read from the event log of their loops: new requests, claims of theirs
that ran out, and requests they held that closed without their answer."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.loops.models import Loop
from openhitl.realtime.models import Event
from openhitl.requests.models import Request
from openhitl.requests.states import CANCEL, CLAIM, CREATED, EXPIRE_CLAIM, RELEASE, RESPOND, TIME_OUT
from openhitl.reviewers import repository

NOTICES_SHOWN = 50
# Events read to find them: most events of a busy loop concern others, so more than are shown.
EVENTS_READ = 400
# What happens to a request someone holds, and what it does to their claim.
HELD_EVENTS = {
    EXPIRE_CLAIM.event: ("claim_expired", "Your claim ran out: back in the queue"),
    RESPOND.event: ("answered", "Answered by someone else while you held it"),
    CANCEL.event: ("cancelled", "Cancelled while you held it"),
    TIME_OUT.event: ("timed_out", "Timed out while you held it"),
}
NOTICE_EVENTS = (CREATED, *HELD_EVENTS)
CLAIM_EVENTS = (CLAIM.event, RELEASE.event, EXPIRE_CLAIM.event)


@dataclass(frozen=True)
class Notice:
    kind: str  # "new", or one of HELD_EVENTS' kinds
    text: str
    at: datetime
    request: Request
    loop: Loop


async def notices_for(session: AsyncSession, *, user_id: str, limit: int = NOTICES_SHOWN) -> list[Notice]:
    """Newest first. A request the user sent themselves is no news to them."""
    rows = await repository.loop_events(session, user_id=user_id, types=NOTICE_EVENTS, limit=EVENTS_READ)
    closed_from_claim = {
        e.request_id for e, _, _ in rows if e.type in HELD_EVENTS and e.data.get("from") == "claimed"
    }
    claims = await repository.request_events(
        session, request_ids={r for r in closed_from_claim if r}, types=CLAIM_EVENTS
    )
    notices: list[Notice] = []
    for event, request, loop in rows:
        if event.type == CREATED:
            if event.actor_id != user_id:
                notices.append(
                    Notice("new", f"New {request.priority} request", event.created_at, request, loop)
                )
        elif (
            event.request_id in closed_from_claim
            and event.actor_id != user_id
            and _holder(claims, event) == user_id
        ):
            kind, text = HELD_EVENTS[event.type]
            notices.append(Notice(kind, text, event.created_at, request, loop))
        if len(notices) == limit:
            break
    return notices


def _holder(claims: list[Event], event: Event) -> str | None:
    """Who held the request's claim when `event` happened: the claimer, unless it was released or ran out."""
    before = [c for c in claims if c.request_id == event.request_id and c.id < event.id]
    return before[-1].actor_id if before and before[-1].type == CLAIM.event else None
