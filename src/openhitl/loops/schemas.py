"""Loop request and response shapes (HITL.sh §3.2, §4.1, §4.2)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool

from openhitl.accounts.schemas import Email
from openhitl.kit.bodies import NOT_BLANK_TEXT, JsonBody


def _name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 100:
        raise ValueError("name must be between 1 and 100 characters")
    return value


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > 500:
        raise ValueError("description must be at most 500 characters")
    return value


def _icon(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 100:
        raise ValueError("icon must be between 1 and 100 characters")
    return value


LoopName = Annotated[
    str,
    AfterValidator(_name),
    Field(json_schema_extra={"minLength": 1, "maxLength": 100, "pattern": NOT_BLANK_TEXT}),
]
LoopDescription = Annotated[
    str | None, AfterValidator(_description), Field(json_schema_extra={"maxLength": 500})
]
LoopIcon = Annotated[
    str,
    AfterValidator(_icon),
    Field(json_schema_extra={"minLength": 1, "maxLength": 100, "pattern": NOT_BLANK_TEXT}),
]


class LoopSettings(BaseModel):
    members_can_create_requests: StrictBool = False
    admins_can_create_requests: StrictBool = True


class LoopCreate(JsonBody):
    name: LoopName
    description: LoopDescription = None
    icon: LoopIcon = Field(description="A named icon such as shield-check, or an emoji")
    settings: LoopSettings | None = None


class LoopUpdate(JsonBody):
    name: LoopName | None = None
    description: LoopDescription = None
    icon: LoopIcon | None = None
    settings: LoopSettings | None = None


class MemberRead(BaseModel):
    user_id: str
    email: str
    name: str
    status: str
    role: str
    joined_at: datetime | None
    last_active: datetime | None


class LoopRead(BaseModel):
    id: str
    name: str
    description: str
    icon: str
    creator_id: str
    role: str = Field(description="The caller's role in this loop")
    members: list[MemberRead]
    member_count: int
    pending_count: int
    invite_code: str | None = Field(
        description="null for viewers: the code makes whoever holds it a member, and a viewer may not bring "
        "people in, or themselves back as a member"
    )
    join_url: str | None
    qr_code_url: str | None
    settings: LoopSettings
    created_at: datetime
    updated_at: datetime


class LoopCreated(BaseModel):
    loop: LoopRead
    invite_code: str
    qr_code_base64: str
    qr_code_url: str
    join_url: str


class LoopOne(BaseModel):
    loop: LoopRead


class LoopList(BaseModel):
    loops: list[LoopRead]
    count: int


class DeletedData(BaseModel):
    members_removed: int
    requests_deleted: int
    responses_deleted: int
    requests_cancelled: list[str] = Field(
        description="Ids of the open requests cancelled (with their events and webhooks) before the delete"
    )


class LoopDeleted(BaseModel):
    loop_id: str
    deleted_at: datetime
    deleted_data: DeletedData


class MemberStatistics(BaseModel):
    avg_join_time_days: float | None
    newest_member_joined: datetime | None
    oldest_member_joined: datetime | None


class MemberList(BaseModel):
    loop_id: str
    members: list[MemberRead]
    total_count: int
    active_count: int
    pending_count: int
    statistics: MemberStatistics


class MemberRemoved(BaseModel):
    loop_id: str
    user_id: str
    removed_at: datetime


class InvitationsCreate(JsonBody):
    emails: list[Email] = Field(
        description="Up to 50 addresses; each gets a 7-day link to join",
        json_schema_extra={"minItems": 1, "maxItems": 50},
    )
    role: Literal["member", "viewer"] = Field(
        "member", description="The role the invitees join with: member (answers) or viewer (reads only)"
    )


class InvitationOutcome(BaseModel):
    email: str
    status: str = Field(description="invited, or already_member")
    expires_at: datetime | None


class InvitationsSent(BaseModel):
    loop_id: str
    invitations: list[InvitationOutcome]
    count: int


class InviteCode(BaseModel):
    loop_id: str
    invite_code: str
    join_url: str
    qr_code_url: str
    qr_code_base64: str


Role = Literal["admin", "member", "viewer"]


class MemberRoleUpdate(JsonBody):
    role: Role = Field(
        description="admin (manages the loop; only the creator gives or takes it), member (answers), or "
        "viewer (reads the loop's requests and answers, nothing more)"
    )


class MemberOne(BaseModel):
    loop_id: str
    member: MemberRead
