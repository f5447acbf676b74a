"""Helpers for webhook tests: a fast-delivering server, keys that may manage webhooks, signature checks."""

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from openhitl.accounts import service as accounts
from openhitl.accounts.service import KNOWN_PERMISSIONS
from tests.conftest import start_server
from tests.support.live import Account, LiveServer
from tests.support.receiver import Received

T = TypeVar("T")
# Deliveries, deadlines and receivers' patience, shortened so tests wait milliseconds, not seconds.
FAST = {"worker_poll_seconds": 0.05, "deadline_poll_seconds": 0.05, "webhook_timeout_seconds": 2.0}


def fast_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> Iterator[LiveServer]:
    yield from start_server(backend, tmp_path_factory, **{**FAST, **overrides})


def webhook_key(server: LiveServer, account: Account) -> Account:
    """The same user with a key that may also read and manage webhooks (default keys may not)."""

    async def issue() -> str:
        async with server.state.db.write() as session:
            issued = await accounts.issue_api_key(
                session,
                user=account.user_id,
                name="webhooks",
                secret_key=server.settings.resolved_secret_key,
                now=server.state.clock.now(),
                permissions=list(KNOWN_PERMISSIONS),
            )
        return issued.secret

    return Account(user_id=account.user_id, email=account.email, key=server.run(issue()))


def standard_signature_valid(secret: str, received: Received) -> bool:
    """Standard Webhooks, written out: HMAC-SHA256 over id.timestamp.body, keyed as DESIGN.md §5 says."""
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    else:
        key = secret.encode("utf-8")
    headers = received.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split(" "))


def hitl_signature_valid(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["x-hitl-signature-256"])


def signed_by(secret: str, received: Received) -> bool:
    return standard_signature_valid(secret, received) and hitl_signature_valid(secret, received)


def create_webhook(http: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = http.post("/v1/api/webhooks", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["webhook"])


def account_secret(http: httpx.Client) -> str:
    answer = http.get("/v1/api/webhooks/secret")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["secret"])


def deliveries(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def eventually(check: Callable[[], T], *, timeout: float = 10, what: str = "the condition") -> T:
    """Polls `check` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
