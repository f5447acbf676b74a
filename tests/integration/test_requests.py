"""Requests over HTTP: list, get, update, cancel, feedback, scoping, on both databases."""

from typing import Any

import pytest

from tests.integration.conftest import Owner
from tests.support.live import LiveServer, complete
from tests.support.payloads import request_body


def create(owner: Owner, **overrides: Any) -> str:
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(**overrides))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["request_id"])


def listed(owner: Owner, path: str = "/v1/api/requests", **params: Any) -> dict[str, Any]:
    answer = owner.http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def test_list_filters_and_sorts(server: LiveServer, owner: Owner) -> None:
    low = create(owner, priority="low")
    critical = create(owner, priority="critical")
    high = create(owner, priority="high")
    cancelled = create(owner, priority="medium")
    owner.http.delete(f"/v1/api/requests/{cancelled}")

    everything = listed(owner)
    assert [r["id"] for r in everything["requests"]] == [cancelled, high, critical, low]  # newest first
    assert everything["total"] == 4 and everything["count"] == 4 and everything["has_more"] is False
    assert everything["pagination"] == {"limit": 50, "offset": 0, "next_offset": None}
    assert [r["id"] for r in listed(owner, sort="created_at_asc")["requests"]] == [
        low,
        critical,
        high,
        cancelled,
    ]
    assert [r["id"] for r in listed(owner, sort="priority_desc")["requests"]] == [
        critical,
        high,
        cancelled,
        low,
    ]
    assert [r["status"] for r in listed(owner, sort="status_asc")["requests"]] == ["cancelled"] + [
        "pending"
    ] * 3
    assert [r["id"] for r in listed(owner, status="cancelled")["requests"]] == [cancelled]
    assert [r["id"] for r in listed(owner, status="pending", priority="critical")["requests"]] == [critical]
    assert listed(owner, status="timed_out")["total"] == 0  # the seed's alias is accepted as a filter
    assert listed(owner, loop_id=owner.loop_id)["total"] == 4
    assert (
        listed(owner, f"/v1/api/loops/{owner.loop_id}/requests", priority="low")["requests"][0]["id"] == low
    )
    assert listed(owner, f"/v1/api/loops/{owner.loop_id}/requests")["loop_id"] == owner.loop_id


def test_pagination_edges(owner: Owner) -> None:
    ids = [create(owner) for _ in range(5)][::-1]
    first = listed(owner, limit=2)
    assert [r["id"] for r in first["requests"]] == ids[:2]
    assert (first["count"], first["total"], first["has_more"]) == (2, 5, True)
    assert first["pagination"] == {"limit": 2, "offset": 0, "next_offset": 2}
    last = listed(owner, limit=2, offset=4)
    assert [r["id"] for r in last["requests"]] == ids[4:]
    assert last["has_more"] is False and last["pagination"]["next_offset"] is None
    beyond = listed(owner, limit=100, offset=50)
    assert (beyond["count"], beyond["total"], beyond["requests"]) == (0, 5, [])
    exact = listed(owner, limit=5)
    assert exact["has_more"] is False and exact["count"] == 5


@pytest.mark.parametrize(
    ("params", "msg", "data"),
    [
        ({"limit": 0}, "Invalid pagination parameters", "limit must be between 1 and 100"),
        ({"limit": 101}, "Invalid pagination parameters", "limit must be between 1 and 100"),
        ({"limit": "ten"}, "Invalid pagination parameters", "limit must be an integer"),
        ({"offset": -1}, "Invalid pagination parameters", "offset must be 0 or more"),
        (
            {"status": "done"},
            "Invalid status filter value",
            "status must be one of: pending, claimed, completed, timeout, cancelled",
        ),
        (
            {"priority": "urgent"},
            "Invalid priority filter value",
            "priority must be one of: low, medium, high, critical",
        ),
        (
            {"sort": "random"},
            "Invalid sort value",
            "sort must be one of: created_at_desc, created_at_asc, priority_desc, status_asc",
        ),
        ({"loop_id": "abc"}, "Invalid loop ID format", "loop_id must be a 24-character hex id"),
    ],
)
def test_bad_list_parameters(owner: Owner, params: dict[str, Any], msg: str, data: str) -> None:
    answer = owner.http.get("/v1/api/requests", params=params)
    assert answer.status_code == 400
    assert answer.json() == {"error": True, "msg": msg, "data": data}


