"""A small server-sent-events reader over httpx, for tests that listen like a browser would."""

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: Any


class SseListener:
    """Reads a stream on a thread; `next()` waits for the next event (comments are skipped)."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: queue.Queue[SseEvent | BaseException | None] = queue.Queue()
        self.status_code: int | None = None
        self.response_headers: httpx.Headers | None = None
        self._connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(60, read=60))
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
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self._connected.set()
                        continue
                    if line == "":
                        if "data" in fields:
                            self.events.put(
                                SseEvent(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
                            )
                        fields = {}
                        continue
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
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
