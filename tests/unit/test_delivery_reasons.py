"""Failed webhook attempts in plain words, for the raw errors a loopback test cannot easily make."""

import pytest

from openhitl.webhooks.reasons import failure_reason

URL = "https://hooks.example.com:8443/in"


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        ("gaierror: [Errno -2] Name or service not known", None, "could not resolve hooks.example.com"),
        (
            "ConnectError: [Errno -3] Temporary failure in name resolution",
            None,
            "could not resolve hooks.example.com",
        ),
        (
            "ConnectError: hooks.example.com did not resolve to any address",
            None,
            "could not resolve hooks.example.com",
        ),
        (
            "ConnectError: [Errno 111] Connection refused",
            None,
            "connection refused by hooks.example.com:8443",
        ),
        (
            "ConnectError: All connection attempts failed",
            None,
            "connection refused by hooks.example.com:8443",
        ),
        ("timed out after 15 s", None, "timed out after 15 s"),
        ("ConnectTimeout", None, "timed out connecting to hooks.example.com:8443"),
        ("ReadTimeout", None, "timed out waiting for the receiver's answer"),
        (
            "ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            None,
            "the certificate of hooks.example.com:8443 is not trusted",
        ),
        (
            "ConnectError: [SSL: WRONG_VERSION_NUMBER] wrong version number",
            None,
            "could not set up TLS with hooks.example.com:8443",
        ),
        (
            "RemoteProtocolError: Server disconnected without sending a response.",
            None,
            "the receiver closed the connection without answering",
        ),
        ("the webhook endpoint is disabled", None, "not sent: the endpoint is disabled"),
        ("webhooks are only sent over TCP", None, "refused: webhooks are only sent over TCP"),
        (
            "UnsupportedProtocol: Request URL has an unsupported protocol 'ftp://'.",
            None,
            "the endpoint's address is not a valid http or https URL",
        ),
        (
            "HTTP 302",
            302,
            "HTTP 302: a redirect, which webhooks do not follow (use the address it points to)",
        ),
        ("HTTP 500", 500, "HTTP 500: the receiver had an error"),
        ("HTTP 500", None, "HTTP 500: the receiver had an error"),
        ("SomethingNew: never seen before", None, "SomethingNew: never seen before"),
        (None, None, "failed"),
    ],
)
def test_failure_reasons(error: str | None, status: int | None, reason: str) -> None:
    assert failure_reason(error=error, status_code=status, url=URL) == reason
