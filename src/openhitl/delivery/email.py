"""Email through the outbox: enqueue with the change that causes it, send by SMTP, or log when none is set up."""

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog

from openhitl.config import Settings
from openhitl.delivery.outbox import ClaimedMessage, PermanentFailure, enqueue
from openhitl.delivery.worker import Handler
from openhitl.kit.work import WritingSession

EMAIL_KIND = "email"
DEFAULT_SMTP_TIMEOUT_SECONDS = 10.0

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpEmailSender:
    """Sends through one SMTP server. Raises PermanentFailure when the server rejects the message for good."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False
    timeout: float = DEFAULT_SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_url(cls, url: str) -> "SmtpEmailSender":
        """`smtp://[user:pass@]host[:port][?starttls=true][&timeout=S]` or `smtps://…` (implicit TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"SMTP URL must start with smtp:// or smtps://, not {parts.scheme or '(none)'}://"
            )
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"starttls", "timeout"}
        if unknown:
            raise ValueError(f"unknown SMTP URL option(s): {', '.join(sorted(unknown))}")
        implicit_tls = parts.scheme == "smtps"
        starttls = _flag(query.get("starttls", "false"))
        if implicit_tls and starttls:
            raise ValueError("smtps:// is already TLS: starttls does not apply")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=implicit_tls,
            starttls=starttls,
            timeout=float(query.get("timeout", DEFAULT_SMTP_TIMEOUT_SECONDS)),
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.implicit_tls,
                # Asked for, STARTTLS is required: falling back to plain text would hide a stripping attack.
                start_tls=self.starttls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(_is_permanent(refused.code) for refused in exc.recipients):
                raise PermanentFailure(f"recipient refused: {exc.recipients[0].message}") from exc
            raise
        except aiosmtplib.SMTPDataError as exc:
            if _is_permanent(exc.code):
                raise PermanentFailure(f"message refused: {exc.code} {exc.message}") from exc
            raise


NOT_SENT = (
    "not sent: no SMTP server is set up; set OPENHITL_SMTP_URL (smtp://user:password@host:587?starttls=true, "
    "or smtps://…) to send emails"
)


class LogEmailSender:
    """No SMTP server configured: the email is not sent but goes to the log, where an operator can copy its
    link, with a word on how to send emails instead."""

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        # Fetched per call so that log capture set up after import sees it.
        structlog.get_logger("openhitl.email").warning(
            "email.not_sent",
            note=NOT_SENT,
            to=message["To"],
            subject=message["Subject"],
            message_id=message["Message-ID"],
            text=text,
        )


def email_sender(settings: Settings) -> EmailSender:
    if settings.smtp_url:
        return SmtpEmailSender.from_url(settings.smtp_url)
    return LogEmailSender()


async def enqueue_email(
    session: WritingSession,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    now: datetime,
    dedupe_key: str | None = None,
) -> str | None:
    """Queues an email in the caller's unit of work; it is sent after the commit, with retries."""
    payload = {"to": to, "subject": subject, "text": text, "html": html}
    return await enqueue(session, kind=EMAIL_KIND, payload=payload, now=now, dedupe_key=dedupe_key)


def build_email(message: ClaimedMessage, *, from_address: str) -> EmailMessage:
    """The same message on every attempt: Message-ID and Date come from the outbox row."""
    payload = message.payload
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = payload["to"]
    mail["Subject"] = payload["subject"]
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = f"<{message.id}@{_domain(from_address)}>"
    # RFC 3834: tells autoresponders not to answer.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(payload["text"])
    if payload.get("html"):
        mail.add_alternative(payload["html"], subtype="html")
    return mail


def email_handler(sender: EmailSender, from_address: str) -> Handler:
    """The worker's handler for kind "email"."""

    async def send_email(message: ClaimedMessage) -> None:
        try:
            mail = build_email(message, from_address=from_address)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"malformed email payload: {exc!r}") from exc
        await sender.send(mail)

    return send_email


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"
