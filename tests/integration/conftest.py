"""Fixtures for integration tests: an owner with a loop, on every backend."""

from dataclasses import dataclass

import httpx
import pytest

from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP


@dataclass
class Owner:
    account: Account
    http: httpx.Client
    loop_id: str


@pytest.fixture
def owner(server: LiveServer) -> Owner:
    account = server.account("owner")
    http = server.client(account)
    answer = http.post("/v1/api/loops", json=SEED_LOOP)
    assert answer.status_code == 201, answer.text
    return Owner(account=account, http=http, loop_id=answer.json()["data"]["loop"]["id"])
