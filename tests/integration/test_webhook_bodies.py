"""A request event's webhook body is rendered after the change commits, by the first of its messages to go
out: the body the transaction would have built, the same bytes for every target, the request as it was at
the event, and delivered by another process when the one that committed died before rendering it."""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from openhitl.delivery.models import OutboxMessage
from openhitl.delivery.worker import OutboxWorker
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.requests.models import Request
from openhitl.webhooks.messages import PENDING_BODY, WEBHOOK_KIND, request_event_body
from openhitl.webhooks.sender import WebhookSender
from tests.conftest import BACKENDS
from tests.integration.reviewing import Team, make_team
from tests.integration.webhooking import create_webhook, fast_server, webhook_key
from tests.support.live import LiveServer
from tests.support.receiver import Receiver


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # No worker: the server commits its changes and queues their webhooks, and never sends them, as if it
    # died right after each commit.
    yield from fast_server(request.param, tmp_path_factory, worker_enabled=False)


def post(team: Team, request_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    with team.http(team.reviewers[0]) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/{action}", json=body)
    assert answer.status_code == 200, answer.text


def queued(server: LiveServer, request_id: str) -> list[OutboxMessage]:
    async def read() -> list[OutboxMessage]:
        async with server.state.db.read() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == WEBHOOK_KIND).order_by(OutboxMessage.id)
            )
            return [row for row in rows if row.payload.get("request_id") == request_id]

    return server.run(read())


def deliver_elsewhere(server: LiveServer) -> None:
    """Another process (its own pools, its own worker) delivers whatever is due."""

    async def deliver() -> None:
        db = Database(server.settings.resolved_database_url)
        sender = WebhookSender(db=db, clock=Clock(), settings=server.settings)
        try:
            worker = OutboxWorker(db, Clock(), {WEBHOOK_KIND: sender})
            while await worker.run_once():
                pass
        finally:
            await sender.aclose()
            await db.dispose()

    server.run(deliver())


def body_built_now(server: LiveServer, message: OutboxMessage) -> bytes:
    """The body as the respond's own transaction used to build it, from the request as it is now."""

    async def build() -> str:
        async with server.state.db.read() as session:
            request = await session.get(Request, message.payload["request_id"])
            assert request is not None
            return await request_event_body(
                session,
                event_id=message.payload["event_id"],
                event=message.payload["event"],
                request=request,
                now=datetime.fromisoformat(message.payload[PENDING_BODY]["at"]),
            )

    return server.run(build()).encode()


def test_every_target_gets_the_body_the_transaction_would_have_built(
    server: LiveServer, receiver: Receiver
) -> None:
    with Receiver() as endpoint:
        team = make_team(server, reviewers=1)
        with server.client(webhook_key(server, team.owner)) as http:
            create_webhook(http, url=endpoint.url(), events=["request.completed"])
        request_id = team.ask(callback_url=receiver.url())
        post(team, request_id, "respond", {"response_data": "Approve"})

        messages = queued(server, request_id)
        assert len(messages) == 2
        assert all(m.payload["body"] is None and PENDING_BODY in m.payload for m in messages)
        expected = body_built_now(server, messages[0])

        deliver_elsewhere(server)
        [callback] = receiver.wait_for(1)
        [hooked] = endpoint.wait_for(1)

    assert callback.body == hooked.body == expected
    assert json.loads(expected)["status"] == "completed"
    stored = queued(server, request_id)
    assert [m.payload["body"].encode() for m in stored] == [expected, expected]
    assert all(PENDING_BODY not in m.payload and m.done_at is not None for m in stored)


def test_an_event_body_shows_the_request_as_it_was_at_the_event(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    with server.client(webhook_key(server, team.owner)) as http:
        create_webhook(http, url=receiver.url(), events=["request.claimed", "request.completed"])
    request_id = team.ask(callback_url=...)
    post(team, request_id, "claim")
    post(team, request_id, "respond", {"response_data": "Approve"})

    deliver_elsewhere(server)  # both rendered now, after the request was answered
    bodies = {r.json()["event"]: r.json() for r in receiver.wait_for(2)}

    claimed = bodies["request.claimed"]
    assert claimed["status"] == "claimed" and claimed["response_data"] is None
    assert claimed["data"]["request"]["status"] == "claimed"
    assert claimed["data"]["reviewer"]["user_id"] == team.reviewers[0].user_id
    assert bodies["request.completed"]["status"] == "completed"
    assert bodies["request.completed"]["data"]["response_data"] == "Approve"
