"""Loops over HTTP: update, delete, members, scoping, on both databases."""

import pytest

from tests.integration.conftest import Owner
from tests.support.live import LiveServer
from tests.support.payloads import SEED_LOOP, SEED_REQUEST


def test_list_loops_shows_only_the_callers_loops_with_their_role(server: LiveServer, owner: Owner) -> None:
    other = server.account("other")
    with server.client(other) as http:
        assert http.post("/v1/api/loops", json={"name": "Theirs", "icon": "eye"}).status_code == 201
        theirs = http.get("/v1/api/loops").json()["data"]
    mine = owner.http.get("/v1/api/loops").json()
    assert mine["msg"] == "Loops retrieved successfully"
    assert [loop["id"] for loop in mine["data"]["loops"]] == [owner.loop_id]
    assert mine["data"]["count"] == 1
    assert mine["data"]["loops"][0]["role"] == "creator"
    assert [loop["name"] for loop in theirs["loops"]] == ["Theirs"]


def test_members_see_the_loop_but_not_other_members_details(server: LiveServer, owner: Owner) -> None:
    member = server.account("member")
    server.add_member(owner.loop_id, member.user_id)
    with server.client(member) as http:
        listed = http.get("/v1/api/loops").json()["data"]["loops"]
        members = http.get(f"/v1/api/loops/{owner.loop_id}/members")
        update = http.put(f"/v1/api/loops/{owner.loop_id}", json={"name": "Mine now"})
        delete = http.delete(f"/v1/api/loops/{owner.loop_id}")
    assert [loop["role"] for loop in listed] == ["member"]
    assert [m["user_id"] for m in listed[0]["members"]] == [member.user_id]
    assert listed[0]["member_count"] == 2
    for answer in (members, update, delete):
        assert answer.status_code == 403
        assert answer.json() == {"error": True, "msg": "Access denied to this loop", "data": None}


def test_a_stranger_cannot_tell_a_loop_exists(server: LiveServer, owner: Owner) -> None:
    stranger = server.account("stranger")
    with server.client(stranger) as http:
        answers = [
            http.get(f"/v1/api/loops/{owner.loop_id}"),
            http.put(f"/v1/api/loops/{owner.loop_id}", json={"name": "x"}),
            http.delete(f"/v1/api/loops/{owner.loop_id}"),
            http.get(f"/v1/api/loops/{owner.loop_id}/members"),
            http.get(f"/v1/api/loops/{owner.loop_id}/requests"),
            http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST),
        ]
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert answer.json()["msg"] == "Loop not found"


def test_update_loop_changes_fields_and_keeps_the_rest(owner: Owner) -> None:
    before = owner.http.get(f"/v1/api/loops/{owner.loop_id}").json()["data"]["loop"]
    answer = owner.http.put(f"/v1/loops/{owner.loop_id}", json={"name": "  Renamed  ", "icon": "💰"})
    assert answer.status_code == 200
    assert answer.json()["msg"] == "Loop updated successfully"
    loop = answer.json()["data"]["loop"]
    assert (loop["name"], loop["icon"], loop["description"]) == ("Renamed", "💰", SEED_LOOP["description"])
    assert loop["invite_code"] == before["invite_code"]
    assert loop["updated_at"] > before["updated_at"]


