"""Slow clients cannot hold `openhitl serve`: a real server process (the deadlines set short by environment)
is given connections that send part of a request head and stall, or drip it a byte at a time, and requests
whose body never finishes. Each is answered 408 and closed once its deadline passes, while normal clients go
on being answered; beyond the connection cap a new connection is answered 503 at once, and served again as
soon as the held ones are gone.

No figure of speed is asserted: the generous socket timeout only bounds how long a test may wait."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.databases import sqlite_url
from tests.support.payloads import SEED_LOOP
from tests.support.processes import Replica, api_key, openhitl_env
from tests.support.slow import GENEROUS, connect, read_until_closed

HEADER_DEADLINE = 1
BODY_DEADLINE = 2
SLOW_HEADERS = 200
SLOW_BODIES = 100
CAP = 16

# Ways to stall before the head is complete: nothing at all, part of the request line, part of the headers.
PARTIAL_HEADS = [
    b"",
    b"GET /hea",
    b"GET /health HTTP/1.1\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ",
]


def start(tmp_path: Path, name: str, **settings: object) -> Replica:
    env = openhitl_env(sqlite_url(tmp_path), tmp_path, **settings)
    replica = Replica(env, tmp_path / f"{name}.log")
    replica.start()
    return replica


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, str]]:
    """`openhitl serve` with one-second and two-second deadlines, and an API key of an account on it."""
    directory = tmp_path_factory.mktemp("slow-clients")
    replica = start(
        directory,
        "serve",
        client_header_timeout_seconds=HEADER_DEADLINE,
        client_body_timeout_seconds=BODY_DEADLINE,
    )
    try:
        yield replica, api_key(replica.env, "owner@example.com")
    finally:
        replica.stop()


def answered_normally(url: str) -> None:
    health = httpx.get(f"{url}/health", timeout=GENEROUS)
    assert health.status_code == 200, health.text


def drip(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Sends `data` a byte at a time, 0.1 s apart, until told to stop or the server closes."""
    for byte in data:
        if stop.wait(0.1):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def test_slow_headers_are_closed_after_the_deadline_while_others_are_served(
    guarded: tuple[Replica, str],
) -> None:
    replica, _ = guarded
    stop = threading.Event()
    with ExitStack() as held:
        stalled = [
            held.enter_context(connect(replica.port, PARTIAL_HEADS[n % len(PARTIAL_HEADS)]))
            for n in range(SLOW_HEADERS)
        ]
        # One that keeps sending, a byte at a time, a head that never ends: the deadline is on the whole head.
        dripping = held.enter_context(connect(replica.port, b"GET /health HTTP/1.1\r\n"))
        endless = b"".join(f"X-Header-{n}: {'a' * 20}\r\n".encode() for n in range(1000))
        threading.Thread(target=drip, args=(dripping, endless, stop), daemon=True).start()
        try:
            for _ in range(5):
                answered_normally(replica.url)  # while all of them are held
            answers = [read_until_closed(sock) for sock in [*stalled, dripping]]
        finally:
            stop.set()
    not_408 = [a[:40] for a in answers if not a.startswith(b"HTTP/1.1 408 ")]
    assert not not_408, f"{len(not_408)} slow heads were not answered 408: {not_408[:3]}"
    answered_normally(replica.url)


def test_slow_bodies_are_closed_after_the_deadline_while_others_are_served(
    guarded: tuple[Replica, str],
) -> None:
    replica, key = guarded
    head = (
        "POST /v1/api/loops HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: 4000\r\n\r\n"
    ).encode()
    stop = threading.Event()
    with ExitStack() as held:
        stalled = [
            held.enter_context(connect(replica.port, head + b'{"name": "sl')) for _ in range(SLOW_BODIES)
        ]
        dripping = held.enter_context(connect(replica.port, head))
        threading.Thread(target=drip, args=(dripping, b" " * 4000, stop), daemon=True).start()
        try:
            for _ in range(5):
                answered_normally(replica.url)
            created = httpx.post(
                f"{replica.url}/v1/api/loops",
                json=SEED_LOOP,
                headers={"Authorization": f"Bearer {key}"},
                timeout=GENEROUS,
            )
            assert created.status_code == 201, created.text
            answers = [read_until_closed(sock) for sock in [*stalled, dripping]]
        finally:
            stop.set()
    not_408 = [a[:40] for a in answers if not a.startswith(b"HTTP/1.1 408 ")]
    assert not not_408, f"{len(not_408)} slow bodies were not answered 408: {not_408[:3]}"
    assert b'"error": true' in answers[0], answers[0]
    answered_normally(replica.url)
    assert "Exception in ASGI application" not in replica.log_text()


def test_connections_beyond_the_cap_are_refused_and_served_once_the_held_ones_are_gone(
    tmp_path: Path,
) -> None:
    replica = start(tmp_path, "capped", max_connections=CAP, client_header_timeout_seconds=HEADER_DEADLINE)
    try:
        with ExitStack() as held:
            idle = [held.enter_context(connect(replica.port)) for _ in range(CAP)]
            refused = httpx.get(f"{replica.url}/health", timeout=GENEROUS)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] is True and refused.headers["retry-after"] == "1"
            # The held connections reach their header deadline and go; the server has not starved.
            for sock in idle:
                assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
        deadline = time.monotonic() + GENEROUS
        while (answer := httpx.get(f"{replica.url}/health", timeout=GENEROUS)).status_code == 503:
            assert time.monotonic() < deadline, "the server kept refusing after the held connections closed"
            time.sleep(0.05)
        assert answer.status_code == 200, answer.text
        # Normal clients, one after another on fresh connections, well past the cap in number.
        for _ in range(CAP * 3):
            answered_normally(replica.url)
    finally:
        replica.stop()


def test_a_kept_alive_connection_idle_past_the_header_deadline_is_still_served(
    guarded: tuple[Replica, str],
) -> None:
    """The head deadline runs from a request's first byte on a kept-alive connection, not from the last
    answer: a client pausing between requests (less than the keep-alive timeout) keeps its connection."""
    replica, key = guarded
    with httpx.Client(
        base_url=replica.url, headers={"Authorization": f"Bearer {key}"}, timeout=GENEROUS
    ) as http:
        first = http.get("/v1/api/loops")
        assert first.status_code == 200, first.text
        time.sleep(HEADER_DEADLINE + 0.5)
        second = http.get("/v1/api/loops")
        assert second.status_code == 200, second.text
        assert second.extensions["network_stream"] is first.extensions["network_stream"], (
            "not the same connection"
        )


def test_a_slow_head_after_a_first_request_on_the_same_connection_is_closed(
    guarded: tuple[Replica, str],
) -> None:
    replica, _ = guarded
    with connect(replica.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
        first = b""
        while b"\r\n\r\n" not in first or not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Stalled: ")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
