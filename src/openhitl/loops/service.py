"""Loop rules: who may see, change and delete a loop, invite codes, members."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.kit.crypto import random_code
from openhitl.kit.errors import BadRequest, Forbidden, NotFound
from openhitl.kit.ids import new_id
from openhitl.kit.work import WritingSession
from openhitl.loops import repository
from openhitl.loops.models import MANAGER_ROLES, READER_ROLES, Loop, Membership
from openhitl.loops.schemas import LoopCreate, LoopUpdate
from openhitl.realtime.events import append_event

INVITE_CODE_LENGTH = 6


@dataclass(frozen=True)
class LoopAccess:
    loop: Loop
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_manager(self) -> bool:
        return self.membership.role in MANAGER_ROLES

    @property
    def is_creator(self) -> bool:
        return self.membership.role == "creator"

    @property
    def reads_requests(self) -> bool:
        """Reads every request of the loop and its answers: managers and viewers."""
        return self.membership.role in READER_ROLES


def loop_setting(settings: Mapping[str, Any] | None, name: str, default: bool = False) -> bool:
    """One switch of a loop's `settings` (as stored: absent keys take their default)."""
    return bool((settings or {}).get(name, default))


async def get_access(session: AsyncSession, *, loop_id: str, user_id: str) -> LoopAccess:
    """The loop as this user may see it; a loop they are not in does not exist for them."""
    found = await repository.get_with_membership(session, loop_id=loop_id, user_id=user_id)
    if found is None:
        raise NotFound("Loop not found")
    return LoopAccess(*found)


async def get_managed(session: AsyncSession, *, loop_id: str, user_id: str) -> LoopAccess:
    access = await get_access(session, loop_id=loop_id, user_id=user_id)
    if not access.is_manager:
        raise Forbidden("Access denied to this loop")
    return access


async def get_readable_loop(session: AsyncSession, *, loop_id: str, user_id: str) -> LoopAccess:
    """The loop of someone who reads all its requests (its managers and viewers); plain members get a 403."""
    access = await get_access(session, loop_id=loop_id, user_id=user_id)
    if not access.reads_requests:
        raise Forbidden("Access denied to this loop")
    return access


def refuse_viewer(role: str | None) -> None:
    """A viewer reads the loop's requests and answers and does nothing else in it."""
    if role == "viewer":
        raise Forbidden(
            "Viewers can read this loop's requests but not change them",
            "Ask a loop admin to make you a member or an admin",
        )


def active_member(*, loop_id: str, user_id: str, role: str, now: datetime) -> Membership:
    """A membership that starts active now (the creator's, or a joiner's)."""
    return Membership(
        id=new_id(),
        loop_id=loop_id,
        user_id=user_id,
        role=role,
        status="active",
        joined_at=now,
        last_active=now,
        created_at=now,
    )


async def new_invite_code(session: AsyncSession) -> str:
    for _ in range(20):
        code = random_code(INVITE_CODE_LENGTH)
        if not await repository.invite_code_taken(session, code):
            return code
    raise RuntimeError("could not find a free invite code")


async def create(
    session: WritingSession, *, creator: User | str, data: LoopCreate, now: datetime
) -> LoopAccess:
    creator_id = creator if isinstance(creator, str) else creator.id
    loop = Loop(
        id=new_id(),
        name=data.name,
        description=data.description or "",
        icon=data.icon,
        creator_id=creator_id,
        invite_code=await new_invite_code(session),
        settings=(data.settings.model_dump() if data.settings else {}),
        created_at=now,
        updated_at=now,
    )
    membership = active_member(loop_id=loop.id, user_id=creator_id, role="creator", now=now)
    session.add(loop)
    await session.flush()
    session.add(membership)
    await session.flush()
    await append_event(session, type="loop.created", at=now, loop_id=loop.id, actor_id=creator_id)
    return LoopAccess(loop, membership)


async def update(
    session: WritingSession, *, access: LoopAccess, data: LoopUpdate, actor_id: str, now: datetime
) -> None:
    if not access.is_creator:
        raise Forbidden("Access denied to this loop")
    fields = data.model_dump(exclude_unset=True)
    if not any(value is not None for value in fields.values()):
        raise BadRequest("At least one field must be provided for update")
    loop = access.loop
    if data.name is not None:
        loop.name = data.name
    if "description" in fields:
        loop.description = data.description or ""
    if data.icon is not None:
        loop.icon = data.icon
    if data.settings is not None:
        loop.settings = {**(loop.settings or {}), **data.settings.model_dump(exclude_unset=True)}
    loop.updated_at = now
    await session.flush()
    await append_event(session, type="loop.updated", at=now, loop_id=loop.id, actor_id=actor_id)


async def remove_member(
    session: WritingSession, *, access: LoopAccess, user_id: str, actor_id: str, now: datetime
) -> None:
    member = await repository.get_member(session, loop_id=access.loop.id, user_id=user_id)
    if member is None:
        raise NotFound("Member not found in this loop")
    if member.role == "creator":
        raise BadRequest("Loop creator cannot be removed")
    if member.role == "admin" and not access.is_creator:
        raise Forbidden("Only the loop creator can remove an admin")
    await repository.delete_member(session, member.id)
    await append_event(
        session,
        type="loop.member_left",
        at=now,
        loop_id=access.loop.id,
        actor_id=actor_id,
        data={"user_id": user_id, "removed": True},
    )


async def regenerate_invite_code(
    session: WritingSession, *, access: LoopAccess, actor_id: str, now: datetime
) -> str:
    access.loop.invite_code = await new_invite_code(session)
    access.loop.updated_at = now
    await session.flush()
    await append_event(
        session, type="loop.invite_code_regenerated", at=now, loop_id=access.loop.id, actor_id=actor_id
    )
    return access.loop.invite_code


async def set_role(
    session: WritingSession, *, access: LoopAccess, user_id: str, role: str, now: datetime
) -> Membership:
    """The creator gives any role; an admin moves people between member and viewer, and leaves admins be."""
    if not access.is_manager:
        raise Forbidden("Access denied to this loop")
    membership = await repository.get_member(session, loop_id=access.loop.id, user_id=user_id)
    if membership is None:
        raise NotFound("Member not found in this loop")
    if membership.role == "creator":
        raise BadRequest("The loop creator's role cannot be changed")
    if not access.is_creator and "admin" in (role, membership.role):
        raise Forbidden(
            "Only the loop creator can make or unmake admins",
            "Admins can switch people between member and viewer",
        )
    membership.role = role
    await session.flush()
    await append_event(
        session,
        type="loop.member_role_changed",
        at=now,
        loop_id=access.loop.id,
        actor_id=access.membership.user_id,
        data={"user_id": user_id, "role": role},
    )
    return membership
