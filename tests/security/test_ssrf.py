"""The server never calls addresses it must not: cloud metadata, link-local, and (when the operator says so)
loopback and private networks. Refused when the URL is given, whatever way the address is spelt, and again
when a name resolves to such an address at delivery time: the delivery fails with the reason, no connection."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, start_server
from tests.security.conftest import data_of
from tests.support.live import LiveServer, full_access_account
from tests.support.payloads import PUSH_KEYS, SEED_LOOP, yes_no
from tests.support.receiver import Receiver

# Always refused: the metadata service and link-local, spelt every way a resolver or client reads them.
METADATA_AND_LINK_LOCAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://[fe80::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
]
UNSPECIFIED = ["http://0.0.0.0:8000/", "http://[::]/", "http://0/"]
# Refused too when OPENHITL_CALLBACK_ALLOW_PRIVATE=false.
LOOPBACK_AND_PRIVATE = [
    "http://127.0.0.1:9/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://localhost:8080/",
    "http://hooks.localhost/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://10.0.0.1/",
    "http://192.168.1.10/",
    "http://172.16.0.1/",
    "http://[fc00::1]/",
]


@pytest.fixture(scope="module", params=BACKENDS)
def public_only(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server told to call public addresses only."""
    yield from start_server(request.param, tmp_path_factory, callback_allow_private=False)


def places_for_a_url(http: httpx.Client, url: str) -> dict[str, httpx.Response]:
    """Every way a caller hands the server a URL to call later, each given `url`."""
    loop_id = data_of(http.post("/v1/api/loops", json=SEED_LOOP))["loop"]["id"]
    webhook = data_of(http.post("/v1/api/webhooks", json={"url": "https://hooks.example.com/x"}))["webhook"]
    return {
        "webhook": http.post("/v1/api/webhooks", json={"url": url}),
        "webhook update": http.patch(f"/v1/api/webhooks/{webhook['id']}", json={"url": url}),
        "callback_url": http.post(f"/v1/api/loops/{loop_id}/requests", json=yes_no("Ok?", callback_url=url)),
        "push endpoint": http.post("/v1/api/push/subscriptions", json={"endpoint": url, "keys": PUSH_KEYS}),
    }


def refusals(server: LiveServer, urls: list[str], reason: str) -> list[str]:
    problems = []
    with server.client(full_access_account(server, "ssrf")) as http:
        for url in urls:
            for place, answer in places_for_a_url(http, url).items():
                envelope = answer.json()
                if answer.status_code != 400 or reason not in str(envelope.get("data")):
                    problems.append(f"{place} {url}: {answer.status_code} {envelope}")
    return problems


def test_metadata_link_local_and_unspecified_targets_are_refused(server: LiveServer) -> None:
    problems = refusals(server, METADATA_AND_LINK_LOCAL, "must not point to")
    problems += refusals(server, UNSPECIFIED, "must point to a unicast address")
    assert not problems, "\n".join(problems)


def test_loopback_and_private_targets_are_refused_when_not_allowed(public_only: LiveServer) -> None:
    problems = refusals(public_only, LOOPBACK_AND_PRIVATE, "must not point to a loopback or private address")
    assert not problems, "\n".join(problems)


def test_private_targets_are_allowed_by_default(server: LiveServer) -> None:
    """Self-hosted callers often live on the same machine or network: the default lets them."""
    with server.client(full_access_account(server, "ssrf")) as http:
        for url in ["http://127.0.0.1:9/", "http://localhost:9/", "http://10.0.0.1/"]:
            assert http.post("/v1/api/webhooks", json={"url": url}).status_code == 201, url


def first_attempt(http: httpx.Client, webhook_id: str) -> dict[str, Any]:
    """The webhook's first recorded delivery attempt, once the worker has made it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deliveries = data_of(http.get(f"/v1/api/webhooks/{webhook_id}/deliveries"))["deliveries"]
        if deliveries:
            return dict(deliveries[-1])
        time.sleep(0.05)
    raise AssertionError("no delivery was recorded")


def deliver_test_event(server: LiveServer, url: str) -> dict[str, Any]:
    with server.client(full_access_account(server, "ssrf")) as http:
        webhook = data_of(http.post("/v1/api/webhooks", json={"url": url}))["webhook"]
        data_of(http.post(f"/v1/api/webhooks/{webhook['id']}/test"))
        return first_attempt(http, webhook["id"])


def test_a_name_resolving_to_the_metadata_address_is_not_called(
    server: LiveServer, resolves: dict[str, str]
) -> None:
    resolves["metadata-alias.example"] = "169.254.169.254"
    attempt = deliver_test_event(server, "http://metadata-alias.example/hook")
    assert attempt["succeeded"] is False and attempt["status_code"] is None, attempt
    assert "link-local or cloud metadata" in attempt["error"] and "169.254.169.254" in attempt["error"], (
        attempt
    )


def test_a_name_resolving_to_loopback_is_not_called_when_private_is_not_allowed(
    public_only: LiveServer, resolves: dict[str, str]
) -> None:
    resolves["internal.example"] = "127.0.0.1"
    with Receiver() as receiver:
        attempt = deliver_test_event(public_only, f"http://internal.example:{receiver.port}/hook")
        assert attempt["succeeded"] is False and attempt["status_code"] is None, attempt
        assert "loopback or private" in attempt["error"], attempt
        assert receiver.received() == [], "the server connected to a loopback address it must not call"
