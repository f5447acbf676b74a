"""Every call of the SDK's Client against a live server, its errors, and its retries."""

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from openhitl import Client
from openhitl.client import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
)
from tests.integration.reviewing import Team
from tests.integration.webhooking import webhook_key
from tests.sdk.conftest import answer
from tests.support.live import LiveServer, free_port
from tests.support.payloads import request_body


def test_loops_and_members(server: LiveServer, client: Client, team: Team) -> None:
    created = client.create_loop("Refunds", icon="💰", description="Refunds over $100")
    loop_id = created.loop.id
    assert created.invite_code and created.join_url.endswith(created.invite_code)
    assert loop_id in [loop.id for loop in client.list_loops()]
    assert client.get_loop(loop_id).description == "Refunds over $100"
    assert client.update_loop(loop_id, name="Large refunds").name == "Large refunds"
    server.add_member(loop_id, team.reviewers[0].user_id)
    members = client.list_members(loop_id)
    assert {m.user_id for m in members.members} == {team.owner.user_id, team.reviewers[0].user_id}
    removed = client.remove_member(loop_id, team.reviewers[0].user_id)
    assert removed["user_id"] == team.reviewers[0].user_id
    assert client.list_members(loop_id).total_count == 1
    assert client.delete_loop(loop_id)["loop_id"] == loop_id
    with pytest.raises(NotFound, match=r"Loop not found \(status 404\)"):
        client.get_loop(loop_id)


def test_requests_and_feedback(client: Client, team: Team) -> None:
    created = client.create_request(team.loop_id, request_body(callback_url=None))
    assert created.status == "pending" and created.polling_url.endswith(created.request_id)
    updated = client.update_request(created.request_id, {"priority": "high"})
    assert updated.priority == "high"
    page = client.list_requests(loop_id=team.loop_id, priority="high")
    assert [r.id for r in page.requests] == [created.request_id] and page.total == 1
    answer(team, created.request_id, "Approve")
    fetched = client.get_request(created.request_id)
    assert (fetched.status, fetched.response_value) == ("completed", "Approve")
    assert fetched.response_by_user is not None
    assert fetched.response_by_user.user_id == team.reviewers[0].user_id
    feedback = client.add_feedback(created.request_id, {"rating": 5, "comment": "quick"})
    assert feedback.feedback == {"rating": 5, "comment": "quick"}
    other = client.create_request(team.loop_id, request_body(callback_url=None))
    cancelled = client.cancel_request(other.request_id, reason="changed my mind")
    assert (cancelled.status, cancelled.previous_status, cancelled.reason) == (
        "cancelled",
        "pending",
        "changed my mind",
    )
    with pytest.raises(BadRequest, match="cannot be cancelled"):
        client.cancel_request(other.request_id)


def test_webhooks_and_api_keys(server: LiveServer, team: Team) -> None:
    with Client(webhook_key(server, team.owner).key, server.url) as client:
        webhook = client.create_webhook("http://127.0.0.1:9/hook", events=["request.*"], description="CI")
        assert webhook.secret and webhook.secret.startswith("whsec_")
        assert [w.id for w in client.list_webhooks()] == [webhook.id]
        assert client.get_webhook(webhook.id).events == ["request.*"]
        assert client.update_webhook(webhook.id, enabled=False).enabled is False
        assert client.test_webhook(webhook.id)["event"] == "webhook.test"
        assert client.delete_webhook(webhook.id)["deleted"] is True
        assert client.signing_secret().startswith("whsec_")
        created = client.create_api_key("agent", permissions=["requests:read"])
        assert created.key.startswith("hitl_live_") and created.api_key.permissions == ["requests:read"]
        assert created.api_key.id in [k.id for k in client.list_api_keys()]
        assert client.revoke_api_key(created.api_key.id).is_active is False
    with Client(created.key, server.url) as revoked, pytest.raises(AuthenticationFailed):
        revoked.list_requests()


def test_errors_carry_the_server_message(client: Client, server: LiveServer, team: Team) -> None:
    with pytest.raises(BadRequest) as bad:
        client.create_request(team.loop_id, request_body(timeout_seconds=5))
    assert bad.value.msg == "Validation failed"
    assert bad.value.data == "timeout_seconds must be between 60 and 86400"
    assert str(bad.value) == "Validation failed: timeout_seconds must be between 60 and 86400 (status 400)"
    with pytest.raises(PermissionDenied, match="requires webhooks:read"):
        client.list_webhooks()
    with Client("hitl_live_" + "0" * 64, server.url) as stranger, pytest.raises(AuthenticationFailed) as auth:
        stranger.list_loops()
    assert (auth.value.status_code, auth.value.msg) == (401, "Invalid authorization token")


class DropFirstAnswer:
    """A loopback proxy that passes the first request to the server but drops the server's answer, as a
    network cut at the wrong moment would; later connections pass both ways."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            drop = self.connections == 1
            threading.Thread(target=self._pipe, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, downstream, drop), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, drop: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if drop:  # the server has answered: the caller never hears it
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        for end in (source, sink):  # shutdown, not only close: it wakes the other direction's recv
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def flaky(server: LiveServer) -> Iterator[DropFirstAnswer]:
    proxy = DropFirstAnswer(server.port)
    yield proxy
    proxy.close()


def test_a_create_whose_answer_was_lost_is_retried_into_the_same_request(
    flaky: DropFirstAnswer, client: Client, team: Team
) -> None:
    with Client(team.owner.key, f"http://127.0.0.1:{flaky.port}") as through_proxy:
        created = through_proxy.create_request(team.loop_id, request_body(callback_url=None))
    assert flaky.connections == 2
    page = client.list_requests(loop_id=team.loop_id)
    assert [r.id for r in page.requests] == [created.request_id]


def test_a_loop_create_whose_answer_was_lost_is_not_sent_twice(
    flaky: DropFirstAnswer, client: Client, team: Team
) -> None:
    through_proxy = Client(team.owner.key, f"http://127.0.0.1:{flaky.port}")
    with through_proxy, pytest.raises(ConnectionFailed):
        through_proxy.create_loop("Only once")
    assert flaky.connections == 1
    assert [loop.name for loop in client.list_loops()].count("Only once") == 1


def test_an_unreachable_server_fails_after_the_retries(team: Team) -> None:
    nowhere = Client(team.owner.key, f"http://127.0.0.1:{free_port()}", retries=2)
    with nowhere, pytest.raises(ConnectionFailed, match="GET /loops"):
        nowhere.list_loops()


def test_many_threads_share_one_client(client: Client, team: Team) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        loops = list(pool.map(lambda _: client.get_loop(team.loop_id).id, range(8)))
    assert loops == [team.loop_id] * 8


def test_importing_the_sdk_loads_none_of_the_server() -> None:
    check = (
        "import sys; from openhitl import AsyncClient, Client, Decision, require_approval; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'sqlalchemy', 'starlette', 'mcp'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert (loaded.returncode, loaded.stdout) == (0, "[]\n"), loaded.stderr
