"""Appending to the events log, inside the caller's unit of work."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.realtime.models import Event


async def append_event(
    session: AsyncSession,
    *,
    type: str,
    at: datetime,
    loop_id: str | None = None,
    request_id: str | None = None,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(Event).values(
            type=type,
            loop_id=loop_id,
            request_id=request_id,
            actor_id=actor_id,
            data=data or {},
            created_at=at,
        )
    )