@pytest.mark.parametrize(
    ("body", "msg", "data"),
    [
        ({}, "At least one field must be provided for update", None),
        ({"name": ""}, "Validation failed", "name must be between 1 and 100 characters"),
        ({"name": "x" * 101}, "Validation failed", "name must be between 1 and 100 characters"),
        ({"description": "d" * 501}, "Validation failed", "description must be at most 500 characters"),
        ({"icon": "i" * 101}, "Validation failed", "icon must be between 1 and 100 characters"),
        ({"name": 5}, "Validation failed", "name must be a string"),
    ],
)
def test_update_loop_refuses_bad_fields(
    owner: Owner, body: dict[str, object], msg: str, data: str | None
) -> None:
    answer = owner.http.put(f"/v1/api/loops/{owner.loop_id}", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": True, "msg": msg, "data": data}


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ({"icon": "eye"}, "name is required"),
        ({"name": "x"}, "icon is required"),
        ({"name": "   ", "icon": "eye"}, "name must be between 1 and 100 characters"),
        ({"name": "x" * 101, "icon": "eye"}, "name must be between 1 and 100 characters"),
        (
            {"name": "x", "icon": "eye", "description": "d" * 501},
            "description must be at most 500 characters",
        ),
    ],
)
def test_create_loop_refuses_bad_fields(server: LiveServer, body: dict[str, object], data: str) -> None:
    with server.client(server.account()) as http:
        answer = http.post("/v1/api/loops", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": True, "msg": "Validation failed", "data": data}


def test_delete_loop_removes_everything_and_reports_counts(server: LiveServer, owner: Owner) -> None:
    member = server.account("member")
    server.add_member(owner.loop_id, member.user_id)
    for _ in range(3):
        assert (
            owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST).status_code == 201
        )
    request_ids = [r["id"] for r in owner.http.get("/v1/api/requests").json()["data"]["requests"]]
    request_id = request_ids[0]
    answer = owner.http.delete(f"/v1/api/loops/{owner.loop_id}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["msg"] == "Loop deleted successfully"
    assert body["data"]["loop_id"] == owner.loop_id
    cancelled = body["data"]["deleted_data"].pop("requests_cancelled")
    assert sorted(cancelled) == sorted(request_ids), "the open requests were cancelled before the delete"
    assert body["data"]["deleted_data"] == {
        "members_removed": 2,
        "requests_deleted": 3,
        "responses_deleted": 0,
    }
    assert owner.http.get(f"/v1/api/loops/{owner.loop_id}").status_code == 404
    assert owner.http.get(f"/v1/api/requests/{request_id}").status_code == 404
    assert owner.http.get("/v1/api/requests").json()["data"]["total"] == 0


def test_members_list_and_removal(server: LiveServer, owner: Owner) -> None:
    alice, bob = server.account("alice"), server.account("bob")
    server.add_member(owner.loop_id, alice.user_id)
    server.add_member(owner.loop_id, bob.user_id, status="pending")
    listed = owner.http.get(f"/v1/api/loops/{owner.loop_id}/members")
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert listed.json()["msg"] == "Loop members retrieved successfully"
    assert (data["total_count"], data["active_count"], data["pending_count"]) == (3, 2, 1)
    by_id = {m["user_id"]: m for m in data["members"]}
    assert by_id[owner.account.user_id]["role"] == "creator"
    assert by_id[alice.user_id] | {"joined_at": None, "last_active": None} == {
        "user_id": alice.user_id,
        "email": alice.email,
        "name": "alice",
        "status": "active",
        "role": "member",
        "joined_at": None,
        "last_active": None,
    }
    assert by_id[bob.user_id]["status"] == "pending" and by_id[bob.user_id]["joined_at"] is None

    removed = owner.http.delete(f"/v1/api/loops/{owner.loop_id}/members/{alice.user_id}")
    assert removed.status_code == 200
    assert removed.json()["msg"] == "Member removed from loop successfully"
    assert removed.json()["data"]["user_id"] == alice.user_id
    with server.client(alice) as http:
        assert http.get(f"/v1/api/loops/{owner.loop_id}").status_code == 404  # access ends at once

    again = owner.http.delete(f"/v1/api/loops/{owner.loop_id}/members/{alice.user_id}")
    assert (again.status_code, again.json()["msg"]) == (404, "Member not found in this loop")
    creator = owner.http.delete(f"/v1/api/loops/{owner.loop_id}/members/{owner.account.user_id}")
    assert (creator.status_code, creator.json()["msg"]) == (400, "Loop creator cannot be removed")


def test_admins_manage_members_but_not_the_creator(server: LiveServer, owner: Owner) -> None:
    admin, member = server.account("admin"), server.account("member")
    server.add_member(owner.loop_id, admin.user_id, role="admin")
    server.add_member(owner.loop_id, member.user_id)
    with server.client(admin) as http:
        assert http.get(f"/v1/api/loops/{owner.loop_id}/members").status_code == 200
        creator = http.delete(f"/v1/api/loops/{owner.loop_id}/members/{owner.account.user_id}")
        removed = http.delete(f"/v1/api/loops/{owner.loop_id}/members/{member.user_id}")
        update = http.put(f"/v1/api/loops/{owner.loop_id}", json={"name": "Admin's"})
    assert creator.status_code == 400
    assert removed.status_code == 200
    assert update.status_code == 403  # only the creator changes the loop itself


def test_invalid_ids_are_refused_with_the_reference_message(owner: Owner) -> None:
    answer = owner.http.get("/v1/api/loops/not-an-id")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": True,
        "msg": "Invalid loop ID format",
        "data": "loop_id must be a 24-character hexadecimal id",
    }
    member = owner.http.delete(f"/v1/api/loops/{owner.loop_id}/members/nope")
    assert (member.status_code, member.json()["msg"]) == (400, "Invalid user ID format")
