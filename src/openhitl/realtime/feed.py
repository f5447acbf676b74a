"""One reader of the event log per process, fanning new events out to the streams that wait for them.

The reader wakes on a hint (or every `poll_seconds`), reads `events` after the last id it saw, and hands
each event to the subscribers whose loops or requests it concerns. Event ids follow commit order (see
realtime.events), so "after the last id" never skips anything.

Events this process commits need no read: when they follow on from the last id seen, the unit of work's
after-commit hook hands them over at once (`committed`). Anything else (another process's events, or
local ones that committed out of turn) leaves a gap, and the gap is read from the log as before.
"""

import asyncio
import json
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, func, or_, select

from openhitl.kit import prepared
from openhitl.kit.db import Database
from openhitl.kit.work import UnitOfWork
from openhitl.realtime.models import Event

log = structlog.get_logger("openhitl.feed")
BATCH = 1000
# Events one subscriber may have waiting: past that it is a stuck client, closed to resume by Last-Event-ID.
MAX_WAITING = 10_000
MEMBERSHIP_JOINED = "loop.member_joined"
MEMBERSHIP_ENDED = ("loop.member_left", "loop.deleted")


@dataclass(frozen=True)
class FeedEvent:
    id: int
    type: str
    loop_id: str | None
    request_id: str | None
    actor_id: str | None
    data: dict[str, Any]
    created_at: datetime

    def frame(self) -> bytes:
        """The event as one server-sent-events frame, encoded once however many streams send it."""
        cached: bytes | None = self.__dict__.get("_frame")
        if cached is None:
            data = json.dumps(self.as_json(), separators=(",", ":"), default=str)
            cached = f"id: {self.id}\nevent: {self.type}\ndata: {data}\n\n".encode()
            object.__setattr__(self, "_frame", cached)
        return cached

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "loop_id": self.loop_id,
            "request_id": self.request_id,
            "actor_id": self.actor_id,
            "data": self.data,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


class Following:
    """What a subscriber follows: loops (kept up to date as its user joins and leaves them) and requests."""

    __slots__ = ("loops", "requests", "user_id")

    def __init__(self, user_id: str | None, loops: Iterable[str] = (), requests: Iterable[str] = ()) -> None:
        self.user_id = user_id
        self.loops = set(loops)
        self.requests = set(requests)

    def wants(self, event: FeedEvent) -> bool:
        joined = event.type == MEMBERSHIP_JOINED and event.data.get("user_id") == self.user_id
        if joined and self.user_id and event.loop_id:
            self.loops.add(event.loop_id)
        return (event.loop_id in self.loops) or (event.request_id in self.requests)

    def offer(self, event: FeedEvent) -> None:
        raise NotImplementedError

    def forget_ended(self, event: FeedEvent) -> None:
        """After `event` is handed over: a loop its user left (or that was deleted) is followed no more."""
        if (
            event.type in MEMBERSHIP_ENDED
            and event.loop_id
            and (event.type == "loop.deleted" or event.data.get("user_id") == self.user_id)
        ):
            self.loops.discard(event.loop_id)


