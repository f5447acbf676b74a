"""The lifecycle table is the vocabulary: the lists other modules and the SDK use agree with it."""

from typing import get_args

from openhitl.client import models as sdk
from openhitl.requests import states
from openhitl.requests.schemas import Status
from openhitl.webhooks import filters


def test_statuses_and_events_follow_the_table() -> None:
    assert states.TERMINAL_STATUSES == ("completed", "timeout", "cancelled")
    assert states.OPEN_STATUSES == ("pending", "claimed")
    assert states.TERMINAL_EVENTS == ("request.completed", "request.timeout", "request.cancelled")
    assert filters.REQUEST_EVENTS[0] == "request.created"
    assert set(filters.REQUEST_EVENTS[1:]) == {t.event for t in states.TRANSITIONS}


def test_the_lists_that_cannot_import_the_table_match_it() -> None:
    # A typing Literal is spelled out, and the SDK does not import the server: both are checked here.
    assert get_args(Status) == states.STATUSES
    assert sdk.TERMINAL_STATUSES == states.TERMINAL_STATUSES
    assert get_args(sdk.Outcome) == states.TERMINAL_STATUSES
