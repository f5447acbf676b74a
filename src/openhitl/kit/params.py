"""Path, query and header parameters whose rules the OpenAPI document states.

The routes check these themselves, with the HITL.sh messages (`Invalid pagination parameters`, `Invalid
status filter value`, ...); the declarations here make the document say the same thing, so a client (or
a fuzzer) can tell a valid call from an invalid one without reading prose.
"""

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Path, Query

from openhitl.kit.ids import ID_PATTERN
from openhitl.kit.pagination import MAX_LIMIT, MAX_OFFSET

LimitQuery = Annotated[
    int, Query(description=f"1-{MAX_LIMIT}", json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT})
]
OffsetQuery = Annotated[
    int, Query(description="0 or more", json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET})
]
# An empty filter is no filter, as HITL.sh clients send it.
OPTIONAL_ID = "^([0-9a-fA-F]{24})?$"
EVENT_ID = "^[0-9]{0,18}$"


def choice(values: Iterable[str], description: str, *, empty_means_all: bool = True) -> Any:
    """A Query whose values the document lists (an empty value too, when it means "no filter")."""
    listed = [*values, *([""] if empty_means_all else [])]
    return Query(description=description, json_schema_extra={"enum": listed})


def optional_id(description: str) -> Any:
    return Query(description=description, json_schema_extra={"pattern": OPTIONAL_ID})


def id_path(noun: str) -> Any:
    """A path parameter that is an id. Every route declares its ids with it: a malformed one (`..`, an
    encoded slash, anything but 24 hex characters) is refused with a 400 envelope ("Invalid <noun> ID
    format") before the route runs, and the document states the pattern."""
    return Path(pattern=ID_PATTERN, description=f"24-hex {noun} id")


LoopId = Annotated[str, id_path("loop")]
RequestId = Annotated[str, id_path("request")]
UserId = Annotated[str, id_path("user")]
WebhookId = Annotated[str, id_path("webhook")]
DeliveryId = Annotated[str, id_path("delivery")]
ApiKeyId = Annotated[str, id_path("API key")]
