"""The "try it" form on a loop's page: a request sent into the loop as the API sends one, then followed live.

The form's fields are the create body's, read into `RequestCreate` and created by `requests.service` as the
API creates; what is wrong is said beside the field it concerns, in the API's words.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.kit.errors import ApiError, BadRequest, NotFound
from openhitl.kit.validation import describe_error
from openhitl.loops.service import LoopAccess
from openhitl.requests import presenter, repository
from openhitl.requests import service as requests_service
from openhitl.requests.models import TERMINAL_STATUSES
from openhitl.requests.response_configs import RESPONSE_TYPES
from openhitl.requests.schemas import (
    ContentType,
    Platform,
    Priority,
    ProcessingType,
    RequestCreate,
    RequestRead,
)
from openhitl.requests.states import CREATED, EVENTS, UPDATED

# A response_config and a default_response that fit each response type: the form starts from these.
EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "text": ({"min_length": 1, "max_length": 2000}, "No answer given"),
    "single_select": (
        {"options": [{"value": "approve", "label": "Approve"}, {"value": "reject", "label": "Reject"}]},
        "reject",
    ),
    "multi_select": ({"options": ["Spam", "Abuse", "Off topic"], "min_selections": 1}, []),
    "rating": ({"scale_min": 1, "scale_max": 5, "labels": {"1": "Poor", "5": "Great"}}, 3),
    "number": ({"min_value": 0, "max_value": 1000, "decimal_places": 2, "prefix": "$"}, 0),
    "boolean": ({"true_label": "Approve", "false_label": "Reject"}, False),
}
assert set(EXAMPLES) == set(RESPONSE_TYPES), "an example for every response type"
FIRST_TYPE = "single_select"
SAMPLE_TEXT = "Approve the refund of **$120** for order A-1001?\n\n- Customer since 2021\n- First refund"
CHOICES = {
    "processing_type": get_args(ProcessingType),
    "type": get_args(ContentType),
    "priority": get_args(Priority),
    "response_type": RESPONSE_TYPES,
    "platform": get_args(Platform),
}
FIELDS = tuple(RequestCreate.model_fields)
TEXT_LIMIT = 100_000  # the form's longest field; the API's own limits are checked after
# The events of a request that change what its result panel shows: its status changes, its fields changed.
FOLLOWED_EVENTS = (*(event for event in EVENTS if event != CREATED), UPDATED)


def shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def examples() -> dict[str, dict[str, str]]:
    """Each type's example as the form's two boxes hold them (the page's script swaps them in)."""
    return {
        kind: {
            "response_config": json.dumps(config, indent=2, ensure_ascii=False),
            "default_response": shown(default),
        }
        for kind, (config, default) in EXAMPLES.items()
    }


def blank_form() -> dict[str, str]:
    example = examples()[FIRST_TYPE]
    return {
        "request_text": SAMPLE_TEXT,
        "title": "",
        "processing_type": "time-sensitive",
        "type": "markdown",
        "image_url": "",
        "priority": "medium",
        "response_type": FIRST_TYPE,
        "response_config": example["response_config"],
        "default_response": example["default_response"],
        "timeout_seconds": "3600",
        "context": "",
        "tags": "",
        "platform": "web_portal",
        "platform_version": "",
        "callback_url": "",
    }


def form_context(access: LoopAccess, values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the loop page's form needs: whether this viewer may send, and the fields (as typed, if given)."""
    return {
        "try_allowed": requests_service.creates_requests(access.role, access.loop.settings),
        "try_values": {**blank_form(), **(values or {})},
        "try_errors": {},
        "try_choices": CHOICES,
        "try_examples": examples(),
    }


class FormProblems(BadRequest):
    """Fields the form could not turn into a request, each with what is wrong with it."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        count = sum(len(messages) for messages in fields.values())
        super().__init__("Check the fields marked below", f"{count} problem{'' if count == 1 else 's'} found")
        self.fields = fields


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


def _json_field(text: str) -> Any:
    """A default_response as typed: JSON when it reads as JSON ("reject", 3, false, ["a"]), else plain text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def body_values(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's fields as the API's create body, and the fields that could not be read (bad JSON)."""
    problems: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in FIELDS:
        text = form.get(name, "")
        if len(text) > TEXT_LIMIT:
            problems[name] = [f"{name} must be at most {TEXT_LIMIT} characters"]
            continue
        if name in ("request_text", *CHOICES):
            values[name] = text
        elif name in ("response_config", "context"):
            if text.strip():
                try:
                    values[name] = json.loads(text)
                except ValueError as exc:
                    where = (
                        f" (line {exc.lineno}, column {exc.colno})"
                        if isinstance(exc, json.JSONDecodeError)
                        else ""
                    )
                    problems[name] = [f"{name} is not valid JSON: {getattr(exc, 'msg', exc)}{where}"]
        elif name == "default_response":
            if text.strip():
                values[name] = _json_field(text.strip())
        elif name == "timeout_seconds":
            text = text.strip()
            if text:
                values[name] = int(text) if _WHOLE_NUMBER.fullmatch(text) else text
        elif name == "tags":
            values[name] = [tag.strip() for tag in text.split(",") if tag.strip()] or None
        else:
            values[name] = text.strip() or None
    return values, problems


def read_form(form: Mapping[str, str]) -> RequestCreate:
    """The form as the create body, checked by the API's model; every field's problems at once."""
    values, problems = body_values(form)
    unreadable = set(problems)  # left out of the body: the model would only add that they are missing
    try:
        body = RequestCreate.model_validate({k: v for k, v in values.items() if k not in unreadable})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = error.get("loc") or ("",)
            name = str(loc[0]) if loc[0] in FIELDS else ""
            if name not in unreadable:
                # Located in the body, as the API's own errors are: the same words.
                located = {**error, "loc": ("body", *error["loc"])}
                problems.setdefault(name, []).append(describe_error(located))
        raise FormProblems(problems) from exc
    if problems:
        raise FormProblems(problems)
    return body


_LEADING_NAME = re.compile(r"[a-z_]+")


def field_of(exc: ApiError) -> str | None:
    """The field a refusal of the create is about: the API's messages start with the field's name."""
    if exc.msg == "Invalid response configuration":
        return "response_config"
    detail = exc.data if isinstance(exc.data, str) else exc.msg
    found = _LEADING_NAME.match(detail)
    return found.group(0) if found and found.group(0) in FIELDS else None


def refusal(exc: ApiError) -> dict[str, Any]:
    """A refused create for the page: problems beside their fields, anything else above the form."""
    if isinstance(exc, FormProblems):
        fields = exc.fields
    elif (name := field_of(exc)) is not None:
        detail = exc.data if isinstance(exc.data, str) else ""
        message = detail if exc.msg == "Validation failed" else f"{exc.msg}: {detail}" if detail else exc.msg
        fields = {name: [message]}
    else:
        return {"try_error": exc.msg, "try_error_detail": exc.data if isinstance(exc.data, str) else None}
    general = fields.get("", [])
    return {
        "try_errors": {name: messages for name, messages in fields.items() if name},
        "try_error": "The request was not sent. Check the fields marked below.",
        "try_error_detail": "; ".join(general) or None,
    }


@dataclass(frozen=True)
class Tried:
    """A request sent from the form, as its page follows it: its detail, and who holds it."""

    request: RequestRead
    claimed_by_name: str | None
    after: int = 0  # the event id the page's live feed resumes after
    events = FOLLOWED_EVENTS

    @property
    def closed(self) -> bool:
        return self.request.status in TERMINAL_STATUSES


async def tried(
    session: AsyncSession, *, loop_id: str, request_id: str, user_id: str, after: int = 0
) -> Tried:
    """A request of this loop the viewer may read, for the result panel."""
    readable = await requests_service.get_readable(session, request_id=request_id, user_id=user_id)
    if readable.loop.id != loop_id:
        raise NotFound("Request not found")
    detail = await presenter.detail(
        session, readable.request, loop_name=readable.loop.name, responder=readable.responder
    )
    name = None
    if detail.status == "claimed" and detail.claimed_by:
        users = await repository.users_by_id(session, {detail.claimed_by})
        name = users[detail.claimed_by].name if detail.claimed_by in users else None
    return Tried(request=detail, claimed_by_name=name, after=after)
