"""Request rules for callers: create, update, cancel, feedback, and who may do each."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.config import Settings
from openhitl.delivery import fanout
from openhitl.kit.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from openhitl.kit.ids import new_id
from openhitl.kit.netguard import UnsafeTarget, check_url
from openhitl.kit.prepared import Statements, execute_soon, write_deferred
from openhitl.kit.state import AppState
from openhitl.kit.work import WritingSession
from openhitl.loops import audience
from openhitl.loops.models import READER_ROLES, Loop
from openhitl.loops.service import loop_setting, refuse_viewer
from openhitl.realtime.events import append_event
from openhitl.requests import lifecycle, repository
from openhitl.requests.answers import ResponseDataError, validate_default_response
from openhitl.requests.display import TITLE_LENGTH, derived_title
from openhitl.requests.models import PRIORITY_RANK, Feedback, Request
from openhitl.requests.response_configs import ResponseConfig, ResponseConfigError, parse_config
from openhitl.requests.schemas import RequestCreate, RequestUpdate

# Columns a request gets later in its life (claimed, answered, cancelled); create writes every other one.
LATER_COLUMNS = frozenset(
    {
        "claimed_by",
        "claimed_at",
        "claim_expires_at",
        "response_by",
        "response_at",
        "response_data",
        "response_time_seconds",
        "claim_seconds",
        "cancelled_at",
        "cancel_reason",
        "previous_status",
    }
)
REQUEST_COLUMNS = tuple(c.key for c in Request.__table__.columns if c.key not in LATER_COLUMNS)
_INSERT_REQUEST = Statements(lambda: insert(cast(Table, Request.__table__)), keys=REQUEST_COLUMNS)
FEEDBACK_SCORES = ("rating", "accuracy", "timeliness", "helpfulness")
FEEDBACK_CATEGORIES = ("positive", "constructive", "issue")
# Fields a PATCH may change; the rest of a request is fixed once created.
UPDATABLE = (
    "processing_type",
    "type",
    "priority",
    "request_text",
    "title",
    "image_url",
    "context",
    "timeout_seconds",
    "response_type",
    "response_config",
    "default_response",
    "platform",
    "platform_version",
    "callback_url",
    "tags",
)


@dataclass(frozen=True)
class Created:
    values: Mapping[str, Any]  # the request's columns (see presenter.created)
    replayed: bool


@dataclass(frozen=True)
class Readable:
    request: Request
    loop: Loop
    role: str | None  # the reader's role in the loop, None if they only created the request
    responder: User | None = None  # who answered it, read with it (for the detail)


def _http_url(value: str, field: str) -> None:
    if not value.lower().startswith(("http://", "https://")):
        raise ValidationFailed(f"{field} must be a valid http or https URL")


def check_content(values: dict[str, Any], settings: Settings) -> tuple[ResponseConfig, int]:
    """Rules that span fields or depend on settings (hitl-api.md §3.3.1, §5). Returns config and timeout."""
    text = values["request_text"]
    if len(text) > settings.request_text_max_length:
        raise ValidationFailed(
            f"request_text must be between 1 and {settings.request_text_max_length} characters"
        )
    if values["type"] == "image" and not values.get("image_url"):
        raise ValidationFailed("image_url is required when type is 'image'")
    if values.get("image_url"):
        _http_url(values["image_url"], "image_url")
    if values.get("context") is not None:
        size = len(json.dumps(values["context"], separators=(",", ":")).encode())
        if size > settings.context_max_bytes:
            raise ValidationFailed(f"context must be at most {settings.context_max_bytes} bytes of JSON")
    timeout = values.get("timeout_seconds")
    if values["processing_type"] == "time-sensitive":
        if timeout is None:
            raise ValidationFailed("timeout_seconds is required for time-sensitive requests")
        upper = settings.timeout_seconds_max
    else:
        upper = max(settings.timeout_seconds_max, settings.deferred_default_timeout_seconds)
        if timeout is None:
            timeout = settings.deferred_default_timeout_seconds
    if not settings.timeout_seconds_min <= timeout <= upper:
        raise ValidationFailed(f"timeout_seconds must be between {settings.timeout_seconds_min} and {upper}")
    if values.get("callback_url"):
        try:
            check_url(values["callback_url"], allow_private=settings.callback_allow_private)
        except UnsafeTarget as exc:
            raise ValidationFailed(f"callback_url {exc}") from exc
    try:
        config = parse_config(values["response_type"], values["response_config"])
    except ResponseConfigError as exc:
        raise BadRequest("Invalid response configuration", str(exc)) from exc
    if values.get("default_response") is None:
        raise ValidationFailed("default_response is required")
    try:
        validate_default_response(config, values["default_response"])
    except ResponseDataError as exc:
        raise ValidationFailed(str(exc)) from exc
    return config, timeout


def _title(values: dict[str, Any]) -> str:
    if values.get("title"):
        return str(values["title"]).strip()[:TITLE_LENGTH]
    return derived_title(values["request_text"])


def _body_digest(loop_id: str, body: RequestCreate) -> str:
    canonical = json.dumps([loop_id, body.model_dump(mode="json")], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def creates_requests(role: str | None, loop_settings: Any) -> bool:
    """Whether a member of the loop with this role (None: not a member) may send requests into it."""
    if role is None or role == "viewer":
        return False
    if role == "creator":
        return True
    if role == "admin" and loop_setting(loop_settings, "admins_can_create_requests", True):
        return True
    return bool(loop_setting(loop_settings, "members_can_create_requests"))


def _check_may_create(access: repository.CreateAccess | None) -> repository.CreateAccess:
    """Refuses a caller who may not create requests in the loop."""
    if access is None:
        raise NotFound("Loop not found")
    if creates_requests(access.role, access.settings):
        return access
    raise Forbidden("Only loop creators and admins can create requests")


async def _replay(session: WritingSession, *, user_id: str, key: str, digest: str) -> Created:
    existing = await repository.get_idempotency_key(session, user_id=user_id, key=key)
    if existing is None:  # only if the claim's holder rolled back between the two statements
        raise Conflict("Idempotency-Key is being used by another request", "Retry with the same key")
    if existing.body_digest != digest:
        raise Conflict(
            "Idempotency-Key reused with a different request",
            "Send a new Idempotency-Key for a different request body or loop",
        )
    await write_deferred(session)  # the first request may be of this very group commit, not yet written
    found = await repository.get_with_loop(session, existing.request_id)
    if found is None:  # the first request was deleted with its loop
        raise Conflict(
            "Idempotency-Key belongs to a request that no longer exists", "Send a new Idempotency-Key"
        )
    request = found[0]
    return Created({column: getattr(request, column) for column in REQUEST_COLUMNS}, replayed=True)


async def create(
    session: WritingSession,
    *,
    loop_id: str,
    body: RequestCreate,
    user_id: str,
    api_key_id: str | None,
    idempotency_key: str | None,
    settings: Settings,
    now: datetime,
) -> Created:
    access = _check_may_create(await repository.create_access(session, loop_id=loop_id, user_id=user_id))
    values = body.model_dump()
    _, timeout = check_content(values, settings)
    request_id = new_id()
    row = {
        "id": request_id,
        "loop_id": loop_id,
        "creator_id": user_id,
        "api_key_id": api_key_id,
        "processing_type": body.processing_type,
        "content_type": body.type,
        "priority": body.priority,
        "priority_rank": PRIORITY_RANK[body.priority],
        "title": _title(values),
        "request_text": body.request_text,
        "image_url": body.image_url,
        "context": body.context,
        "platform": body.platform,
        "platform_version": body.platform_version,
        "response_type": body.response_type,
        "response_config": body.response_config,
        "default_response": body.default_response,
        "timeout_seconds": timeout,
        "timeout_at": now + timedelta(seconds=timeout),
        "callback_url": body.callback_url,
        "tags": body.tags,
        "status": "pending",
        "broadcast_count": access.members,
        "notifications_sent": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    if idempotency_key:
        # Claimed before the request is written (the key's reference to it is checked at commit): a key
        # already claimed, by an earlier create or by one committing meanwhile, answers with its request.
        digest = _body_digest(loop_id, body)
        claimed = await repository.claim_idempotency_key(
            session, user_id=user_id, key=idempotency_key, body_digest=digest, request_id=request_id, now=now
        )
        if not claimed:
            return await _replay(session, user_id=user_id, key=idempotency_key, digest=digest)
    # The one way a request is inserted: with the other creates of its group commit, in one statement just
    # before their commit (kit/batch.py), or at once outside one. Nothing in this unit of work reads the
    # row back before then (a replay writes the deferred rows first).
    await execute_soon(session, _INSERT_REQUEST, row)
    await append_event(
        session,
        type="request.created",
        at=now,
        loop_id=loop_id,
        request_id=request_id,
        actor_id=user_id,
        data={"priority": body.priority, "processing_type": body.processing_type},
    )
    if _reaches_anyone(access, row):  # most creates queue no webhook, push or email: no lookups then
        # Nothing in the database adds to a new request: the object is the row as inserted.
        await fanout.request_event(
            session, event="request.created", request=Request(**row), actor_id=user_id, now=now
        )
    return Created(row, replayed=False)


async def create_soon(
    state: AppState,
    *,
    loop_id: str,
    body: RequestCreate,
    user_id: str,
    api_key_id: str | None,
    idempotency_key: str | None,
) -> Created:
    """`create` in the next group commit, with the creates arriving together (kit/batch.py); returns once
    it has committed. The API's create route and the dashboard's "try it" form both create this way."""
    job = partial(
        create,
        loop_id=loop_id,
        body=body,
        user_id=user_id,
        api_key_id=api_key_id,
        idempotency_key=idempotency_key,
        settings=state.settings,
        now=state.clock.now(),
    )
    return await state.db.group_commit.run(job)


def _reaches_anyone(access: repository.CreateAccess, row: Mapping[str, Any]) -> bool:
    """Whether a new request may cause a webhook, push or email (delivery/fanout.py decides which)."""
    return audience.new_request_reaches(
        has_endpoints=access.has_endpoints,
        has_push=access.has_push,
        has_email=access.has_email,
        processing_type=row["processing_type"],
        priority=row["priority"],
    )


async def get_readable(session: AsyncSession, *, request_id: str, user_id: str) -> Readable:
    """The request if this user created it, or manages or views its loop; members of the loop get a 403,
    others a 404."""
    found = await repository.get_for_reader(session, request_id=request_id, user_id=user_id)
    if found is None:
        raise NotFound("Request not found")
    request, loop, role = found.request, found.loop, found.role
    if request.creator_id == user_id or role in READER_ROLES:
        return Readable(request, loop, role, found.responder)
    if role is not None:
        raise Forbidden("Access denied to this request")
    raise NotFound("Request not found")


async def get_changeable(session: AsyncSession, *, request_id: str, user_id: str) -> Readable:
    """`get_readable`, for a change (update, cancel, feedback): a viewer only reads, unless the request is
    their own (sent while they could)."""
    readable = await get_readable(session, request_id=request_id, user_id=user_id)
    if readable.request.creator_id != user_id:
        refuse_viewer(readable.role)
    return readable


async def cancel(
    session: WritingSession, *, readable: Readable, actor_id: str, reason: str | None, now: datetime
) -> Request:
    cancelled = await lifecycle.apply(
        session,
        lifecycle.CANCEL,
        request_id=readable.request.id,
        now=now,
        actor_id=actor_id,
        values=lifecycle.cancelled(now, reason),
        event_data={"reason": reason} if reason else None,
    )
    if cancelled is None:
        status = await repository.get_status(session, readable.request.id)
        raise BadRequest("Request cannot be cancelled in current state", f"Request is {status}")
    return cancelled


async def update(
    session: WritingSession,
    *,
    readable: Readable,
    body: RequestUpdate,
    actor_id: str,
    settings: Settings,
    now: datetime,
) -> Request:
    changes = {name: getattr(body, name) for name in body.model_fields_set if name in UPDATABLE}
    if not changes and body.status is None:
        raise BadRequest(
            "Provide at least one field to update", f"Updatable fields: {', '.join(UPDATABLE)}, status"
        )
    current = readable.request
    if changes and not creates_requests(readable.role, readable.loop.settings):
        # Its creator may still read and cancel it; changing it takes the right to send requests there now.
        raise Forbidden(
            "You can no longer change requests in this loop", "You may still read and cancel the request"
        )
    if current.status != "pending":
        raise BadRequest("Only pending requests can be updated", f"Request is {current.status}")
    if changes:
        merged = {name: getattr(current, "content_type" if name == "type" else name) for name in UPDATABLE}
        if "timeout_seconds" not in changes and "processing_type" in changes:
            merged["timeout_seconds"] = None  # a new processing type brings its own default
        merged.update(changes)
        for required in ("processing_type", "type", "priority", "request_text", "response_type", "platform"):
            if merged.get(required) is None:
                raise ValidationFailed(f"{required} cannot be removed")
        if "response_type" in changes and "response_config" not in changes:
            raise ValidationFailed("response_config is required when response_type changes")
        if merged.get("response_config") is None:
            raise ValidationFailed("response_config is required")
        _, timeout = check_content(merged, settings)
        values = {("content_type" if k == "type" else k): v for k, v in changes.items()}
        if "priority" in changes:
            values["priority_rank"] = PRIORITY_RANK[changes["priority"]]
        if "title" in changes:
            values["title"] = _title(merged)
        elif "request_text" in changes and current.title == _title({"request_text": current.request_text}):
            values["title"] = _title(
                {"request_text": merged["request_text"]}
            )  # the title was derived: follow
        values["timeout_seconds"] = timeout
        values["timeout_at"] = current.created_at + timedelta(seconds=timeout)
        if values["timeout_at"] <= now:
            raise ValidationFailed("timeout_seconds would put timeout_at in the past")
        # Checked against the request as read: a change (or an answer) landing meanwhile makes this one lose.
        changed = await lifecycle.update_pending(
            session, request_id=current.id, now=now, actor_id=actor_id, values=values, version=current.version
        )
        if changed is None:
            status = await repository.get_status(session, current.id)
            if status == "pending":
                raise Conflict(
                    "Request changed while you were updating it",
                    "Read the request again and send your change against its current fields",
                )
            raise BadRequest("Only pending requests can be updated", f"Request is {status}")
        current = changed
    if body.status == "cancelled":
        current = await cancel(
            session,
            readable=Readable(current, readable.loop, readable.role),
            actor_id=actor_id,
            reason=None,
            now=now,
        )
    return current


def check_feedback(feedback: dict[str, Any]) -> None:
    if not feedback:
        raise ValidationFailed("feedback must not be empty")
    for name in FEEDBACK_SCORES:
        if name in feedback:
            value = feedback[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
                raise BadRequest(
                    "Rating values must be between 1 and 5", f"{name} must be a number from 1 to 5"
                )
    comment = feedback.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise ValidationFailed("comment must be a string")
        if len(comment) > 1000:
            raise BadRequest("Comment exceeds maximum length of 1000 characters")
    for name in ("would_recommend", "follow_up_needed"):
        if name in feedback and not isinstance(feedback[name], bool):
            raise ValidationFailed(f"{name} must be a boolean")
    tags = feedback.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise ValidationFailed("tags must be an array of strings")
    if "category" in feedback and feedback["category"] not in FEEDBACK_CATEGORIES:
        raise ValidationFailed(f"category must be one of: {', '.join(FEEDBACK_CATEGORIES)}")
    if len(json.dumps(feedback)) > 20_000:
        raise ValidationFailed("feedback must be at most 20000 bytes of JSON")


async def add_feedback(
    session: WritingSession, *, readable: Readable, feedback: dict[str, Any], user_id: str, now: datetime
) -> Feedback:
    if readable.request.status != "completed":
        raise BadRequest(
            "Feedback can only be added to completed requests", f"Request is {readable.request.status}"
        )
    check_feedback(feedback)
    entry = Feedback(
        id=new_id(), request_id=readable.request.id, user_id=user_id, feedback=feedback, created_at=now
    )
    session.add(entry)
    await session.flush()
    await append_event(
        session,
        type="request.feedback",
        at=now,
        loop_id=readable.loop.id,
        request_id=readable.request.id,
        actor_id=user_id,
        data={"feedback_id": entry.id},
    )
    return entry
