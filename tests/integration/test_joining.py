"""Joining and leaving loops, invite codes, roles, on both databases."""

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, start_server
from tests.integration.reviewing import make_team
from tests.support.live import LiveServer
from tests.support.payloads import request_body


def test_join_with_the_code_in_any_case_and_with_a_dash(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    first, second = server.account("first"), server.account("second")
    code = team.invite_code
    with server.client(first) as http:
        answer = http.post("/v1/api/loops/join", json={"invite_code": f" {code[:3].lower()}-{code[3:]} "})
    assert answer.status_code == 200, answer.text
    assert answer.json()["msg"] == "Joined loop successfully"
    assert answer.json()["data"]["loop"] | {"description": None} == {
        "id": team.loop_id,
        "name": "Content Moderation Review",
        "description": None,
        "icon": "shield-check",
        "role": "member",
        "member_count": 2,
    }
    with server.client(second) as http:
        assert http.post("/api/v1/loops/join", json={"invite_code": code}).status_code == 200
        loops = http.get("/v1/api/loops").json()["data"]["loops"]
    assert [(loop["id"], loop["role"]) for loop in loops] == [(team.loop_id, "member")]


@pytest.mark.parametrize(
    ("code", "status", "msg", "data"),
    [
        ("ABC12", 400, "Validation failed", "invite_code must be exactly 6 characters"),
        ("ABC1234", 400, "Validation failed", "invite_code must be exactly 6 characters"),
        ("ZZZZZZ", 404, "No loop found with that invite code", None),
    ],
)
def test_bad_codes_are_refused(
    server: LiveServer, code: str, status: int, msg: str, data: str | None
) -> None:
    with server.client(server.account()) as http:
        answer = http.post("/v1/api/loops/join", json={"invite_code": code})
    assert answer.status_code == status
    assert answer.json() == {"error": True, "msg": msg, "data": data}


def test_joining_twice_is_a_conflict(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    with team.http(team.reviewers[0]) as http:
        again = http.post("/v1/api/loops/join", json={"invite_code": team.invite_code})
    assert again.status_code == 409
    assert again.json()["msg"] == "You are already a member of this loop"
    with team.http(team.owner) as http:
        creator = http.post("/v1/api/loops/join", json={"invite_code": team.invite_code})
    assert creator.status_code == 409


def test_leave_and_rejoin(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    with team.http(reviewer) as http:
        assert http.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
        left = http.post(f"/v1/api/loops/{team.loop_id}/leave")
        assert left.status_code == 200 and left.json()["msg"] == "Left loop successfully"
        assert http.get("/v1/api/loops").json()["data"]["loops"] == []
        assert http.get("/v1/api/inbox").json()["data"]["total"] == 0
        assert http.post(f"/v1/api/loops/{team.loop_id}/leave").status_code == 404
    # what the leaver held is back in the queue
    assert team.status(request_id)["status"] == "pending"
    with team.http(reviewer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": team.invite_code}).status_code == 200
    with team.http(team.owner) as http:
        creator = http.post(f"/v1/api/loops/{team.loop_id}/leave")
    assert (creator.status_code, creator.json()["msg"]) == (400, "The loop creator cannot leave the loop")


def test_regenerated_code_replaces_the_old_one(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    with team.http(team.owner) as http:
        answer = http.post(f"/v1/api/loops/{team.loop_id}/invite-code")
        loop = http.get(f"/v1/api/loops/{team.loop_id}").json()["data"]["loop"]
    assert answer.status_code == 200
    new_code = answer.json()["data"]["invite_code"]
    assert new_code != team.invite_code and loop["invite_code"] == new_code
    assert answer.json()["data"]["join_url"].endswith(f"/join/{new_code}")
    newcomer = server.account("newcomer")
    with server.client(newcomer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": team.invite_code}).status_code == 404
        assert http.post("/v1/api/loops/join", json={"invite_code": new_code}).status_code == 200
    with server.client() as anonymous:
        assert anonymous.get(f"/qr/{team.invite_code}.png").status_code == 404
        assert anonymous.get(f"/qr/{new_code}.png").status_code == 200


def test_only_managers_regenerate_codes(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    with team.http(team.reviewers[0]) as http:
        answer = http.post(f"/v1/api/loops/{team.loop_id}/invite-code")
    assert answer.status_code == 403


def test_creator_makes_a_member_admin(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    admin, member = team.reviewers
    with team.http(team.owner) as http:
        promoted = http.put(f"/v1/api/loops/{team.loop_id}/members/{admin.user_id}", json={"role": "admin"})
        bad = http.put(f"/v1/api/loops/{team.loop_id}/members/{admin.user_id}", json={"role": "owner"})
        creator = http.put(
            f"/v1/api/loops/{team.loop_id}/members/{team.owner.user_id}", json={"role": "member"}
        )
    assert promoted.status_code == 200
    assert promoted.json()["data"]["member"]["role"] == "admin"
    assert bad.status_code == 400 and bad.json()["data"] == "role must be one of: admin, member, viewer"
    assert creator.status_code == 400
    with team.http(admin) as http:
        # an admin creates requests and sees the loop's, but does not hand out roles
        assert http.post(f"/v1/api/loops/{team.loop_id}/requests", json=request_body()).status_code == 201
        assert http.get(f"/v1/api/loops/{team.loop_id}/requests").json()["data"]["total"] == 1
        denied = http.put(f"/v1/api/loops/{team.loop_id}/members/{member.user_id}", json={"role": "admin"})
        assert denied.status_code == 403
    with team.http(member) as http:
        assert http.post(f"/v1/api/loops/{team.loop_id}/requests", json=request_body()).status_code == 403
        assert http.get(f"/v1/api/loops/{team.loop_id}/requests").status_code == 403


def test_members_list_shows_joined_reviewers(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    with team.http(team.owner) as http:
        data = http.get(f"/v1/api/loops/{team.loop_id}/members").json()["data"]
    assert data["active_count"] == 3
    joined = [m for m in data["members"] if m["role"] == "member"]
    assert {m["user_id"] for m in joined} == {r.user_id for r in team.reviewers}
    assert all(m["joined_at"] and m["last_active"] and m["name"].startswith("reviewer") for m in joined)


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(
        request.param, tmp_path_factory, join_attempts_per_minute=3, join_attempts_per_minute_per_address=5
    )


def test_guessing_invite_codes_is_throttled(guarded: LiveServer) -> None:
    guesser, other = guarded.account("guesser"), guarded.account("other")
    with guarded.client(guesser) as http:
        answers = [
            http.post("/v1/api/loops/join", json={"invite_code": f"ZZZZZ{c}"}).status_code for c in "ABCD"
        ]
    assert answers == [404, 404, 404, 429]
    with guarded.client(other) as http:
        per_address = [
            http.post("/v1/api/loops/join", json={"invite_code": f"YYYYY{c}"}).status_code for c in "AB"
        ]
        refused = http.post("/v1/api/loops/join", json={"invite_code": "YYYYYC"})
    assert per_address == [404, 404]  # the address has now made 6 attempts: 3 + 2 + this one
    assert refused.status_code == 429
    assert refused.json()["msg"] == "Too many invite code attempts"


def test_a_loop_can_stop_its_admins_creating_requests(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    admin = team.reviewers[0]
    with team.http(team.owner) as http:
        http.put(f"/v1/api/loops/{team.loop_id}/members/{admin.user_id}", json={"role": "admin"})
        changed = http.put(
            f"/v1/api/loops/{team.loop_id}", json={"settings": {"admins_can_create_requests": False}}
        )
        assert changed.json()["data"]["loop"]["settings"] == {
            "members_can_create_requests": False,
            "admins_can_create_requests": False,
        }
        # changing one setting leaves the others as they were
        http.put(f"/v1/api/loops/{team.loop_id}", json={"settings": {"members_can_create_requests": False}})
        settings = http.get(f"/v1/api/loops/{team.loop_id}").json()["data"]["loop"]["settings"]
        assert settings["admins_can_create_requests"] is False
    with team.http(admin) as http:
        assert http.post(f"/v1/api/loops/{team.loop_id}/requests", json=request_body()).status_code == 403
