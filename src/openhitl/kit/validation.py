"""Turning request-validation failures into HITL.sh-style messages that say what to fix, and a raw route's
input checked as FastAPI checks a route's (kit/routing.py: `RawRoute`), with the same errors."""

import email.message
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from openhitl.kit.bodies import unparseable_body_hint
from openhitl.kit.errors import BadRequest

_QUOTED = re.compile(r"'([^']*)'")
_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "datetime_type": "an ISO-8601 date-time",
    "datetime_parsing": "an ISO-8601 date-time",
    "datetime_from_date_parsing": "an ISO-8601 date-time",
}
PAGINATION_PARAMS = ("limit", "offset")


def _field_name(loc: Sequence[Any]) -> str:
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in ("body", "query", "path", "header")
        else list(map(str, loc))
    )
    return ".".join(parts) or "body"


def describe_error(error: dict[str, Any]) -> str:
    """One caller-facing sentence for one pydantic error."""
    kind = error.get("type", "")
    loc = error.get("loc", ())
    field = _field_name(loc)
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        return f"Request body is not valid JSON: {ctx.get('error', 'syntax error')}"
    if loc == ("body",) or (kind in ("model_attributes_type", "dict_type") and len(loc) == 1):
        return "Request body is required" if kind == "missing" else "Request body must be a JSON object"
    if kind == "missing":
        return f"{field} is required"
    if kind == "value_error":
        message = str(ctx.get("error", error.get("msg", "")))
        return message.removeprefix("Value error, ")
    if kind == "literal_error" or kind == "enum":
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        return f"{field} must be one of: {', '.join(choices)}"
    if kind in _TYPE_WORDS:
        return f"{field} must be {_TYPE_WORDS[kind]}"
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"{field} must be at least {ctx.get('min_length')} characters"
    if kind == "string_pattern_mismatch" and field.endswith("_id"):
        return f"Invalid {field.removesuffix('_id').replace('_', ' ')} ID format"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = next(iter(ctx.values()), "")
        words = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "greater than",
            "less_than": "less than",
        }[kind]
        return f"{field} must be {words} {bound}"
    if kind == "too_long":
        return f"{field} must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"{field} must have at least {ctx.get('min_length')} items"
    return f"{field}: {error.get('msg', 'is invalid')}"


def summarise(errors: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(msg, data) for a 400: the HITL.sh headline and every problem found, joined."""
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))
    messages = list(dict.fromkeys(describe_error(e) for e in errors)) or ["Request is invalid"]
    detail = "; ".join(messages)
    if first.get("type") == "json_invalid" or loc == ("body",):
        return "Invalid request body", detail
    if loc[:1] == ("path",) and first.get("type") == "string_pattern_mismatch":
        return messages[0], f"{_field_name(loc)} must be a 24-character hexadecimal id"
    if loc[:1] == ("query",) and len(loc) > 1 and loc[1] in PAGINATION_PARAMS:
        return "Invalid pagination parameters", detail
    return "Validation failed", detail


Model = TypeVar("Model", bound=BaseModel)
NO_BODY = object()


# Content types a raw route parses at once; anything else goes the long way (`read_json_body`).
JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})


def read_json_body(body: bytes, content_type: str | None) -> Any:
    """A body as FastAPI reads it for a route with a JSON body model: parsed when it is declared JSON, the
    bytes when it is declared something else or nothing, NO_BODY when empty. A body declared JSON that
    does not parse is refused at once (400), as FastAPI refuses it before anything else."""
    if not body:
        return NO_BODY
    if not content_type:
        return body
    declared = email.message.Message()
    declared["content-type"] = content_type
    subtype = declared.get_content_subtype()
    if declared.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from exc
    except Exception as exc:  # not UTF-8, too deep, a number with too many digits
        raise BadRequest("Invalid request body", unparseable_body_hint(exc)) from exc


def validated(
    model: type[Model],
    document: Any,
    *,
    path: Mapping[str, tuple[str, TypeAdapter[Any]]],
    headers: Mapping[str, tuple[str | None, TypeAdapter[Any]]],
) -> Model:
    """The body (from `read_json_body`) as `model`, once the path parameters and headers pass their checks;
    else RequestValidationError with every error, in FastAPI's order and form."""
    errors: list[dict[str, Any]] = []
    checks: list[tuple[str, Mapping[str, tuple[Any, TypeAdapter[Any]]]]] = [
        ("path", path),
        ("header", headers),
    ]
    for where, values in checks:
        for name, (value, adapter) in values.items():
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                errors.extend(_located(exc, (where, name)))
    result = None
    if document is NO_BODY:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            result = model.model_validate(document, from_attributes=True)
        except ValidationError as exc:
            errors.extend(_located(exc, ("body",)))
    if errors or result is None:
        raise RequestValidationError(errors)
    return result


def _located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{**error, "loc": (*prefix, *error["loc"])} for error in exc.errors(include_url=False)]
