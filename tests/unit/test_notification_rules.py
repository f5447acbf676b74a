"""Small rules behind notifications: digest windows, text snippets, VAPID audiences, endpoint checks."""

from datetime import UTC, datetime, timedelta

import pytest

from openhitl.kit.errors import ValidationFailed
from openhitl.notifications.emails import digest_window
from openhitl.notifications.push_sender import origin
from openhitl.notifications.service import check_endpoint
from openhitl.requests.display import snippet


def test_digest_windows_are_aligned_and_contain_their_moment() -> None:
    moment = datetime(2030, 5, 1, 10, 59, 59, 900_000, tzinfo=UTC)
    start, end = digest_window(moment, 3600)
    assert (start, end) == (datetime(2030, 5, 1, 10, tzinfo=UTC), datetime(2030, 5, 1, 11, tzinfo=UTC))
    assert digest_window(end, 3600)[0] == end  # the end belongs to the next window
    assert digest_window(moment, 900)[1] - digest_window(moment, 900)[0] == timedelta(minutes=15)


def test_snippets_collapse_whitespace_and_trim_with_an_ellipsis() -> None:
    assert snippet("  short\n text ", 200) == "short text"
    trimmed = snippet("word " * 100, 200)
    assert len(trimmed) <= 200 and trimmed.endswith("…")


@pytest.mark.parametrize(
    ("endpoint", "audience"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/x?y=1",
            "https://updates.push.services.mozilla.com",
        ),
        ("http://127.0.0.1:8123/push/t", "http://127.0.0.1:8123"),
    ],
)
def test_the_vapid_audience_is_the_endpoint_origin(endpoint: str, audience: str) -> None:
    assert origin(endpoint) == audience


@pytest.mark.parametrize(
    "endpoint",
    ["https://web.push.apple.com/QGuQ", "http://127.0.0.1:9/p", "http://localhost/p", "http://[::1]:80/p"],
)
def test_push_endpoints_that_are_accepted(endpoint: str) -> None:
    assert check_endpoint(endpoint, allow_private=True) == endpoint


@pytest.mark.parametrize(
    ("endpoint", "allow_private"),
    [
        ("http://10.0.0.5/p", True),  # plain http only to this machine
        ("https://10.0.0.5/p", False),
        ("https://127.0.0.1/p", False),
        ("https://user:pw@push.example.com/p", True),
        ("https://metadata.google.internal/p", True),
        ("https://push.example.com/" + "x" * 2048, True),
    ],
)
def test_push_endpoints_that_are_refused(endpoint: str, allow_private: bool) -> None:
    with pytest.raises(ValidationFailed):
        check_endpoint(endpoint, allow_private=allow_private)
