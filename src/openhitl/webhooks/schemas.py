"""Webhook shapes: the endpoint bodies and answers, the delivery log, and the event bodies receivers get."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool

from openhitl.kit.bodies import NO_WHITESPACE, JsonBody
from openhitl.kit.pagination import PaginationInfo
from openhitl.requests.schemas import RequestRead
from openhitl.webhooks.filters import ALLOWED, DEFAULT_EVENTS, FILTER_PATTERN


def _no_whitespace(value: str) -> str:
    if any(character.isspace() for character in value):
        raise ValueError("secret must not contain whitespace")
    return value


URL_PATTERN = r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][^\s\u0000]*)?$"


def _http_url(value: str) -> str:
    if not re.match(URL_PATTERN, value):
        raise ValueError("url must be a valid http or https URL")
    return value


Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="http or https URL that receives the events",
        json_schema_extra={"pattern": URL_PATTERN},
    ),
    AfterValidator(_http_url),
]
EventFilter = Annotated[
    str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": FILTER_PATTERN})
]
Events = Annotated[
    list[EventFilter], Field(min_length=1, max_length=50, description=f"What to receive: {ALLOWED}")
]
Secret = Annotated[
    str,
    Field(
        min_length=8,
        max_length=100,
        json_schema_extra={"pattern": NO_WHITESPACE},
        description="Your own signing secret: whsec_ and the standard base64 of 24 to 64 random bytes "
        "(Standard Webhooks; the decoded bytes key webhook-signature), or any other string of 8 to 100 "
        "characters without whitespace, whose UTF-8 bytes are the key. X-HITL-Signature-256 is keyed by the "
        "string as given, either way",
    ),
    AfterValidator(_no_whitespace),
]
Description = Annotated[str, Field(max_length=500)]


class WebhookCreate(JsonBody):
    url: Url
    events: Events = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    secret: Secret | None = Field(
        None,
        description="Signs this endpoint's deliveries; generated (whsec_ and 32 random bytes) when left out",
    )
    description: Description = ""
    enabled: StrictBool = True


class WebhookUpdate(JsonBody):
    url: Url | None = None
    events: Events | None = None
    secret: Secret | None = Field(None, description="A new signing secret, used from the next attempt on")
    rotate_secret: StrictBool = Field(False, description="Replace the signing secret with a generated one")
    description: Description | None = None
    enabled: StrictBool | None = None


class WebhookRead(BaseModel):
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(description="Verifies this endpoint's signatures")


class WebhookOne(BaseModel):
    webhook: WebhookWithSecret


class WebhookList(BaseModel):
    webhooks: list[WebhookRead]
    count: int


class WebhookDeleted(BaseModel):
    webhook_id: str
    deleted: bool


class EventQueued(BaseModel):
    webhook_id: str
    event_id: str = Field(description="The webhook-id header and the body's id")
    event: str


class DeliveryRead(BaseModel):
    id: str
    event_id: str
    event: str
    target: Literal["webhook", "callback"] = Field(
        description="An account endpoint (webhook_id set), or a request's callback_url"
    )
    webhook_id: str | None
    request_id: str | None
    url: str
    attempt: int
    succeeded: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None
    response_body: str | None = Field(
        description="The first 2 KB of the receiver's answer; null when the receiver's address is not globally "
        "reachable (loopback, private and other special-purpose ranges), whose answers are never stored"
    )
    created_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryRead]
    count: int
    total: int
    has_more: bool
    pagination: PaginationInfo


class Redelivery(BaseModel):
    delivery_id: str
    event_id: str
    webhook_id: str | None
    request_id: str | None


class SigningSecret(BaseModel):
    secret: str = Field(description="Signs this account's per-request callbacks (whsec_…)")


# What receivers get (hitl-api.md §7.4), serialised once per event.


class WebhookPerson(BaseModel):
    user_id: str
    name: str
    email: str


class WebhookLoop(BaseModel):
    id: str
    name: str


class RequestEventData(BaseModel):
    request_id: str
    response_data: Any = Field(description="The plain answer (the seed's handler compares it to 'Approve')")
    request: RequestRead
    loop: WebhookLoop
    reviewer: WebhookPerson | None


class RequestEventBody(BaseModel):
    id: str
    event: str
    timestamp: datetime
    request_id: str
    loop_id: str
    status: str
    response_data: Any = Field(description="The structured answer; null unless completed")
    response_by: WebhookPerson | None
    response_at: datetime | None
    response_time_seconds: float | None
    created_at: datetime
    default_response: Any
    data: RequestEventData


class WebhookTestData(BaseModel):
    webhook_id: str
    message: str


class WebhookTestBody(BaseModel):
    id: str
    event: str
    timestamp: datetime
    data: WebhookTestData
