"""Helpers for reviewer tests: a loop with reviewers in it, and requests to answer."""

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP, request_body


@dataclass
class Team:
    server: LiveServer
    owner: Account
    loop_id: str
    invite_code: str
    reviewers: list[Account] = field(default_factory=list)

    def http(self, account: Account) -> httpx.Client:
        return self.server.client(account)

    def ask(self, **overrides: Any) -> str:
        with self.http(self.owner) as http:
            answer = http.post(f"/v1/api/loops/{self.loop_id}/requests", json=request_body(**overrides))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["data"]["request_id"])

    def status(self, request_id: str) -> dict[str, Any]:
        with self.http(self.owner) as http:
            return dict(http.get(f"/v1/api/requests/{request_id}").json()["data"])


def make_team(server: LiveServer, reviewers: int = 2) -> Team:
    owner = server.account("owner")
    with server.client(owner) as http:
        created = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
    team = Team(server, owner, created["loop"]["id"], created["invite_code"])
    for index in range(reviewers):
        reviewer = server.account(f"reviewer{index}")
        with server.client(reviewer) as http:
            joined = http.post("/v1/api/loops/join", json={"invite_code": team.invite_code.lower()})
        assert joined.status_code == 200, joined.text
        team.reviewers.append(reviewer)
    return team


def wait_for_status(team: Team, request_id: str, status: str, seconds: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        current = team.status(request_id)
        if current["status"] == status or time.monotonic() > deadline:
            return current
        time.sleep(0.05)
