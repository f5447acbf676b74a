"""Waiting for a request's outcome: read it as its reader may see it, and again on each of its events.

The long-poll (`GET /requests/{id}?wait=`) and the outcome stream (`GET /requests/{id}/events`) both wait
through here, on a subscriber of the event feed (realtime/feed.py).
"""

import asyncio
from dataclasses import dataclass

from openhitl.kit.state import AppState
from openhitl.realtime.feed import EventFeed, Subscriber
from openhitl.requests import presenter, service
from openhitl.requests.models import TERMINAL_STATUSES
from openhitl.requests.schemas import RequestRead
from openhitl.requests.service import Readable


@dataclass(frozen=True)
class Seen:
    """A request as its reader may see it; `detail` is rendered in the same read once it is closed."""

    readable: Readable
    detail: RequestRead | None

    @property
    def closed(self) -> bool:
        return self.readable.request.status in TERMINAL_STATUSES


def subscribe(state: AppState, request_id: str) -> Subscriber:
    """A subscriber to one request's events; give it back with `unsubscribe` however the wait ends."""
    return state.get(EventFeed).subscribe(user_id=None, requests=[request_id])


def unsubscribe(state: AppState, subscriber: Subscriber) -> None:
    state.get(EventFeed).unsubscribe(subscriber)


async def read_request(state: AppState, *, request_id: str, user_id: str, render: bool = False) -> Seen:
    """One read unit: the request, and its detail too if `render` or if it is closed (a waiter's answer)."""
    async with state.db.lookup() as session:
        readable = await service.get_readable(session, request_id=request_id, user_id=user_id)
        detail = None
        if render or readable.request.status in TERMINAL_STATUSES:
            detail = await presenter.detail(
                session, readable.request, loop_name=readable.loop.name, responder=readable.responder
            )
        return Seen(readable, detail)


async def render(state: AppState, seen: Seen) -> RequestRead:
    if seen.detail is not None:
        return seen.detail
    async with state.db.lookup() as session:
        request, loop = seen.readable.request, seen.readable.loop
        return await presenter.detail(
            session, request, loop_name=loop.name, responder=seen.readable.responder
        )


async def wait_until_closed(
    state: AppState,
    subscriber: Subscriber,
    seen: Seen,
    *,
    request_id: str,
    user_id: str,
    seconds: float,
    parked: RequestRead | None = None,
) -> Seen:
    """Re-reads the request whenever one of its events arrives, until it is closed or time is up.

    When this process closed it, and a read rendered the open request (`parked`, else `seen`'s), the answer
    is made from the two without another read: the request as its closing unit of work left it, and the
    loop, recipients and feedback read before (`presenter.closed_detail`). So a request closed and deleted
    in one unit of work (its loop deleted) still answers its waiters.
    """
    parked = parked or seen.detail
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not seen.closed:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(subscriber.queue.get(), timeout=remaining)
        except TimeoutError:
            break
        closed = subscriber.closed.get(request_id)
        if closed is not None and parked is not None:
            request, responder = closed
            if responder is not None or request.response_by is None:
                readable = Readable(request, seen.readable.loop, seen.readable.role)
                return Seen(readable, presenter.closed_detail(parked, request, responder))
        seen = await read_request(state, request_id=request_id, user_id=user_id)
    return seen