def test_requests_are_scoped_to_their_owner_and_loop_managers(server: LiveServer, owner: Owner) -> None:
    request_id = create(owner)
    stranger, member, admin = server.account("stranger"), server.account("member"), server.account("admin")
    server.add_member(owner.loop_id, member.user_id)
    server.add_member(owner.loop_id, admin.user_id, role="admin")
    with server.client(stranger) as http:
        assert http.get(f"/v1/api/requests/{request_id}").status_code == 404
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 404
        assert http.patch(f"/v1/api/requests/{request_id}", json={"priority": "low"}).status_code == 404
        assert (
            http.post(f"/v1/api/requests/{request_id}/feedback", json={"feedback": {"rating": 5}}).status_code
            == 404
        )
        assert http.get("/v1/api/requests").json()["data"]["total"] == 0
    with server.client(member) as http:
        denied = http.get(f"/v1/api/requests/{request_id}")
        assert (denied.status_code, denied.json()["msg"]) == (403, "Access denied to this request")
        assert http.get("/v1/api/requests").json()["data"]["total"] == 0
        create_denied = http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body())
        assert (create_denied.status_code, create_denied.json()["msg"]) == (
            403,
            "Only loop creators and admins can create requests",
        )
    with server.client(admin) as http:
        assert http.get(f"/v1/api/requests/{request_id}").status_code == 200
        assert http.get("/v1/api/requests").json()["data"]["total"] == 1
        assert http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body()).status_code == 201


def test_members_may_create_when_the_loop_allows_it(server: LiveServer, owner: Owner) -> None:
    member = server.account("member")
    server.add_member(owner.loop_id, member.user_id)
    update = owner.http.put(
        f"/v1/api/loops/{owner.loop_id}", json={"settings": {"members_can_create_requests": True}}
    )
    assert update.status_code == 200
    with server.client(member) as http:
        created = http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body())
        assert created.status_code == 201
        assert created.json()["data"]["broadcasted_to"] == 2
        # the member sees their own request, not the rest of the loop's
        mine = http.get("/v1/api/requests").json()["data"]
        assert [r["id"] for r in mine["requests"]] == [created.json()["data"]["request_id"]]


def test_an_admin_removed_from_the_loop_may_cancel_but_not_change_what_they_sent(
    server: LiveServer, owner: Owner
) -> None:
    admin = server.account("former-admin")
    server.add_member(owner.loop_id, admin.user_id, role="admin")
    with server.client(admin) as http:
        kept, cancelled = (
            http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body()).json()["data"][
                "request_id"
            ]
            for _ in range(2)
        )
        assert http.patch(f"/v1/api/requests/{kept}", json={"priority": "high"}).status_code == 200
    removed = owner.http.delete(f"/v1/api/loops/{owner.loop_id}/members/{admin.user_id}")
    assert removed.status_code == 200, removed.text
    with server.client(admin) as http:
        for change in (
            {"priority": "low"},
            {"request_text": "Approve my own refund"},
            {"priority": "low", "status": "cancelled"},
        ):
            refused = http.patch(f"/v1/api/requests/{kept}", json=change)
            assert (refused.status_code, refused.json()["msg"]) == (
                403,
                "You can no longer change requests in this loop",
            )
        assert http.get(f"/v1/api/requests/{kept}").json()["data"]["priority"] == "high"
        assert http.patch(f"/v1/api/requests/{kept}", json={"status": "cancelled"}).status_code == 200
        assert http.post(f"/v1/api/requests/{cancelled}/cancel").status_code == 200
    assert owner.http.get(f"/v1/api/requests/{kept}").json()["data"]["status"] == "cancelled"


@pytest.mark.parametrize("how", ["delete", "post", "post-with-reason"])
def test_cancel_a_pending_request(owner: Owner, how: str) -> None:
    request_id = create(owner)
    if how == "delete":
        answer = owner.http.delete(f"/v1/api/requests/{request_id}")
    elif how == "post":
        answer = owner.http.post(f"/v1/api/requests/{request_id}/cancel")
    else:
        answer = owner.http.post(f"/v1/api/requests/{request_id}/cancel", json={"reason": "Duplicate"})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert answer.json()["msg"] == "Request cancelled successfully"
    assert (data["request_id"], data["status"], data["previous_status"]) == (
        request_id,
        "cancelled",
        "pending",
    )
    assert data["refund_info"] == {"refunded": True, "reason": "Request cancelled before processing began"}
    stored = owner.http.get(f"/v1/api/requests/{request_id}").json()["data"]
    assert stored["status"] == "cancelled"
    assert stored["cancelled_at"] == data["cancelled_at"]
    assert stored["cancel_reason"] == ("Duplicate" if how == "post-with-reason" else None)
    assert stored["response_data"] is None

    again = owner.http.delete(f"/v1/api/requests/{request_id}")
    assert again.status_code == 400
    assert again.json() == {
        "error": True,
        "msg": "Request cannot be cancelled in current state",
        "data": "Request is cancelled",
    }


def test_a_completed_request_cannot_be_cancelled(server: LiveServer, owner: Owner) -> None:
    request_id = create(owner)
    complete(
        server, request_id, owner.account.user_id, {"selected_value": "Approve", "selected_label": "Approve"}
    )
    answer = owner.http.delete(f"/v1/api/requests/{request_id}")
    assert answer.status_code == 400
    assert answer.json()["data"] == "Request is completed"


