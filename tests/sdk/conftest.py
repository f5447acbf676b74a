"""Fixtures for SDK tests: a loop with one reviewer, SDK clients of its owner, and answering helpers."""

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from openhitl import AsyncClient, Client
from openhitl.realtime.feed import EventFeed
from tests.integration.reviewing import Team, make_team
from tests.support.live import LiveServer

MAX_TIMEOUT_SECONDS = 3600  # the longest deadline these tests ask with


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def team(server: LiveServer) -> Team:
    return make_team(server, reviewers=1)


@pytest.fixture
def client(server: LiveServer, team: Team) -> Iterator[Client]:
    with Client(team.owner.key, server.url) as sdk:
        yield sdk


@pytest.fixture
async def async_client(server: LiveServer, team: Team) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(team.owner.key, server.url) as sdk:
        yield sdk


def asked(team: Team, *, timeout: float = 15, besides: str | None = None) -> str:
    """The id of the request waiting in the team's loop (other than `besides`), once someone has asked."""
    deadline = time.monotonic() + timeout
    with team.http(team.owner) as http:
        while time.monotonic() < deadline:
            found = http.get("/v1/api/requests", params={"loop_id": team.loop_id, "status": "pending"})
            requests = [r for r in found.json()["data"]["requests"] if r["id"] != besides]
            if requests:
                return str(requests[0]["id"])
            time.sleep(0.02)
    raise AssertionError("nobody asked")


def answer(team: Team, request_id: str, value: Any) -> None:
    with team.http(team.reviewers[0]) as http:
        answered = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": value})
    assert answered.status_code == 200, answered.text


def answer_when_asked(team: Team, value: Any, *, besides: str | None = None) -> str:
    request_id = asked(team, besides=besides)
    answer(team, request_id, value)
    return request_id


def cancel_when_asked(team: Team) -> str:
    request_id = asked(team)
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    return request_id


@contextmanager
def deadlines_passed(server: LiveServer) -> Iterator[None]:
    """Inside the block the server's clock is past every deadline of the requests asked so far."""
    with server.clock.shifted(MAX_TIMEOUT_SECONDS + 1):
        server.state.get(EventFeed).wake()
        yield
