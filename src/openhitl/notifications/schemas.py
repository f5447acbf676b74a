"""Shapes for push subscriptions, the VAPID public key and per-loop notification preferences."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat

from openhitl.kit.bodies import JsonBody

EmailPreference = Literal["none", "on"]
ENDPOINT_PATTERN = (
    r"^(https://[^\s/?#@]+|http://(localhost|127(\.[0-9]{1,3}){3}|\[::1\])(:[0-9]+)?)([/?][^\s#]*)?$"
)


class VapidPublicKey(BaseModel):
    public_key: str = Field(description="The applicationServerKey for PushManager.subscribe(), base64url")


# The service checks these (with messages that say what is wrong); the document states them too.
class PushKeys(BaseModel):
    p256dh: str = Field(
        description="The browser's P-256 public key (65-byte uncompressed point), base64url",
        json_schema_extra={"pattern": "^B[A-Za-z0-9_-]{86}=?$"},
    )
    auth: str = Field(
        description="The browser's 16-byte auth secret, base64url",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{22}(==)?$"},
    )


class PushSubscriptionCreate(JsonBody):
    """What PushSubscription.toJSON() gives in the browser (expirationTime is accepted and ignored)."""

    endpoint: str = Field(
        description="The push service URL: https, or plain http to loopback",
        json_schema_extra={"pattern": ENDPOINT_PATTERN, "maxLength": 2048},
    )
    keys: PushKeys
    expirationTime: StrictFloat | None = None  # the browser's own field name


class PushSubscriptionDelete(JsonBody):
    endpoint: str


class PushSubscriptionRead(BaseModel):
    id: str
    endpoint: str
    created_at: datetime


class PushSubscriptionOne(BaseModel):
    subscription: PushSubscriptionRead


class PushUnsubscribed(BaseModel):
    endpoint: str


class NotificationPreferences(BaseModel):
    loop_id: str
    push: bool = Field(description="Web Push for this loop's requests")
    email: EmailPreference = Field(
        description="on: an email for each critical request and a digest of deferred ones; none: no email"
    )


class NotificationPreferencesUpdate(JsonBody):
    """Only the fields sent change."""

    push: StrictBool | None = None
    email: EmailPreference | None = None
