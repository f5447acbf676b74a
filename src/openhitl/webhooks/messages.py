"""Webhooks: who hears of an event, the body they get, its signatures, and its place in the outbox.

Each event gets one id and one body; every target gets its own outbox message. A request event's body is
not built in the transaction that causes it (a respond or a sweep would read the loop, the people and the
feedback while it holds its locks): its messages carry the request as it was at the event, and the first
of them to go out renders the body from that and stores it in all of them before anything is sent. So
every target, retry and redelivery sends identical bytes, and a crash after the commit loses nothing.
Secrets stay out of the outbox: the sender looks them up at each attempt, so a rotation also covers the
retries still to come.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery import outbox
from openhitl.delivery.models import WebhookEndpoint
from openhitl.kit.ids import new_id
from openhitl.kit.types import UTCDateTime
from openhitl.kit.work import WritingSession, unit_of_work
from openhitl.loops.models import Loop
from openhitl.requests import presenter
from openhitl.requests import repository as requests_repository
from openhitl.requests.models import Request
from openhitl.webhooks import filters, repository
from openhitl.webhooks.schemas import (
    RequestEventBody,
    RequestEventData,
    WebhookLoop,
    WebhookPerson,
    WebhookTestBody,
    WebhookTestData,
)

WEBHOOK_KIND = "webhook"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
EVENT_ID_PREFIX = "evt_"
ENDPOINTS_CACHE = "webhook endpoints"  # its entries in the unit of work's cache
NOT_BASE64 = "a secret starting with whsec_ must continue in standard base64 (A-Z, a-z, 0-9, + and /)"
PENDING_BODY = "pending_body"  # in a queued request event until its body is rendered


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_event_id() -> str:
    return EVENT_ID_PREFIX + new_id()


def signing_key(secret: str) -> bytes:
    """Standard Webhooks: the bytes after whsec_ base64-decoded; any other secret as its UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(NOT_BASE64) from exc
    if not key:
        raise ValueError(NOT_BASE64)
    return key


def signature_headers(*, secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers over `id.timestamp.body`, and HITL.sh's hex HMAC of the raw body."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    standard = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    hitl = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{standard}",
        "X-HITL-Signature-256": f"sha256={hitl}",
    }


async def ensure_account_secret(session: AsyncSession, *, user_id: str) -> str:
    """The account's signing secret, made on first use."""
    current = await repository.account_secret(session, user_id)
    if current is not None:
        return current
    secret = await repository.set_account_secret_if_unset(session, user_id=user_id, secret=new_secret())
    assert secret is not None
    return secret


async def request_event_body(
    session: AsyncSession,
    *,
    event_id: str,
    event: str,
    request: Request,
    now: datetime,
    loop_name: str | None = None,
) -> str:
    """The §7.4 superset: the flat HITL.sh fields, and `data` for the seed's handler and the older docs."""
    if loop_name is None:
        loop_name = await repository.loop_name(session, request.loop_id)
    read = await presenter.detail(session, request, loop_name=loop_name)
    # Rendered after the event (moments later, or after a restart): feedback given since is not part of it.
    read = read.model_copy(update={"feedback": [f for f in read.feedback if f.submitted_at <= now]})
    answered = request.status == "completed"
    responder = read.response_by_user if answered else None
    response_by = WebhookPerson(**responder.model_dump()) if responder else None
    reviewer = response_by
    if event == "request.claimed" and request.claimed_by:
        claimer = (await requests_repository.users_by_id(session, {request.claimed_by})).get(
            request.claimed_by
        )
        if claimer is not None:
            reviewer = WebhookPerson(user_id=claimer.id, name=claimer.name, email=claimer.email)
    body = RequestEventBody(
        id=event_id,
        event=event,
        timestamp=now,
        request_id=request.id,
        loop_id=request.loop_id,
        status=request.status,
        response_data=request.response_data if answered else None,
        response_by=response_by,
        response_at=request.response_at if answered else None,
        response_time_seconds=request.response_time_seconds if answered else None,
        created_at=request.created_at,
        default_response=request.default_response,
        data=RequestEventData(
            request_id=request.id,
            response_data=read.response_value if answered else None,
            request=read,
            loop=WebhookLoop(id=request.loop_id, name=loop_name),
            reviewer=reviewer,
        ),
    )
    return body.model_dump_json()


def request_snapshot(request: Request) -> dict[str, Any]:
    """The request's columns as JSON, to render its event's body from later."""
    snapshot: dict[str, Any] = {}
    for attribute in _REQUEST_COLUMNS:
        value = getattr(request, attribute.key)
        snapshot[attribute.key] = value.isoformat() if isinstance(value, datetime) else value
    return snapshot


