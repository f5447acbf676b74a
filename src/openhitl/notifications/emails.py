"""Emails to reviewers who asked for them: one at once for a critical request, a digest of deferred ones.

A new request queues one "request_email" per listening member; its handler (which knows the settings)
either writes the critical-request email or books the member's digest for the request's window. The digest
is one outbox message per (member, window), run at the window's end, and lists what is still waiting then.
Both hand the finished email to `enqueue_email`, so SMTP retries apply.
"""

from datetime import UTC, datetime, timedelta

from openhitl.config import Settings
from openhitl.delivery.email import enqueue_email
from openhitl.delivery.outbox import ClaimedMessage, PermanentFailure, enqueue
from openhitl.kit.clock import Clock
from openhitl.kit.db import Database
from openhitl.kit.work import WritingSession
from openhitl.loops.models import Loop
from openhitl.notifications import repository
from openhitl.requests.display import answer_text, headline
from openhitl.requests.models import Request

REQUEST_EMAIL_KIND = "request_email"
DIGEST_KIND = "email_digest"
DIGEST_SNIPPET_LENGTH = 140
FOOTER = (
    "You get this because email notifications are on for this loop; "
    "turn them off in the loop's notification settings."
)


async def enqueue_request_email(
    session: WritingSession, *, user_id: str, request_id: str, now: datetime
) -> None:
    await enqueue(
        session,
        kind=REQUEST_EMAIL_KIND,
        payload={"user_id": user_id, "request_id": request_id},
        now=now,
        dedupe_key=f"request-email:{request_id}:{user_id}",
    )


def digest_window(created_at: datetime, seconds: int) -> tuple[datetime, datetime]:
    """The window a request falls in: windows are `seconds` long and aligned to the Unix epoch."""
    epoch = int(created_at.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
    return start, start + timedelta(seconds=seconds)


def web_link(settings: Settings, path: str) -> str:
    """An absolute link to the configured public URL (or where the server listens): never a request's Host."""
    return f"{settings.link_base_url}{path}"


class RequestEmails:
    """The worker's handlers for kinds "request_email" and "email_digest"."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    async def request_email(self, message: ClaimedMessage) -> None:
        try:
            user_id, request_id = str(message.payload["user_id"]), str(message.payload["request_id"])
        except KeyError as exc:
            raise PermanentFailure(f"malformed request_email payload: {exc!r}") from exc
        now = self.clock.now()
        async with self.db.write() as session:
            found = await repository.alert_context(session, request_id=request_id, user_id=user_id)
            if found is None:
                return  # the request is gone, or the member left or turned email off
            request, loop, user = found
            if request.status != "pending" or request.timeout_at <= now:
                return  # someone has it already
            if request.priority == "critical":
                subject, text = self._critical_email(request, loop)
                await enqueue_email(
                    session,
                    to=user.email,
                    subject=subject,
                    text=text,
                    now=now,
                    dedupe_key=f"mail:{message.id}",
                )
            elif request.processing_type == "deferred":
                start, end = digest_window(request.created_at, self.settings.email_digest_seconds)
                await enqueue(
                    session,
                    kind=DIGEST_KIND,
                    payload={
                        "user_id": user_id,
                        "window_start": start.isoformat(),
                        "window_end": end.isoformat(),
                    },
                    now=now,
                    run_at=end,
                    dedupe_key=f"digest:{user_id}:{int(start.timestamp())}",
                )

    async def digest(self, message: ClaimedMessage) -> None:
        try:
            user_id = str(message.payload["user_id"])
            start = datetime.fromisoformat(message.payload["window_start"])
            end = datetime.fromisoformat(message.payload["window_end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"malformed email_digest payload: {exc!r}") from exc
        now = self.clock.now()
        async with self.db.write() as session:
            user = await repository.get_user(session, user_id)
            if user is None or user.status != "active":
                return
            waiting = await repository.digest_requests(
                session, user_id=user_id, created_from=start, created_before=end, now=now
            )
            if not waiting:
                return  # all answered, cancelled or timed out since
            subject, text = self._digest_email(waiting)
            await enqueue_email(
                session, to=user.email, subject=subject, text=text, now=now, dedupe_key=f"mail:{message.id}"
            )

    def _critical_email(self, request: Request, loop: Loop) -> tuple[str, str]:
        link = web_link(self.settings, f"/requests/{request.id}")
        fallback = answer_text(request.response_type, request.response_config, request.default_response)
        text = (
            f'A critical request is waiting for review in "{loop.name}".\n\n'
            f"{headline(request.title, request.request_text)}\n\n"
            f"{request.request_text}\n\n"
            f"Answer by {request.timeout_at:%Y-%m-%d %H:%M} UTC: {link}\n"
            + (f"Without an answer by then, the default applies: {fallback}\n" if fallback else "")
            + f"\n{FOOTER}\n"
        )
        return f"New critical request in {loop.name}", text

    def _digest_email(self, waiting: list[tuple[Request, Loop]]) -> tuple[str, str]:
        count = len(waiting)
        noun = "request" if count == 1 else "requests"
        lines = [
            f"{count} deferred {noun} from your loops {'is' if count == 1 else 'are'} waiting for review:",
            "",
        ]
        for request, loop in waiting:
            lines.append(
                f"- [{loop.name}] {request.priority}: "
                f"{headline(request.title, request.request_text, DIGEST_SNIPPET_LENGTH)}"
            )
            lines.append(f"  {web_link(self.settings, f'/requests/{request.id}')}")
        lines += ["", FOOTER, ""]
        return f"{count} deferred {noun} waiting for review", "\n".join(lines)
