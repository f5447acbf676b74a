"""Webhook event filters and signing keys, as pure functions."""

import base64

import pytest

from openhitl.webhooks.filters import InvalidFilter, matches, normalise
from openhitl.webhooks.messages import new_secret, signature_headers, signing_key

LOOP = "0123456789abcdef01234567"
OTHER_LOOP = "fedcba9876543210fedcba98"


@pytest.mark.parametrize(
    ("filters", "event", "loop_id", "expected"),
    [
        (["*"], "request.claimed", LOOP, True),
        (["request.*"], "request.created", LOOP, True),
        (["request.completed"], "request.completed", LOOP, True),
        (["request.completed"], "request.cancelled", LOOP, False),
        (["request.*", "!request.claimed"], "request.claimed", LOOP, False),
        (["request.*", "!request.claimed"], "request.released", LOOP, True),
        (["!request.created"], "request.timeout", LOOP, True),
        (["!request.created"], "request.created", LOOP, False),
        ([f"loop.{LOOP}.*"], "request.created", LOOP, True),
        ([f"loop.{LOOP}.*"], "request.created", OTHER_LOOP, False),
        ([f"loop.{LOOP}.request.completed"], "request.completed", LOOP, True),
        ([f"loop.{LOOP}.request.completed"], "request.timeout", LOOP, False),
        (["*", f"!loop.{LOOP}.*"], "request.completed", LOOP, False),
        (["*", f"!loop.{LOOP}.*"], "request.completed", OTHER_LOOP, True),
        ([f"loop.{LOOP}.*"], "webhook.test", None, False),
    ],
)
def test_filters_match(filters: list[str], event: str, loop_id: str | None, expected: bool) -> None:
    assert matches(normalise(filters), event=event, loop_id=loop_id) is expected


def test_filters_are_trimmed_lower_cased_and_deduplicated() -> None:
    assert normalise([" request.* ", f"loop.{LOOP.upper()}.*", "request.*"]) == [
        "request.*",
        f"loop.{LOOP}.*",
    ]


@pytest.mark.parametrize("bad", ["loop.created", "request.", "request.**", "loop.abc.*", "!", "system.*", ""])
def test_unknown_filters_are_refused(bad: str) -> None:
    with pytest.raises(InvalidFilter):
        normalise([bad])


def test_a_whsec_secret_keys_by_its_decoded_bytes_and_any_other_by_its_text() -> None:
    secret = new_secret()
    assert len(signing_key(secret)) == 32
    assert signing_key("plain-secret") == b"plain-secret"
    unpadded = "whsec_" + base64.b64encode(b"0123456789").decode().rstrip("=")
    assert signing_key(unpadded) == b"0123456789"
    with pytest.raises(ValueError):
        signing_key("whsec_not*base64")


def test_signature_headers_carry_the_id_and_timestamp() -> None:
    headers = signature_headers(
        secret="whsec_" + base64.b64encode(b"k" * 32).decode(),
        event_id="evt_1",
        timestamp=1700000000,
        body=b"{}",
    )
    assert headers["webhook-id"] == "evt_1" and headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    assert (
        headers["X-HITL-Signature-256"].startswith("sha256=") and len(headers["X-HITL-Signature-256"]) == 71
    )
