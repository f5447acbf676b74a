"""The outbox and its worker on both databases: exactly-once claims, retries, leases, fencing, and the run loop."""

import asyncio
import time
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from openhitl.delivery.models import OutboxMessage
from openhitl.delivery.outbox import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    ClaimedMessage,
    PermanentFailure,
    claim_due,
    enqueue,
    redeliver,
)
from openhitl.delivery.worker import Handler, OutboxWorker
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.migrations import upgrade_async
from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class Recorder:
    """A handler that remembers every call; `fail` makes it raise."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.calls: list[ClaimedMessage] = []
        self.fail = fail
        self.called = asyncio.Event()

    async def __call__(self, message: ClaimedMessage) -> None:
        self.calls.append(message)
        self.called.set()
        if self.fail is not None:
            raise self.fail


async def add(
    db: Database,
    now: datetime,
    *,
    kind: str = "test",
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
) -> str | None:
    async with db.write() as session:
        return await enqueue(session, kind=kind, payload={}, now=now, dedupe_key=dedupe_key, run_at=run_at)


async def row(db: Database, message_id: str) -> OutboxMessage:
    async with db.read() as session:
        message = await session.get(OutboxMessage, message_id)
    assert message is not None
    return message


async def test_enqueued_message_is_delivered_exactly_once(db: Database, clock: ManualClock) -> None:
    handler = Recorder()
    worker = OutboxWorker(db, clock, {"test": handler})
    async with db.write() as session:
        message_id = await enqueue(session, kind="test", payload={"to": "ada"}, now=clock.now())

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    clock.advance(timedelta(days=2))
    assert await worker.run_once() == 0

    assert [(m.id, m.kind, m.payload, m.attempt) for m in handler.calls] == [
        (message_id, "test", {"to": "ada"}, 1)
    ]
    stored = await row(db, message_id or "")
    assert stored.done_at == clock.now() - timedelta(days=2)
    assert (stored.attempts, stored.claim_token, stored.locked_until, stored.failed_at) == (
        1,
        None,
        None,
        None,
    )


async def test_enqueue_belongs_to_the_callers_unit_of_work(db: Database, clock: ManualClock) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await enqueue(session, kind="test", payload={}, now=clock.now())
            raise RuntimeError("the change that caused it failed")

    assert await OutboxWorker(db, clock, {"test": Recorder()}).run_once() == 0


async def test_a_dedupe_key_is_enqueued_once(db: Database, clock: ManualClock) -> None:
    handler = Recorder()
    async with db.write() as session:
        first = await enqueue(session, kind="test", payload={"n": 1}, now=clock.now(), dedupe_key="k")
        again_in_same_unit = await enqueue(
            session, kind="test", payload={"n": 2}, now=clock.now(), dedupe_key="k"
        )
    again_later = await add(db, clock.now(), dedupe_key="k")
    other = await add(db, clock.now(), dedupe_key="other")

    assert first is not None and other is not None
    assert (again_in_same_unit, again_later) == (None, None)
    assert await OutboxWorker(db, clock, {"test": handler}).run_once() == 2
    assert sorted(m.id for m in handler.calls) == sorted([first, other])
    assert next(m.payload for m in handler.calls if m.id == first) == {"n": 1}


async def test_a_message_waits_for_its_run_at(db: Database, clock: ManualClock) -> None:
    handler = Recorder()
    worker = OutboxWorker(db, clock, {"test": handler})
    await add(db, clock.now(), run_at=clock.now() + timedelta(minutes=5))

    assert await worker.run_once() == 0
    clock.advance(timedelta(minutes=5))
    assert await worker.run_once() == 1


async def test_messages_of_kinds_without_a_handler_are_left_alone(db: Database, clock: ManualClock) -> None:
    other_id = await add(db, clock.now(), kind="push")

    assert await OutboxWorker(db, clock, {"test": Recorder()}).run_once() == 0
    assert (await row(db, other_id or "")).attempts == 0


async def test_a_failing_handler_follows_the_retry_schedule_then_fails_and_can_be_redelivered(
    db: Database, clock: ManualClock
) -> None:
    handler = Recorder(fail=ConnectionError("receiver down"))
    worker = OutboxWorker(db, clock, {"test": handler})
    message_id = await add(db, clock.now()) or ""

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await worker.run_once() == 1, f"attempt {attempt}"
        stored = await row(db, message_id)
        assert stored.attempts == attempt
        assert stored.last_error == "ConnectionError: receiver down"
        if attempt == MAX_ATTEMPTS:
            break
        wait = stored.run_at - clock.now()
        expected = RETRY_DELAYS[attempt]
        assert expected * 0.9 <= wait <= expected * 1.1, (attempt, wait)
        clock.advance(wait - timedelta(milliseconds=1))
        assert await worker.run_once() == 0, "claimed before its retry time"
        clock.advance(timedelta(milliseconds=1))

    stored = await row(db, message_id)
    assert stored.failed_at == clock.now()
    assert stored.done_at is None
    assert [m.attempt for m in handler.calls] == list(range(1, 12))
    assert handler.calls[-1].is_last_attempt
    clock.advance(timedelta(days=30))
    assert await worker.run_once() == 0

    async with db.write() as session:
        assert await redeliver(session, message_id=message_id, now=clock.now())
    handler.fail = None
    assert await worker.run_once() == 1
    stored = await row(db, message_id)
    assert (stored.attempts, stored.failed_at, stored.done_at) == (1, None, clock.now())


async def test_retry_delays_are_those_of_the_design() -> None:
    seconds = [delay.total_seconds() for delay in RETRY_DELAYS]
    assert seconds == [0, 1, 5, 30, 120, 300, 1800, 7200, 18000, 36000, 36000]


async def test_a_permanent_failure_is_not_retried(db: Database, clock: ManualClock) -> None:
    handler = Recorder(fail=PermanentFailure("550 no such user"))
    worker = OutboxWorker(db, clock, {"test": handler})
    message_id = await add(db, clock.now()) or ""

    assert await worker.run_once() == 1
    clock.advance(timedelta(days=2))
    assert await worker.run_once() == 0
    stored = await row(db, message_id)
    assert (stored.attempts, stored.last_error) == (1, "PermanentFailure: 550 no such user")
    assert stored.failed_at is not None


async def test_a_slow_handler_times_out_and_is_retried(db: Database, clock: ManualClock) -> None:
    async def never_answers(message: ClaimedMessage) -> None:
        await asyncio.sleep(60)

    worker = OutboxWorker(db, clock, {"test": never_answers}, delivery_timeout_seconds=0.2)
    message_id = await add(db, clock.now()) or ""

    started = time.monotonic()
    assert await worker.run_once() == 1
    assert time.monotonic() - started < 5
    stored = await row(db, message_id)
    assert stored.last_error == "timed out after 0.2 s"
    assert stored.failed_at is None and stored.run_at > clock.now()


async def test_an_expired_lease_passes_to_another_worker_and_fences_the_stale_result(
    db: Database, clock: ManualClock
) -> None:
    release_stale = asyncio.Event()
    stale_entered = asyncio.Event()

    async def stale(message: ClaimedMessage) -> None:
        stale_entered.set()
        await release_stale.wait()
        raise ConnectionError("late failure from the worker that lost its lease")

    fresh = Recorder()
    stale_worker = OutboxWorker(db, clock, {"test": stale}, lease_seconds=60)
    fresh_worker = OutboxWorker(db, clock, {"test": fresh}, lease_seconds=60)
    message_id = await add(db, clock.now()) or ""

    stale_run = asyncio.create_task(stale_worker.run_once())
    await asyncio.wait_for(stale_entered.wait(), 5)
    assert await fresh_worker.run_once() == 0, "the lease still holds"
    clock.advance(timedelta(seconds=61))
    with capture_logs() as logs:
        assert await fresh_worker.run_once() == 1
        release_stale.set()
        assert await stale_run == 1

    assert [m.attempt for m in fresh.calls] == [2]
    stored = await row(db, message_id)
    assert stored.done_at == clock.now()
    assert (stored.attempts, stored.last_error, stored.failed_at) == (2, None, None)
    assert [entry["message_id"] for entry in logs if entry["event"] == "outbox.lease_lost"] == [message_id]


async def test_a_message_that_waited_too_long_for_a_slot_is_handed_back_unattempted(
    db: Database, clock: ManualClock
) -> None:
    calls: list[str] = []

    async def slow(message: ClaimedMessage) -> None:
        calls.append(message.id)
        clock.advance(timedelta(seconds=40))  # the other claimed message's lease now has 20 s left

    worker = OutboxWorker(
        db, clock, {"test": slow}, concurrency=1, lease_seconds=60, delivery_timeout_seconds=30
    )
    first, second = await add(db, clock.now()), await add(db, clock.now())

    assert await worker.run_once() == 2
    assert calls == [first]
    handed_back = await row(db, second or "")
    assert (handed_back.attempts, handed_back.locked_until, handed_back.claim_token) == (0, None, None)
    assert await worker.run_once() == 1
    assert calls == [first, second]
    assert (await row(db, second or "")).attempts == 1


async def test_overlapping_claims_take_disjoint_messages(database_url: str, clock: ManualClock) -> None:
    first_db, second_db = Database(database_url), Database(database_url)
    try:
        async with first_db.write() as session:
            for _ in range(100):
                await enqueue(session, kind="test", payload={}, now=clock.now())
        first_claimed = asyncio.Event()

        async def claim(database: Database, *, hold: bool) -> set[str]:
            async with database.write() as session:
                claimed = await claim_due(
                    session, kinds=["test"], now=clock.now(), lease=timedelta(seconds=60), limit=50
                )
                if hold:  # keep the claiming transaction open while the other one runs
                    first_claimed.set()
                    await asyncio.sleep(0.5)
            return {message.id for message in claimed}

        held = asyncio.create_task(claim(first_db, hold=True))
        await asyncio.wait_for(first_claimed.wait(), 10)
        second = await claim(second_db, hold=False)
        first = await held
    finally:
        await first_db.dispose()
        await second_db.dispose()

    assert len(first) == len(second) == 50
    assert not first & second


async def test_three_workers_deliver_each_of_a_thousand_messages_once(database_url: str) -> None:
    clock = Clock()
    databases = [Database(database_url) for _ in range(3)]
    async with databases[0].write() as session:
        for n in range(1000):
            await enqueue(session, kind="test", payload={"n": n}, now=clock.now())

    deliveries: dict[str, list[str]] = defaultdict(list)
    everything_delivered = asyncio.Event()

    def handler_for(worker_name: str) -> Handler:
        async def deliver(message: ClaimedMessage) -> None:
            deliveries[message.id].append(worker_name)
            await asyncio.sleep(0)
            if len(deliveries) == 1000:
                everything_delivered.set()

        return deliver

    workers = [
        OutboxWorker(database, clock, {"test": handler_for(f"w{i}")}, batch_size=10, poll_seconds=0.05)
        for i, database in enumerate(databases)
    ]
    stop = asyncio.Event()
    runs = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await asyncio.wait_for(everything_delivered.wait(), 120)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*runs), 30)
        for database in databases[1:]:
            await database.dispose()

    assert len(deliveries) == 1000
    assert {len(names) for names in deliveries.values()} == {1}
    assert len({names[0] for names in deliveries.values()}) >= 2, "the workers did not run side by side"
    async with databases[0].read() as reading:
        done, most_attempts = (
            await reading.execute(select(func.count(OutboxMessage.done_at), func.max(OutboxMessage.attempts)))
        ).one()
    assert (done, most_attempts) == (1000, 1)
    await databases[0].dispose()


@pytest.mark.parametrize(
    ("poll_seconds", "hinted"),
    [
        (30, True),  # asleep for long: the hint wakes it
        (0.1, False),  # enqueued without waking the worker, as if the hint was lost: its poll finds it
    ],
)
async def test_a_queued_message_is_claimed_and_the_run_stops_on_stop(
    db: Database, poll_seconds: float, hinted: bool
) -> None:
    handler = Recorder()
    worker = OutboxWorker(db, Clock(), {"test": handler}, poll_seconds=poll_seconds)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.3)  # the loop has found nothing and sleeps

    await add(db, Clock().now())
    if hinted:
        worker.wake()
    await asyncio.wait_for(handler.called.wait(), 5)
    stop.set()
    await asyncio.wait_for(run, 5)
    assert len(handler.calls) == 1


async def test_run_sleeps_until_the_next_message_is_due(db: Database) -> None:
    handler = Recorder()
    worker = OutboxWorker(db, Clock(), {"test": handler}, poll_seconds=30)
    started = time.monotonic()
    await add(db, Clock().now(), run_at=Clock().now() + timedelta(seconds=0.5))
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))

    await asyncio.wait_for(handler.called.wait(), 10)
    assert time.monotonic() - started >= 0.45
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_an_idle_run_loop_does_not_spin_and_only_reads(db: Database) -> None:
    class CountingWorker(OutboxWorker):
        claims = 0
        reads = 0

        async def _claim(self, limit: int) -> list[ClaimedMessage]:
            self.claims += 1
            return await super()._claim(limit)

        async def _next_due(self) -> datetime | None:
            self.reads += 1
            return await super()._next_due()

    worker = CountingWorker(db, Clock(), {"test": Recorder()}, poll_seconds=0.5)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.1)
    stop.set()
    await asyncio.wait_for(run, 5)
    # One claim when it starts; after that, woken by its timer alone, it reads and finds nothing due.
    assert worker.claims == 1
    assert 2 <= worker.reads <= 4


async def test_a_failing_handler_does_not_stop_the_run_loop(db: Database) -> None:
    delivered = asyncio.Event()

    async def handler(message: ClaimedMessage) -> None:
        if message.payload.get("bad"):
            raise RuntimeError("handler bug")
        delivered.set()

    worker = OutboxWorker(db, Clock(), {"test": handler}, poll_seconds=0.05)
    async with db.write() as session:
        await enqueue(session, kind="test", payload={"bad": True}, now=Clock().now())
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.2)
    await add(db, Clock().now())
    worker.wake()

    await asyncio.wait_for(delivered.wait(), 5)
    assert not run.done()
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_the_run_loop_survives_database_errors_and_recovers(empty_database: str) -> None:
    db = Database(empty_database)  # not migrated yet: every query fails
    handler = Recorder()
    worker = OutboxWorker(db, Clock(), {"test": handler}, poll_seconds=0.1)
    stop = asyncio.Event()
    try:
        with capture_logs() as logs:
            run = asyncio.create_task(worker.run(stop))
            for _ in range(100):
                if any(entry["event"] == "outbox.worker_error" for entry in logs):
                    break
                await asyncio.sleep(0.05)
            assert any(entry["event"] == "outbox.worker_error" for entry in logs)

            await upgrade_async(empty_database)
            await add(db, Clock().now())
            worker.wake()
            await asyncio.wait_for(handler.called.wait(), 15)
            assert not run.done()
            stop.set()
            await asyncio.wait_for(run, 5)
        errors = [entry for entry in logs if entry["event"] == "outbox.worker_error"]
        assert len(errors) < 20, "no backoff between failures"
    finally:
        stop.set()
        await db.dispose()
