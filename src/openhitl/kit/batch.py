"""Group commit: small units of work that arrive together share one transaction.

Creating a request runs a few short statements; opening a session, checking out the connection, BEGIN and
COMMIT cost more than they do (BENCHMARKS.md, "Where the create-request time goes": the cost per layer),
and on SQLite every unit of work queues for the one writer anyway. `GroupCommit.run(job)` queues the job; a drainer takes everything queued, opens one unit of
work (`Database.write`), runs the jobs one after the other, and commits once. Each caller gets its answer
only after that commit, so a 2xx still means the write is durable.

Jobs rarely fail, and a savepoint around each would cost two more round trips per job. So a batch first
runs without them; if a job fails, that transaction is rolled back whole and the batch runs again, each
job in its own savepoint: the failing job gets its error and leaves nothing behind (its savepoint is rolled
back, and what it buffered in the unit of work, such as the events for the log, is dropped:
`UnitOfWork.undo`), and the others commit. A job may therefore run twice, and must do
nothing outside its session. If the commit itself fails, every job of the batch gets that error; what runs after a durable commit
(`Database.after_commit`) cannot fail it.

Jobs get the batch's session: they may use the ORM, and they must flush what they add (the drainer
flushes after each job, so nothing of one job is left pending for another's failure to discard). The
after-commit hooks see the whole batch at once (its events in commit order).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from openhitl.kit import prepared
from openhitl.kit.work import WritingSession

if TYPE_CHECKING:
    from openhitl.kit.db import Database

T = TypeVar("T")
Job = Callable[[WritingSession], Awaitable[Any]]
MAX_BATCH = 64


class GroupCommit:
    def __init__(self, db: "Database", *, drainers: int, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.drainers = drainers
        self.max_batch = max_batch
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        # A drainer leaves this set itself as it ends (not in a done callback, which runs a turn later):
        # a job queued after the last one left must start a new drainer.
        self._drainers: set[asyncio.Task[None]] = set()
        self.batches = 0  # how many transactions ran, for tests and metrics
        self.jobs = 0

    async def run(self, job: Callable[[WritingSession], Awaitable[T]]) -> T:
        """Runs `job` in the next batch; returns its result once the batch has committed."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((job, done))
        if len(self._drainers) < self.drainers:
            self._drainers.add(asyncio.create_task(self._drain(), name="openhitl-group-commit"))
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._commit(batch)
        finally:
            if (me := asyncio.current_task()) is not None:
                self._drainers.discard(me)

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        try:
            try:
                results = await self._run(batch, careful=False)
            except _JobFailed:
                # Rolled back whole; again, each job in its own savepoint, so that only the failing ones fail.
                results = await self._run(batch, careful=True)
        except BaseException as exc:
            # Nothing of the batch committed: every job not already answered (by its own failure) hears why.
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self.batches += 1
            self.jobs += len(batch)
        for done, result in results:
            if not done.done():
                done.set_result(result)

    async def _run(
        self, batch: list[tuple[Job, asyncio.Future[Any]]], *, careful: bool
    ) -> list[tuple[asyncio.Future[Any], Any]]:
        """One transaction for the batch: the jobs' results once it committed. A failing job raises
        `_JobFailed` unless `careful`, when it gets its error and the others go on."""
        succeeded: list[tuple[asyncio.Future[Any], Any]] = []
        async with self.db.write() as session:
            connection = await prepared.driver(session)
            if not careful:  # careful runs write at once, so that a failing write fails its own job
                session.work.deferred = {}
            for number, (job, done) in enumerate(batch):
                if done.done():  # cancelled by its caller, or failed in its own savepoint before
                    continue
                if careful:
                    result = await self._run_one(session, connection, job, done, number)
                    if result is _FAILED:
                        continue
                else:
                    try:
                        result = await _run_job(session, job)
                    except Exception as exc:
                        raise _JobFailed from exc
                succeeded.append((done, result))
            try:
                await prepared.run_deferred(session)
            except Exception as exc:
                raise _JobFailed from exc
        return succeeded

    async def _run_one(
        self,
        session: WritingSession,
        connection: prepared.Driver,
        job: Job,
        done: asyncio.Future[Any],
        number: int,
    ) -> Any:
        name = f"job_{number}"
        mark = session.work.mark()
        await connection.savepoint(name)
        try:
            result = await _run_job(session, job)
        except Exception as exc:
            await connection.rollback_to(name)
            session.work.undo(mark)
            # What the ORM holds may be from the rolled-back savepoint; the other jobs flushed theirs.
            session.expunge_all()
            done.set_exception(exc)
            return _FAILED
        await connection.release(name)
        return result


async def _run_job(session: WritingSession, job: Job) -> Any:
    """The job, then a flush of what it added, so that nothing of it is left pending for the next job."""
    result = await job(session)
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return result


_FAILED = object()


class _JobFailed(Exception):
    """A job of a batch run without savepoints failed: roll the batch back and run it carefully."""
