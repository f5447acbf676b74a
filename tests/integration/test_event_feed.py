"""The event feed hands this process's committed events straight to its streams, and reads the log for
everything else (other processes' events, or a gap), in id order and never twice; a stream sends each
event once, in order, and lets go of its subscriber however it ends."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from starlette.types import Message

from openhitl.kit.db import Database
from openhitl.realtime import events
from openhitl.realtime.feed import MAX_WAITING, EventFeed, FeedEvent, StreamSubscriber, Subscriber
from openhitl.realtime.stream import EventStreamResponse

pytestmark = pytest.mark.anyio
LOOP = "a" * 24


async def record(db: Database, type: str) -> None:
    async with db.write() as session:
        await events.append_event(session, type=type, at=datetime.now(UTC), loop_id=LOOP, data={"n": [1]})


def drain(subscriber: Subscriber) -> list[FeedEvent]:
    found = []
    while not subscriber.queue.empty():
        found.append(subscriber.queue.get_nowait())
    return found


async def started_feed(db: Database) -> EventFeed:
    feed = EventFeed(db, poll_seconds=3600)  # no polling: only what the test does moves it
    db.listen(before_commit=[events.log_writer(db)], after_commit=[feed.committed])
    await feed.start()
    return feed


async def test_a_local_commit_reaches_a_waiting_stream_without_a_read(db: Database) -> None:
    feed = await started_feed(db)
    try:
        subscriber = feed.subscribe(user_id=None, loops=[LOOP])
        await record(db, "request.created")
        delivered = drain(subscriber)  # at once: the feed's task has not run since the commit
        assert [e.type for e in delivered] == ["request.created"]
        assert delivered[0].id == feed.last_id
        assert delivered[0].data == {"n": [1]}
        feed.wake(feed.last_id)  # the commit's own hint finds nothing left to read
        assert not feed._wakeup.is_set()
    finally:
        await feed.stop()


async def test_another_writers_events_leave_a_gap_that_is_read_in_order(db: Database) -> None:
    feed = await started_feed(db)
    other = Database(db.url)  # another process: its commits do not pass through this feed
    other.listen(before_commit=[events.log_writer(other)], after_commit=[])
    try:
        subscriber = feed.subscribe(user_id=None, loops=[LOOP])
        await record(other, "request.claimed")
        await record(db, "request.completed")
        assert drain(subscriber) == []  # not before the other process's event
        assert feed._wakeup.is_set()
        await feed._read_once()
        assert [e.type for e in drain(subscriber)] == ["request.claimed", "request.completed"]
        await record(db, "request.created")  # after the read, local commits go straight through again
        assert [e.type for e in drain(subscriber)] == ["request.created"]
    finally:
        await feed.stop()
        await other.dispose()


def feed_event(id: int, type: str = "request.created") -> FeedEvent:
    return FeedEvent(id, type, LOOP, None, None, {"n": id}, datetime.now(UTC))


class Client:
    """The ASGI side of one stream: what it was sent, and a disconnect to trigger."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.arrived = asyncio.Event()
        self.gone = asyncio.Event()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.arrived.set()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self.arrived.clear()
            await self.arrived.wait()


async def test_a_stream_sends_its_catch_up_then_only_newer_events_until_the_client_goes() -> None:
    subscriber = StreamSubscriber("u", [LOOP])
    unsubscribed: list[StreamSubscriber] = []
    response = EventStreamResponse(
        subscriber, catch_up=[feed_event(1), feed_event(2)], after=0, unsubscribe=unsubscribed.append
    )
    subscriber.offer(feed_event(2))  # committed while the catch-up was read: in both
    client = Client()
    served = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    await client.until(lambda: b"id: 2\n" in client.body())
    subscriber.offer(feed_event(3))
    await client.until(lambda: b"id: 3\n" in client.body())
    body = client.body()
    assert body.startswith(b": connected\n\n")
    assert [line for line in body.split(b"\n") if line.startswith(b"id: ")] == [b"id: 1", b"id: 2", b"id: 3"]
    assert client.sent[0]["type"] == "http.response.start" and client.sent[0]["status"] == 200
    client.gone.set()
    await served
    assert unsubscribed == [subscriber]


async def test_a_stream_too_slow_to_keep_up_ends_so_its_client_resumes() -> None:
    subscriber = StreamSubscriber("u", [LOOP])
    unsubscribed: list[StreamSubscriber] = []
    response = EventStreamResponse(subscriber, catch_up=[], after=0, unsubscribe=unsubscribed.append)
    for n in range(1, MAX_WAITING + 2):
        subscriber.offer(feed_event(n))
    client = Client()
    await response({"type": "http"}, client.receive, client.send)
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert unsubscribed == [subscriber]


async def test_a_stream_whose_start_fails_unsubscribes() -> None:
    subscriber = StreamSubscriber("u", [LOOP])
    unsubscribed: list[StreamSubscriber] = []
    response = EventStreamResponse(subscriber, catch_up=[], after=0, unsubscribe=unsubscribed.append)

    async def broken(message: Message) -> None:
        raise OSError("gone")

    with pytest.raises(OSError):
        await response({"type": "http"}, Client().receive, broken)
    assert unsubscribed == [subscriber]


async def test_membership_events_change_what_a_stream_follows() -> None:
    subscriber = StreamSubscriber("u", [])
    other = "b" * 24
    joined = FeedEvent(1, "loop.member_joined", other, None, None, {"user_id": "u"}, datetime.now(UTC))
    assert subscriber.wants(joined) and subscriber.loops == {other}
    subscriber.offer(joined)
    left = FeedEvent(2, "loop.member_left", other, None, None, {"user_id": "u"}, datetime.now(UTC))
    assert subscriber.wants(left)
    subscriber.offer(left)
    assert subscriber.loops == set()
    assert [e.id for e in subscriber.take()] == [1, 2] and subscriber.waiting == []
