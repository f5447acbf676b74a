"""Checking that a webhook came from your OpenHITL server, for receivers.

The server signs every delivery twice: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64>` over `id.timestamp.body`) and HITL.sh's `X-HITL-Signature-256:
sha256=<hex>` over the body. `verify_webhook` checks the Standard Webhooks signature when its headers are
there, which also refuses stale timestamps (replays), and otherwise the HITL.sh one.
"""

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from openhitl.client.errors import OpenHITLError

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class InvalidSignature(OpenHITLError):
    """The body was not signed with this secret, was changed, or is too old to accept."""


def _key(secret: str) -> bytes:
    """Standard Webhooks: a whsec_ secret is base64 after the prefix; any other secret is its UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a secret starting with whsec_ must continue in base64") from exc


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _check_standard(
    body: bytes, headers: Mapping[str, str], secret: str, tolerance: float, now: float
) -> None:
    event_id, timestamp, signatures = (
        _header(headers, name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (event_id and timestamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a number") from None
    if abs(now - sent_at) > tolerance:
        raise InvalidSignature(f"webhook-timestamp is more than {tolerance:g} seconds from now")
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise InvalidSignature("no webhook-signature matches this secret and body")


def _check_hitl(body: bytes, header: str, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header.strip(), expected):
        raise InvalidSignature("X-HITL-Signature-256 does not match this secret and body")


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The delivery's JSON if its signature is good; InvalidSignature otherwise.

    Pass the raw body exactly as received (before any JSON parsing) and the request's headers."""
    raw = body.encode() if isinstance(body, str) else body
    if _header(headers, "webhook-signature") is not None:
        _check_standard(raw, headers, secret, tolerance_seconds, time.time() if now is None else now)
    else:
        hitl = _header(headers, "x-hitl-signature-256")
        if hitl is None:
            raise InvalidSignature("the request carries no webhook signature")
        _check_hitl(raw, hitl, secret)
    return json.loads(raw)
