"""Account shapes: sign-up and sign-in bodies, the signed-in user, API keys."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from openhitl.kit.bodies import NOT_BLANK_TEXT, WHITESPACE, JsonBody

Permission = Literal[
    "loops:read",
    "loops:write",
    "requests:read",
    "requests:write",
    "api_keys:read",
    "api_keys:write",
    "webhooks:read",
    "webhooks:write",
]


# What accounts.service.clean_email accepts (it trims surrounding space first).
_ADDRESS_CHARACTER = f"[^@{WHITESPACE}\\u0000]"
EMAIL_PATTERN = f"^[{WHITESPACE}]*{_ADDRESS_CHARACTER}{{1,64}}@{_ADDRESS_CHARACTER}+\\.{_ADDRESS_CHARACTER}+[{WHITESPACE}]*$"
# A loop's code as people type it: six letters or digits, with any spaces and dashes.
INVITE_CODE_PATTERN = f"^[{WHITESPACE}-]*([A-Za-z0-9][{WHITESPACE}-]*){{6}}$"
InviteCode = Annotated[str, Field(json_schema_extra={"pattern": INVITE_CODE_PATTERN})]
Email = Annotated[str, Field(json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": 320})]


class SignUp(JsonBody):
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": NOT_BLANK_TEXT})
    email: Email
    password: str = Field(json_schema_extra={"minLength": 8, "maxLength": 1000})
    invite_code: InviteCode | None = Field(None, description="A loop's invite code: sign up and join it")
    invitation: str | None = Field(None, description="The token of an email invitation")
    next: str | None = Field(None, description="Local path to go to afterwards (form posts)")


class SignIn(JsonBody):
    email: str
    password: str
    next: str | None = None


class EmailLinkRequest(JsonBody):
    email: Email
    next: str | None = None


class UserRead(BaseModel):
    id: str
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class SignedIn(BaseModel):
    user: UserRead
    csrf_token: str = Field(
        description="Send it as X-CSRF-Token with every changing request made with the cookie"
    )
    joined_loop_ids: list[str] = Field(default_factory=list)


class Me(BaseModel):
    user: UserRead
    auth: Literal["api_key", "session"]
    api_key_id: str | None
    permissions: list[str]
    csrf_token: str | None


class ApiKeyCreate(JsonBody):
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 100})
    permissions: list[Permission] | None = Field(
        None, description="Defaults to loops and requests read/write"
    )
    expires_at: datetime | None = None


class ApiKeyRead(BaseModel):
    id: str
    name: str
    key_prefix: str
    permissions: list[str]
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    api_key: ApiKeyRead
    key: str = Field(description="The key itself. It is shown once, now; only its digest is kept")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyRead]
    count: int


class ApiKeyOne(BaseModel):
    api_key: ApiKeyRead


class Notice(BaseModel):
    detail: str