class Subscriber(Following):
    """A waiter (long-poll, one request's outcome): matching events in an asyncio queue, and the requests
    they closed as this process committed them (`events.closing`), to answer from without a read."""

    __slots__ = ("closed", "overflowed", "queue")

    def __init__(self, user_id: str | None, loops: Iterable[str] = (), requests: Iterable[str] = ()) -> None:
        super().__init__(user_id, loops, requests)
        self.queue: asyncio.Queue[FeedEvent] = asyncio.Queue(maxsize=MAX_WAITING)
        self.overflowed = False
        self.closed: dict[str, tuple[Any, Any]] = {}

    def offer(self, event: FeedEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a stuck client: it will be closed and resume from Last-Event-ID
            self.overflowed = True
        self.forget_ended(event)


class StreamSubscriber(Following):
    """A long-lived event stream: matching events in a list, and one future while its task waits.

    Lighter than an asyncio.Queue (four deques and an Event), for the thousand streams a server holds
    open; `wake` lets the stream's other duties (a keep-alive, a disconnect) interrupt a wait.
    """

    __slots__ = ("_waiter", "overflowed", "waiting")

    def __init__(self, user_id: str | None, loops: Iterable[str] = ()) -> None:
        super().__init__(user_id, loops)
        self.waiting: list[FeedEvent] = []
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: FeedEvent) -> None:
        if len(self.waiting) < MAX_WAITING:
            self.waiting.append(event)
        else:  # a stuck client: it will be closed and resume from Last-Event-ID
            self.overflowed = True
        self.forget_ended(event)
        self.wake()

    def take(self) -> list[FeedEvent]:
        """The events waiting, oldest first; none wait afterwards."""
        taken, self.waiting = self.waiting, []
        return taken

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until an event is offered or `wake` is called (returns at once if an event is waiting)."""
        if self.waiting or self.overflowed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


def from_written(event: dict[str, Any]) -> FeedEvent:
    """An event as `realtime.events` wrote it; its data as read back from JSON (tuples become lists)."""
    return FeedEvent(
        id=event["id"],
        type=event["type"],
        loop_id=event["loop_id"],
        request_id=event["request_id"],
        actor_id=event["actor_id"],
        data=json.loads(json.dumps(event["data"])),
        created_at=event["created_at"],
    )


# What the feed reads of an event, in FeedEvent's field order.
_COLUMNS = ("id", "type", "loop_id", "request_id", "actor_id", "data", "created_at")

EVENTS_AFTER = prepared.Statements(
    lambda: (
        select(*(getattr(Event, name) for name in _COLUMNS))
        .where(Event.id > bindparam("after"))
        .order_by(Event.id)
        .limit(BATCH)
    )
)


def _read_event(row: tuple[Any, ...]) -> FeedEvent:
    values = dict(zip(_COLUMNS, row, strict=True))
    return FeedEvent(**{**values, "data": dict(values["data"] or {})})


def to_feed_event(row: Event) -> FeedEvent:
    return FeedEvent(
        id=row.id,
        type=row.type,
        loop_id=row.loop_id,
        request_id=row.request_id,
        actor_id=row.actor_id,
        data=dict(row.data or {}),
        created_at=row.created_at,
    )


class EventFeed:
    def __init__(self, db: Database, *, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.last_id = 0
        self._subscribers: set[Following] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscriber_count_of(self, user_id: str) -> int:
        return sum(1 for subscriber in self._subscribers if subscriber.user_id == user_id)

    def waiting_on(self, request_id: str) -> int:
        """How many waiters (long-polls, request streams) follow this request."""
        return sum(1 for subscriber in self._subscribers if request_id in subscriber.requests)

    async def start(self) -> None:
        self.last_id = await latest_event_id(self.db)
        self._task = asyncio.create_task(self._run(), name="openhitl-event-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def wake(self, last_event_id: int | None = None) -> None:
        """Read the log soon, unless the hint's events (up to `last_event_id`) were all handed over."""
        if last_event_id is None or last_event_id > self.last_id:
            self._wakeup.set()

    def committed(self, work: UnitOfWork) -> None:
        """A `Database.after_commit` listener (wired before the hints go out, which must find these events
        delivered): this process's new events, straight to the streams."""
        written = work.written_events
        if self._task is None or not written or written[-1]["id"] <= self.last_id:
            return
        if written[0]["id"] != self.last_id + 1:
            self._wakeup.set()  # a gap: someone else's events, or ours out of turn; read them in order
            return
        self._dispatch((from_written(event) for event in written), closed=work.closed)

    def subscribe(
        self, *, user_id: str | None, loops: Iterable[str] = (), requests: Iterable[str] = ()
    ) -> Subscriber:
        subscriber = Subscriber(user_id, loops, requests)
        self._subscribers.add(subscriber)
        return subscriber

    def subscribe_stream(self, *, user_id: str, loops: Iterable[str]) -> StreamSubscriber:
        subscriber = StreamSubscriber(user_id, loops)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Following) -> None:
        self._subscribers.discard(subscriber)

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_seconds)
                self._wakeup.clear()
                while await self._read_once() == BATCH:
                    pass
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: keep trying
                log.warning("event feed read failed", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    async def _read_once(self) -> int:
        # By key, after the last id, prepared once: a lookup the idle server makes every second.
        rows = await self.db.lookup_rows(EVENTS_AFTER, {"after": self.last_id})
        events = [_read_event(row) for row in rows]
        # Events handed over by `committed` while this read was under way are not sent twice.
        self._dispatch(event for event in events if event.id > self.last_id)
        return len(rows)

    def _dispatch(
        self, events: Iterable[FeedEvent], closed: dict[str, tuple[Any, Any]] | None = None
    ) -> None:
        for event in events:
            self.last_id = event.id
            for subscriber in list(self._subscribers):
                if subscriber.wants(event):
                    if closed and event.request_id in closed and isinstance(subscriber, Subscriber):
                        subscriber.closed[event.request_id] = closed[event.request_id]
                    subscriber.offer(event)


async def events_after(
    db: Database,
    *,
    after_id: int,
    loops: set[str],
    requests: frozenset[str] | set[str] = frozenset(),
    up_to: int | None = None,
) -> list[FeedEvent]:
    """Catch-up for a stream that resumes: what it missed in its loops and requests, oldest first."""
    if not loops and not requests:
        return []
    found: list[FeedEvent] = []
    cursor = after_id
    while True:
        statement = select(Event).where(Event.id > cursor)
        scope = []
        if loops:
            scope.append(Event.loop_id.in_(loops))
        if requests:
            scope.append(Event.request_id.in_(requests))
        statement = statement.where(or_(*scope)).order_by(Event.id).limit(BATCH)
        if up_to is not None:
            statement = statement.where(Event.id <= up_to)
        async with db.read() as session:
            rows = (await session.execute(statement)).scalars().all()
        found.extend(to_feed_event(row) for row in rows)
        if len(rows) < BATCH:
            return found
        cursor = rows[-1].id


async def latest_event_id(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.max(Event.id))) or 0)
