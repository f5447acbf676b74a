"""Account shapes: sign-up and sign-in bodies, the signed-in user, API keys."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

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


class SignUp(BaseModel):
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 200})
    email: str = Field(json_schema_extra={"maxLength": 320})
    password: str = Field(json_schema_extra={"minLength": 8, "maxLength": 1000})
    invite_code: str | None = Field(None, description="A loop's invite code: sign up and join it")
    invitation: str | None = Field(None, description="The token of an email invitation")
    next: str | None = Field(None, description="Local path to go to afterwards (form posts)")


class SignIn(BaseModel):
    email: str
    password: str
    next: str | None = None


class EmailLinkRequest(BaseModel):
    email: str
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


class ApiKeyCreate(BaseModel):
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
