"""A stub Web Push service on loopback: decrypts what it receives as the browser would, and checks VAPID.

Each `Browser` is one subscription whose keys the test owns (a P-256 key pair and an auth secret). The
service answers 201 by default, or whatever status the test gives that browser (410 for a dead
subscription, 500 for an outage), and records every push with its decrypted JSON and headers.
"""

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import http_ece  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """The browser side of one subscription: what PushManager.subscribe() would have made."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def subscription(self) -> dict[str, Any]:
        """As PushSubscription.toJSON() gives it."""
        point = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth_secret)},
        }


@dataclass(frozen=True)
class ReceivedPush:
    token: str
    status: int
    message: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    urgency: str | None
    ttl: int
    topic: str | None


class PushService:
    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.browsers: dict[str, Browser] = {}
        self.received: list[ReceivedPush] = []
        self.errors: list[str] = []
        # Set by the test to the server's VAPID public key; every push must be signed by it.
        self.vapid_public_key: str | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="push-service", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "PushService":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "PushService":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def browser(self, status: int = 201) -> Browser:
        browser = Browser(endpoint=f"{self.origin}/push/{secrets.token_urlsafe(16)}")
        with self._lock:
            self.browsers[browser.token] = browser
            self.statuses[browser.token] = status
        return browser

    def answer(self, browser: Browser, status: int) -> None:
        with self._lock:
            self.statuses[browser.token] = status

    def pushes(self, browser: Browser | None = None) -> list[ReceivedPush]:
        with self._lock:
            return [p for p in self.received if browser is None or p.token == browser.token]

    def wait_for(self, browser: Browser, count: int, *, timeout: float = 10) -> list[ReceivedPush]:
        deadline = time.monotonic() + timeout
        while len(self.pushes(browser)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} push(es), got {len(self.pushes(browser))}; errors: {self.errors}"
                )
            time.sleep(0.02)
        return self.pushes(browser)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = service._receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _fail(self, reason: str) -> int:
        with self._lock:
            self.errors.append(reason)
        return 400

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        headers = {name.lower(): value for name, value in headers.items()}
        token = urlsplit(path).path.rsplit("/", 1)[-1]
        with self._lock:
            browser = self.browsers.get(token)
            status = self.statuses.get(token, 404)
        if browser is None:
            return 404
        if headers.get("content-encoding") != "aes128gcm":
            return self._fail(f"content-encoding {headers.get('content-encoding')!r}")
        try:
            ttl = int(headers["ttl"])
        except (KeyError, ValueError):
            return self._fail("no TTL header")
        try:
            claims, key = self._verify_vapid(headers.get("authorization", ""))
        except (ValueError, InvalidSignature) as exc:
            return self._fail(f"VAPID: {exc!r}")
        try:
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth_secret, version="aes128gcm"
            )
            message = json.loads(plain)
        except Exception as exc:
            return self._fail(f"decrypt: {exc!r}")
        with self._lock:
            self.received.append(
                ReceivedPush(
                    token=token,
                    status=status,
                    message=message,
                    claims=claims,
                    vapid_key=key,
                    urgency=headers.get("urgency"),
                    ttl=ttl,
                    topic=headers.get("topic"),
                )
            )
        return status

    def _verify_vapid(self, authorization: str) -> tuple[dict[str, Any], str]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; ES256 by k, aud our origin, exp ahead (at most 24 h), sub set."""
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"scheme {scheme!r}")
        params = dict(part.strip().split("=", 1) for part in rest.split(","))
        token, key = params["t"], params["k"]
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            raise ValueError("k is not the server's VAPID public key")
        header_b64, claims_b64, signature_b64 = token.split(".")
        if json.loads(unb64url(header_b64)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("JWT header is not ES256")
        signature = unb64url(signature_b64)
        if len(signature) != 64:
            raise ValueError("ES256 signature must be 64 bytes")
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        public_key.verify(
            encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            ),
            f"{header_b64}.{claims_b64}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        claims: dict[str, Any] = json.loads(unb64url(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.origin}")
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            raise ValueError(f"exp {claims.get('exp')!r} is not within the next 24 hours")
        if not claims.get("sub"):
            raise ValueError("no sub claim")
        return claims, key
