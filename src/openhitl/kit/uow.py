"""Units of work as dependencies: committed before the response is sent, rolled back on error."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends

from openhitl.kit.state import AppState, app_state
from openhitl.kit.work import ReadingSession, WritingSession

State = Annotated[AppState, Depends(app_state)]


async def _write_session(state: State) -> AsyncIterator[WritingSession]:
    async with state.db.write() as session:
        yield session


async def _read_session(state: State) -> AsyncIterator[ReadingSession]:
    async with state.db.read() as session:
        yield session


# scope="function": the commit happens before the answer leaves, so a 2xx means the write is durable.
WriteSession = Annotated[WritingSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[ReadingSession, Depends(_read_session, scope="function")]
