"""The HTTP protocol `openhitl serve` runs: uvicorn's (httptools) with read deadlines and a connection cap.

uvicorn waits as long as a client likes for a request's head and body, so clients that send a byte now and
then hold connections, file descriptors and, with enough of them, the whole server. Here the head must arrive
within the header deadline of the connection opening (or of its first byte, on a kept-alive connection), the
body within the body deadline of the head; otherwise the client is answered 408 and the connection closed.
A connection beyond the cap is answered 503 at once and closed, so the descriptors left stay with the
database, deliveries and logs, and the clients already connected are served.
"""

import asyncio
import json
import resource
from typing import Any, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _answer(status: str, message: str, *extra: str) -> bytes:
    """A whole HTTP/1.1 answer with the JSON envelope, written before or instead of the application's."""
    body = json.dumps({"error": True, "msg": message, "data": None}).encode()
    head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(body)}", *extra]
    return "\r\n".join([*head, "connection: close", "", ""]).encode() + body


REQUEST_TIMEOUT = _answer("408 Request Timeout", "The request was not received in time")
SERVICE_UNAVAILABLE = _answer(
    "503 Service Unavailable", "The server has too many open connections; try again", "retry-after: 1"
)
# How long a refused connection stays open (write side shut) so that the client reads the 503 before it closes.
REFUSED_LINGER_SECONDS = 1.0


def default_max_connections() -> int:
    """The open-file limit less what the rest of the process needs: a quarter of it, and at least 320
    descriptors (database pool, two outgoing HTTP pools of up to 100 each, SQLite and log files)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - max(320, soft // 4))


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Set by `guarded_protocol`; uvicorn makes one per connection."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._reading: Literal["head", "body"] | None = None  # what part of a request is still to come
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._reading = "head"  # a client that connects and says nothing is timed too
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _refuse(self, transport: asyncio.Transport) -> None:
        # Shutting only the write side lets the request the client is sending arrive (and be dropped)
        # instead of resetting the connection under the 503.
        self._refused = True
        self.transport = transport
        transport.write(SERVICE_UNAVAILABLE)
        if transport.can_write_eof():
            transport.write_eof()
        self._deadline = self.loop.call_later(REFUSED_LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        # Armed only when a read ends inside a request: one that arrives whole in one read costs no timer.
        if self._reading is not None and self._deadline is None and not self.transport.is_closing():
            seconds = self.header_timeout if self._reading == "head" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "head"

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = None
        super().on_message_complete()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._reading == "body" and cycle is not None:
            if not cycle.response_started:
                self.transport.write(REQUEST_TIMEOUT)
            cycle.disconnected = True  # the application's receive() answers http.disconnect
            cycle.message_event.set()
        elif cycle is None or cycle.response_complete:
            # Not while an earlier answer is still being written (a late pipelined head): a 408 would corrupt it.
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def guarded_protocol(
    *, header_timeout: float, body_timeout: float, max_connections: int
) -> type[GuardedHttpToolsProtocol]:
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "max_connections": max_connections},
    )
