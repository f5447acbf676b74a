"""Sending webhooks: one signed POST per attempt through address-checked connections, each attempt logged.

The address check runs where the connection is made, on the addresses DNS gives at that moment, and the
connection goes to an address that passed: a name cannot resolve to a safe address for the check and to
another one for the connection. The log keeps what a receiver answered only when the answer came from a
globally reachable address: for loopback, private and other special-purpose addresses it keeps the status and
the timing, never the body, so that the delivery log is no window into the server's own network.
"""

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import structlog

import openhitl
from openhitl.config import Settings
from openhitl.delivery.models import Delivery
from openhitl.delivery.outbox import ClaimedMessage, PermanentFailure
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.kit.ids import new_id
from openhitl.kit.netguard import UnsafeTarget, check_address, is_globally_reachable
from openhitl.webhooks import filters, repository
from openhitl.webhooks.messages import (
    PENDING_BODY,
    ensure_account_secret,
    render_pending_body,
    signature_headers,
    store_body,
)

RESPONSE_BODY_LIMIT = 2048
# A parser's error quotes the bytes it could not read ("illegal status line: b'SSH-2.0-...'"): never logged.
QUOTED_BYTES = re.compile(r":\s*(bytearray\()?b['\"].*$", re.DOTALL)
USER_AGENT = f"OpenHITL-Webhooks/{openhitl.__version__}"
log = structlog.get_logger("openhitl.webhooks")


class RefusedAddress(Exception):
    """The target resolves to an address this server may not call."""


class DeliveryFailed(Exception):
    """No 2xx: the receiver answered otherwise, or could not be reached in time. The outbox retries."""


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each new connection's host, refuses it if any address fails the check, connects by address."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            try:
                check_address(ipaddress.ip_address(address), allow_private=self.allow_private)
            except UnsafeTarget as exc:
                shown = host if host == address else f"{host} ({address})"
                raise RefusedAddress(f"url {exc}: {shown}") from exc
        failure: Exception = httpcore.ConnectError(f"{host} did not resolve to any address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("webhooks are only sent over TCP")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on the guarded backend; environment proxies are ignored, so the check holds."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedNetworkBackend(allow_private=allow_private),
        )


@dataclass(frozen=True)
class Queued:
    """An outbox payload of kind "webhook", as webhooks/messages.py writes it."""

    url: str
    body: bytes
    event: str
    event_id: str
    user_id: str
    endpoint_id: str | None
    request_id: str | None

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> "Queued":
        try:
            return cls(
                url=str(payload["url"]),
                body=str(payload["body"]).encode(),
                event=str(payload["event"]),
                event_id=str(payload["event_id"]),
                user_id=str(payload["user_id"]),
                endpoint_id=payload.get("endpoint_id"),
                request_id=payload.get("request_id"),
            )
        except KeyError as exc:
            raise PermanentFailure(f"malformed webhook payload: no {exc}") from exc


@dataclass(frozen=True)
class Target:
    url: str
    secret: str


