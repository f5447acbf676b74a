"""Each kind of failed webhook attempt, made for real by the sender on loopback, read back in plain words."""

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openhitl.config import Settings
from openhitl.kit.clock import Clock
from openhitl.webhooks.reasons import MessageState, delivery_state, failure_reason
from openhitl.webhooks.sender import Attempt, WebhookSender
from tests.support.dns import unresolvable
from tests.support.live import free_port
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


def sender(tmp_path: Path, **settings: object) -> WebhookSender:
    """The real sender; its database is never touched by `_post`."""
    configured = Settings(data_dir=tmp_path, secret_key="unused", **settings)  # type: ignore[arg-type]
    return WebhookSender(db=None, clock=Clock(), settings=configured)  # type: ignore[arg-type]


async def attempt(tmp_path: Path, url: str, **settings: object) -> tuple[Attempt, str]:
    webhooks = sender(tmp_path, **settings)
    try:
        tried = await webhooks._post(url, b"{}", {"Content-Type": "application/json"})
    finally:
        await webhooks.aclose()
    assert not tried.succeeded
    return tried, failure_reason(error=tried.error, status_code=tried.status_code, url=url)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.fixture
def hanging_up_port() -> Iterator[int]:
    """A port that accepts each connection and closes it without a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


async def test_a_name_that_does_not_resolve(tmp_path: Path) -> None:
    with unresolvable("your-app.com"):
        tried, reason = await attempt(tmp_path, "https://your-app.com/webhook/response")
    assert tried.error and tried.error.startswith("gaierror")  # the raw text is kept as it was
    assert reason == "could not resolve your-app.com"


async def test_a_port_nobody_listens_on(tmp_path: Path) -> None:
    port = free_port()
    _, reason = await attempt(tmp_path, f"http://127.0.0.1:{port}/hook")
    assert reason == f"connection refused by 127.0.0.1:{port}"


async def test_a_receiver_that_never_answers(tmp_path: Path, silent_port: int) -> None:
    tried, reason = await attempt(
        tmp_path, f"http://127.0.0.1:{silent_port}/hook", webhook_timeout_seconds=0.5
    )
    assert tried.error == "timed out after 0.5 s"
    assert reason == "timed out after 0.5 s"


async def test_a_receiver_that_hangs_up(tmp_path: Path, hanging_up_port: int) -> None:
    _, reason = await attempt(tmp_path, f"http://127.0.0.1:{hanging_up_port}/hook")
    assert reason == "the receiver closed the connection without answering"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (500, "HTTP 500: the receiver had an error"),
        (503, "HTTP 503: the receiver had an error"),
        (404, "HTTP 404: the receiver has no such address"),
        (401, "HTTP 401: the receiver refused it (check the signing secret it verifies with)"),
        (422, "HTTP 422: the receiver rejected it"),
        (429, "HTTP 429: the receiver asked to try later"),
    ],
)
async def test_a_receiver_that_answers_with_an_error_status(tmp_path: Path, status: int, reason: str) -> None:
    with Receiver() as receiver:
        receiver.fail(status)
        tried, said = await attempt(tmp_path, receiver.url())
    assert tried.error == f"HTTP {status}" and tried.status_code == status
    assert said == reason


async def test_the_address_guard_refusing_metadata_and_link_local(tmp_path: Path) -> None:
    tried, reason = await attempt(tmp_path, "http://169.254.169.254/latest/meta-data")
    assert tried.refused
    assert reason == (
        "refused: 169.254.169.254 is a link-local or cloud metadata address, which webhooks never call"
    )


async def test_the_address_guard_refusing_private_targets_when_set_to(tmp_path: Path) -> None:
    tried, reason = await attempt(
        tmp_path, f"http://127.0.0.1:{free_port()}/hook", callback_allow_private=False
    )
    assert tried.refused and tried.error and tried.error.endswith(": 127.0.0.1")
    assert reason == (
        "refused: 127.0.0.1 is a loopback or private address, and this server calls only public ones "
        "(OPENHITL_CALLBACK_ALLOW_PRIVATE=false)"
    )


async def test_the_address_guard_refusing_a_broadcast_address(tmp_path: Path) -> None:
    tried, reason = await attempt(tmp_path, "http://255.255.255.255/hook", callback_allow_private=False)
    assert tried.refused
    assert reason.startswith("refused: 255.255.255.255 is not the address of one host")


NOW = datetime(2030, 1, 1, 11, 30, tzinfo=UTC)


def test_what_happens_next_to_an_attempts_event() -> None:
    retrying = MessageState(attempts=3, run_at=NOW + timedelta(minutes=12), done_at=None, failed_at=None)
    assert delivery_state(attempt=3, succeeded=False, message=retrying) == (
        "retrying, next attempt at",
        NOW + timedelta(minutes=12),
    )
    assert delivery_state(attempt=2, succeeded=False, message=retrying) == ("retried", None)
    given_up = MessageState(attempts=11, run_at=NOW, done_at=None, failed_at=NOW)
    assert delivery_state(attempt=11, succeeded=False, message=given_up) == ("failed after 11 attempts", None)
    once = MessageState(attempts=1, run_at=NOW, done_at=None, failed_at=NOW)
    assert delivery_state(attempt=1, succeeded=False, message=once) == ("failed after 1 attempt", None)
    assert delivery_state(attempt=1, succeeded=True, message=None) == ("delivered", None)
    redelivered = MessageState(attempts=0, run_at=NOW, done_at=None, failed_at=None)
    assert delivery_state(attempt=11, succeeded=False, message=redelivered) == ("retried", None)
