"""`Client`: the blocking SDK. `client.ask(loop_id, "Ship it?", options=["Ship", "Hold"])` is one call."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar, Unpack

import httpx

from openhitl.client import api
from openhitl.client.api import AskOptions, Endpoints
from openhitl.client.core import (
    DEFAULT_TIMEOUT,
    RETRY_DELAYS,
    Call,
    Deadline,
    Settings,
    SyncSender,
    decode,
    http_request,
    retry_delay,
)
from openhitl.client.errors import ConnectionFailed, WaitTimedOut
from openhitl.client.models import Decision

T = TypeVar("T")


class Client(Endpoints, SyncSender):
    """The OpenHITL API over HTTP. Configured by arguments, or OPENHITL_URL and OPENHITL_API_KEY."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = len(RETRY_DELAYS),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = Settings.resolve(base_url, api_key, timeout, retries)
        self._http = httpx.Client(
            base_url=self.settings.base_url, headers=self.settings.headers(), transport=transport
        )

    def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.send(http_request(self._http, call, self.settings))
            except httpx.TransportError as error:
                delay = retry_delay(call, error, attempt, self.settings.retries)
                if delay is None:
                    raise ConnectionFailed(f"{call.method} {call.path}: {error!r}") from error
                attempt += 1
                time.sleep(delay)
                continue
            return decode(call, response)

    def wait(self, request_id: str, *, timeout: float | None = None) -> Decision:
        """Block until the request is answered, times out or is cancelled (long-polling the server).
        With `timeout`, raise WaitTimedOut if it is still open after that many seconds."""
        deadline = Deadline(timeout)
        while True:
            request = self.send(api.get_request(request_id, wait=deadline.next_wait()))
            if request.is_closed:
                return Decision.of(request)
            if deadline.passed:
                raise WaitTimedOut(request_id, timeout or 0)

    def ask(self, loop_id: str, text: str | None = None, **options: Unpack[AskOptions]) -> Decision:
        """Ask the loop's reviewers and wait for the decision (see AskOptions). The question is `text` or,
        by its API name, `request_text`."""
        created = self.create_request(loop_id, api.question(text, options))
        return self.wait(created.request_id)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextmanager
def given_or_default(client: Client | None) -> Iterator[Client]:
    """The given client, or one configured from the environment and closed after use."""
    if client is not None:
        yield client
        return
    with Client() as own:
        yield own
