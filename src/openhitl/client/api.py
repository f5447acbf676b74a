"""Every call of the OpenHITL API, as `Call` builders, and the `Endpoints` both clients inherit."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypedDict

from pydantic import TypeAdapter

from openhitl.client.core import LONG_POLL_MARGIN, Call, Endpoint, api_path, checked_id
from openhitl.client.models import (
    ApiKey,
    Cancelled,
    CreatedApiKey,
    CreatedLoop,
    CreatedRequest,
    Feedback,
    Loop,
    Members,
    Request,
    RequestPage,
    Webhook,
)

ResponseType = Literal["text", "single_select", "multi_select", "rating", "number", "boolean"]
Priority = Literal["low", "medium", "high", "critical"]
ProcessingType = Literal["time-sensitive", "deferred"]
ContentType = Literal["markdown", "image"]
PLATFORM = "sdk"
DEFAULT_ASK_TIMEOUT = 3600


def _field(name: str, model: Any) -> Any:
    adapter = TypeAdapter(model)
    return lambda data: adapter.validate_python(data[name])


def _as(model: Any) -> Any:
    return TypeAdapter(model).validate_python


def _dict(data: Any) -> dict[str, Any]:
    return dict(data)


def _only(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# Loops and members


def list_loops() -> Call[list[Loop]]:
    """Loops you are an active member of, newest first."""
    return Call("GET", "/loops", _field("loops", list[Loop]), idempotent=True)


def get_loop(loop_id: str) -> Call[Loop]:
    return Call("GET", api_path("/loops/{loop_id}", loop_id=loop_id), _field("loop", Loop), idempotent=True)


def create_loop(
    name: str, *, icon: str = "shield-check", description: str | None = None
) -> Call[CreatedLoop]:
    """A new loop; you are its creator. Share its invite code or join link with reviewers."""
    body = _only(name=name, icon=icon, description=description)
    return Call("POST", "/loops", _as(CreatedLoop), json=body)


def update_loop(
    loop_id: str, *, name: str | None = None, icon: str | None = None, description: str | None = None
) -> Call[Loop]:
    body = _only(name=name, icon=icon, description=description)
    return Call(
        "PUT", api_path("/loops/{loop_id}", loop_id=loop_id), _field("loop", Loop), json=body, idempotent=True
    )


def delete_loop(loop_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", api_path("/loops/{loop_id}", loop_id=loop_id), _dict)


def list_members(loop_id: str) -> Call[Members]:
    return Call("GET", api_path("/loops/{loop_id}/members", loop_id=loop_id), _as(Members), idempotent=True)


def remove_member(loop_id: str, user_id: str) -> Call[dict[str, Any]]:
    return Call(
        "DELETE", api_path("/loops/{loop_id}/members/{user_id}", loop_id=loop_id, user_id=user_id), _dict
    )


# Requests


def create_request(
    loop_id: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
) -> Call[CreatedRequest]:
    """Send a request (the HITL.sh create body) to a loop's reviewers. Retried safely: the same
    Idempotency-Key goes with every attempt, so a retry never creates a second request."""
    key = idempotency_key or uuid.uuid4().hex
    return Call(
        "POST",
        api_path("/loops/{loop_id}/requests", loop_id=loop_id),
        _as(CreatedRequest),
        json=dict(body),
        headers={"Idempotency-Key": key},
        idempotent=True,
    )


def list_requests(
    *,
    status: str | None = None,
    priority: str | None = None,
    loop_id: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Call[RequestPage]:
    loop_id = checked_id("loop_id", loop_id) if loop_id else None  # empty: no filter, as the server reads it
    params = _only(status=status, priority=priority, loop_id=loop_id, sort=sort, limit=limit, offset=offset)
    return Call("GET", "/requests", _as(RequestPage), params=params, idempotent=True)


def get_request(request_id: str, *, wait: float | None = None) -> Call[Request]:
    """One request. With `wait`, the server holds the answer up to that many seconds (at most 60) until
    the request is completed, cancelled or timed out."""
    return Call(
        "GET",
        api_path("/requests/{request_id}", request_id=request_id),
        _field("request", Request),
        params=_only(wait=wait),
        idempotent=True,
        read_timeout=None if wait is None else wait + LONG_POLL_MARGIN,
    )


def update_request(request_id: str, updates: Mapping[str, Any]) -> Call[Request]:
    """Change a pending request (any create field)."""
    return Call(
        "PATCH",
        api_path("/requests/{request_id}", request_id=request_id),
        _field("request", Request),
        json=dict(updates),
    )


def cancel_request(request_id: str, *, reason: str | None = None) -> Call[Cancelled]:
    return Call(
        "DELETE",
        api_path("/requests/{request_id}", request_id=request_id),
        _as(Cancelled),
        json=_only(reason=reason) or None,
    )


def add_feedback(request_id: str, feedback: Mapping[str, Any]) -> Call[Feedback]:
    """Rate or comment on a completed request's answer (rating 1-5, comment, tags, ...)."""
    return Call(
        "POST",
        api_path("/requests/{request_id}/feedback", request_id=request_id),
        _as(Feedback),
        json={"feedback": dict(feedback)},
    )