@dataclass(frozen=True)
class Attempt:
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response_body: str | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """The outbox handler for kind "webhook". One shared HTTP client; close it with `aclose()`."""

    def __init__(self, *, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.timeout = settings.webhook_timeout_seconds
        self.allow_private = settings.callback_allow_private
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        # Made on first use, so that it belongs to the event loop the worker runs on.
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=GuardedTransport(allow_private=self.allow_private),
                follow_redirects=False,
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, message: ClaimedMessage) -> None:
        payload = message.payload
        if payload.get("body") is None and PENDING_BODY in payload:
            payload = {**payload, "body": await self._render(payload)}
        queued = Queued.parse(payload)
        target = await self._target(queued)
        if target is None:
            url, attempt = queued.url, Attempt(error="the webhook endpoint is disabled", refused=True)
        else:
            url = target.url
            headers = {
                "Content-Type": "application/json",
                "X-HITL-Event": queued.event,
                **signature_headers(
                    secret=target.secret,
                    event_id=queued.event_id,
                    timestamp=int(self.clock.now().timestamp()),
                    body=queued.body,
                ),
            }
            attempt = await self._post(url, queued.body, headers)
        await self._record(message, queued, url=url, attempt=attempt)
        if attempt.refused:
            raise PermanentFailure(attempt.error or "refused")
        if not attempt.succeeded:
            raise DeliveryFailed(attempt.error or f"HTTP {attempt.status_code}")

    async def _render(self, payload: dict[str, Any]) -> str:
        """Rendered outside the write transaction (SQLite has one writer); stored, and committed, before the
        first attempt, so every attempt sends these bytes."""
        async with self.db.lookup() as session:
            rendered = await render_pending_body(session, payload=payload)
        async with self.db.write() as session:
            return await store_body(session, payload=payload, rendered=rendered)

    async def _target(self, queued: Queued) -> Target | None:
        """Where to send and the secret to sign with, as they are now; None while the endpoint is disabled."""
        if queued.endpoint_id is None:
            async with self.db.read() as session:
                secret = await repository.account_secret(session, queued.user_id)
            if secret is None:
                async with self.db.write() as session:
                    secret = await ensure_account_secret(session, user_id=queued.user_id)
            return Target(url=queued.url, secret=secret)
        async with self.db.read() as session:
            endpoint = await repository.get_endpoint_for_delivery(session, queued.endpoint_id)
        if endpoint is None:
            raise PermanentFailure("the webhook endpoint was deleted")
        if not endpoint.is_active and queued.event != filters.TEST_EVENT:
            return None
        return Target(url=endpoint.url, secret=endpoint.secret)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 1)

        try:
            # httpx's timeout bounds each step; this bounds the whole exchange, slow drips included.
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream("POST", url, content=body, headers=headers) as response,
            ):
                received = (
                    await _read_prefix(response, RESPONSE_BODY_LIMIT)
                    if _answered_from_public_address(response)
                    else None
                )
        except RefusedAddress as exc:
            return Attempt(latency_ms=elapsed(), error=str(exc), refused=True)
        except TimeoutError:
            return Attempt(latency_ms=elapsed(), error=f"timed out after {self.timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return Attempt(latency_ms=elapsed(), error=_describe(exc))
        status = response.status_code
        return Attempt(
            status_code=status,
            latency_ms=elapsed(),
            error=None if 200 <= status < 300 else f"HTTP {status}",
            response_body=received,
        )

    async def _record(self, message: ClaimedMessage, queued: Queued, *, url: str, attempt: Attempt) -> None:
        """Its own short transaction; a failure to log never turns a delivered event into a retry."""
        try:
            async with self.db.write() as session:
                session.add(
                    Delivery(
                        id=new_id(),
                        outbox_id=message.id,
                        user_id=queued.user_id,
                        endpoint_id=queued.endpoint_id,
                        request_id=queued.request_id,
                        event_id=queued.event_id,
                        event_type=queued.event,
                        url=url,
                        attempt=message.attempt,
                        status_code=attempt.status_code,
                        latency_ms=attempt.latency_ms,
                        error=attempt.error,
                        response_body=attempt.response_body,
                        succeeded=attempt.succeeded,
                        created_at=self.clock.now(),
                    )
                )
        except Exception:
            log.exception("webhook.record_failed", message_id=message.id, error=attempt.error)


def _answered_from_public_address(response: httpx.Response) -> bool:
    """Whether the connection that carried the answer goes to a globally reachable address (unknown: no)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return False
    try:
        return is_globally_reachable(ipaddress.ip_address(peer[0]))
    except ValueError:
        return False


async def _read_prefix(response: httpx.Response, limit: int) -> str:
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= limit:
            break
    return bytes(received[:limit]).decode("utf-8", errors="replace")


def _describe(exc: BaseException) -> str:
    text = QUOTED_BYTES.sub("", str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
