"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives; stop and start it to fake an outage."""

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.live import free_port


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SmtpSink:
    """Refuses recipients in `refuse` with a 550; accepts AUTH only for `credentials` when given."""

    def __init__(self, *, credentials: tuple[str, str] | None = None, refuse: tuple[str, ...] = ()) -> None:
        # Controller(port=0) cannot work: its readiness probe would connect to port 0.
        self.port = free_port()
        self.credentials = credentials
        self.refuse = refuse
        self.received: list[ReceivedEmail] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpSink":
        options: dict[str, Any] = {}
        if self.credentials:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def messages(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self.received)

    def wait_for(self, count: int, *, timeout: float = 10) -> list[ReceivedEmail]:
        deadline = time.monotonic() + timeout
        while len(self.messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} email(s), received {len(self.messages())}")
            time.sleep(0.02)
        return self.messages()

    # aiosmtpd handler hooks, called on the controller's thread.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(
                ReceivedEmail(
                    mail_from=str(envelope.mail_from), rcpt_tos=list(envelope.rcpt_tos), message=message
                )
            )
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if (login, password) == self.credentials:
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running sink; import this fixture into a test module to use it."""
    with SmtpSink() as sink:
        yield sink
