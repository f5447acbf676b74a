"""A reviewer's event stream as a plain ASGI response: a server holds a thousand of these open at once.

Starlette's StreamingResponse would keep an anyio task group, a cancel scope and a disconnect listener per
stream, and a timeout (a timer and a context manager) per event; here a stream is one coroutine that sends
what its `StreamSubscriber` has waiting, one task that waits for the client to go away, and one timer for
its keep-alive, re-armed only when it falls due. It is served by kit/http.py's FrontDoor (a raw route,
kit/routing.py), with no other layer under it and their wrappers around every chunk.
"""

import asyncio
from collections.abc import Callable, Iterable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openhitl.realtime.feed import FeedEvent, StreamSubscriber

KEEPALIVE_SECONDS = 15.0
CONNECTED = b": connected\n\n"
KEEPALIVE = b": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


class EventStreamResponse(Response):
    """`: connected`, then the catch-up events, then each new event as it comes, keep-alives in between.

    Events at or below the last id sent are skipped: the catch-up and the live events may overlap. The
    stream ends when the client disconnects, or, for a client too slow to keep up, when its subscriber
    overflows (it resumes with Last-Event-ID). `unsubscribe` is called however it ends.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        subscriber: StreamSubscriber,
        *,
        catch_up: Iterable[FeedEvent],
        after: int,
        unsubscribe: Callable[[StreamSubscriber], None],
    ) -> None:
        self.subscriber = subscriber
        self.catch_up = catch_up
        self.sent = after
        self.unsubscribe = unsubscribe
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self.gone = False
        self.keepalive_due = False
        self.last_write = 0.0  # the event loop's clock
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.start(send)
        except BaseException:
            self.abandon()
            raise
        await self.finish(receive, send)

    async def start(self, send: Send) -> None:
        """The headers, `: connected` and the catch-up."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await self._write(send, CONNECTED + self._frames(self.catch_up))
        self.catch_up = ()

    async def finish(self, receive: Receive, send: Send) -> None:
        """New events as they come, keep-alives in between, until the client goes or falls behind."""
        loop = asyncio.get_running_loop()
        subscriber = self.subscriber
        watcher = loop.create_task(self._watch_disconnect(receive))
        self._arm_keepalive(loop)
        try:
            while not self.gone:
                if subscriber.overflowed:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if subscriber.waiting:
                    frames = self._frames(subscriber.take())
                    if frames:
                        await self._write(send, frames)
                elif self.keepalive_due:
                    self.keepalive_due = False
                    await self._write(send, KEEPALIVE)
                    self._arm_keepalive(loop)
                else:
                    await subscriber.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            watcher.cancel()
            self.abandon()

    def abandon(self) -> None:
        self.unsubscribe(self.subscriber)

    def _frames(self, events: Iterable[FeedEvent]) -> bytes:
        """The frames of the events not sent yet, in one chunk: a burst of events is one write."""
        frames = []
        for event in events:
            if event.id > self.sent:
                frames.append(event.frame())
                self.sent = event.id
        return b"".join(frames)

    async def _write(self, send: Send, body: bytes) -> None:
        self.last_write = asyncio.get_running_loop().time()
        await send({"type": "http.response.body", "body": body, "more_body": True})

    def _arm_keepalive(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_at(self.last_write + KEEPALIVE_SECONDS, self._keepalive_timer, loop)

    def _keepalive_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Due once nothing was written for KEEPALIVE_SECONDS; else it waits for the new time (one timer per
        stream, not one per event). A timer may fire a little early (the loop's clock ticks in ms)."""
        if loop.time() - self.last_write >= KEEPALIVE_SECONDS * 0.99:
            self._timer = None
            self.keepalive_due = True
            self.subscriber.wake()
        else:
            self._arm_keepalive(loop)

    async def _watch_disconnect(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            self.gone = True
            self.subscriber.wake()
