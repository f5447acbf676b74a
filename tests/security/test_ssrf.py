"""The server never calls addresses it must not: cloud metadata, link-local, and (when the operator says so)
loopback, private and every other range that is not globally reachable in the IANA special-purpose registries.
Refused when the URL is given, whatever way the address is spelt, and again when a name resolves to such an
address at delivery time: the delivery fails with the reason, no connection. And what a service inside the
network answers never shows in the delivery log: its status and timing do, its body does not.

Every address below is refused before a connection is made; the only receivers are on loopback."""

import socket
import threading
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
# Neither loopback nor RFC 1918, and not globally reachable either (IANA special-purpose registries): refused
# with private targets too when OPENHITL_CALLBACK_ALLOW_PRIVATE=false, allowed by default like private ones.
OTHER_NON_GLOBAL = [
    "http://100.64.0.1/",  # Shared Address Space (carrier-grade NAT)
    "http://100.127.255.254:8080/",
    "http://1681915905/",  # 100.64.0.1, as a decimal number
    "http://[::ffff:100.64.0.1]/",
    "http://[64:ff9b::6440:1]/",  # NAT64 of 100.64.0.1
    "http://198.18.0.1/",  # Benchmarking
    "http://192.0.0.1/",  # IPv4 Service Continuity Prefix
    "http://192.88.99.2/",  # 6a44-relay anycast
    "http://[64:ff9b:1::1]/",  # local-use IPv4/IPv6 translation
    "http://[100::1]/",  # Discard-Only
    "http://[2001:2::1]/",  # Benchmarking
    "http://[5f00::1]/",  # SRv6 SIDs
    "http://[fd12:3456::1]/",
]
# Not a destination anyone can call (documentation, reserved, broadcast, multicast, deprecated): refused always.
NOT_A_DESTINATION = [
    "http://192.0.2.10/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://[2001:db8::1]/",
    "http://[3fff::1]/",
    "http://192.0.0.8/",
    "http://192.0.0.170/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://224.0.0.251/",
    "http://[ff02::1]/",
    "http://[100:0:0:1::1]/",
    "http://[2001:10::1]/",
    "http://[::a9fe:a9fe]/",  # IPv4-compatible (deprecated): reserved IPv6 space
    "http://[4000::1]/",  # outside 2000::/3
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


def test_addresses_that_are_no_destination_are_refused_whatever_the_setting(
    server: LiveServer, public_only: LiveServer
) -> None:
    problems = refusals(server, NOT_A_DESTINATION, "must point to a unicast address")
    problems += refusals(public_only, NOT_A_DESTINATION, "must point to a unicast address")
    assert not problems, "\n".join(problems)


def test_loopback_and_private_targets_are_refused_when_not_allowed(public_only: LiveServer) -> None:
    problems = refusals(public_only, LOOPBACK_AND_PRIVATE, "must not point to a loopback or private address")
    assert not problems, "\n".join(problems)


def test_every_other_non_global_range_is_refused_when_private_is_not_allowed(public_only: LiveServer) -> None:
    problems = refusals(public_only, OTHER_NON_GLOBAL, "must not point to a loopback or private address")
    assert not problems, "\n".join(problems)


def test_the_refusal_names_the_registry_block(public_only: LiveServer) -> None:
    with public_only.client(full_access_account(public_only, "ssrf")) as http:
        answer = http.post("/v1/api/webhooks", json={"url": "http://100.64.0.1/"})
    assert answer.status_code == 400 and answer.json()["error"] is True, answer.text
    assert "100.64.0.0/10: Shared Address Space" in str(answer.json()["data"]), answer.text


def test_private_targets_are_allowed_by_default(server: LiveServer) -> None:
    """Self-hosted callers often live on the same machine or network: the default lets them."""
    with server.client(full_access_account(server, "ssrf")) as http:
        for url in ["http://127.0.0.1:9/", "http://localhost:9/", "http://10.0.0.1/", *OTHER_NON_GLOBAL]:
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
        return deliver_test_event_with(http, url)


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


def test_a_name_resolving_to_shared_address_space_is_not_called_when_private_is_not_allowed(
    public_only: LiveServer, resolves: dict[str, str]
) -> None:
    resolves["cgnat.example"] = "100.64.0.1"
    attempt = deliver_test_event(public_only, "http://cgnat.example/hook")
    assert attempt["succeeded"] is False and attempt["status_code"] is None, attempt
    assert "100.64.0.0/10: Shared Address Space" in attempt["error"] and "100.64.0.1" in attempt["error"], (
        attempt
    )


SECRET = "internal-secret-7f3a9c"


def delivery_logs(http: httpx.Client, webhook_id: str | None, request_id: str | None = None) -> str:
    """Everything the API shows of the deliveries: the endpoint's log and the request's."""
    shown = []
    if webhook_id is not None:
        shown.append(http.get(f"/v1/api/webhooks/{webhook_id}/deliveries").text)
    if request_id is not None:
        shown.append(http.get(f"/v1/api/requests/{request_id}/deliveries").text)
    return "\n".join(shown)


@pytest.mark.parametrize("status", [200, 500])
def test_an_internal_services_answer_never_shows_in_the_delivery_log(server: LiveServer, status: int) -> None:
    """With private targets allowed (the default), any key holder can point a webhook at an internal service;
    the log tells them whether it answered and how fast, never what it said."""
    with Receiver() as internal, server.client(full_access_account(server, "ssrf")) as http:
        internal.answer_with(f'{{"token": "{SECRET}"}}'.encode())
        if status != 200:
            internal.fail(status)
        attempt = deliver_test_event_with(http, internal.url("/admin"))
        assert internal.received(), "the loopback receiver was not called"
        assert (attempt["status_code"], attempt["response_body"]) == (status, None), attempt
        assert attempt["latency_ms"] is not None and attempt["latency_ms"] >= 0, attempt
        assert SECRET not in delivery_logs(http, attempt["webhook_id"]), "the internal answer leaked"


def test_an_internal_answer_to_a_callback_url_never_shows_in_the_request_log(server: LiveServer) -> None:
    with Receiver() as internal, server.client(full_access_account(server, "ssrf")) as http:
        internal.answer_with(SECRET.encode())
        loop_id = data_of(http.post("/v1/api/loops", json=SEED_LOOP))["loop"]["id"]
        created = http.post(
            f"/v1/api/loops/{loop_id}/requests", json=yes_no("Ok?", callback_url=internal.url("/cb"))
        )
        request_id = data_of(created)["request_id"]
        data_of(http.post(f"/v1/api/requests/{request_id}/cancel"))
        internal.wait_for(1, timeout=60)
        deadline = time.monotonic() + 60
        while not (log := data_of(http.get(f"/v1/api/requests/{request_id}/deliveries"))["deliveries"]):
            assert time.monotonic() < deadline, "no callback delivery was recorded"
            time.sleep(0.05)
        assert (log[0]["status_code"], log[0]["response_body"]) == (200, None), log
        assert SECRET not in delivery_logs(http, None, request_id), "the internal answer leaked"


def test_a_banner_from_a_service_that_is_not_http_never_shows_in_the_log(server: LiveServer) -> None:
    """A webhook aimed at an SSH, SMTP or database port fails with a parse error; the error does not quote
    the bytes the service sent."""
    with (
        banner_service(f"SSH-2.0-{SECRET}\r\nProtocol mismatch.\r\n\r\n".encode()) as port,
        server.client(full_access_account(server, "ssrf")) as http,
    ):
        attempt = deliver_test_event_with(http, f"http://127.0.0.1:{port}/")
        assert attempt["succeeded"] is False and attempt["status_code"] is None, attempt
        assert "RemoteProtocolError" in attempt["error"], attempt  # the answer was read, and not understood
        assert SECRET not in delivery_logs(http, attempt["webhook_id"]), "the banner leaked"


def test_a_globally_reachable_receivers_answer_is_kept(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contrast: an answer from a public address stays in the log (loopback stands in for one here)."""
    from openhitl.webhooks import sender as webhook_sender

    monkeypatch.setattr(webhook_sender, "is_globally_reachable", lambda address: True)
    with Receiver() as public, server.client(full_access_account(server, "ssrf")) as http:
        public.answer_with(b'{"ok": "public answer"}')
        attempt = deliver_test_event_with(http, public.url())
    assert (attempt["status_code"], attempt["response_body"]) == (200, '{"ok": "public answer"}'), attempt


def deliver_test_event_with(http: httpx.Client, url: str) -> dict[str, Any]:
    webhook = data_of(http.post("/v1/api/webhooks", json={"url": url}))["webhook"]
    data_of(http.post(f"/v1/api/webhooks/{webhook['id']}/test"))
    return first_attempt(http, webhook["id"])


class banner_service:
    """A TCP service on loopback that answers whatever it is sent with `banner`, then closes."""

    def __init__(self, banner: bytes) -> None:
        self.banner = banner
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.banner)
                time.sleep(0.2)

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.listener.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        self.listener.close()
