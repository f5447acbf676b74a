"""HTTP routes for loops and their members (HITL.sh §3.2)."""

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response as HTTPResponse
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.auth import LoopsRead, LoopsWrite
from openhitl.accounts.models import User
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.errors import NotFound
from openhitl.kit.guessing import guarded_lookup
from openhitl.kit.params import LoopId, UserId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.kit.urls import join_url, public_base_url, qr_code_url
from openhitl.loops import invitations, repository, service
from openhitl.loops.models import Loop, Membership
from openhitl.loops.qr import qr_data_url, qr_png
from openhitl.loops.schemas import (
    InvitationOutcome,
    InvitationsCreate,
    InvitationsSent,
    InviteCode,
    LoopCreate,
    LoopCreated,
    LoopList,
    LoopOne,
    LoopRead,
    LoopSettings,
    LoopUpdate,
    MemberList,
    MemberOne,
    MemberRead,
    MemberRemoved,
    MemberRoleUpdate,
    MemberStatistics,
)
from openhitl.loops.service import LoopAccess

router = APIRouter(tags=["loops"])
qr_router = APIRouter(tags=["loops"])
COMMON_ERRORS = error_responses(400, 401, 403, 404, 429)


def member_read(membership: Membership, user: User) -> MemberRead:
    return MemberRead(
        user_id=user.id,
        email=user.email,
        name=user.name,
        status=membership.status,
        role=membership.role,
        joined_at=membership.joined_at,
        last_active=membership.last_active,
    )


def loop_read(
    loop: Loop, role: str, members: list[tuple[Membership, User]], base_url: str, viewer_id: str
) -> LoopRead:
    # Member details are for the loop's managers; a plain member sees only their own entry.
    visible = members if role in ("creator", "admin") else [m for m in members if m[1].id == viewer_id]
    viewing_only = role == "viewer"
    return LoopRead(
        id=loop.id,
        name=loop.name,
        description=loop.description,
        icon=loop.icon,
        creator_id=loop.creator_id,
        role=role,
        members=[member_read(m, u) for m, u in visible],
        member_count=sum(1 for m, _ in members if m.status == "active"),
        pending_count=sum(1 for m, _ in members if m.status == "pending"),
        invite_code=None if viewing_only else loop.invite_code,
        join_url=None if viewing_only else join_url(base_url, loop.invite_code),
        qr_code_url=None if viewing_only else qr_code_url(base_url, loop.invite_code),
        settings=LoopSettings.model_validate(loop.settings or {}),
        created_at=loop.created_at,
        updated_at=loop.updated_at,
    )


async def _present(session: AsyncSession, access: LoopAccess, base_url: str, viewer_id: str) -> LoopRead:
    members = await repository.members_of(session, [access.loop.id])
    return loop_read(access.loop, access.role, members.get(access.loop.id, []), base_url, viewer_id)


@router.post("/loops", status_code=201, responses=error_responses(400, 401, 403, 429))
async def create_loop(
    body: LoopCreate, principal: LoopsWrite, session: WriteSession, state: State, request: Request
) -> Envelope[LoopCreated]:
    """Create a loop; the caller becomes its creator and first active member."""
    access = await service.create(session, creator=principal.user_id, data=body, now=state.clock.now())
    base = public_base_url(request, state.settings)
    loop = await _present(session, access, base, principal.user_id)
    code = access.loop.invite_code
    link = join_url(base, code)
    return ok(
        LoopCreated(
            loop=loop,
            invite_code=code,
            qr_code_base64=qr_data_url(link),
            qr_code_url=qr_code_url(base, code),
            join_url=link,
        ),
        "Loop created successfully with QR code",
    )


@router.get("/loops", responses=error_responses(401, 403, 429))
async def list_loops(
    principal: LoopsRead, session: ReadSession, state: State, request: Request
) -> Envelope[LoopList]:
    """Loops the caller is an active member of, newest first, with the caller's role."""
    pairs = await repository.list_for_member(session, user_id=principal.user_id)
    members = await repository.members_of(session, [loop.id for loop, _ in pairs])
    base = public_base_url(request, state.settings)
    loops = [loop_read(loop, m.role, members.get(loop.id, []), base, principal.user_id) for loop, m in pairs]
    return ok(LoopList(loops=loops, count=len(loops)), "Loops retrieved successfully")


@router.get("/loops/{loop_id}", responses=COMMON_ERRORS)
async def get_loop(
    loop_id: LoopId, principal: LoopsRead, session: ReadSession, state: State, request: Request
) -> Envelope[LoopOne]:
    access = await service.get_access(session, loop_id=loop_id, user_id=principal.user_id)
    loop = await _present(session, access, public_base_url(request, state.settings), principal.user_id)
    return ok(LoopOne(loop=loop), "Loop retrieved successfully")


@router.put("/loops/{loop_id}", responses=COMMON_ERRORS)
async def update_loop(
    loop_id: LoopId,
    body: LoopUpdate,
    principal: LoopsWrite,
    session: WriteSession,
    state: State,
    request: Request,
) -> Envelope[LoopOne]:
    """Change name, description, icon or settings. Only the loop's creator may."""
    access = await service.get_access(session, loop_id=loop_id, user_id=principal.user_id)
    await service.update(session, access=access, data=body, actor_id=principal.user_id, now=state.clock.now())
    loop = await _present(session, access, public_base_url(request, state.settings), principal.user_id)
    return ok(LoopOne(loop=loop), "Loop updated successfully")


