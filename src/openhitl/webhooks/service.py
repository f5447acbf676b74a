"""Webhook rules: endpoints and their filters, URLs and secrets; test events; the log and redelivery."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.config import Settings
from openhitl.delivery import outbox
from openhitl.delivery.models import Delivery, WebhookEndpoint
from openhitl.kit.errors import BadRequest, Conflict, NotFound, ValidationFailed
from openhitl.kit.ids import new_id
from openhitl.kit.netguard import UnsafeTarget, check_url
from openhitl.kit.work import WritingSession
from openhitl.webhooks import filters, reasons, repository
from openhitl.webhooks.messages import (
    SECRET_PREFIX,
    enqueue_test_event,
    ensure_account_secret,
    new_secret,
    signing_key,
)
from openhitl.webhooks.schemas import WebhookCreate, WebhookUpdate

UPDATABLE = ("url", "events", "secret", "rotate_secret", "description", "enabled")
# Standard Webhooks asks for keys of 24 to 64 bytes; ours are 32 (messages.SECRET_BYTES).
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def _url(url: str, settings: Settings) -> str:
    url = url.strip()
    try:
        check_url(url, allow_private=settings.callback_allow_private)
    except UnsafeTarget as exc:
        raise ValidationFailed(f"url {exc}") from exc
    return url


def _events(events: list[str]) -> list[str]:
    try:
        return filters.normalise(events)
    except filters.InvalidFilter as exc:
        raise BadRequest("Invalid event filter", f"{exc}. Allowed: {filters.ALLOWED}") from exc


def _secret(secret: str) -> str:
    """A caller's own secret: whsec_ and the base64 of 24-64 bytes (Standard Webhooks), or a plain string."""
    try:
        key = signing_key(secret)
    except ValueError as exc:
        raise ValidationFailed(f"secret: {exc}") from exc
    if secret.startswith(SECRET_PREFIX) and not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValidationFailed(
            f"secret: whsec_ must be followed by the base64 of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} "
            f"random bytes (this one decodes to {len(key)})"
        )
    return secret


async def create(
    session: AsyncSession, *, user_id: str, body: WebhookCreate, settings: Settings, now: datetime
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        id=new_id(),
        user_id=user_id,
        url=_url(body.url, settings),
        description=body.description,
        events=_events(body.events),
        secret=_secret(body.secret) if body.secret else new_secret(),
        is_active=body.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get(session: AsyncSession, *, user_id: str, webhook_id: str) -> WebhookEndpoint:
    """The caller's own endpoint; anybody else's does not exist for them."""
    endpoint = await repository.get_endpoint(session, endpoint_id=webhook_id, user_id=user_id)
    if endpoint is None:
        raise NotFound("Webhook not found")
    return endpoint


async def list_all(session: AsyncSession, *, user_id: str) -> list[WebhookEndpoint]:
    return await repository.list_endpoints(session, user_id=user_id)


async def update(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    body: WebhookUpdate,
    settings: Settings,
    now: datetime,
) -> WebhookEndpoint:
    if body.secret is not None and body.rotate_secret:
        raise ValidationFailed("send either secret or rotate_secret, not both")
    changed = False
    if body.url is not None:
        endpoint.url, changed = _url(body.url, settings), True
    if body.events is not None:
        endpoint.events, changed = _events(body.events), True
    if body.secret is not None:
        endpoint.secret, changed = _secret(body.secret), True
    if body.rotate_secret:
        endpoint.secret, changed = new_secret(), True
    if body.description is not None:
        endpoint.description, changed = body.description, True
    if body.enabled is not None:
        endpoint.is_active, changed = body.enabled, True
    if not changed:
        raise BadRequest("Provide at least one field to update", f"Updatable fields: {', '.join(UPDATABLE)}")
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete(session: AsyncSession, *, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log; its queued events find no endpoint and are dropped."""
    await repository.delete_endpoint(session, endpoint)


async def send_test(session: WritingSession, *, endpoint: WebhookEndpoint, now: datetime) -> str:
    return await enqueue_test_event(session, endpoint=endpoint, now=now)


async def redeliver(session: WritingSession, *, user_id: str, delivery_id: str, now: datetime) -> Delivery:
    """Sends that delivery's event to its target again: the same event id and the same bytes."""
    delivery = await repository.get_delivery(session, delivery_id=delivery_id, user_id=user_id)
    if delivery is None:
        raise NotFound("Delivery not found")
    if delivery.endpoint_id is not None:
        endpoint = await get(session, user_id=user_id, webhook_id=delivery.endpoint_id)
        if not endpoint.is_active:
            raise BadRequest("Webhook is disabled", "Enable it (PATCH enabled: true) before redelivering")
    if await outbox.redeliver(session, message_id=delivery.outbox_id, now=now):
        return delivery
    if await repository.outbox_message_exists(session, delivery.outbox_id):
        raise Conflict("Delivery in progress", "The event is being sent right now; try again in a minute")
    raise NotFound("Delivery not found", "This delivery's event is no longer kept")


async def signing_secret(session: AsyncSession, *, user_id: str) -> str:
    return await ensure_account_secret(session, user_id=user_id)


async def rotate_signing_secret(session: AsyncSession, *, user_id: str) -> str:
    """A new account secret, in force from the next attempt on (retries of older events included)."""
    secret = new_secret()
    await repository.replace_account_secret(session, user_id=user_id, secret=secret)
    return secret


@dataclass(frozen=True)
class ExplainedDelivery:
    """An attempt as its owner reads it: the raw log row, why it failed in plain words, and what happens
    next to its event ("retrying, next attempt at" `next_at`, "failed after 11 attempts")."""

    delivery: Delivery
    reason: str | None
    state: str
    next_at: datetime | None


async def explain(session: AsyncSession, deliveries: list[Delivery]) -> list[ExplainedDelivery]:
    states = await repository.message_states(session, {d.outbox_id for d in deliveries if not d.succeeded})
    explained = []
    for d in deliveries:
        state, next_at = reasons.delivery_state(
            attempt=d.attempt, succeeded=d.succeeded, message=states.get(d.outbox_id)
        )
        reason = (
            None
            if d.succeeded
            else reasons.failure_reason(error=d.error, status_code=d.status_code, url=d.url)
        )
        explained.append(ExplainedDelivery(d, reason, state, next_at))
    return explained
