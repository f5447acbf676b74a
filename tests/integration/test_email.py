"""Email through the outbox to a real SMTP server on loopback, through an outage, and to the log without one."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest
from structlog.testing import capture_logs

from openhitl.config import Settings
from openhitl.delivery.email import (
    LogEmailSender,
    SmtpEmailSender,
    email_handler,
    email_sender,
    enqueue_email,
)
from openhitl.delivery.models import OutboxMessage
from openhitl.delivery.outbox import ClaimedMessage
from openhitl.delivery.worker import OutboxWorker
from openhitl.kit.db import Database
from tests.support.clock import ManualClock
from tests.support.smtp import SmtpSink, smtp_sink  # noqa: F401  (a fixture)

pytestmark = pytest.mark.anyio

FROM = "OpenHITL <noreply@hitl.example>"
LINK = "https://hitl.example/login/email/abc123"


async def queue_sign_in_email(db: Database, now: datetime, *, to: str = "ada@example.com") -> str:
    async with db.write() as session:
        message_id = await enqueue_email(
            session,
            to=to,
            subject="Your OpenHITL sign-in link",
            text=f"Sign in to OpenHITL: {LINK}\n",
            html=f'<p><a href="{LINK}">Sign in</a></p>',
            now=now,
        )
    assert message_id is not None
    return message_id


async def stored(db: Database, message_id: str) -> OutboxMessage:
    async with db.read() as session:
        message = await session.get(OutboxMessage, message_id)
    assert message is not None
    return message


async def test_an_outbox_email_arrives_by_smtp(db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    clock = ManualClock()
    sender = SmtpEmailSender.from_url(smtp_sink.url)
    worker = OutboxWorker(db, clock, {"email": email_handler(sender, FROM)})
    message_id = await queue_sign_in_email(db, clock.now())

    assert await worker.run_once() == 1

    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.mail_from == "noreply@hitl.example"
    mail = received.message
    assert mail["From"] == FROM
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "Your OpenHITL sign-in link"
    assert mail["Message-ID"] == f"<{message_id}@hitl.example>"
    assert mail["Date"] == "Tue, 01 Jan 2030 00:00:00 +0000"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert text.get_content().splitlines() == [f"Sign in to OpenHITL: {LINK}"]
    assert f'href="{LINK}"' in html.get_content()
    assert (await stored(db, message_id)).done_at == clock.now()


async def test_an_email_survives_an_smtp_outage_and_arrives_once(db: Database) -> None:
    clock = ManualClock()
    sink = SmtpSink()  # not started yet: the server is down
    worker = OutboxWorker(db, clock, {"email": email_handler(SmtpEmailSender.from_url(sink.url), FROM)})
    message_id = await queue_sign_in_email(db, clock.now())

    assert await worker.run_once() == 1
    first = await stored(db, message_id)
    assert first.done_at is None and first.failed_at is None
    assert first.last_error and "SMTPConnectError" in first.last_error

    with sink:
        assert await worker.run_once() == 0, "retried before its time"
        clock.advance(first.run_at - clock.now())
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0
        clock.advance(timedelta(days=2))
        assert await worker.run_once() == 0
        [received] = sink.wait_for(1)

    assert received.message["Message-ID"] == f"<{message_id}@hitl.example>"
    after = await stored(db, message_id)
    assert (after.attempts, after.done_at) == (2, clock.now() - timedelta(days=2))


async def test_a_refused_recipient_is_not_retried(db: Database) -> None:
    clock = ManualClock()
    with SmtpSink(refuse=("nobody@example.com",)) as sink:
        worker = OutboxWorker(db, clock, {"email": email_handler(SmtpEmailSender.from_url(sink.url), FROM)})
        message_id = await queue_sign_in_email(db, clock.now(), to="nobody@example.com")
        assert await worker.run_once() == 1
        clock.advance(timedelta(days=2))
        assert await worker.run_once() == 0
        assert sink.messages() == []

    failed = await stored(db, message_id)
    assert failed.failed_at is not None and failed.attempts == 1
    assert failed.last_error and "No such user" in failed.last_error


def a_message(message_id: str = "0123456789abcdef01234567") -> ClaimedMessage:
    return ClaimedMessage(
        id=message_id,
        kind="email",
        payload={"to": "ada@example.com", "subject": "Sign in", "text": f"Sign in: {LINK}\n", "html": None},
        attempt=1,
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
        claim_token="t" * 32,
        locked_until=datetime(2030, 1, 1, 0, 1, tzinfo=UTC),
    )


async def test_smtp_credentials_from_the_url_are_used() -> None:
    with SmtpSink(credentials=("ada@hitl.example", "p:ss/w@rd")) as sink:
        good = SmtpEmailSender.from_url(f"smtp://ada%40hitl.example:p%3Ass%2Fw%40rd@127.0.0.1:{sink.port}")
        await email_handler(good, FROM)(a_message())
        bad = SmtpEmailSender.from_url(f"smtp://ada%40hitl.example:wrong@127.0.0.1:{sink.port}")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await email_handler(bad, FROM)(a_message())
        assert sink.logins == ["ada@hitl.example"]
        assert len(sink.wait_for(1)) == 1


async def test_starttls_when_asked_for_is_required_not_optional(smtp_sink: SmtpSink) -> None:  # noqa: F811
    sender = SmtpEmailSender.from_url(f"{smtp_sink.url}?starttls=true")
    with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
        await email_handler(sender, FROM)(a_message())
    assert smtp_sink.messages() == []


def test_smtp_url_forms() -> None:
    plain = SmtpEmailSender.from_url("smtp://mail.example")
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls, plain.username) == (
        "mail.example",
        25,
        False,
        False,
        None,
    )
    submission = SmtpEmailSender.from_url("smtp://me:secret@mail.example:587?starttls=true&timeout=3")
    assert (submission.port, submission.starttls, submission.timeout) == (587, True, 3.0)
    assert (submission.username, submission.password) == ("me", "secret")
    assert "secret" not in repr(submission)
    implicit = SmtpEmailSender.from_url("smtps://mail.example")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)
    for wrong in (
        "http://mail.example",
        "smtp://",
        "smtp://mail.example?tls=1",
        "smtps://m.example?starttls=true",
    ):
        with pytest.raises(ValueError):
            SmtpEmailSender.from_url(wrong)


def test_without_smtp_url_emails_go_to_the_log() -> None:
    assert isinstance(email_sender(Settings(smtp_url=None)), LogEmailSender)
    assert isinstance(email_sender(Settings(smtp_url="smtp://127.0.0.1:2525")), SmtpEmailSender)


async def test_the_log_sender_logs_recipient_subject_and_link() -> None:
    with capture_logs() as logs:
        await email_handler(LogEmailSender(), FROM)(a_message("aaaaaaaaaaaaaaaaaaaaaaaa"))

    [entry] = [entry for entry in logs if entry["event"] == "email.not_sent"]
    assert entry["log_level"] == "warning"
    assert entry["note"].startswith("not sent: no SMTP server is set up; set OPENHITL_SMTP_URL")
    assert entry["to"] == "ada@example.com"
    assert entry["subject"] == "Sign in"
    assert LINK in entry["text"]
    assert entry["message_id"] == "<aaaaaaaaaaaaaaaaaaaaaaaa@hitl.example>"
