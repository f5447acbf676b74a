"""The reviewer app's claims and answers over plain HTTP, on both databases: the short lease held by the open
page (claim, renewal, release by beacon) and who may touch it, the answers its script sends, and what the
event log records of it all."""

import re
from contextlib import closing
from datetime import timedelta

import httpx
import pytest

from openhitl.requests.models import Request
from tests.integration.reviewing import Team, make_team
from tests.support.live import LiveServer, events_of, stored_request
from tests.support.web import form_token, sign_up

JSON = {"Accept": "application/json"}


def reviewer_in(server: LiveServer, team: Team, name: str) -> tuple[httpx.Client, str]:
    """A browser signed up into the team's loop, and the CSRF token its pages carry."""
    http, _ = sign_up(server, invite_code=team.invite_code, name=name)
    return http, form_token(http, "/")


def hold(http: httpx.Client, token: str, request_id: str) -> httpx.Response:
    """What the open page sends as it opens and on each heartbeat."""
    return http.post(f"/requests/{request_id}/claim", headers={**JSON, "X-CSRF-Token": token})


def beacon(http: httpx.Client, request_id: str, token: str | None, **headers: str) -> httpx.Response:
    """What the page sends as it is hidden or closed: a form body (a beacon cannot set headers)."""
    fields = {"csrf_token": (None, token)} if token is not None else {"other": (None, "x")}
    return http.post(f"/requests/{request_id}/release?beacon=1", files=fields, headers=headers)


def types(server: LiveServer, request_id: str) -> list[str]:
    return [kind for kind, _, _ in events_of(server, request_id)]


def lease_of(row: Request) -> float:
    """How long the claim was taken for, in seconds."""
    assert row.claim_expires_at is not None and row.claimed_at is not None
    return (row.claim_expires_at - row.claimed_at).total_seconds()


@pytest.fixture
def team(server: LiveServer) -> Team:
    return make_team(server, reviewers=1)


def test_opening_a_request_claims_it_for_the_apps_short_lease_and_the_api_keeps_its_own(
    server: LiveServer, team: Team
) -> None:
    in_app, by_api = team.ask(), team.ask()
    http, token = reviewer_in(server, team, "Ann Web")
    with closing(http):
        held = hold(http, token, in_app)
    assert held.status_code == 200, held.text
    assert held.json()["data"]["state"] == {
        "status": "claimed",
        "held": True,
        "answerable": True,
        "notice": None,
    }
    row = stored_request(server, in_app)
    assert lease_of(row) == server.settings.web_claim_lease_seconds
    with team.http(team.reviewers[0]) as api:
        assert api.post(f"/v1/api/requests/{by_api}/claim").status_code == 200
    row = stored_request(server, by_api)
    assert lease_of(row) == server.settings.claim_lease_seconds


def test_the_heartbeat_renews_the_claim_without_a_transition(server: LiveServer, team: Team) -> None:
    request_id = team.ask(timeout_seconds=3600)
    http, token = reviewer_in(server, team, "Ben Beat")
    with closing(http):
        assert hold(http, token, request_id).status_code == 200
        first = stored_request(server, request_id)
        with server.clock.shifted(server.settings.web_claim_lease_seconds - 5):
            renewed = hold(http, token, request_id)
            later = stored_request(server, request_id)
    assert renewed.status_code == 200 and renewed.json()["data"]["state"]["held"]
    assert later.claimed_by == first.claimed_by and later.claimed_at == first.claimed_at
    assert later.version == first.version, "an answer being checked is not refused for a renewal"
    assert first.claim_expires_at is not None and later.claim_expires_at is not None
    assert later.claim_expires_at - first.claim_expires_at >= timedelta(
        seconds=server.settings.web_claim_lease_seconds - 6
    )
    assert types(server, request_id) == ["request.created", "request.claimed"]


def test_claiming_a_held_request_again_through_the_api_is_a_renewal_not_a_transition(
    server: LiveServer, team: Team
) -> None:
    request_id = team.ask()
    with team.http(team.reviewers[0]) as api:
        first = api.post(f"/v1/api/requests/{request_id}/claim").json()["data"]["request"]
        again = api.post(f"/v1/api/requests/{request_id}/claim")
    assert again.status_code == 200 and again.json()["msg"] == "Request claimed"  # as HITL.sh answers
    assert again.json()["data"]["request"]["claim_expires_at"] >= first["claim_expires_at"]
    assert types(server, request_id) == ["request.created", "request.claimed"]
    moves = [(data.get("from"), data.get("to")) for _, _, data in events_of(server, request_id)]
    assert ("claimed", "claimed") not in moves


