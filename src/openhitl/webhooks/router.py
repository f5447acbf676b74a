"""HTTP routes for account webhooks (hitl-api.md §3.4, DESIGN.md §5): endpoints, secrets, the delivery log."""

from typing import Annotated

from fastapi import APIRouter, Depends

from openhitl.accounts.auth import Principal, require
from openhitl.delivery.models import Delivery, WebhookEndpoint
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.pagination import Page, page_info, page_params
from openhitl.kit.params import DeliveryId, LimitQuery, OffsetQuery, RequestId, WebhookId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.requests import service as requests_service
from openhitl.webhooks import repository, service
from openhitl.webhooks.schemas import (
    DeliveryList,
    DeliveryRead,
    EventQueued,
    Redelivery,
    SigningSecret,
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
    WebhookOne,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(tags=["webhooks"])
WebhooksRead = Annotated[Principal, Depends(require("webhooks:read"))]
WebhooksWrite = Annotated[Principal, Depends(require("webhooks:write"))]
ERRORS = error_responses(400, 401, 403, 404, 429)


def webhook_read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        events=list(endpoint.events),
        enabled=endpoint.is_active,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def webhook_one(endpoint: WebhookEndpoint) -> WebhookOne:
    return WebhookOne(
        webhook=WebhookWithSecret(**webhook_read(endpoint).model_dump(), secret=endpoint.secret)
    )


def delivery_read(delivery: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event=delivery.event_type,
        target="callback" if delivery.endpoint_id is None else "webhook",
        webhook_id=delivery.endpoint_id,
        request_id=delivery.request_id,
        url=delivery.url,
        attempt=delivery.attempt,
        succeeded=delivery.succeeded,
        status_code=delivery.status_code,
        latency_ms=delivery.latency_ms,
        error=delivery.error,
        response_body=delivery.response_body,
        created_at=delivery.created_at,
    )


def delivery_list(deliveries: list[Delivery], total: int, page: Page) -> DeliveryList:
    has_more, info = page_info(page, count=len(deliveries), total=total)
    return DeliveryList(
        deliveries=[delivery_read(d) for d in deliveries],
        count=len(deliveries),
        total=total,
        has_more=has_more,
        pagination=info,
    )


# Fixed paths first: /webhooks/secret must not be read as a webhook id.


@router.get("/webhooks/secret", responses=error_responses(401, 403, 429))
async def get_signing_secret(principal: WebhooksRead, session: WriteSession) -> Envelope[SigningSecret]:
    """The account's signing secret, which signs the callbacks of your requests (made on first use)."""
    secret = await service.signing_secret(session, user_id=principal.user_id)
    return ok(SigningSecret(secret=secret), "Signing secret retrieved successfully")


@router.post("/webhooks/secret/rotate", responses=error_responses(401, 403, 429))
async def rotate_signing_secret(principal: WebhooksWrite, session: WriteSession) -> Envelope[SigningSecret]:
    """Replace the account's signing secret; every attempt from now on, retries included, uses the new one."""
    secret = await service.rotate_signing_secret(session, user_id=principal.user_id)
    return ok(SigningSecret(secret=secret), "Signing secret rotated successfully")


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver", status_code=202, responses=ERRORS | error_responses(409)
)
async def redeliver(
    delivery_id: DeliveryId, principal: WebhooksWrite, session: WriteSession, state: State
) -> Envelope[Redelivery]:
    """Send that delivery's event to its target again, with the same event id and body."""
    delivery = await service.redeliver(
        session, user_id=principal.user_id, delivery_id=delivery_id, now=state.clock.now()
    )
    return ok(
        Redelivery(
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            webhook_id=delivery.endpoint_id,
            request_id=delivery.request_id,
        ),
        "Redelivery scheduled",
    )


@router.post("/webhooks", status_code=201, responses=error_responses(400, 401, 403, 429))
async def create_webhook(
    body: WebhookCreate, principal: WebhooksWrite, session: WriteSession, state: State
) -> Envelope[WebhookOne]:
    """Receive your loops' and requests' events at a URL. The answer shows the secret its signatures use."""
    endpoint = await service.create(
        session, user_id=principal.user_id, body=body, settings=state.settings, now=state.clock.now()
    )
    return ok(webhook_one(endpoint), "Webhook created successfully")


