"""Why a webhook attempt failed, in plain words, from the raw error the delivery log keeps.

The log keeps the raw text (shown on hover); this reads it back, so attempts logged before this existed get
a reason too. Unknown errors are shown as they are.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from openhitl.kit.netguard import LINK_LOCAL, NOT_UNICAST, PRIVATE

RESOLVE_FAILURES = (
    "Name or service not known",
    "nodename nor servname provided",
    "Temporary failure in name resolution",
    "No address associated with hostname",
    "did not resolve to any address",
    "getaddrinfo failed",
)
REFUSED = ("Connection refused", "All connection attempts failed", "Connect call failed")
TIMED_OUT = re.compile(r"^timed out after (?P<seconds>[\d.]+) s$")
HTTP_STATUS = re.compile(r"^HTTP (?P<code>\d{3})$")


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or url
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return url


def _refused_target(error: str) -> str:
    """The "name (address)" a refusal names last: `url <reason>[ (block)]: <target>`."""
    return error.rsplit(": ", 1)[-1]


def _status_reason(code: int) -> str:
    if 300 <= code < 400:
        return f"HTTP {code}: a redirect, which webhooks do not follow (use the address it points to)"
    if code in (401, 403):
        return f"HTTP {code}: the receiver refused it (check the signing secret it verifies with)"
    if code == 404:
        return "HTTP 404: the receiver has no such address"
    if code == 408 or code == 429:
        return f"HTTP {code}: the receiver asked to try later"
    if 400 <= code < 500:
        return f"HTTP {code}: the receiver rejected it"
    if code >= 500:
        return f"HTTP {code}: the receiver had an error"
    return f"HTTP {code}"


def failure_reason(*, error: str | None, status_code: int | None, url: str) -> str:
    """One failed attempt in plain words ("could not resolve your-app.com", "connection refused", "timed out
    after 15 s", "HTTP 500: the receiver had an error", or the address guard's refusal)."""
    text = (error or "").strip()
    if status_code is not None and not 200 <= status_code < 300:
        return _status_reason(status_code)
    host = _host(url)
    if text.startswith(f"url {LINK_LOCAL}"):
        return f"refused: {_refused_target(text)} is a link-local or cloud metadata address, which webhooks never call"
    if text.startswith(f"url {PRIVATE}"):
        return (
            f"refused: {_refused_target(text)} is a loopback or private address, and this server calls only "
            "public ones (OPENHITL_CALLBACK_ALLOW_PRIVATE=false)"
        )
    if text.startswith(f"url {NOT_UNICAST}"):
        return f"refused: {_refused_target(text)} is not the address of one host (broadcast, multicast or reserved)"
    if text == "webhooks are only sent over TCP":
        return "refused: webhooks are only sent over TCP"
    if text == "the webhook endpoint is disabled":
        return "not sent: the endpoint is disabled"
    timed_out = TIMED_OUT.match(text)
    if timed_out:
        return f"timed out after {timed_out['seconds']} s"
    if text.startswith("gaierror") or any(marker in text for marker in RESOLVE_FAILURES):
        return f"could not resolve {urlsplit(url).hostname or host}"
    if any(marker in text for marker in REFUSED):
        return f"connection refused by {host}"
    if text.startswith(("ConnectTimeout", "PoolTimeout")):
        return f"timed out connecting to {host}"
    if text.startswith(("ReadTimeout", "WriteTimeout")):
        return "timed out waiting for the receiver's answer"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return f"the certificate of {host} is not trusted"
    if "SSL" in text or "TLS" in text:
        return f"could not set up TLS with {host}"
    if text.startswith(("RemoteProtocolError", "ReadError", "ConnectionResetError")):
        return "the receiver closed the connection without answering"
    if text.startswith(("UnsupportedProtocol", "InvalidURL")):
        return "the endpoint's address is not a valid http or https URL"
    status = HTTP_STATUS.match(text)
    if status:
        return _status_reason(int(status["code"]))
    return text or "failed"


@dataclass(frozen=True)
class MessageState:
    """Where the event an attempt belongs to stands: its outbox message."""

    attempts: int
    run_at: datetime
    done_at: datetime | None
    failed_at: datetime | None


def delivery_state(
    *, attempt: int, succeeded: bool, message: MessageState | None
) -> tuple[str, datetime | None]:
    """What happens next to an attempt's event: (words, and the moment they name). "retrying, next attempt
    at" that moment, "failed after N attempts", "delivered", or "retried" for an attempt a later one followed."""
    if succeeded:
        return "delivered", None
    if message is None:
        return "failed", None
    if attempt != message.attempts:  # a later attempt followed (or a redelivery started the count again)
        return "retried", None
    if message.failed_at is not None:
        return f"failed after {message.attempts} attempt{'s' if message.attempts != 1 else ''}", None
    if message.done_at is not None:
        return "failed", None
    return "retrying, next attempt at", message.run_at