def test_a_lapsed_claim_taken_by_someone_else_reads_expired_then_claimed(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    request_id = team.ask(timeout_seconds=86400)
    with team.http(alice) as api:
        assert api.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
    with server.clock.shifted(server.settings.claim_lease_seconds + 1), team.http(bob) as api:
        assert api.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
    trail = events_of(server, request_id)
    assert [(kind, actor) for kind, actor, _ in trail] == [
        ("request.created", team.owner.user_id),
        ("request.claimed", alice.user_id),
        ("request.claim_expired", None),  # by the sweeper, or by the claim that found it lapsed
        ("request.claimed", bob.user_id),
    ]
    assert [(data["from"], data["to"]) for _, _, data in trail[1:]] == [
        ("pending", "claimed"),
        ("claimed", "pending"),
        ("pending", "claimed"),
    ]


def test_claims_and_answers_name_the_reviewer_to_the_loop_but_never_their_address(
    server: LiveServer, team: Team
) -> None:
    request_id = team.ask()
    http, token = reviewer_in(server, team, "Cleo Named")
    with closing(http):
        assert hold(http, token, request_id).status_code == 200
        answered = http.post(
            f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": "Approve"}, headers=JSON
        )
    assert answered.status_code == 200, answered.text
    trail = events_of(server, request_id)
    named = {kind: data for kind, _, data in trail if kind in ("request.claimed", "request.completed")}
    assert named["request.claimed"]["by_name"] == "Cleo Named"
    assert named["request.completed"]["by_name"] == "Cleo Named"
    assert not [data for _, _, data in trail if "@" in repr(data)]


def test_someone_else_cannot_renew_or_release_my_claim(server: LiveServer, team: Team) -> None:
    request_id = team.ask()
    mine, my_token = reviewer_in(server, team, "Dana Holder")
    theirs, their_token = reviewer_in(server, team, "Eve Other")
    with closing(mine), closing(theirs):
        assert hold(mine, my_token, request_id).status_code == 200
        taken = hold(theirs, their_token, request_id)
        released = beacon(theirs, request_id, their_token)
        by_form = theirs.post(f"/requests/{request_id}/release", data={"csrf_token": their_token})
        answered = theirs.post(
            f"/requests/{request_id}/respond",
            data={"csrf_token": their_token, "answer": "Approve"},
            headers=JSON,
        )
    assert taken.status_code == 409
    assert taken.json()["data"]["state"] == {
        "status": "claimed",
        "held": False,
        "answerable": False,
        "notice": "Dana Holder is answering this request now.",
    }
    assert released.status_code == 204 and by_form.status_code == 303  # nothing of theirs to give back
    assert (
        answered.status_code == 409 and answered.json()["msg"] == "Dana Holder is answering this request now."
    )
    trail = events_of(server, request_id)
    assert [kind for kind, _, _ in trail] == ["request.created", "request.claimed"]
    _, holder, claim = trail[1]
    assert claim["by_name"] == "Dana Holder"
    row = stored_request(server, request_id)
    assert (row.status, row.claimed_by) == ("claimed", holder)


def test_a_stranger_to_the_loop_can_neither_hold_release_nor_answer(server: LiveServer, team: Team) -> None:
    request_id = team.ask()
    elsewhere = make_team(server, reviewers=0)
    stranger, token = reviewer_in(server, elsewhere, "Finn Stranger")
    with closing(stranger):
        refused = [
            hold(stranger, token, request_id),
            beacon(stranger, request_id, token),
            stranger.post(
                f"/requests/{request_id}/respond",
                data={"csrf_token": token, "answer": "Approve"},
                headers=JSON,
            ),
            stranger.get(f"/requests/{request_id}"),
        ]
    assert [answer.status_code for answer in refused] == [404, 404, 404, 404]
    assert refused[0].json()["msg"] == refused[2].json()["msg"] == "Request not found"
    assert types(server, request_id) == ["request.created"]


def test_a_beacon_without_its_token_or_from_another_site_is_refused(server: LiveServer, team: Team) -> None:
    request_id = team.ask()
    http, token = reviewer_in(server, team, "Gus Beacon")
    with closing(http):
        assert hold(http, token, request_id).status_code == 200
        forged = [
            beacon(http, request_id, None),
            beacon(http, request_id, "not-the-token"),
            beacon(http, request_id, token, Origin="http://evil.example"),
            beacon(http, request_id, None, **{"Sec-Fetch-Site": "cross-site"}),
            http.post(f"/requests/{request_id}/claim", headers=JSON),  # a heartbeat without its header
        ]
        assert [answer.status_code for answer in forged] == [403, 403, 403, 403, 403]
        assert stored_request(server, request_id).status == "claimed"
        given_back = beacon(http, request_id, token, Origin=server.url)
    assert given_back.status_code == 204
    assert (stored_request(server, request_id).status, stored_request(server, request_id).claimed_by) == (
        "pending",
        None,
    )
    assert types(server, request_id) == ["request.created", "request.claimed", "request.released"]


@pytest.mark.parametrize(
    ("close", "notice", "status"),
    [
        ("cancel", "The requester cancelled this request.", "cancelled"),
        ("answer", "reviewer0 answered this request first.", "completed"),
        ("timeout", "Timed out: time ran out before an answer was sent.", "timeout"),
    ],
)
def test_a_closed_request_cannot_be_held_and_the_page_is_told_why(
    server: LiveServer, team: Team, close: str, notice: str, status: str
) -> None:
    request_id = team.ask(timeout_seconds=60)
    http, token = reviewer_in(server, team, "Hal Late")
    with closing(http):
        if close == "cancel":
            with team.http(team.owner) as api:
                assert api.delete(f"/v1/api/requests/{request_id}").status_code == 200
        elif close == "answer":
            with team.http(team.reviewers[0]) as api:
                answer = api.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
                assert answer.status_code == 200
        with server.clock.shifted(61 if close == "timeout" else 0):
            refused = hold(http, token, request_id)
            released = beacon(http, request_id, token)
    assert refused.status_code == 409
    assert refused.json()["msg"] == notice
    assert refused.json()["data"]["state"] == {
        "status": status,
        "held": False,
        "answerable": False,
        "notice": notice,
    }
    assert released.status_code == 204
    assert "request.claimed" not in types(server, request_id)


def test_answers_from_the_pages_script_get_the_envelope_and_never_claim_the_next(
    server: LiveServer, team: Team
) -> None:
    multi = {
        "response_type": "multi_select",
        "response_config": {"options": ["A", "B", "C", "D"], "max_selections": 2},
        "default_response": ["A"],
    }
    first = team.ask(priority="critical", **multi)
    second = team.ask(priority="low")
    http, token = reviewer_in(server, team, "Ida Script")
    with closing(http):
        assert hold(http, token, first).status_code == 200
        too_many = http.post(
            f"/requests/{first}/respond", data={"csrf_token": token, "answer": ["A", "B", "C"]}, headers=JSON
        )
        sent = http.post(
            f"/requests/{first}/respond", data={"csrf_token": token, "answer": ["A", "C"]}, headers=JSON
        )
        again = http.post(
            f"/requests/{first}/respond", data={"csrf_token": token, "answer": ["A"]}, headers=JSON
        )
        home = http.get("/?done=answered")
    assert too_many.status_code == 400
    assert too_many.json()["msg"] == "Must select at most 2 options."  # said once
    assert too_many.json()["data"]["state"]["held"] is True, "a refused answer keeps the claim"
    assert sent.status_code == 200 and sent.json() == {
        "error": False,
        "msg": "Answer sent",
        "data": {"location": "/?done=answered"},
    }
    assert again.status_code == 409 and again.json()["msg"] == "You answered this request."
    assert "Answer sent." in home.text
    assert re.search(rf'href="/requests/{second}" data-next-request>Open the next request<', home.text)
    assert team.status(second)["status"] == "pending", "the next request is offered, never claimed"


def test_a_refused_plain_form_answer_is_shown_again_filled_in_with_the_reason_once(
    server: LiveServer, team: Team
) -> None:
    request_id = team.ask(
        response_type="multi_select",
        response_config={"options": ["A", "B", "C", "D"], "max_selections": 2},
        default_response=["A"],
    )
    http, token = reviewer_in(server, team, "Jo Form")
    with closing(http):
        refused = http.post(
            f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": ["A", "B", "D"]}
        )
    assert refused.status_code == 400
    assert refused.text.count("Must select at most 2 options.") == 1
    assert "Invalid response_data" not in refused.text
    checked = re.findall(r'value="(\w)" data-key="\d" checked', refused.text)
    assert checked == ["A", "B", "D"]


def test_the_queue_shows_who_holds_a_request_and_only_their_name(server: LiveServer, team: Team) -> None:
    request_id = team.ask()
    holder, token = reviewer_in(server, team, "Kai Holder")
    viewer, _ = reviewer_in(server, team, "Lou Viewer")
    with closing(holder), closing(viewer):
        assert hold(holder, token, request_id).status_code == 200
        queue = viewer.get("/queue")
        page = viewer.get(f"/requests/{request_id}")
    card = re.search(rf'<a class="card [^"]*" href="/requests/{request_id}"[^>]*>.*?</a>', queue.text, re.S)
    assert card is not None
    assert "is-claimed" in card.group(0) and "Claimed by Kai Holder" in card.group(0)
    assert "kai.holder" not in queue.text.lower(), "no address"
    assert "Kai Holder is answering this request now." in page.text
    assert re.search(r"data-answer-lock\s+disabled", page.text), "shown, but not answerable"
