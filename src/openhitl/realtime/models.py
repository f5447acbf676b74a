"""Events: an append-only log of every change, with a monotonic id streams resume from."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openhitl.kit.db import Base
from openhitl.kit.types import JSONType, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_loop_id_id", "loop_id", "id"),
        Index("ix_events_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    loop_id: Mapped[str | None] = mapped_column(String(24))
    request_id: Mapped[str | None] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(50))
    actor_id: Mapped[str | None] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
