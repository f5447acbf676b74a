"""One world per backend for the security tests: a loop with an owner, an admin, a member and a viewer,
outsiders, and a key that was revoked. Made once and shared: the cases that use something up make a fresh one of their own."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.live import Account, LiveServer, full_access_account
from tests.support.payloads import PUSH_KEYS, SEED_LOOP, yes_no

# Loopback port 9 (discard): deliveries fail at once and nothing leaves the machine.
WEBHOOK = {"url": "http://127.0.0.1:9/security", "events": ["request.completed"]}
# Who calls. "outsider" has no loops; "other" is another tenant with a loop, a request and a webhook of its own.
SIGNED_IN = ("owner", "admin", "member", "viewer", "outsider", "other")
UNAUTHENTICATED = ("revoked", "anonymous")
ROLES = SIGNED_IN + UNAUTHENTICATED


def data_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, (
        f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text}"
    )
    return dict(answer.json()["data"])


@dataclass
class World:
    server: LiveServer
    accounts: dict[str, Account]
    loop_id: str
    pending_request_id: str
    completed_request_id: str
    webhook_id: str
    delivery_id: str
    lobby_invite_code: str  # a loop of someone else's that anyone may join (joining it changes nothing here)
    revoked_key: str
    owner_key_id: str  # a second, working key of the owner's
    owner_push_endpoint: str
    other_loop_id: str
    other_request_id: str
    other_webhook_id: str
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    push_keys: dict[str, str] = field(default_factory=lambda: dict(PUSH_KEYS))
    push_endpoints: int = 0  # how many endpoints were made up so far (each subscription needs its own)

    def client(self, role: str) -> httpx.Client:
        """A client calling as `role` (kept open for the module: one connection per role)."""
        if role not in self.clients:
            if role == "anonymous":
                self.clients[role] = self.server.client()
            elif role == "revoked":
                owner = self.accounts["owner"]
                self.clients[role] = self.server.client(Account(owner.user_id, owner.email, self.revoked_key))
            else:
                self.clients[role] = self.server.client(self.accounts[role])
        return self.clients[role]

    def user_id(self, role: str) -> str:
        return self.accounts[role].user_id

    def fresh_loop(self) -> str:
        return str(data_of(self.client("owner").post("/v1/api/loops", json=SEED_LOOP))["loop"]["id"])

    def fresh_request(self, loop_id: str | None = None) -> str:
        body = yes_no("Ship it?")
        answer = self.client("owner").post(f"/v1/api/loops/{loop_id or self.loop_id}/requests", json=body)
        return str(data_of(answer)["request_id"])

    def fresh_claimed_request(self, role: str) -> str:
        request_id = self.fresh_request()
        data_of(self.client(role).post(f"/v1/api/requests/{request_id}/claim"))
        return request_id

    def fresh_member(self) -> str:
        newcomer = self.server.account("newcomer")
        self.server.add_member(self.loop_id, newcomer.user_id)
        return newcomer.user_id

    def fresh_membership(self, role: str) -> str:
        """A loop of the owner's that `role` was just made a member of (in its role in the world)."""
        loop_id = self.fresh_loop()
        if role in ("admin", "member", "viewer"):
            self.server.add_member(loop_id, self.user_id(role), role=role)
        return loop_id

    def close(self) -> None:
        for http in self.clients.values():
            http.close()


def first_delivery(http: httpx.Client, webhook_id: str) -> str:
    """The id of the endpoint's first delivery, once the worker has made one (it runs every second)."""
    data_of(http.post(f"/v1/api/webhooks/{webhook_id}/test"))
    for _ in range(300):
        deliveries = data_of(http.get(f"/v1/api/webhooks/{webhook_id}/deliveries"))["deliveries"]
        if deliveries:
            return str(deliveries[0]["id"])
        http.get("/livez")  # a round trip instead of a sleep: the worker runs meanwhile
    raise AssertionError("the test event was never delivered")


def own_loop_with_request(server: LiveServer, http: httpx.Client) -> tuple[str, str]:
    loop_id = str(data_of(http.post("/v1/api/loops", json=SEED_LOOP))["loop"]["id"])
    request_id = str(
        data_of(http.post(f"/v1/api/loops/{loop_id}/requests", json=yes_no("Ok?")))["request_id"]
    )
    return loop_id, request_id


@pytest.fixture(scope="session")
def world(server: LiveServer) -> Iterator[World]:
    accounts = {role: full_access_account(server, role) for role in SIGNED_IN}
    lobby = server.account("lobby")
    with (
        server.client(accounts["owner"]) as owner,
        server.client(accounts["other"]) as other,
        server.client(lobby) as lobby_http,
    ):
        loop_id, pending = own_loop_with_request(server, owner)
        server.add_member(loop_id, accounts["admin"].user_id, role="admin")
        server.add_member(loop_id, accounts["member"].user_id)
        server.add_member(loop_id, accounts["viewer"].user_id, role="viewer")
        completed = str(
            data_of(owner.post(f"/v1/api/loops/{loop_id}/requests", json=yes_no("Done?")))["request_id"]
        )
        with server.client(accounts["member"]) as member:
            data_of(member.post(f"/v1/api/requests/{completed}/respond", json={"response_data": True}))
        owner_push_endpoint = "http://127.0.0.1:9/push/owner"
        data_of(
            owner.post(
                "/v1/api/push/subscriptions", json={"endpoint": owner_push_endpoint, "keys": PUSH_KEYS}
            )
        )
        webhook_id = str(data_of(owner.post("/v1/api/webhooks", json=WEBHOOK))["webhook"]["id"])
        spare = data_of(owner.post("/v1/api/api-keys", json={"name": "to be revoked"}))
        data_of(owner.delete(f"/v1/api/api-keys/{spare['api_key']['id']}"))
        other_loop_id, other_request_id = own_loop_with_request(server, other)
        world = World(
            server=server,
            accounts=accounts,
            loop_id=loop_id,
            pending_request_id=pending,
            completed_request_id=completed,
            webhook_id=webhook_id,
            delivery_id=first_delivery(owner, webhook_id),
            lobby_invite_code=str(data_of(lobby_http.post("/v1/api/loops", json=SEED_LOOP))["invite_code"]),
            revoked_key=str(spare["key"]),
            owner_key_id=str(data_of(owner.post("/v1/api/api-keys", json={"name": "kept"}))["api_key"]["id"]),
            owner_push_endpoint=owner_push_endpoint,
            other_loop_id=other_loop_id,
            other_request_id=other_request_id,
            other_webhook_id=str(data_of(other.post("/v1/api/webhooks", json=WEBHOOK))["webhook"]["id"]),
        )
    try:
        yield world
    finally:
        world.close()
