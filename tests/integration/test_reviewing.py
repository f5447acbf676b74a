"""The review queue, claims, answers and history through the API, on both databases."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.reviewing import Team, make_team
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP, request_body


def inbox(team: Team, account: Account, **params: Any) -> dict[str, Any]:
    with team.http(account) as http:
        answer = http.get("/v1/api/inbox", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def post(team: Team, account: Account, path: str, **kwargs: Any) -> httpx.Response:
    with team.http(account) as http:
        return http.post(path, **kwargs)


def test_queue_is_ordered_by_priority_then_age(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    low = team.ask(priority="low")
    high_old = team.ask(priority="high")
    critical = team.ask(priority="critical")
    high_new = team.ask(priority="high")
    medium = team.ask(priority="medium")
    data = inbox(team, team.reviewers[0])
    assert [r["id"] for r in data["requests"]] == [critical, high_old, high_new, medium, low]
    assert data["total"] == 5 and data["view"] == "queue"
    assert [r["id"] for r in inbox(team, team.reviewers[0], priority="high")["requests"]] == [
        high_old,
        high_new,
    ]
    assert inbox(team, team.reviewers[0], limit=2, offset=4)["requests"][0]["id"] == low


def test_queue_items_carry_what_a_reviewer_needs(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(type="image", image_url="https://example.com/post.png", priority="high")
    item = inbox(team, team.reviewers[0])["requests"][0]
    assert item["id"] == request_id
    assert (item["loop_id"], item["loop_name"], item["loop_icon"]) == (
        team.loop_id,
        SEED_LOOP["name"],
        "shield-check",
    )
    assert item["request_text"] == request_body()["request_text"]
    assert (item["type"], item["image_url"]) == ("image", "https://example.com/post.png")
    assert item["context"] == request_body()["context"]
    assert (item["response_type"], item["response_config"]) == (
        "single_select",
        request_body()["response_config"],
    )
    assert item["priority"] == "high" and item["status"] == "pending" and not item["claimed_by_me"]
    assert 3590 <= item["time_left_seconds"] <= 3600
    assert "callback_url" not in item and "default_response" not in item
    with team.http(team.reviewers[0]) as http:
        one = http.get(f"/v1/api/inbox/{request_id}")
    assert one.status_code == 200 and one.json()["data"]["request"]["id"] == request_id


def test_queue_filters_by_loop_and_hides_other_loops(server: LiveServer) -> None:
    team, other = make_team(server, reviewers=1), make_team(server, reviewers=1)
    mine, theirs = team.ask(), other.ask()
    reviewer = team.reviewers[0]
    with team.http(reviewer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": other.invite_code}).status_code == 200
    assert {r["id"] for r in inbox(team, reviewer)["requests"]} == {mine, theirs}
    assert [r["id"] for r in inbox(team, reviewer, loop_id=team.loop_id)["requests"]] == [mine]
    assert [r["id"] for r in inbox(other, other.reviewers[0])["requests"]] == [theirs]
    stranger = server.account("stranger")
    assert inbox(team, stranger)["total"] == 0
    for path in (f"/v1/api/inbox/{mine}",):
        with server.client(stranger) as http:
            assert http.get(path).status_code == 404
    for action in ("claim", "release", "respond"):
        answer = post(team, stranger, f"/v1/api/requests/{mine}/{action}", json={"response_data": "Approve"})
        assert answer.status_code == 404, action


def test_claim_is_exclusive_and_renewable(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    request_id = team.ask()
    claimed = post(team, alice, f"/v1/api/requests/{request_id}/claim")
    assert claimed.status_code == 200 and claimed.json()["msg"] == "Request claimed"
    item = claimed.json()["data"]["request"]
    assert item["status"] == "claimed" and item["claimed_by_me"] and item["claim_expires_at"]
    refused = post(team, bob, f"/v1/api/requests/{request_id}/claim")
    assert refused.status_code == 409
    assert refused.json()["msg"] == "Request already claimed by another reviewer"
    assert inbox(team, bob)["total"] == 0  # no longer offered to others
    assert [r["id"] for r in inbox(team, alice)["requests"]] == [request_id]
    renewed = post(team, alice, f"/v1/api/requests/{request_id}/claim")
    assert renewed.status_code == 200
    assert renewed.json()["data"]["request"]["claim_expires_at"] >= item["claim_expires_at"]
    assert (
        post(
            team, bob, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Reject"}
        ).status_code
        == 409
    )
    assert post(team, bob, f"/v1/api/requests/{request_id}/release").status_code == 409
    released = post(team, alice, f"/v1/api/requests/{request_id}/release")
    assert released.status_code == 200 and released.json()["data"]["request"]["status"] == "pending"
    assert post(team, bob, f"/v1/api/requests/{request_id}/claim").status_code == 200


def test_an_expired_claim_returns_to_the_queue(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    request_id = team.ask(timeout_seconds=86400)
    assert post(team, alice, f"/v1/api/requests/{request_id}/claim").status_code == 200
    with server.clock.shifted(server.settings.claim_lease_seconds + 1):
        assert [r["id"] for r in inbox(team, bob)["requests"]] == [request_id]
        taken = post(team, bob, f"/v1/api/requests/{request_id}/claim")
        assert taken.status_code == 200
        late = post(team, alice, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
        assert late.status_code == 409


def test_respond_from_pending_completes_the_request(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    answer = post(
        team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Needs Changes"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["msg"] == "Response submitted"
    data = answer.json()["data"]["request"]
    assert data["status"] == "completed"
    assert data["response_data"] == {"selected_value": "Needs Changes", "selected_label": "Needs Changes"}
    assert data["response_value"] == "Needs Changes"
    assert data["response_by"] == {"user_id": reviewer.user_id, "name": "reviewer0", "email": reviewer.email}
    assert data["response_time_seconds"] >= 0
    seen = team.status(request_id)
    assert seen["status"] == "completed"
    assert seen["response_data"] == data["response_data"] and seen["response_value"] == "Needs Changes"
    assert seen["response_by"] == reviewer.user_id
    assert seen["response_by_user"] == data["response_by"]
    assert seen["response_at"] == data["response_at"]
    again = post(team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
    assert again.status_code == 409
    assert again.json() == {"error": True, "msg": "Request is no longer open", "data": "Request is completed"}
    assert inbox(team, reviewer)["total"] == 0


def test_the_reviewer_who_held_a_request_stays_on_its_record(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    assert post(team, reviewer, f"/v1/api/requests/{request_id}/claim").status_code == 200
    claimed_at = team.status(request_id)["claimed_at"]
    answered = post(
        team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"}
    )
    assert answered.status_code == 200, answered.text
    seen = team.status(request_id)
    assert (seen["status"], seen["claimed_by"], seen["claimed_at"]) == (
        "completed",
        reviewer.user_id,
        claimed_at,
    )
    assert seen["request"]["claimed_by"] == reviewer.user_id
    assert seen["response_by"] == reviewer.user_id


def test_an_answer_straight_from_the_queue_is_claimed_by_whoever_gave_it(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    answered = post(
        team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"}
    )
    assert answered.status_code == 200, answered.text
    seen = team.status(request_id)
    assert (seen["claimed_by"], seen["response_by"]) == (reviewer.user_id, reviewer.user_id)
    assert seen["claimed_at"] == seen["response_at"], "claimed and answered in the same moment"


def test_an_answer_over_a_lapsed_claim_is_claimed_by_whoever_gave_it(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    request_id = team.ask(timeout_seconds=86400)
    assert post(team, alice, f"/v1/api/requests/{request_id}/claim").status_code == 200
    with server.clock.shifted(server.settings.claim_lease_seconds + 1):
        answered = post(team, bob, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Reject"})
        assert answered.status_code == 200, answered.text
        seen = team.status(request_id)
    assert (seen["claimed_by"], seen["response_by"]) == (bob.user_id, bob.user_id)
    assert seen["claimed_at"] == seen["response_at"]


def test_respond_after_cancel_or_timeout_is_rejected(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    cancelled, expiring = team.ask(), team.ask(timeout_seconds=60)
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{cancelled}").status_code == 200
    answer = post(team, reviewer, f"/v1/api/requests/{cancelled}/respond", json={"response_data": "Approve"})
    assert (answer.status_code, answer.json()["data"]) == (409, "Request is cancelled")
    with server.clock.shifted(61):
        late = post(team, reviewer, f"/v1/api/requests/{expiring}/respond", json={"response_data": "Approve"})
        claim = post(team, reviewer, f"/v1/api/requests/{expiring}/claim")
        assert inbox(team, reviewer)["total"] == 0
    assert (late.status_code, late.json()["data"]) == (409, "Request is timeout")
    assert claim.status_code == 409


def test_a_removed_member_loses_access_at_once(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    assert post(team, reviewer, f"/v1/api/requests/{request_id}/claim").status_code == 200
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/loops/{team.loop_id}/members/{reviewer.user_id}").status_code == 200
    answer = post(team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
    assert answer.status_code == 404
    assert inbox(team, reviewer)["total"] == 0


ANSWERS: list[tuple[str, dict[str, Any], Any, Any, Any]] = [
    # (type, config, default, valid answer, its structured form)
    ("text", {"max_length": 50}, "", "Looks fine", "Looks fine"),
    (
        "single_select",
        {"options": [{"value": "ok", "label": "✅ OK"}, {"value": "no", "label": "No"}]},
        "no",
        {"selected_value": "ok"},
        {"selected_value": "ok", "selected_label": "✅ OK"},
    ),
    (
        "multi_select",
        {"options": ["Spam", "Abuse", "Other"], "max_selections": 2},
        [],
        ["Abuse", "Spam"],
        {"selected_values": ["Spam", "Abuse"], "selected_labels": ["Spam", "Abuse"]},
    ),
    (
        "rating",
        {"scale_min": 1, "scale_max": 5, "scale_step": 0.5, "labels": {"4.5": "Great"}},
        3,
        4.5,
        {"rating": 4.5, "rating_label": "Great"},
    ),
    (
        "number",
        {"min_value": 0, "max_value": 1000, "decimal_places": 2, "prefix": "$"},
        0,
        "19.9",
        {"number": 19.9, "formatted_value": "$19.90"},
    ),
    (
        "boolean",
        {"true_label": "Approve", "false_label": "Reject"},
        False,
        True,
        {"boolean": True, "boolean_label": "Approve"},
    ),
]
BAD_ANSWERS: dict[str, list[Any]] = {
    "text": ["x" * 51, 42],
    "single_select": ["maybe", {"selected_value": "ok", "selected_label": "wrong"}],
    "multi_select": [["Spam", "Abuse", "Other"], ["Nope"]],
    "rating": [6, 3.3, True],
    "number": [-1, 1.234, "lots"],
    "boolean": ["perhaps", None],
}


@pytest.mark.parametrize(("response_type", "config", "default", "answer", "structured"), ANSWERS)
def test_every_response_type_answered(
    server: LiveServer, response_type: str, config: dict[str, Any], default: Any, answer: Any, structured: Any
) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    fields = {"response_type": response_type, "response_config": config, "default_response": default}
    for bad in BAD_ANSWERS[response_type]:
        request_id = team.ask(**fields)
        refused = post(team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": bad})
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["msg"].startswith("Invalid response_data: ")
        assert team.status(request_id)["status"] == "pending"  # nothing was recorded
    request_id = team.ask(**fields)
    accepted = post(team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": answer})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["request"]["response_data"] == structured
    assert team.status(request_id)["response_data"] == structured
    # the structured form is accepted as input too
    again = team.ask(**fields)
    echoed = post(team, reviewer, f"/v1/api/requests/{again}/respond", json={"response_data": structured})
    assert echoed.status_code == 200 and echoed.json()["data"]["request"]["response_data"] == structured


def test_history_lists_answered_timed_out_and_cancelled(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    answered_by_alice, answered_by_bob, cancelled, expiring, pending = (
        team.ask(timeout_seconds=t) for t in (3600, 3600, 3600, 60, 3600)
    )
    post(team, alice, f"/v1/api/requests/{answered_by_alice}/respond", json={"response_data": "Approve"})
    post(team, bob, f"/v1/api/requests/{answered_by_bob}/respond", json={"response_data": "Reject"})
    with team.http(team.owner) as http:
        http.delete(f"/v1/api/requests/{cancelled}")
    _ = (expiring, pending)
    history = inbox(team, alice, view="history")
    assert history["view"] == "history"
    assert {r["id"] for r in history["requests"]} == {answered_by_alice, cancelled}
    assert history["counts"] == {"all": 2, "completed": 1, "timeout": 0, "cancelled": 1}
    mine = history["requests"][[r["id"] for r in history["requests"]].index(answered_by_alice)]
    assert mine["answered_by_me"] and mine["response_value"] == "Approve"
    completed = inbox(team, alice, view="history", status="completed")
    assert [r["id"] for r in completed["requests"]] == [answered_by_alice]
    assert inbox(team, alice, view="history", status="timed_out")["total"] == 0


def test_bad_inbox_parameters(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    with team.http(team.reviewers[0]) as http:
        for params, msg in (
            ({"view": "all"}, "Invalid view"),
            ({"limit": 0}, "Invalid pagination parameters"),
            ({"status": "won"}, "Invalid status filter value"),
            ({"loop_id": "x"}, "Invalid loop ID format"),
        ):
            answer = http.get("/v1/api/inbox", params=params)
            assert (answer.status_code, answer.json()["msg"]) == (400, msg)


def test_racing_claims_have_exactly_one_winner(server: LiveServer) -> None:
    team = make_team(server, reviewers=6)
    clients = [
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {r.key}"}, timeout=30)
        for r in team.reviewers
    ]
    try:
        for _ in range(15):
            request_id = team.ask()
            path = f"/v1/api/requests/{request_id}/claim"
            with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                codes = [answer.status_code for answer in pool.map(lambda c, p=path: c.post(p), clients)]
            assert sorted(codes) == [200] + [409] * (len(clients) - 1), codes
            claimed_by = team.status(request_id)["claimed_by"]
            assert claimed_by in {r.user_id for r in team.reviewers}
    finally:
        for client in clients:
            client.close()


def test_respond_racing_cancel_has_exactly_one_winner(server: LiveServer) -> None:
    team = make_team(server, reviewers=3)
    owner = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {team.owner.key}"}, timeout=30
    )
    reviewers = [
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {r.key}"}, timeout=30)
        for r in team.reviewers
    ]
    outcomes = set()
    try:
        for _ in range(15):
            request_id = team.ask()

            def act(index: int, request_id: str = request_id) -> int:
                if index == 0:
                    return owner.delete(f"/v1/api/requests/{request_id}").status_code
                return (
                    reviewers[index - 1]
                    .post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
                    .status_code
                )

            with ThreadPoolExecutor(max_workers=4) as pool:
                cancel, *responds = pool.map(act, range(4))
            winners = [code for code in [cancel, *responds] if code == 200]
            assert len(winners) == 1, (cancel, responds)
            final = team.status(request_id)
            assert final["status"] == ("cancelled" if cancel == 200 else "completed")
            outcomes.add(final["status"])
    finally:
        owner.close()
        for client in reviewers:
            client.close()
    assert outcomes  # at least one outcome observed; which one wins is up to the race


def test_the_seed_tutorial_end_to_end(server: LiveServer) -> None:
    owner, reviewer = server.account("owner"), server.account("reviewer")
    with server.client(owner) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
    with server.client(reviewer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}).status_code == 200
    with server.client(owner) as http:
        created = http.post(f"/v1/api/loops/{loop['loop']['id']}/requests", json=request_body()).json()[
            "data"
        ]
    assert created["broadcasted_to"] == 2
    with server.client(reviewer) as http:
        queue = http.get("/v1/api/inbox").json()["data"]["requests"]
        assert [r["id"] for r in queue] == [created["request_id"]]
        assert http.post(f"/v1/api/requests/{created['request_id']}/claim").status_code == 200
        answer = http.post(
            f"/v1/api/requests/{created['request_id']}/respond", json={"response_data": "Approve"}
        )
        assert answer.status_code == 200
    with server.client(owner) as http:
        polled = http.get(created["polling_url"]).json()["data"]
    assert polled["status"] == "completed"
    assert polled["response_data"] == {"selected_value": "Approve", "selected_label": "Approve"}
    assert polled["request"]["response_by_user"]["user_id"] == reviewer.user_id


def test_every_transition_leaves_an_audit_event(server: LiveServer) -> None:
    from sqlalchemy import select

    from openhitl.realtime.models import Event

    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask()
    post(team, reviewer, f"/v1/api/requests/{request_id}/claim")
    post(team, reviewer, f"/v1/api/requests/{request_id}/release")
    post(team, reviewer, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})

    async def events() -> list[tuple[str, str | None, dict[str, Any]]]:
        async with server.state.db.read() as session:
            rows = await session.execute(
                select(Event.type, Event.actor_id, Event.data)
                .where(Event.request_id == request_id)
                .order_by(Event.id)
            )
            return [(t, a, d) for t, a, d in rows.all()]

    trail = server.run(events())
    assert [(t, a) for t, a, _ in trail] == [
        ("request.created", team.owner.user_id),
        ("request.claimed", reviewer.user_id),
        ("request.released", reviewer.user_id),
        ("request.completed", reviewer.user_id),
    ]
    assert [(d.get("from"), d.get("to")) for _, _, d in trail[1:]] == [
        ("pending", "claimed"),
        ("claimed", "pending"),
        ("pending", "completed"),
    ]