def request_from_snapshot(snapshot: dict[str, Any]) -> Request:
    """A detached Request as `request_snapshot` saw it (never added to a session)."""
    values: dict[str, Any] = {}
    for attribute in _REQUEST_COLUMNS:
        value = snapshot.get(attribute.key)
        if value is not None and attribute.key in _REQUEST_DATETIMES:
            value = datetime.fromisoformat(value)
        values[attribute.key] = value
    return Request(**values)


_REQUEST_COLUMNS = tuple(inspect(Request).column_attrs)
_REQUEST_DATETIMES = frozenset(
    attribute.key for attribute in _REQUEST_COLUMNS if isinstance(attribute.columns[0].type, UTCDateTime)
)


def _payload(
    *,
    url: str,
    body: str | None,
    event: str,
    event_id: str,
    user_id: str,
    endpoint_id: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    # endpoint_id (or else user_id, for a callback) is how the sender finds the secret at send time.
    return {
        "url": url,
        "body": body,
        "event": event,
        "event_id": event_id,
        "user_id": user_id,
        "endpoint_id": endpoint_id,
        "request_id": request_id,
    }


async def enqueue_request_event(
    session: WritingSession, *, event: str, request: Request, now: datetime
) -> None:
    """Queues the event for the request's callback_url (terminal events) and every matching endpoint.

    No body yet: each message carries the request as it is now, the event's time and its sibling
    messages, for `render_body` (see the module's docstring).
    """
    callback_url = request.callback_url if event in filters.DEFAULT_EVENTS else None
    # A sweep moves hundreds of requests in one unit of work, mostly of the same few loops and owners.
    cache = unit_of_work(session).cache
    key = (ENDPOINTS_CACHE, request.creator_id, request.loop_id)
    if key not in cache:
        cache[key] = await repository.endpoints_for_request(
            session, creator_id=request.creator_id, loop_id=request.loop_id
        )
    endpoints = [e for e in cache[key] if filters.matches(e.events, event=event, loop_id=request.loop_id)]
    if not callback_url and not endpoints:
        return
    event_id = new_event_id()
    targets: list[tuple[str, str, str | None]] = [(e.url, e.user_id, e.id) for e in endpoints]
    if callback_url:
        targets.insert(0, (callback_url, request.creator_id, None))
    message_ids = [new_id() for _ in targets]
    loop = await session.get(Loop, request.loop_id)  # no read when the unit of work has it loaded
    pending = {
        "at": now.isoformat(),
        "request": request_snapshot(request),
        "loop_name": loop.name if loop is not None else None,
        "messages": message_ids,
    }
    for message_id, (url, user_id, endpoint_id) in zip(message_ids, targets, strict=True):
        payload = _payload(
            url=url,
            body=None,
            event=event,
            event_id=event_id,
            user_id=user_id,
            endpoint_id=endpoint_id,
            request_id=request.id,
        )
        payload[PENDING_BODY] = pending
        await outbox.enqueue(session, kind=WEBHOOK_KIND, payload=payload, now=now, message_id=message_id)


async def render_pending_body(session: AsyncSession, *, payload: dict[str, Any]) -> str:
    """The body of a queued request event, from the request as it was at the event (reads only)."""
    pending = payload[PENDING_BODY]
    return await request_event_body(
        session,
        event_id=payload["event_id"],
        event=payload["event"],
        request=request_from_snapshot(pending["request"]),
        now=datetime.fromisoformat(pending["at"]),
        loop_name=pending.get("loop_name"),
    )


async def store_body(session: AsyncSession, *, payload: dict[str, Any], rendered: str) -> str:
    """Stores `rendered` in every message of the event that has no body yet, and returns the body in force:
    one a sibling stored first wins, so all targets send the same bytes. The caller's unit of work must
    commit before anything is sent."""
    siblings = await outbox.payloads_for_update(session, message_ids=payload[PENDING_BODY]["messages"])
    body = next((p["body"] for p in siblings.values() if p.get("body") is not None), rendered)
    for message_id, sibling in siblings.items():
        if sibling.get("body") is None:
            stored = {k: v for k, v in sibling.items() if k != PENDING_BODY}
            await outbox.replace_payload(session, message_id=message_id, payload={**stored, "body": body})
    return str(body)


async def enqueue_test_event(session: WritingSession, *, endpoint: WebhookEndpoint, now: datetime) -> str:
    """A webhook.test event for one endpoint (sent even while it is disabled); returns the event id."""
    event_id = new_event_id()
    body = WebhookTestBody(
        id=event_id,
        event=filters.TEST_EVENT,
        timestamp=now,
        data=WebhookTestData(webhook_id=endpoint.id, message="Test event from OpenHITL"),
    ).model_dump_json()
    payload = _payload(
        url=endpoint.url,
        body=body,
        event=filters.TEST_EVENT,
        event_id=event_id,
        user_id=endpoint.user_id,
        endpoint_id=endpoint.id,
        request_id=None,
    )
    await outbox.enqueue(session, kind=WEBHOOK_KIND, payload=payload, now=now)
    return event_id
