"""A webhook receiver on loopback: a real HTTP server in a thread that keeps what it gets.

Tell it to fail (answer 500), hang (answer nothing for longer than any sender waits) or recover.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() on arrival
    answered: int | None  # the status it was given; None while hanging or when it hung

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json()["event"])

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, port: int = 0) -> None:
        """On `port` (0: any free one); a receiver started again on the same port looks like one that
        was down for a while."""
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._mode = "ok"
        self._fail_status = 500
        self._answer = json.dumps({"received": True}).encode()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def fail(self, status: int = 500) -> None:
        with self._lock:
            self._mode, self._fail_status = "fail", status

    def hang(self) -> None:
        with self._lock:
            self._mode = "hang"

    def answer_with(self, body: bytes) -> None:
        """What it answers from now on (200 or the failure status), instead of {"received": true}."""
        with self._lock:
            self._answer = body

    def recover(self) -> None:
        with self._lock:
            self._mode = "ok"

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = 15, what: str = "request(s)"
    ) -> list[Received]:
        return self.wait_until(
            lambda got: len(got) >= count, path=path, timeout=timeout, what=f"{count} {what}"
        )

    def wait_until(
        self,
        condition: Callable[[list[Received]], bool],
        *,
        path: str | None = None,
        timeout: float = 15,
        what: str = "the expected requests",
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while not condition(got := self.received(path)):
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {what} at {path or 'any path'}, received {len(got)}")
            time.sleep(0.02)
        return got

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            mode, fail_status, answer = self._mode, self._fail_status, self._answer
            status = {"ok": 200, "fail": fail_status, "hang": None}[mode]
            self._received.append(Received(request.path, headers, body, time.monotonic(), status))
        if status is None:
            self._released.wait(HANG_SECONDS)
            return
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        request.wfile.write(answer)
