"""A small server-sent-events reader over httpx, for tests that listen like a browser would."""

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.live import DEFAULT_TLS


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: Any


def parse_events(
    lines: Iterable[str], *, on_comment: Callable[[], None] = lambda: None
) -> Iterator[SseEvent]:
    """The events of a stream, line by line; comments (`: connected`, keep-alives) call `on_comment`."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            on_comment()
            continue
        if line == "":
            if "data" in fields:
                yield SseEvent(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")


class SseListener:
    """Reads a stream on a thread; `next()` waits for the next event (comments are skipped)."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: queue.Queue[SseEvent | BaseException | None] = queue.Queue()
        self.status_code: int | None = None
        self.response_headers: httpx.Headers | None = None
        self._connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(60, read=60), verify=DEFAULT_TLS)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._response: httpx.Response | None = None
        self._closing = False

    def __enter__(self) -> "SseListener":
        self._thread.start()
        assert self._connected.wait(15), "stream did not open"
        return self

    def __exit__(self, *_: object) -> None:
        self._closing = True
        if self._response is not None:
            self._response.close()  # unblocks the reading thread
        self._client.close()
        self._thread.join(timeout=10)

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self._response = response
                self.status_code = response.status_code
                self.response_headers = response.headers
                for event in parse_events(response.iter_lines(), on_comment=self._connected.set):
                    self.events.put(event)
                self._connected.set()
        except BaseException as exc:  # surfaced to the test by next(), unless we closed it ourselves
            self._connected.set()
            self.events.put(None if self._closing else exc)
            return
        self.events.put(None)

    def next(self, timeout: float = 15) -> SseEvent:
        item = self.events.get(timeout=timeout)
        if item is None:
            raise EOFError("stream ended")
        if isinstance(item, BaseException):
            raise item
        return item

    def ended(self, timeout: float = 15) -> bool:
        try:
            return self.events.get(timeout=timeout) is None
        except queue.Empty:
            return False


class ResumingFeed:
    """The reviewer feed as a browser's EventSource reads it: whenever the stream breaks, it reconnects
    (to the next of `urls`, so a load balancer's choice) with Last-Event-ID, and keeps every event."""

    def __init__(self, urls: list[str], *, key: str, after: int = 0) -> None:
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {key}"}
        self.last_id = after
        self.received: list[SseEvent] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._follow, name="resuming-feed", daemon=True)

    def __enter__(self) -> "ResumingFeed":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        if self._response is not None:
            self._response.close()
        self._thread.join(timeout=15)

    def ids(self) -> list[int]:
        with self._lock:
            return [int(event.id or 0) for event in self.received]

    def wait_for(self, condition: Callable[[list[SseEvent]], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                received = list(self.received)
            if condition(received):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the feed did not get {what}; it has {len(received)} events")
            time.sleep(0.05)

    def _follow(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(10, read=60), verify=DEFAULT_TLS) as client:
            while not self._stopping.is_set():
                url = self.urls[self.connections % len(self.urls)]
                self.connections += 1
                with suppress(httpx.HTTPError, OSError):  # a replica went away mid-stream, or is not up yet
                    self._read(client, url)
                self._stopping.wait(0.2)

    def _read(self, client: httpx.Client, url: str) -> None:
        headers = {**self.headers, "Last-Event-ID": str(self.last_id)}
        with client.stream("GET", f"{url}/v1/api/events", headers=headers) as response:
            self._response = response
            if response.status_code != 200:
                return
            for event in parse_events(response.iter_lines()):
                with self._lock:
                    self.received.append(event)
                    self.last_id = int(event.id or self.last_id)
