"""`AsyncClient`: the asyncio SDK. `await client.ask(loop_id, "Ship it?", options=["Ship", "Hold"])`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar, Unpack

import httpx

from openhitl.client import api
from openhitl.client.api import AskOptions, Endpoints
from openhitl.client.core import (
    DEFAULT_TIMEOUT,
    RETRY_DELAYS,
    AsyncSender,
    Call,
    Deadline,
    Settings,
    decode,
    http_request,
    retry_delay,
)
from openhitl.client.errors import ConnectionFailed, WaitTimedOut
from openhitl.client.models import Decision

T = TypeVar("T")


class AsyncClient(Endpoints, AsyncSender):
    """The OpenHITL API over HTTP, for asyncio. Configured by arguments, or OPENHITL_URL and
    OPENHITL_API_KEY."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = len(RETRY_DELAYS),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = Settings.resolve(base_url, api_key, timeout, retries)
        self._http = httpx.AsyncClient(
            base_url=self.settings.base_url, headers=self.settings.headers(), transport=transport
        )

    async def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.send(http_request(self._http, call, self.settings))
            except httpx.TransportError as error:
                delay = retry_delay(call, error, attempt, self.settings.retries)
                if delay is None:
                    raise ConnectionFailed(f"{call.method} {call.path}: {error!r}") from error
                attempt += 1
                await asyncio.sleep(delay)
                continue
            return decode(call, response)

    # The same `timeout` as Client.wait: it bounds the wait and raises WaitTimedOut, not a cancellation.
    async def wait(self, request_id: str, *, timeout: float | None = None) -> Decision:  # noqa: ASYNC109
        """Wait until the request is answered, times out or is cancelled (long-polling the server).
        With `timeout`, raise WaitTimedOut if it is still open after that many seconds."""
        deadline = Deadline(timeout)
        while True:
            request = await self.send(api.get_request(request_id, wait=deadline.next_wait()))
            if request.is_closed:
                return Decision.of(request)
            if deadline.passed:
                raise WaitTimedOut(request_id, timeout or 0)

    async def ask(self, loop_id: str, text: str | None = None, **options: Unpack[AskOptions]) -> Decision:
        """Ask the loop's reviewers and wait for the decision (see AskOptions). The question is `text` or,
        by its API name, `request_text`."""
        created = await self.create_request(loop_id, api.question(text, options))
        return await self.wait(created.request_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


@asynccontextmanager
async def given_or_default(client: AsyncClient | None) -> AsyncIterator[AsyncClient]:
    """The given client, or one configured from the environment and closed after use."""
    if client is not None:
        yield client
        return
    async with AsyncClient() as own:
        yield own
