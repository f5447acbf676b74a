"""What every dashboard page shares: path types, flash messages, form values and error handling."""

from typing import Annotated, Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from openhitl.accounts.auth import Principal
from openhitl.kit.errors import BadRequest
from openhitl.kit.params import id_path
from openhitl.kit.validation import summarise
from openhitl.web.pages import flash_message, render

ItemId = Annotated[str, id_path("item")]  # a request, delivery, webhook or API key, by the route
Model = TypeVar("Model", bound=BaseModel)

FLASHES = {
    "created": "Loop created. Share the invite code or QR code with your reviewers.",
    "updated": "Loop saved.",
    "deleted": "Loop deleted.",
    "invited": "Invitations sent.",
    "code": "New invite code made. The old code, link and QR code no longer work.",
    "role": "Role changed.",
    "removed": "Member removed.",
    "cancelled": "Request cancelled.",
    "redelivered": "Delivery queued again.",
    "revoked": "API key revoked.",
    "webhook": "Webhook endpoint created.",
    "webhook_deleted": "Webhook endpoint deleted.",
    "tested": "Test event queued. It shows in the deliveries below once sent.",
    "rotated": "Signing secret rotated. Update your receivers.",
    "saved": "Notification settings saved.",
    "password_set": "Password set. You can now sign in with your email and this password.",
    "password_changed": "Password changed.",
}


def flash(request: Request) -> str | None:
    return flash_message(request, FLASHES)


def back(path: str, done: str) -> Response:
    """After an action: back to the page it was taken on, with a message saying what happened."""
    return RedirectResponse(f"{path}?done={done}", status_code=303)


def page(
    request: Request,
    template: str,
    *,
    viewer: Principal,
    section: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        template,
        status_code=status_code,
        viewer=viewer,
        section=section,
        flash=context.pop("flash", None) or flash(request),
        **context,
    )


def parse(model: type[Model], values: dict[str, Any]) -> Model:
    """A form's fields checked by the API's own body model; what is wrong becomes a 400 with a message."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        msg, detail = summarise(list(exc.errors()))  # type: ignore[arg-type]
        raise BadRequest(msg, detail) from exc


def text_field(form: Any, name: str, *, limit: int = 5000) -> str:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    if value is not None and len(value) > limit:
        raise BadRequest(f"{name} is too long", f"{name} must be at most {limit} characters")
    return value or ""
