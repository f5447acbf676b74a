"""The two kinds of session, and what a unit of work carries from its statements to its commit and past it.

`Database.write()` opens a `WritingSession` with a fresh `UnitOfWork`; what the statements of that unit of
work leave for later (events for the log, hints for other processes, requests it closed, API keys it
revoked, statements deferred to the commit) is kept there, in named fields, and handed to the commit
listeners wired once where the app is built (`Database.listen`).

`Database.read()` and `Database.lookup()` open a `ReadingSession`, which refuses to write: no flush, no
INSERT, UPDATE or DELETE. On PostgreSQL reads autocommit, so a write slipped into a read would commit
statement by statement there and inside a transaction on SQLite; refused, it fails the same way on both.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

if TYPE_CHECKING:
    from openhitl.kit.prepared import Driver, Statements


@dataclass(frozen=True)
class Mark:
    """Where a unit of work's buffers stood before one job of a group commit (kit/batch.py)."""

    events: int
    closed: frozenset[str]
    revoked_api_keys: frozenset[str]


@dataclass(eq=False)
class UnitOfWork:
    # Events recorded by this unit of work, written to the log as its last statements (realtime/events.py),
    # then, with their ids, for this process's event feed.
    events: list[dict[str, Any]] = field(default_factory=list)
    written_events: list[dict[str, Any]] = field(default_factory=list)
    # What the commit tells the other processes (loops, requests, outbox, last event id).
    hints: dict[str, Any] = field(default_factory=dict)
    # Requests moved to a terminal state, with who answered them: this process's waiters answer from them.
    closed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # API keys revoked: this process's key cache forgets them once the revocation is durable.
    revoked_api_keys: set[str] = field(default_factory=set)
    # Rows read for this unit of work alone (webhook endpoints of a loop during a sweep, say).
    cache: dict[Any, Any] = field(default_factory=dict)
    # The driver connection under the transaction, and writes deferred to just before the commit
    # (None: write at once), both kit/prepared.py's.
    # What a change sets in motion (webhooks, pushes, emails): delivery/fanout.py's, wired by Database.listen.
    channels: Any = None
    driver: "Driver | None" = None
    deferred: "dict[Statements, list[Mapping[str, Any]]] | None" = None

    def mark(self) -> Mark:
        return Mark(len(self.events), frozenset(self.closed), frozenset(self.revoked_api_keys))

    def undo(self, mark: Mark) -> None:
        """Forget what was buffered since `mark` (its statements were rolled back). Hints stay: a hint
        too many costs a read, never a wrong answer."""
        del self.events[mark.events :]
        for request_id in set(self.closed) - mark.closed:
            del self.closed[request_id]
        self.revoked_api_keys &= mark.revoked_api_keys
        self.cache.clear()  # it may hold rows the rolled-back statements wrote


class WritingSession(AsyncSession):
    """A session of `Database.write()`: one transaction, its `UnitOfWork` in `work`."""

    work: UnitOfWork


class ReadOnly(RuntimeError):
    """A write through a read session: a bug, named so it is found at once."""


class _ReadOnlySync(Session):
    def flush(self, objects: Any = None) -> None:
        if self.new or self.dirty or self.deleted:  # a commit flushes too, with nothing to write
            raise ReadOnly("a read session does not write: use Database.write()")


@event.listens_for(_ReadOnlySync, "do_orm_execute")
def _refuse_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnly("a read session does not write: use Database.write()")


class ReadingSession(AsyncSession):
    """A session of `Database.read()` or `Database.lookup()`: it refuses to flush and to write."""

    sync_session_class = _ReadOnlySync


def unit_of_work(session: AsyncSession) -> UnitOfWork:
    """The unit of work of a write session; a read session has none."""
    if not isinstance(session, WritingSession):
        raise ReadOnly("this needs a unit of work: use Database.write()")
    return session.work