def test_patch_a_pending_request(owner: Owner) -> None:
    request_id = create(owner, priority="low")
    answer = owner.http.patch(
        f"/v1/api/requests/{request_id}",
        json={"priority": "critical", "request_text": "Updated text", "timeout_seconds": 7200},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["msg"] == "Request updated successfully"
    request = answer.json()["data"]["request"]
    assert (request["priority"], request["request_text"], request["title"]) == (
        "critical",
        "Updated text",
        "Updated text",
    )
    assert request["timeout_seconds"] == 7200
    assert listed(owner, sort="priority_desc")["requests"][0]["id"] == request_id


@pytest.mark.parametrize(
    ("body", "msg", "data"),
    [
        ({}, "Provide at least one field to update", None),
        ({"priority": "urgent"}, "Validation failed", "priority must be one of: low, medium, high, critical"),
        (
            {"response_type": "rating"},
            "Validation failed",
            "response_config is required when response_type changes",
        ),
        ({"response_config": {"options": ["Yes", "No"]}}, "Validation failed", "default_response"),
        ({"type": "image"}, "Validation failed", "image_url is required when type is 'image'"),
        ({"status": "completed"}, "Validation failed", "status must be one of: cancelled"),
        ({"request_text": None}, "Validation failed", "request_text cannot be removed"),
    ],
)
def test_patch_refuses_bad_changes(owner: Owner, body: dict[str, Any], msg: str, data: str | None) -> None:
    request_id = create(owner)
    answer = owner.http.patch(f"/v1/api/requests/{request_id}", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["msg"] == msg
    if data is None:
        assert answer.json()["data"].startswith("Updatable fields")
    else:
        assert data in answer.json()["data"]


def test_patch_with_a_new_type_revalidates_the_default(owner: Owner) -> None:
    request_id = create(owner)
    answer = owner.http.patch(
        f"/v1/api/requests/{request_id}",
        json={
            "response_type": "rating",
            "response_config": {"scale_min": 1, "scale_max": 5},
            "default_response": 3,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["request"]["response_type"] == "rating"


def test_patch_status_cancelled_cancels_and_closed_requests_are_frozen(owner: Owner) -> None:
    request_id = create(owner)
    answer = owner.http.patch(f"/v1/api/requests/{request_id}", json={"status": "cancelled"})
    assert answer.status_code == 200
    assert answer.json()["data"]["request"]["status"] == "cancelled"
    frozen = owner.http.patch(f"/v1/api/requests/{request_id}", json={"priority": "high"})
    assert frozen.status_code == 400
    assert frozen.json() == {
        "error": True,
        "msg": "Only pending requests can be updated",
        "data": "Request is cancelled",
    }


def test_feedback_on_a_completed_request(server: LiveServer, owner: Owner) -> None:
    request_id = create(owner)
    early = owner.http.post(f"/v1/api/requests/{request_id}/feedback", json={"feedback": {"rating": 5}})
    assert early.status_code == 400
    assert early.json()["msg"] == "Feedback can only be added to completed requests"
    complete(
        server, request_id, owner.account.user_id, {"selected_value": "Approve", "selected_label": "Approve"}
    )
    feedback = {
        "rating": 5,
        "comment": "Quick and right",
        "tags": ["thorough"],
        "category": "positive",
        "would_recommend": True,
        "custom_key": {"anything": 1},
    }
    answer = owner.http.post(f"/v1/api/requests/{request_id}/feedback", json={"feedback": feedback})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert answer.json()["msg"] == "Feedback added successfully"
    assert data["request_id"] == request_id and data["feedback"] == feedback
    stored = owner.http.get(f"/v1/api/requests/{request_id}").json()["data"]["feedback"]
    assert [(f["feedback_id"], f["feedback"]) for f in stored] == [(data["feedback_id"], feedback)]


@pytest.mark.parametrize(
    ("feedback", "msg"),
    [
        ({"rating": 6}, "Rating values must be between 1 and 5"),
        ({"accuracy": 0}, "Rating values must be between 1 and 5"),
        ({"rating": True}, "Rating values must be between 1 and 5"),
        ({"comment": "c" * 1001}, "Comment exceeds maximum length of 1000 characters"),
        ({}, "Validation failed"),
        ({"category": "meh"}, "Validation failed"),
        ({"tags": "one"}, "Validation failed"),
    ],
)
def test_bad_feedback_is_refused(
    server: LiveServer, owner: Owner, feedback: dict[str, Any], msg: str
) -> None:
    request_id = create(owner)
    complete(
        server, request_id, owner.account.user_id, {"selected_value": "Approve", "selected_label": "Approve"}
    )
    answer = owner.http.post(f"/v1/api/requests/{request_id}/feedback", json={"feedback": feedback})
    assert answer.status_code == 400
    assert answer.json()["msg"] == msg


def test_unknown_request_is_not_found(owner: Owner) -> None:
    answer = owner.http.get("/v1/api/requests/0123456789abcdef01234567")
    assert answer.status_code == 404
    assert answer.json() == {"error": True, "msg": "Request not found", "data": None}
