"""verify_webhook accepts what the server really sends and what the Standard Webhooks library signs, and
refuses changed bodies, old timestamps and other secrets."""

import base64
import secrets
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from openhitl.client import Client, InvalidSignature, verify_webhook
from tests.integration.reviewing import Team
from tests.integration.webhooking import webhook_key
from tests.sdk.conftest import answer
from tests.support.live import LiveServer
from tests.support.payloads import request_body
from tests.support.receiver import Received, Receiver


@pytest.fixture
def delivery(server: LiveServer, team: Team, receiver: Receiver) -> tuple[Received, str]:
    with Client(webhook_key(server, team.owner).key, server.url) as client:
        secret = client.signing_secret()
        created = client.create_request(team.loop_id, request_body(callback_url=receiver.url()))
    answer(team, created.request_id, "Approve")
    return receiver.wait_for(1)[0], secret


def test_a_real_delivery_verifies_by_either_signature(delivery: tuple[Received, str]) -> None:
    received, secret = delivery
    event = verify_webhook(received.body, received.headers, secret)
    assert (event["event"], event["response_data"]) == (
        "request.completed",
        {"selected_value": "Approve", "selected_label": "Approve"},
    )
    hitl_only = {"X-HITL-Signature-256": received.headers["x-hitl-signature-256"]}
    assert verify_webhook(received.body, hitl_only, secret) == event


def test_a_changed_body_or_another_secret_is_refused(delivery: tuple[Received, str]) -> None:
    received, secret = delivery
    tampered = received.body.replace(b"Approve", b"Reject")
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    hitl_only = {"x-hitl-signature-256": received.headers["x-hitl-signature-256"]}
    for body, headers, key in [
        (tampered, received.headers, secret),
        (tampered, hitl_only, secret),
        (received.body, received.headers, other),
        (received.body, hitl_only, other),
        (received.body, {}, secret),
    ]:
        with pytest.raises(InvalidSignature):
            verify_webhook(body, headers, key)


def test_an_old_timestamp_is_refused(delivery: tuple[Received, str]) -> None:
    received, secret = delivery
    later = int(received.headers["webhook-timestamp"]) + 301
    with pytest.raises(InvalidSignature, match="more than 300 seconds"):
        verify_webhook(received.body, received.headers, secret, now=later)
    assert verify_webhook(received.body, received.headers, secret, now=later, tolerance_seconds=600)


def test_the_standard_webhooks_library_signature_verifies() -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    body = '{"event":"request.completed","request_id":"abc"}'
    sent_at = datetime.now(UTC)
    signature = StandardWebhook(secret).sign("evt_1", sent_at, body)
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": f"v1,{'A' * 44} {signature}",  # a rotated secret's signature comes first
    }
    assert verify_webhook(body, headers, secret) == {"event": "request.completed", "request_id": "abc"}
    with pytest.raises(InvalidSignature):
        verify_webhook(body, {**headers, "webhook-id": "evt_2"}, secret)