# Webhooks (keys need webhooks:read / webhooks:write)


def list_webhooks() -> Call[list[Webhook]]:
    return Call("GET", "/webhooks", _field("webhooks", list[Webhook]), idempotent=True)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call(
        "GET",
        api_path("/webhooks/{webhook_id}", webhook_id=webhook_id),
        _field("webhook", Webhook),
        idempotent=True,
    )


def create_webhook(
    url: str,
    *,
    events: Sequence[str] | None = None,
    description: str | None = None,
    secret: str | None = None,
) -> Call[Webhook]:
    """Receive events at `url`; the answer carries the secret that signs them."""
    body = _only(url=url, events=list(events) if events is not None else None, description=description)
    return Call("POST", "/webhooks", _field("webhook", Webhook), json=_only(**body, secret=secret))


def update_webhook(
    webhook_id: str,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    rotate_secret: bool | None = None,
) -> Call[Webhook]:
    body = _only(
        url=url,
        events=list(events) if events is not None else None,
        description=description,
        enabled=enabled,
        rotate_secret=rotate_secret,
    )
    return Call(
        "PATCH",
        api_path("/webhooks/{webhook_id}", webhook_id=webhook_id),
        _field("webhook", Webhook),
        json=body,
    )


def delete_webhook(webhook_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", api_path("/webhooks/{webhook_id}", webhook_id=webhook_id), _dict)


def test_webhook(webhook_id: str) -> Call[dict[str, Any]]:
    """Queue a signed `webhook.test` event to the endpoint."""
    return Call("POST", api_path("/webhooks/{webhook_id}/test", webhook_id=webhook_id), _dict)


def signing_secret() -> Call[str]:
    """The secret that signs your requests' callback_url deliveries."""
    return Call("GET", "/webhooks/secret", _field("secret", str), idempotent=True)


# API keys (keys need api_keys:read / api_keys:write)


def list_api_keys() -> Call[list[ApiKey]]:
    return Call("GET", "/api-keys", _field("api_keys", list[ApiKey]), idempotent=True)


def create_api_key(
    name: str, *, permissions: Sequence[str] | None = None, expires_at: datetime | None = None
) -> Call[CreatedApiKey]:
    body = _only(
        name=name,
        permissions=list(permissions) if permissions is not None else None,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return Call("POST", "/api-keys", _as(CreatedApiKey), json=body)


def revoke_api_key(api_key_id: str) -> Call[ApiKey]:
    return Call(
        "DELETE", api_path("/api-keys/{api_key_id}", api_key_id=api_key_id), _field("api_key", ApiKey)
    )


class Endpoints:
    """The API's calls as methods; `Client` and `AsyncClient` inherit them."""

    list_loops = Endpoint(list_loops)
    get_loop = Endpoint(get_loop)
    create_loop = Endpoint(create_loop)
    update_loop = Endpoint(update_loop)
    delete_loop = Endpoint(delete_loop)
    list_members = Endpoint(list_members)
    remove_member = Endpoint(remove_member)
    create_request = Endpoint(create_request)
    list_requests = Endpoint(list_requests)
    get_request = Endpoint(get_request)
    update_request = Endpoint(update_request)
    cancel_request = Endpoint(cancel_request)
    add_feedback = Endpoint(add_feedback)
    list_webhooks = Endpoint(list_webhooks)
    get_webhook = Endpoint(get_webhook)
    create_webhook = Endpoint(create_webhook)
    update_webhook = Endpoint(update_webhook)
    delete_webhook = Endpoint(delete_webhook)
    test_webhook = Endpoint(test_webhook)
    signing_secret = Endpoint(signing_secret)
    list_api_keys = Endpoint(list_api_keys)
    create_api_key = Endpoint(create_api_key)
    revoke_api_key = Endpoint(revoke_api_key)


class AskOptions(TypedDict, total=False):
    """How to ask: choices or another response type, the default answer, the deadline, what to show.

    The short names (`default`, `timeout`, and `text` beside them) and the API's own field names
    (`default_response`, `timeout_seconds`, `request_text`, ...) both work; one thing given under both
    names is refused."""

    options: Sequence[str | Mapping[str, Any]]  # choices; a single_select (multi_select with multiple=True)
    multiple: bool
    response_type: ResponseType
    response_config: Mapping[str, Any]
    default: Any  # the answer if nobody answers in time: the last option, False, or required otherwise
    default_response: Any  # the same, by its API name
    timeout: int  # seconds the human has (60-86400); 3600 unless given (deferred requests: the server's)
    timeout_seconds: int  # the same, by its API name
    request_text: str  # the question, by its API name
    processing_type: ProcessingType
    type: ContentType
    priority: Priority
    title: str
    context: Mapping[str, Any]
    tags: Sequence[str]
    callback_url: str
    image_url: str
    platform: str
    platform_version: str


ASK_KEYWORDS = frozenset(AskOptions.__annotations__)
# (short name, API name): either spelling, never both.
SPELLINGS = (("text", "request_text"), ("default", "default_response"), ("timeout", "timeout_seconds"))
PASSED_THROUGH = ("title", "context", "tags", "callback_url", "image_url", "platform_version")


def _option_value(option: str | Mapping[str, Any]) -> Any:
    return option if isinstance(option, str) else option["value"]


def one_spelling(given: Mapping[str, Any], short: str, long: str, *, caller: str = "ask()") -> Any:
    """The value given under the short name or the API's name; TypeError when both are given."""
    if given.get(short) is not None and given.get(long) is not None:
        raise TypeError(f"{caller} got both {short} and {long}: they are one thing, give one of them")
    return given[short] if given.get(short) is not None else given.get(long)


def question(text: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """The create body for `ask`: a time-sensitive request (unless told otherwise) with a typed answer and a
    default. Raises TypeError for unknown keywords or one thing given twice, ValueError for a question
    that cannot be asked as given."""
    unknown = sorted(set(options) - ASK_KEYWORDS)
    if unknown:
        raise TypeError(
            f"ask() got unexpected keyword arguments: {', '.join(unknown)} "
            f"(it takes: {', '.join(sorted(ASK_KEYWORDS))})"
        )
    given = {"text": text, **options}
    text, default, timeout = (one_spelling(given, short, long) for short, long in SPELLINGS)
    if text is None:
        raise TypeError("ask() needs the question: text (the second argument) or request_text")
    choices = options.get("options")
    if choices is not None and not choices:
        raise ValueError("options must not be empty")
    if "response_type" in options:
        response_type: str = options["response_type"]
    elif choices:
        response_type = "multi_select" if options.get("multiple") else "single_select"
    else:
        response_type = "text"
    config = dict(options.get("response_config") or {})
    if choices:
        config.setdefault("options", list(choices))
    if default is None:
        default = _implied_default(response_type, config)
    processing_type = options.get("processing_type") or "time-sensitive"
    if timeout is None and processing_type == "time-sensitive":
        timeout = DEFAULT_ASK_TIMEOUT  # a deferred request without one gets the server's (30 days)
    body = {
        "processing_type": processing_type,
        "type": options.get("type") or ("image" if options.get("image_url") else "markdown"),
        "priority": options.get("priority", "medium"),
        "request_text": text,
        "timeout_seconds": timeout,
        "response_type": response_type,
        "response_config": config,
        "default_response": default,
        "platform": options.get("platform") or PLATFORM,
    }
    if timeout is None:
        del body["timeout_seconds"]
    for name in PASSED_THROUGH:
        if options.get(name) is not None:
            body[name] = options[name]
    return body


def _implied_default(response_type: str, config: Mapping[str, Any]) -> Any:
    if response_type == "single_select":
        return _option_value(config["options"][-1])
    if response_type == "multi_select":
        return []
    if response_type == "boolean":
        return False
    raise ValueError(
        f"a {response_type} question needs a default (the answer used if nobody answers in time)"
    )
