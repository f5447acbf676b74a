"""The baseline: a bare FastAPI endpoint that reads a create-request body and answers OpenHITL's 201 envelope."""

import os
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="bare create-request baseline")


class RequestCreate(BaseModel):
    """The same fields and types as openhitl.requests.schemas.RequestCreate, without the custom checks."""

    processing_type: Literal["time-sensitive", "deferred"]
    type: Literal["markdown", "image"]
    priority: Literal["low", "medium", "high", "critical"] = "medium"
    request_text: str
    title: str | None = None
    image_url: str | None = None
    context: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    response_type: Literal["text", "single_select", "multi_select", "rating", "number", "boolean"]
    response_config: dict[str, Any]
    default_response: Any
    platform: str = "api"
    platform_version: str | None = None
    callback_url: str | None = None
    tags: list[str] | None = None


class RequestCreated(BaseModel):
    request_id: str
    id: str
    status: Literal["pending", "claimed", "completed", "timeout", "cancelled"]
    processing_type: Literal["time-sensitive", "deferred"]
    type: Literal["markdown", "image"]
    priority: Literal["low", "medium", "high", "critical"]
    timeout_at: datetime
    broadcasted_to: int
    notifications_sent: int
    polling_url: str
    created_at: datetime


class Envelope(BaseModel):
    error: bool = False
    msg: str
    data: RequestCreated


@app.post("/v1/api/loops/{loop_id}/requests", status_code=201)
async def create_request(loop_id: str, body: RequestCreate) -> Envelope:
    now = datetime.now(UTC)
    request_id = os.urandom(12).hex()
    return Envelope(
        msg="Request created and broadcasted successfully",
        data=RequestCreated(
            request_id=request_id,
            id=request_id,
            status="pending",
            processing_type=body.processing_type,
            type=body.type,
            priority=body.priority,
            timeout_at=now + timedelta(seconds=body.timeout_seconds or 3600),
            broadcasted_to=1,
            notifications_sent=0,
            polling_url=f"/v1/api/requests/{request_id}",
            created_at=now,
        ),
    )
