"""Email invitations: a pending membership, a single-use link, accepted on sign-in or by the link."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import service as accounts
from openhitl.config import Settings
from openhitl.delivery import fanout
from openhitl.delivery.email import enqueue_email
from openhitl.kit.crypto import token_digest
from openhitl.kit.errors import ApiError, BadRequest, NotFound, ValidationFailed
from openhitl.kit.ids import new_id
from openhitl.kit.work import WritingSession
from openhitl.loops import repository
from openhitl.loops.models import Invitation, Loop, Membership
from openhitl.realtime.events import append_event

MAX_EMAILS = 50


@dataclass(frozen=True)
class InviteOutcome:
    email: str
    status: str  # invited | already_member
    expires_at: datetime | None
    # The link emailed (a bearer secret): shown once to the manager who invited, for when no email leaves.
    url: str | None = None


def invitation_url(base_url: str, token: str) -> str:
    return f"{base_url}/invitations/{token}"


def normalise_emails(emails: list[str]) -> list[str]:
    if not emails:
        raise ValidationFailed("emails must contain at least one address")
    if len(emails) > MAX_EMAILS:
        raise ValidationFailed(f"emails must contain at most {MAX_EMAILS} addresses")
    cleaned = []
    for raw in emails:
        email = raw.strip().lower()
        if not accounts.looks_like_email(email):
            raise ValidationFailed(f"not an email address: {raw!r}")
        cleaned.append(email)
    return list(dict.fromkeys(cleaned))


async def invite(
    session: WritingSession,
    *,
    loop: Loop,
    emails: list[str],
    invited_by: str,
    inviter_name: str,
    base_url: str,
    settings: Settings,
    now: datetime,
    role: str = "member",
) -> list[InviteOutcome]:
    outcomes = []
    expires_at = now + timedelta(days=settings.invitation_days)
    for email in normalise_emails(emails):
        user = await accounts.get_or_create_user(session, email=email, name=None, now=now, invited=True)
        membership = await repository.get_member(session, loop_id=loop.id, user_id=user.id)
        if membership is not None and membership.status == "active":
            outcomes.append(InviteOutcome(email, "already_member", None))
            continue
        if membership is not None:  # invited again: the newest invitation says in which role
            membership.role = role
        else:
            session.add(
                Membership(
                    id=new_id(),
                    loop_id=loop.id,
                    user_id=user.id,
                    role=role,
                    status="pending",
                    joined_at=None,
                    created_at=now,
                )
            )
        token = secrets.token_urlsafe(32)
        session.add(
            Invitation(
                id=new_id(),
                loop_id=loop.id,
                user_id=user.id,
                email=email,
                digest=token_digest(settings.resolved_secret_key, token),
                invited_by=invited_by,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await session.flush()
        link = invitation_url(base_url, token)
        await enqueue_email(
            session,
            to=email,
            subject=f"You're invited to review for {loop.name}",
            text=(
                f'{inviter_name} invited you to join the review loop "{loop.name}" on OpenHITL.\n\n'
                f"Accept the invitation: {link}\n\n"
                f"Or enter the invite code {loop.invite_code} in the app.\n"
                f"The invitation expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n"
            ),
            now=now,
        )
        await append_event(
            session,
            type="loop.member_invited",
            at=now,
            loop_id=loop.id,
            actor_id=invited_by,
            data={"user_id": user.id, "email": email, "role": role},
        )
        outcomes.append(InviteOutcome(email, "invited", expires_at, link))
    return outcomes


@dataclass(frozen=True)
class RenewedLink:
    email: str
    url: str


async def renew_link(
    session: WritingSession, *, loop: Loop, user_id: str, base_url: str, settings: Settings, now: datetime
) -> RenewedLink:
    """A new token for a pending member's newest invitation to the loop, valid for the usual days; the
    link it had before stops working (only digests are kept, so an old link cannot be shown again)."""
    membership = await repository.get_member(session, loop_id=loop.id, user_id=user_id)
    newest = (
        await session.execute(
            select(Invitation)
            .where(
                Invitation.loop_id == loop.id, Invitation.user_id == user_id, Invitation.accepted_at.is_(None)
            )
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if membership is None or membership.status != "pending" or newest is None:
        raise NotFound("No pending invitation for this person", "Invite them by email first")
    token = secrets.token_urlsafe(32)
    newest.digest = token_digest(settings.resolved_secret_key, token)
    newest.expires_at = now + timedelta(days=settings.invitation_days)
    await session.flush()
    return RenewedLink(newest.email, invitation_url(base_url, token))


def _live(now: datetime) -> Any:
    """An invitation that can still be used: not yet used, not expired, and its membership still pending
    (an invitation is dead once withdrawn, once its invitee joined another way, or once they left)."""
    pending = (
        select(Membership.id)
        .where(
            Membership.loop_id == Invitation.loop_id,
            Membership.user_id == Invitation.user_id,
            Membership.status == "pending",
        )
        .exists()
    )
    return and_(Invitation.accepted_at.is_(None), Invitation.expires_at > now, pending)


async def _activate(
    session: WritingSession, *, user_id: str, loop_ids: list[str], now: datetime
) -> list[str]:
    if not loop_ids:
        return []
    accepted = await session.execute(
        update(Membership)
        .where(
            Membership.user_id == user_id, Membership.status == "pending", Membership.loop_id.in_(loop_ids)
        )
        .values(status="active", joined_at=now, last_active=now)
        .returning(Membership.loop_id)
    )
    activated = list(accepted.scalars())
    for loop_id in activated:
        await append_event(
            session,
            type="loop.member_joined",
            at=now,
            loop_id=loop_id,
            actor_id=user_id,
            data={"user_id": user_id, "via": "invitation"},
        )
        await fanout.member_joined(session, loop_id=loop_id, user_id=user_id, now=now)
    return activated


async def accept_pending(session: WritingSession, *, user_id: str, now: datetime) -> list[str]:
    """Spends every live invitation of this user and activates its membership; returns the loop ids."""
    spent = await session.execute(
        update(Invitation)
        .where(Invitation.user_id == user_id, _live(now))
        .values(accepted_at=now)
        .returning(Invitation.loop_id)
        .execution_options(synchronize_session=False)
    )
    return await _activate(session, user_id=user_id, loop_ids=list(dict.fromkeys(spent.scalars())), now=now)


@dataclass(frozen=True)
class SpentInvitation:
    user_id: str
    email: str
    loop_id: str


async def spend(session: WritingSession, *, token: str, settings: Settings, now: datetime) -> SpentInvitation:
    """Uses an invitation link, once: its membership becomes active. A link that was used, withdrawn,
    expired or made pointless (the invitee joined another way, or left) is refused."""
    spent = (
        await session.execute(
            update(Invitation)
            .where(Invitation.digest == token_digest(settings.resolved_secret_key, token), _live(now))
            .values(accepted_at=now)
            .returning(Invitation.user_id, Invitation.email, Invitation.loop_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if spent is None:
        raise await refusal(session, token=token, settings=settings)
    await _activate(session, user_id=spent.user_id, loop_ids=[spent.loop_id], now=now)
    return SpentInvitation(spent.user_id, spent.email, spent.loop_id)


async def find_live(
    session: AsyncSession, *, token: str, settings: Settings, now: datetime
) -> tuple[Invitation, Loop] | None:
    """A usable invitation and its loop (looked at, not spent)."""
    statement = (
        select(Invitation, Loop)
        .join(Loop, Loop.id == Invitation.loop_id)
        .where(Invitation.digest == token_digest(settings.resolved_secret_key, token), _live(now))
    )
    found = (await session.execute(statement)).one_or_none()
    return None if found is None else (found[0], found[1])


def not_found() -> NotFound:
    return NotFound("Invitation not found", "Check the link in the email, or ask for a new invitation")


async def refusal(session: AsyncSession, *, token: str, settings: Settings) -> ApiError:
    """Why a link is not usable: no invitation ever had it, or it was used, withdrawn or expired."""
    if await by_token(session, token=token, settings=settings) is None:
        return not_found()
    return BadRequest("This invitation has expired or was already used", "Ask the loop's owner for a new one")


async def by_token(session: AsyncSession, *, token: str, settings: Settings) -> Invitation | None:
    """The invitation a link carries, live or not; None when no invitation ever had that token."""
    statement = select(Invitation).where(
        Invitation.digest == token_digest(settings.resolved_secret_key, token)
    )
    return (await session.execute(statement)).scalar_one_or_none()
