"""Event names and the filters account endpoints choose them with: names, wildcards, negation, loop scope."""

import re

from openhitl.requests.states import EVENTS, TERMINAL_EVENTS

REQUEST_EVENTS = EVENTS
# What a per-request callback_url hears about, and what a new endpoint listens to unless told otherwise.
DEFAULT_EVENTS = TERMINAL_EVENTS
TEST_EVENT = "webhook.test"
WILDCARDS = ("*", "request.*")
ALLOWED = (
    f"event names ({', '.join(REQUEST_EVENTS)}), {', '.join(repr(w) for w in WILDCARDS)}, "
    "'loop.<loop_id>.*' or 'loop.<loop_id>.<event name>' to scope to one loop; "
    "a leading '!' excludes what follows"
)
_LOOP_SCOPED = re.compile(r"^loop\.([0-9a-fA-F]{24})\.(.+)$")
# The filters `normalise` accepts, as the OpenAPI document states them.
FILTER_PATTERN = (
    r"^!?(loop\.[0-9a-fA-F]{24}\.)?(\*|request\.\*|"
    + "|".join(re.escape(name) for name in REQUEST_EVENTS)
    + ")$"
)


class InvalidFilter(ValueError):
    pass


def _is_event_pattern(pattern: str) -> bool:
    return pattern in WILDCARDS or pattern in REQUEST_EVENTS


def normalise(filters: list[str]) -> list[str]:
    """The filters as stored (trimmed, loop ids lower-case, duplicates dropped), or InvalidFilter."""
    cleaned: list[str] = []
    for raw in filters:
        text = raw.strip()
        negated = text.startswith("!")
        pattern = text[1:] if negated else text
        scoped = _LOOP_SCOPED.match(pattern)
        if scoped:
            pattern = f"loop.{scoped[1].lower()}.{scoped[2]}"
        if not _is_event_pattern(scoped[2] if scoped else pattern):
            raise InvalidFilter(f"{raw!r} is not a known event or pattern")
        cleaned.append(f"!{pattern}" if negated else pattern)
    if not cleaned:
        raise InvalidFilter("events must not be empty")
    return list(dict.fromkeys(cleaned))


def _match(pattern: str, *, event: str, loop_id: str | None) -> bool:
    scoped = _LOOP_SCOPED.match(pattern)
    if scoped:
        if scoped[1].lower() != loop_id:
            return False
        pattern = scoped[2]
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event.startswith(pattern[:-1])
    return event == pattern


def matches(filters: list[str], *, event: str, loop_id: str | None) -> bool:
    """Selected by some filter and excluded by none; a list of exclusions only starts from everything."""
    included = [f for f in filters if not f.startswith("!")] or ["*"]
    excluded = [f[1:] for f in filters if f.startswith("!")]
    return any(_match(f, event=event, loop_id=loop_id) for f in included) and not any(
        _match(f, event=event, loop_id=loop_id) for f in excluded
    )