@router.get("/loops/{loop_id}/members", responses=COMMON_ERRORS)
async def list_members(loop_id: LoopId, principal: LoopsRead, session: ReadSession) -> Envelope[MemberList]:
    """Members with status, role, join date and last activity. For the loop's creator and admins."""
    await service.get_managed(session, loop_id=loop_id, user_id=principal.user_id)
    rows = (await repository.members_of(session, [loop_id])).get(loop_id, [])
    members = [member_read(m, u) for m, u in rows]
    joined = sorted(m.joined_at for m, _ in rows if m.joined_at is not None)
    created = [
        (m.joined_at - m.created_at).total_seconds() / 86400 for m, _ in rows if m.joined_at is not None
    ]
    return ok(
        MemberList(
            loop_id=loop_id,
            members=members,
            total_count=len(members),
            active_count=sum(1 for m in members if m.status == "active"),
            pending_count=sum(1 for m in members if m.status == "pending"),
            statistics=MemberStatistics(
                avg_join_time_days=round(sum(created) / len(created), 3) if created else None,
                newest_member_joined=joined[-1] if joined else None,
                oldest_member_joined=joined[0] if joined else None,
            ),
        ),
        "Loop members retrieved successfully",
    )


@router.delete("/loops/{loop_id}/members/{user_id}", responses=COMMON_ERRORS)
async def remove_member(
    loop_id: LoopId, user_id: UserId, principal: LoopsWrite, session: WriteSession, state: State
) -> Envelope[MemberRemoved]:
    """Remove a member. The creator cannot be removed; removed members may rejoin with the invite code."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=principal.user_id)
    now = state.clock.now()
    await service.remove_member(session, access=access, user_id=user_id, actor_id=principal.user_id, now=now)
    return ok(
        MemberRemoved(loop_id=loop_id, user_id=user_id, removed_at=now),
        "Member removed from loop successfully",
    )


@qr_router.get(
    "/qr/{invite_code}.png",
    response_class=HTTPResponse,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "QR code of the loop's join link",
        },
        **error_responses(404),
    },
)
async def loop_qr_code(
    invite_code: Annotated[
        str,
        Path(
            description="The 6-character code",
            json_schema_extra={"pattern": "^[A-Za-z0-9]{3}-?[A-Za-z0-9]{3}$"},
        ),
    ],
    session: ReadSession,
    state: State,
    request: Request,
) -> HTTPResponse:
    """The join link of a loop as a PNG QR code (public: the code itself is the secret being shared)."""
    code = invite_code.replace("-", "").upper()
    async with guarded_lookup(state, request):
        if not re.fullmatch("[A-Z0-9]{6}", code) or not await repository.invite_code_taken(session, code):
            raise NotFound("Invite code not found")
    png = qr_png(join_url(public_base_url(request, state.settings), code))
    # The link in the image follows the address the caller used: no shared cache may hand it to others.
    return HTTPResponse(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.post("/loops/{loop_id}/invitations", status_code=201, responses=COMMON_ERRORS)
async def invite_members(
    loop_id: LoopId,
    body: InvitationsCreate,
    principal: LoopsWrite,
    session: WriteSession,
    state: State,
    request: Request,
) -> Envelope[InvitationsSent]:
    """Email people a link to join; they show as pending members until they accept."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=principal.user_id)
    outcomes = await invitations.invite(
        session,
        loop=access.loop,
        emails=body.emails,
        invited_by=principal.user_id,
        inviter_name=principal.name,
        base_url=state.settings.link_base_url,  # never the caller's Host: the link goes in an email
        settings=state.settings,
        now=state.clock.now(),
        role=body.role,
    )
    items = [InvitationOutcome(email=o.email, status=o.status, expires_at=o.expires_at) for o in outcomes]
    return ok(InvitationsSent(loop_id=loop_id, invitations=items, count=len(items)), "Invitations sent")


@router.post("/loops/{loop_id}/invite-code", responses=COMMON_ERRORS)
async def regenerate_invite_code(
    loop_id: LoopId, principal: LoopsWrite, session: WriteSession, state: State, request: Request
) -> Envelope[InviteCode]:
    """Replace the loop's invite code; the old code, link and QR code stop working at once."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=principal.user_id)
    code = await service.regenerate_invite_code(
        session, access=access, actor_id=principal.user_id, now=state.clock.now()
    )
    base = public_base_url(request, state.settings)
    link = join_url(base, code)
    return ok(
        InviteCode(
            loop_id=loop_id,
            invite_code=code,
            join_url=link,
            qr_code_url=qr_code_url(base, code),
            qr_code_base64=qr_data_url(link),
        ),
        "Invite code regenerated",
    )


@router.put("/loops/{loop_id}/members/{user_id}", responses=COMMON_ERRORS)
async def update_member(
    loop_id: LoopId,
    user_id: UserId,
    body: MemberRoleUpdate,
    principal: LoopsWrite,
    session: WriteSession,
    state: State,
) -> Envelope[MemberOne]:
    """Give a member another role: admin (may create requests and see all of the loop's; only the creator
    gives or takes it), member (answers), or viewer (reads the loop's requests and answers, nothing more).
    Admins may switch people between member and viewer."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=principal.user_id)
    await service.set_role(session, access=access, user_id=user_id, role=body.role, now=state.clock.now())
    rows = (await repository.members_of(session, [loop_id])).get(loop_id, [])
    member = next(member_read(m, u) for m, u in rows if u.id == user_id)
    return ok(MemberOne(loop_id=loop_id, member=member), "Member updated successfully")
