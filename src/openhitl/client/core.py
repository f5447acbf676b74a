"""The part of the SDK that does no I/O, shared by `Client` and `AsyncClient`.

Each API call is written once, as a function that builds a `Call` (method, path, body, how to read the
answer). `Endpoint` turns such a function into a method of both clients: `Client` sends it and returns the
result, `AsyncClient` returns an awaitable of it. How answers are decoded, which failures are retried and
how long a long-poll asks the server to hold are decided here too, so the two clients cannot drift apart.
"""

import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import wraps
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload
from urllib.parse import quote

import httpx

from openhitl.client.errors import APIError, InvalidId, ServerError, api_error
from openhitl.kit.ids import ID_PATTERN

T = TypeVar("T")
P = ParamSpec("P")

API_PATH = "/v1/api"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
# The server holds a long-poll at most 60 s; the read timeout must outlast it.
LONG_POLL_SECONDS = 60.0
LONG_POLL_MARGIN = 15.0
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
USER_AGENT = "openhitl-python"
_ID = re.compile(ID_PATTERN)


def checked_id(name: str, value: object) -> str:
    """`value` if it is an id (24 hexadecimal characters); InvalidId otherwise, before anything is sent."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidId(name, value)
    return value


def api_path(template: str, **ids: str) -> str:
    """The path of a call, every `{name}` in `template` filled with the id given as `name`: checked, then
    percent-quoted. The one way the SDK puts a caller's string into a path: ids come from agents and
    prompts, and `update_request("../webhooks/<id>", ...)` must not become a call to another route."""
    return template.format(**{name: quote(checked_id(name, value), safe="") for name, value in ids.items()})


@dataclass(frozen=True)
class Envelope:
    """A successful answer as the server sent it: its message and its data."""

    msg: str
    data: Any


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]  # from the envelope's `data` to the typed result
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send again when the first attempt may have reached the server (reads, or an Idempotency-Key).
    idempotent: bool = False
    read_timeout: float | None = None

    def raw(self) -> "Call[Envelope]":
        """The same call, answering with the server's message and untyped data (for relaying them)."""
        return cast("Call[Envelope]", replace(self, read=_identity))


def _identity(data: Any) -> Any:
    return data


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str | None
    timeout: float
    retries: int

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, timeout: float, retries: int) -> "Settings":
        """Arguments first, then OPENHITL_URL and OPENHITL_API_KEY."""
        url = (base_url or os.environ.get("OPENHITL_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("OPENHITL_API_KEY") or None
        return cls(base_url=url, api_key=key, timeout=timeout, retries=min(retries, len(RETRY_DELAYS)))

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def http_request(
    client: httpx.Client | httpx.AsyncClient, call: Call[Any], settings: Settings
) -> httpx.Request:
    timeout = httpx.Timeout(settings.timeout, read=call.read_timeout or settings.timeout)
    return client.build_request(
        call.method,
        API_PATH + call.path,
        params={k: v for k, v in (call.params or {}).items() if v is not None},
        json=call.json,
        headers=dict(call.headers),
        timeout=timeout,
    )


def retry_delay(call: Call[Any], error: httpx.TransportError, attempt: int, retries: int) -> float | None:
    """Seconds to wait before trying again, or None to give up.

    A connection that never opened carried nothing, so any call may try again; after that, only calls the
    server can safely see twice."""
    if attempt >= retries:
        return None
    never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
    return RETRY_DELAYS[attempt] if never_sent or call.idempotent else None


def decode(call: Call[T], response: httpx.Response) -> T:
    """The typed result of a 2xx envelope; an APIError carrying the server's `msg` otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = ServerError if response.status_code >= 500 else APIError
        raise kind(response.status_code, f"Unexpected answer from the server: {response.text[:200]!r}")
    if response.is_error or body.get("error"):
        raise api_error(
            response.status_code, str(body.get("msg") or response.reason_phrase), body.get("data")
        )
    data = body.get("data")
    if call.read is _identity:
        return Envelope(msg=str(body.get("msg", "")), data=data)  # type: ignore[return-value]
    return call.read(data)


class Deadline:
    """How long each long-poll should ask the server to hold, for a wait with or without a limit."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._ends = None if seconds is None else time.monotonic() + seconds

    def next_wait(self) -> float:
        if self._ends is None:
            return LONG_POLL_SECONDS
        return round(max(0.0, min(LONG_POLL_SECONDS, self._ends - time.monotonic())), 3)

    @property
    def passed(self) -> bool:
        return self._ends is not None and time.monotonic() >= self._ends


class SyncSender:
    def send(self, call: Call[T]) -> T:
        raise NotImplementedError


class AsyncSender:
    async def send(self, call: Call[T]) -> T:
        raise NotImplementedError


class Endpoint(Generic[P, T]):
    """One API call written once, a method of both clients: `Client.x(...) -> T`,
    `AsyncClient.x(...) -> Awaitable[T]`."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type) -> "Endpoint[P, T]": ...

    @overload
    def __get__(self, client: SyncSender, owner: type) -> Callable[P, T]: ...

    @overload
    def __get__(self, client: AsyncSender, owner: type) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, client: SyncSender | AsyncSender | None, owner: type) -> Any:
        if client is None:
            return self
        build, send = self.build, client.send

        @wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return send(build(*args, **kwargs))

        return method
