"""Sending Web Push: each message encrypted (aes128gcm) and VAPID-signed at send time, then POSTed."""

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from openhitl.delivery.outbox import ClaimedMessage, PermanentFailure
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.notifications import repository, vapid
from openhitl.notifications.vapid import VapidKeys
from openhitl.webhooks.sender import GuardedTransport, RefusedAddress

# RFC 8292 lets a token live 24 h; push services differ, and 12 h is accepted by all of them.
VAPID_TOKEN_LIFETIME = timedelta(hours=12)
PUSH_TIMEOUT_SECONDS = 15.0
GONE = (404, 410)

log = structlog.get_logger("openhitl.push")


class PushRejected(Exception):
    """The push service answered with a status worth trying again later (429, 5xx)."""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class PushSender:
    """The worker's handler for kind "push". One shared httpx client for every push service."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        contact: str,
        allow_private: bool,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.contact = contact
        self.allow_private = allow_private
        self._http = http
        self._keys: VapidKeys | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        # Made on first use, so that it belongs to the event loop the worker runs on.
        if self._http is None:
            self._http = httpx.AsyncClient(
                # Connects only to addresses that pass the same check as webhook targets, resolved at send time.
                transport=GuardedTransport(allow_private=self.allow_private),
                timeout=PUSH_TIMEOUT_SECONDS,
                follow_redirects=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __call__(self, message: ClaimedMessage) -> None:
        payload = message.payload
        now = self.clock.now()
        try:
            expires_at = datetime.fromisoformat(payload["expires_at"])
            subscription_id = str(payload["subscription_id"])
            notification = payload["notification"]
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"malformed push payload: {exc!r}") from exc
        ttl = int((expires_at - now).total_seconds())
        if ttl <= 0:
            return  # nobody needs to hear about it any more
        async with self.db.read() as session:
            subscription = await repository.get_subscription(session, subscription_id)
        if subscription is None:
            return  # unsubscribed since it was queued
        subscription_info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        # Imported here, not at start-up: pywebpush brings aiohttp and requests (~20 MiB) that a server which
        # never sends a push does not need.
        from pywebpush import WebPusher  # type: ignore[import-untyped]

        body = WebPusher(subscription_info).encode(
            json.dumps(notification, separators=(",", ":")).encode(), "aes128gcm"
        )["body"]
        headers = await self._authorization(subscription.endpoint, now)
        headers |= {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(ttl),
            "Urgency": str(payload.get("urgency") or "normal"),
        }
        if payload.get("topic"):
            headers["Topic"] = str(payload["topic"])
        try:
            response = await self.http.post(subscription.endpoint, content=body, headers=headers)
        except RefusedAddress as exc:
            raise PermanentFailure(f"push endpoint refused: {exc}") from exc
        await self._record(response, subscription_id, payload.get("counts_for_request"))

    async def _authorization(self, endpoint: str, now: datetime) -> dict[str, str]:
        # Imported here, like pywebpush: py_vapid brings cryptography (~9 MiB) a server without pushes never needs.
        from py_vapid import Vapid02, VapidException  # type: ignore[import-untyped]

        if self._keys is None:
            self._keys = await vapid.load(self.db, now=now)
        claims = {
            "sub": self.contact,
            "aud": origin(endpoint),
            "exp": int((now + VAPID_TOKEN_LIFETIME).timestamp()),
        }
        try:
            # Settings validate the contact already; py-vapid's own check refuses some valid addresses.
            signer = Vapid02(self._keys.private_key, conf={"no-strict": True})
            signed: dict[str, str] = signer.sign(claims)
        except VapidException as exc:
            raise PermanentFailure(f"cannot sign VAPID claims: {exc}") from exc
        return signed

    async def _record(self, response: httpx.Response, subscription_id: str, request_id: Any) -> None:
        status = response.status_code
        if 200 <= status < 300:
            try:
                async with self.db.write() as session:
                    await repository.record_accepted_push(
                        session,
                        subscription_id=subscription_id,
                        request_id=str(request_id) if request_id else None,
                        now=self.clock.now(),
                    )
            except Exception:
                # Delivered: retrying would push twice. The count misses one instead.
                log.exception("push.count_failed", subscription_id=subscription_id)
            return
        if status in GONE:
            async with self.db.write() as session:
                await repository.delete_subscription_by_id(session, subscription_id)
            raise PermanentFailure(f"push service answered {status}: subscription removed")
        if status == 429 or status >= 500:
            raise PushRejected(f"push service answered {status}")
        raise PermanentFailure(f"push service answered {status}: {response.text[:200]}")
