"""Requests, the answers given to them and the feedback their callers leave."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key

from openhitl.kit.db import Base
from openhitl.kit.types import JSONType, UTCDateTime
from openhitl.requests.states import OPEN_STATUSES as OPEN_STATUSES
from openhitl.requests.states import STATUSES as STATUSES
from openhitl.requests.states import TERMINAL_STATUSES as TERMINAL_STATUSES

PRIORITIES = ("low", "medium", "high", "critical")
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_loop_queue", "loop_id", "status", "priority_rank", "created_at"),
        # Request lists read each loop's newest first (or oldest), one loop at a time, and stop at the page.
        Index("ix_requests_loop_created", "loop_id", "created_at", "id"),
        Index("ix_requests_creator_loop_created", "creator_id", "loop_id", "created_at", "id"),
        # A reviewer's history: what they answered, latest first.
        Index("ix_requests_response_by_updated", "response_by", "updated_at"),
        Index(
            "ix_requests_open_timeout_at",
            "timeout_at",
            sqlite_where=text("status IN ('pending', 'claimed')"),
            postgresql_where=text("status IN ('pending', 'claimed')"),
        ),
        # The claim-lease sweep: claimed requests by the end of their lease.
        Index(
            "ix_requests_claimed_claim_expires_at",
            "claim_expires_at",
            sqlite_where=text("status IN ('claimed')"),
            postgresql_where=text("status IN ('claimed')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    loop_id: Mapped[str] = mapped_column(ForeignKey("loops.id", ondelete="CASCADE"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(String(24), default=None)
    processing_type: Mapped[str] = mapped_column(String(20))
    content_type: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    request_text: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text, default=None)
    context: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    platform: Mapped[str] = mapped_column(String(20))
    platform_version: Mapped[str | None] = mapped_column(String(50), default=None)
    response_type: Mapped[str] = mapped_column(String(20))
    # As the caller sent it (echoed back unchanged); the normalised form is derived on read.
    response_config: Mapped[Any] = mapped_column(JSONType)
    default_response: Mapped[Any] = mapped_column(JSONType, nullable=True)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    timeout_at: Mapped[datetime] = mapped_column(UTCDateTime())
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[Any] | None] = mapped_column(JSONType, default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(24), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    broadcast_count: Mapped[int] = mapped_column(Integer, default=0)
    notifications_sent: Mapped[int] = mapped_column(Integer, default=0)
    response_by: Mapped[str | None] = mapped_column(String(24), default=None)
    response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    response_data: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    response_time_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    # From creation to the first claim; for a request answered straight from the queue, to the answer.
    claim_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    previous_status: Mapped[str | None] = mapped_column(String(20), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# A request's row as the statements that skip the ORM return it (RETURNING, prepared reads): every column, in
# the table's order. `from_row` makes it a Request.
ROW_COLUMNS: tuple[Column[Any], ...] = tuple(cast(Table, Request.__table__).columns)
_ROW_KEYS = tuple(column.key for column in ROW_COLUMNS)
_REQUESTS = manager_of_class(Request)


def from_row(session: AsyncSession, row: Sequence[Any]) -> Request:
    """The request a statement returned (`ROW_COLUMNS`): the unit of work's own object for it, brought up to
    date, if it holds one; else a detached copy of the row, not in the session, as an object read and let go."""
    values = dict(zip(_ROW_KEYS, row, strict=True))
    held = session.sync_session.identity_map.get(identity_key(Request, values["id"]))
    if held is not None:
        for key, value in values.items():
            set_committed_value(held, key, value)
        return held
    request: Request = _REQUESTS.new_instance()
    request.__dict__.update(values)  # as the ORM loads a row: every attribute loaded, nothing to flush
    return request


class RequestTally(Base):
    """Requests by key, kept by the database's triggers (requests/tallies.py): the sum of `n` over a key's
    rows is how many requests have that key."""

    __tablename__ = "request_tallies"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    loop_id: Mapped[str] = mapped_column(String(24))
    creator_id: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    n: Mapped[int] = mapped_column(Integer)


class Response(Base):
    """One row per reviewer answer, so several reviewers per request can come without a migration."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    response_data: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    feedback: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """The first request created under a caller's Idempotency-Key, and the body that created it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    body_digest: Mapped[str] = mapped_column(String(64))
    # Checked at commit: the key is claimed before its request is written (requests/service.py).
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def status_in(statuses: Sequence[str]) -> ColumnElement[bool]:
    """`status IN ('a', 'b')` with the statuses written into the SQL, not bound.

    SQLite uses a partial index only when the query's WHERE visibly implies the index's, which a bound
    `status IN (?, ?)` never does: the sweeper's queries would scan every request.
    """
    return Request.status.in_(
        bindparam("statuses", list(statuses), expanding=True, literal_execute=True, unique=True)
    )
