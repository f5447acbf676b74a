"""The base of every JSON body the API reads: whatever it keeps can be stored.

JSON may carry NUL (`\\u0000`, which PostgreSQL cannot store) and unpaired UTF-16 surrogates (which no
UTF-8 driver can encode). Both are refused with a 400 naming the field, before any handler runs. Keys a
body does not declare are ignored and never stored, so they are not checked. The OpenAPI document states
the rule as a pattern on every string (see `STORABLE_TEXT`).
"""

import re
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

# What the document declares on strings; `first_unstorable` is what the server checks.
STORABLE_TEXT = "^[^\\u0000]*$"
# Whitespace as Python's str.strip() and str.isspace() see it, for patterns that JSON Schema's regexes
# (where \s leaves out the information separators \x1c-\x1f and NEL) read the same way.
WHITESPACE = "\\s\\u001c-\\u001f\\u0085"
NOT_BLANK_TEXT = f"^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$"
NO_WHITESPACE = f"^[^{WHITESPACE}\\u0000]+$"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def first_unstorable(value: Any) -> str | None:
    """The first unstorable string in a value (strings, keys and items of lists and objects), or None."""
    if isinstance(value, str):
        return value if _UNSTORABLE.search(value) else None
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return next(
            (found for item in value.items() if (found := first_unstorable(list(item))) is not None), None
        )
    if isinstance(value, list | tuple):
        return next((found for item in value if (found := first_unstorable(item)) is not None), None)
    return None


class JsonBody(BaseModel):
    """A request body. Every field, nested ones included, must hold storable text."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if first_unstorable(value) is not None:
            raise ValueError(
                f"{info.field_name} must not contain NUL (\\u0000) characters or unpaired surrogates "
                "(\\ud800-\\udfff)"
            )
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
