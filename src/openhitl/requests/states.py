"""The request lifecycle's table: its statuses, the transitions between them and the event each records.

Every other list of statuses or request event names (the webhook filters, the waiters, the dashboard, the
sweeper's partial indexes) is derived from this table; `requests/lifecycle.py` is where the transitions
are made. This module imports nothing of the project, so any layer may read it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    event: str


# In the order the API lists them (error messages, the OpenAPI document).
STATUSES = ("pending", "claimed", "completed", "timeout", "cancelled")
INITIAL = "pending"
CREATED = "request.created"
UPDATED = "request.updated"  # a pending request's fields changed; its status did not

CLAIM = Transition("claim", ("pending",), "claimed", "request.claimed")
RELEASE = Transition("release", ("claimed",), "pending", "request.released")
EXPIRE_CLAIM = Transition("expire_claim", ("claimed",), "pending", "request.claim_expired")
RESPOND = Transition("respond", ("pending", "claimed"), "completed", "request.completed")
CANCEL = Transition("cancel", ("pending", "claimed"), "cancelled", "request.cancelled")
TIME_OUT = Transition("timeout", ("pending", "claimed"), "timeout", "request.timeout")
TRANSITIONS = (CLAIM, RELEASE, EXPIRE_CLAIM, RESPOND, CANCEL, TIME_OUT)

# Derived: a status no transition leaves is terminal; the others are open.
TERMINAL_STATUSES = tuple(s for s in STATUSES if not any(s in t.sources for t in TRANSITIONS))
OPEN_STATUSES = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)
# The status changes a request's watchers and webhooks hear of, creation first.
EVENTS = (CREATED, *(t.event for t in TRANSITIONS))
# The events that close a request, in the order of their statuses in STATUSES.
TERMINAL_EVENTS = tuple(t.event for status in TERMINAL_STATUSES for t in TRANSITIONS if t.target == status)

assert all({*t.sources, t.target} <= set(STATUSES) for t in TRANSITIONS), (
    "a transition names an unknown status"
)
assert INITIAL in OPEN_STATUSES