@router.get("/webhooks", responses=error_responses(401, 403, 429))
async def list_webhooks(principal: WebhooksRead, session: ReadSession) -> Envelope[WebhookList]:
    """Your webhook endpoints (secrets only in the single-endpoint answers)."""
    endpoints = await service.list_all(session, user_id=principal.user_id)
    return ok(
        WebhookList(webhooks=[webhook_read(e) for e in endpoints], count=len(endpoints)),
        "Webhooks retrieved successfully",
    )


@router.get("/webhooks/{webhook_id}", responses=ERRORS)
async def get_webhook(
    webhook_id: WebhookId, principal: WebhooksRead, session: ReadSession
) -> Envelope[WebhookOne]:
    endpoint = await service.get(session, user_id=principal.user_id, webhook_id=webhook_id)
    return ok(webhook_one(endpoint), "Webhook retrieved successfully")


@router.patch("/webhooks/{webhook_id}", responses=ERRORS)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, principal: WebhooksWrite, session: WriteSession, state: State
) -> Envelope[WebhookOne]:
    """Change the URL, events, description or enabled; `secret` sets a new secret, `rotate_secret` makes one."""
    endpoint = await service.get(session, user_id=principal.user_id, webhook_id=webhook_id)
    updated = await service.update(
        session, endpoint=endpoint, body=body, settings=state.settings, now=state.clock.now()
    )
    return ok(webhook_one(updated), "Webhook updated successfully")


@router.delete("/webhooks/{webhook_id}", responses=ERRORS)
async def delete_webhook(
    webhook_id: WebhookId, principal: WebhooksWrite, session: WriteSession
) -> Envelope[WebhookDeleted]:
    """Delete the endpoint and its delivery log; events not yet sent to it are dropped."""
    endpoint = await service.get(session, user_id=principal.user_id, webhook_id=webhook_id)
    await service.delete(session, endpoint=endpoint)
    return ok(WebhookDeleted(webhook_id=webhook_id, deleted=True), "Webhook deleted successfully")


@router.post("/webhooks/{webhook_id}/test", status_code=202, responses=ERRORS)
async def test_webhook(
    webhook_id: WebhookId, principal: WebhooksWrite, session: WriteSession, state: State
) -> Envelope[EventQueued]:
    """Send a signed `webhook.test` event to the endpoint (even while it is disabled)."""
    endpoint = await service.get(session, user_id=principal.user_id, webhook_id=webhook_id)
    event_id = await service.send_test(session, endpoint=endpoint, now=state.clock.now())
    return ok(
        EventQueued(webhook_id=webhook_id, event_id=event_id, event="webhook.test"), "Test event queued"
    )


@router.get("/webhooks/{webhook_id}/deliveries", responses=ERRORS)
async def list_webhook_deliveries(
    webhook_id: WebhookId,
    principal: WebhooksRead,
    session: ReadSession,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Envelope[DeliveryList]:
    """Every attempt to deliver to this endpoint, newest first."""
    page = page_params(limit, offset)
    await service.get(session, user_id=principal.user_id, webhook_id=webhook_id)
    deliveries, total = await repository.list_deliveries(
        session, user_id=principal.user_id, endpoint_id=webhook_id, limit=page.limit, offset=page.offset
    )
    return ok(delivery_list(deliveries, total, page), "Deliveries retrieved successfully")


@router.get("/requests/{request_id}/deliveries", responses=ERRORS)
async def list_request_deliveries(
    request_id: RequestId,
    principal: WebhooksRead,
    session: ReadSession,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> Envelope[DeliveryList]:
    """Attempts to deliver this request's events to your targets: its callback_url and your endpoints."""
    page = page_params(limit, offset)
    await requests_service.get_readable(session, request_id=request_id, user_id=principal.user_id)
    deliveries, total = await repository.list_deliveries(
        session, user_id=principal.user_id, request_id=request_id, limit=page.limit, offset=page.offset
    )
    return ok(delivery_list(deliveries, total, page), "Deliveries retrieved successfully")
