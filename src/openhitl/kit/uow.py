"""Units of work as dependencies: committed before the response is sent, rolled back on error."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]


async def _write_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db.write() as session:
        yield session


async def _read_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db.read() as session:
        yield session


# scope="function": the commit happens before the answer leaves, so a 2xx means the write is durable.
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
