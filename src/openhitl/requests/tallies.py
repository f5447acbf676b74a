"""How many requests there are, by loop, creator, status and priority, without counting them.

A request list reports its `total` (every request that matches, hitl-api §2.7). Counting the matches grows
with the table; with a million requests a count took seconds. Instead, the database keeps a tally:

- Triggers on `requests` append a row to `request_tallies` for every insert (+1), every change of one of
  the four keys (-1 for the old keys, +1 for the new) and every delete (-1), in the writer's own
  transaction, whichever statement wrote the request (the create path, a lifecycle move, a loop's deletion
  cascading, a bulk load). Appending never touches another transaction's row, so concurrent writers do
  not wait on each other here and cannot deadlock.
- The sum of `n` over the rows of a key is the number of requests with that key; `compact` folds the rows
  into one per key from time to time, so a sum reads a few rows per key, not one per change.

Filters the tally has no key for (dates, text) fall back to counting.
"""

import asyncio
from collections.abc import Sequence
from contextlib import suppress

import structlog
from sqlalchemy import ColumnElement, Connection, TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.db import Database
from openhitl.requests.models import RequestTally

log = structlog.get_logger("openhitl.tallies")
KEYS = ("loop_id", "creator_id", "status", "priority")
_KEY_LIST = ", ".join(KEYS)
# Rows beyond one per key before a compaction is worth a transaction.
COMPACT_AFTER_ROWS = 2_000


def _values(prefix: str, n: int) -> str:
    return "(" + ", ".join(f"{prefix}.{key}" for key in KEYS) + f", {n})"


def _changed(old: str, new: str, *, sqlite: bool) -> str:
    differs = "IS NOT" if sqlite else "IS DISTINCT FROM"
    return " OR ".join(f"{old}.{key} {differs} {new}.{key}" for key in KEYS)


def _insert(*rows: str) -> str:
    return f"INSERT INTO request_tallies ({_KEY_LIST}, n) VALUES {', '.join(rows)}"


SQLITE_TRIGGERS = (
    f"CREATE TRIGGER request_tallies_on_insert AFTER INSERT ON requests "
    f"BEGIN {_insert(_values('NEW', 1))}; END",
    f"CREATE TRIGGER request_tallies_on_update AFTER UPDATE OF {_KEY_LIST} ON requests "
    f"WHEN {_changed('OLD', 'NEW', sqlite=True)} "
    f"BEGIN {_insert(_values('OLD', -1), _values('NEW', 1))}; END",
    f"CREATE TRIGGER request_tallies_on_delete AFTER DELETE ON requests "
    f"BEGIN {_insert(_values('OLD', -1))}; END",
)
POSTGRESQL_TRIGGERS = (
    "CREATE FUNCTION request_tallies_track() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    f"  IF TG_OP IN ('UPDATE', 'DELETE') THEN {_insert(_values('OLD', -1))}; END IF;\n"
    f"  IF TG_OP IN ('INSERT', 'UPDATE') THEN {_insert(_values('NEW', 1))}; END IF;\n"
    "  RETURN NULL;\n"
    "END $$",
    "CREATE TRIGGER request_tallies_on_insert_or_delete AFTER INSERT OR DELETE ON requests "
    "FOR EACH ROW EXECUTE FUNCTION request_tallies_track()",
    f"CREATE TRIGGER request_tallies_on_update AFTER UPDATE OF {_KEY_LIST} ON requests "
    f"FOR EACH ROW WHEN ({_changed('OLD', 'NEW', sqlite=False)}) EXECUTE FUNCTION request_tallies_track()",
)
DROP_SQLITE_TRIGGERS = tuple(
    f"DROP TRIGGER IF EXISTS {name}"
    for name in ("request_tallies_on_insert", "request_tallies_on_update", "request_tallies_on_delete")
)
DROP_POSTGRESQL_TRIGGERS = (
    "DROP TRIGGER IF EXISTS request_tallies_on_insert_or_delete ON requests",
    "DROP TRIGGER IF EXISTS request_tallies_on_update ON requests",
    "DROP FUNCTION IF EXISTS request_tallies_track()",
)
# What the requests already stored add up to, when the tally starts.
BACKFILL = (
    f"INSERT INTO request_tallies ({_KEY_LIST}, n) "
    f"SELECT {_KEY_LIST}, COUNT(*) FROM requests GROUP BY {_KEY_LIST}"
)


def triggers(dialect: str) -> Sequence[str]:
    return POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS


def drop_triggers(dialect: str) -> Sequence[str]:
    return DROP_POSTGRESQL_TRIGGERS if dialect == "postgresql" else DROP_SQLITE_TRIGGERS


def create_triggers(connection: Connection) -> None:
    for statement in triggers(connection.dialect.name):
        connection.execute(text(statement))


def install(connection: Connection) -> None:
    """The triggers, and the tally of what is already stored (a migration's step)."""
    create_triggers(connection)
    connection.execute(text(BACKFILL))


def uninstall(connection: Connection) -> None:
    for statement in drop_triggers(connection.dialect.name):
        connection.execute(text(statement))


async def total(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    """How many requests have keys matching every condition (conditions on RequestTally's columns)."""
    found = await session.scalar(select(func.coalesce(func.sum(RequestTally.n), 0)).where(*conditions))
    return int(found or 0)


# PostgreSQL folds exactly the rows it deletes, in one statement: rows committed meanwhile stay for the
# next round, none is deleted unsummed. SQLite's one writer sees nothing change between two statements.
_POSTGRESQL_COMPACT = (
    f"WITH gone AS (DELETE FROM request_tallies WHERE id <= :last RETURNING {_KEY_LIST}, n) "
    f"INSERT INTO request_tallies ({_KEY_LIST}, n) "
    f"SELECT {_KEY_LIST}, SUM(n) FROM gone GROUP BY {_KEY_LIST} HAVING SUM(n) <> 0",
)
_SQLITE_COMPACT = (
    f"INSERT INTO request_tallies ({_KEY_LIST}, n) "
    f"SELECT {_KEY_LIST}, SUM(n) FROM request_tallies WHERE id <= :last "
    f"GROUP BY {_KEY_LIST} HAVING SUM(n) <> 0",
    "DELETE FROM request_tallies WHERE id <= :last",
)


def compact_statements(dialect: str) -> list[TextClause]:
    """Folds the rows up to id `:last` into one per key."""
    return [text(s) for s in (_POSTGRESQL_COMPACT if dialect == "postgresql" else _SQLITE_COMPACT)]


class TallyCompactor:
    """Folds the tally's rows into one per key when enough have been appended since the last fold."""

    def __init__(self, db: Database, *, poll_seconds: float = 10.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self._folded_rows = 0

    async def run_once(self) -> bool:
        """Folds when worth it; whether it did."""
        async with self.db.read() as session:
            first, last = (
                await session.execute(select(func.min(RequestTally.id), func.max(RequestTally.id)))
            ).one()
        if last is None or last - first + 1 <= self._folded_rows + COMPACT_AFTER_ROWS:
            return False
        await self.compact(last)
        async with self.db.read() as session:
            self._folded_rows = int(await session.scalar(select(func.count()).select_from(RequestTally)) or 0)
        return True

    async def compact(self, last: int) -> None:
        async with self.db.write() as session:
            for statement in compact_statements(self.db.dialect):
                await session.execute(statement, {"last": last})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # the database may be restarting; the sums stay right meanwhile
                log.warning("tally compaction failed", error=str(exc))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
