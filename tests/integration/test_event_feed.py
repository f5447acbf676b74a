"""The event feed hands this process's committed events straight to its streams, and reads the log for
everything else (other processes' events, or a gap), in id order and never twice."""

from datetime import UTC, datetime

import pytest

from openhitl.kit.db import Database
from openhitl.realtime import events
from openhitl.realtime.feed import EventFeed, FeedEvent, Subscriber

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
    events.install(db)
    feed = EventFeed(db, poll_seconds=3600)  # no polling: only what the test does moves it
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
    events.install(other)
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
