"""Rules for notifications: what a valid push subscription is, and each member's per-loop preferences."""

import binascii
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery.models import PushSubscription
from openhitl.kit.errors import Conflict, NotFound, ValidationFailed
from openhitl.kit.netguard import UnsafeTarget, check_url
from openhitl.loops import repository as loops_repository
from openhitl.loops.models import Membership
from openhitl.notifications import repository
from openhitl.notifications.vapid import b64url_decode

ENDPOINT_MAX_LENGTH = 2048
USER_AGENT_MAX_LENGTH = 300
# Bounds how many pushes one account can make the server send per event.
MAX_SUBSCRIPTIONS_PER_USER = 20
P256DH_LENGTH = 65
AUTH_LENGTH = 16
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


@dataclass(frozen=True)
class Subscribed:
    subscription: PushSubscription
    created: bool


def _key_bytes(name: str, value: str) -> bytes:
    if not _BASE64URL.fullmatch(value):
        raise ValidationFailed(f"keys.{name} must be base64url")
    try:
        return b64url_decode(value.rstrip("="))
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"keys.{name} must be base64url") from exc


def check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The browser's keys, normalised to unpadded base64url."""
    point = _key_bytes("p256dh", p256dh)
    if len(point) != P256DH_LENGTH or point[0] != 0x04:
        raise ValidationFailed("keys.p256dh must be an uncompressed P-256 public key (65 bytes)")
    from cryptography.hazmat.primitives.asymmetric import ec  # here, not at start-up: ~9 MiB of OpenSSL

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise ValidationFailed("keys.p256dh is not a point on the P-256 curve") from exc
    if len(_key_bytes("auth", auth)) != AUTH_LENGTH:
        raise ValidationFailed("keys.auth must be a 16-byte secret")
    return p256dh.rstrip("="), auth.rstrip("=")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str, *, allow_private: bool) -> str:
    """A push service URL: https, or plain http to this machine (tests, self-hosted push services)."""
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        raise ValidationFailed(f"endpoint must be at most {ENDPOINT_MAX_LENGTH} characters")
    try:
        check_url(endpoint, allow_private=allow_private)
    except UnsafeTarget as exc:
        raise ValidationFailed(f"endpoint {exc}") from exc
    parts = urlsplit(endpoint)
    if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
        raise ValidationFailed("endpoint must be an https URL (plain http only to loopback)")
    if parts.username or parts.password or parts.fragment:
        raise ValidationFailed("endpoint must not carry credentials or a fragment")
    return endpoint


async def subscribe(
    session: AsyncSession,
    *,
    user_id: str,
    session_id: str | None,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str,
    allow_private: bool,
    now: datetime,
) -> Subscribed:
    """Registers a browser for this user. An endpoint is one browser's: registered by one user, it is not
    taken by another (who could then neither be told apart nor removed by its owner)."""
    endpoint = check_endpoint(endpoint, allow_private=allow_private)
    p256dh, auth = check_keys(p256dh, auth)
    existed = await repository.subscription_exists(session, endpoint)
    subscription = await repository.upsert_subscription(
        session,
        user_id=user_id,
        session_id=session_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        user_agent=user_agent[:USER_AGENT_MAX_LENGTH],
        now=now,
    )
    if subscription is None:
        raise Conflict(
            "This push endpoint is registered to another account",
            "Sign that account out in this browser, or unsubscribe the browser and subscribe again",
        )
    await repository.keep_newest_subscriptions(session, user_id=user_id, keep=MAX_SUBSCRIPTIONS_PER_USER)
    return Subscribed(subscription, created=not existed)


async def unsubscribe(session: AsyncSession, *, user_id: str, endpoint: str) -> None:
    if not await repository.delete_subscription(session, user_id=user_id, endpoint=endpoint):
        raise NotFound("Push subscription not found")


async def get_membership(session: AsyncSession, *, loop_id: str, user_id: str) -> Membership:
    """The caller's own active membership; a loop they are not in does not exist for them."""
    found = await loops_repository.get_with_membership(session, loop_id=loop_id, user_id=user_id)
    if found is None:
        raise NotFound("Loop not found")
    return found[1]


async def set_preferences(
    session: AsyncSession, *, loop_id: str, user_id: str, push: bool | None, email: str | None
) -> Membership:
    membership = await get_membership(session, loop_id=loop_id, user_id=user_id)
    return await repository.set_preferences(session, membership_id=membership.id, push=push, email=email)
