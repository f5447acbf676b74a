"""The base of every JSON body the API reads: whatever it keeps can be stored.

JSON may carry NUL (`\\u0000`, which PostgreSQL cannot store) and unpaired UTF-16 surrogates (which no
UTF-8 driver can encode), numbers Python reads as infinite (1e400, which no JSON answer can carry) and
nesting deeper than any tool should have to follow. All are refused with a 400 naming the field, before any
handler runs. Keys a
body does not declare are ignored and never stored, so they are not checked. The OpenAPI document states
the rule as a pattern on every string (see `STORABLE_TEXT`).
"""

import math
import re
import sys
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

# What the document declares on strings; `first_problem` is what the server checks.
STORABLE_TEXT = "^[^\\u0000]*$"
# Whitespace as Python's str.strip() and str.isspace() see it, for patterns that JSON Schema's regexes
# (where \s leaves out the information separators \x1c-\x1f and NEL) read the same way.
WHITESPACE = "\\s\\u001c-\\u001f\\u0085"
NOT_BLANK_TEXT = f"^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$"
NO_WHITESPACE = f"^[^{WHITESPACE}\\u0000]+$"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Deeper than any real context or configuration; deep enough nesting crashes JSON tools, ours included.
MAX_JSON_DEPTH = 32


def _children(value: Any) -> list[Any] | None:
    """What a JSON container holds (object keys and values, array items); None for a leaf."""
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return [part for item in value.items() for part in item]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def first_problem(value: Any) -> str | None:
    """Why a value (strings, numbers, keys and items of lists and objects) cannot be kept, or None.

    Walked with a stack of its own, not by recursion: a deeply nested body must get a 400, not a crash.
    """
    kind = type(value)
    if kind is str:  # most fields: one search, no stack
        return _problem_in_text(value)
    if value is None or kind is int or kind is bool:
        return None
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = _children(item)
        if children is not None:
            if depth >= MAX_JSON_DEPTH:
                return f"must not nest objects and arrays more than {MAX_JSON_DEPTH} levels deep"
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and (problem := _problem_in_text(item)) is not None:
            return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return "must not contain NaN, Infinity or numbers too large for a double (like 1e400)"
    return None


def _problem_in_text(text: str) -> str | None:
    if _UNSTORABLE.search(text):
        return "must not contain NUL (\\u0000) characters or unpaired surrogates (\\ud800-\\udfff)"
    return None


def unparseable_body_hint(
    cause: BaseException | None, otherwise: str = "Send UTF-8 JSON with Content-Type: application/json"
) -> str:
    """What to fix in a body the JSON parser gave up on (FastAPI keeps the parser's error as the cause)."""
    if isinstance(cause, RecursionError):
        return f"JSON nests objects and arrays too deeply: send at most {MAX_JSON_DEPTH} levels"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return f"A number in the body has too many digits: send at most {sys.get_int_max_str_digits()}"
    return otherwise


class JsonBody(BaseModel):
    """A request body. Every field, nested ones included, must hold what can be stored and sent back."""

    @field_validator("*", mode="after")
    @classmethod
    def _keepable(cls, value: Any, info: ValidationInfo) -> Any:
        problem = first_problem(value)
        if problem is not None:
            raise ValueError(f"{info.field_name} {problem}")
        return value


def declare_storable_text(node: Any) -> None:
    """States the rule in an OpenAPI document: every free string (no pattern, enum or format of its own)
    gets the `STORABLE_TEXT` pattern, in component schemas and in parameters alike."""
    if isinstance(node, list):
        for item in node:
            declare_storable_text(item)
        return
    if not isinstance(node, dict):
        return
    free = not ({"pattern", "enum", "const", "format"} & node.keys())
    if node.get("type") == "string" and free:
        node["pattern"] = STORABLE_TEXT
    for key, value in node.items():
        if key not in ("example", "examples", "default"):
            declare_storable_text(value)
