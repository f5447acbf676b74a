"""The reviewer's pages over plain HTTP: sessions, CSRF, the answer form and what it says when a race is lost."""

import re
from contextlib import closing
from typing import Any

import pytest

from openhitl.realtime.feed import EventFeed
from tests.integration.reviewing import Team, make_team, wait_for_status
from tests.support.live import LiveServer
from tests.support.web import PASSWORD, browser, finish_sign_up, form_token, sign_up


@pytest.fixture
def team(server: LiveServer) -> Team:
    return make_team(server, reviewers=1)


def ask(team: Team, **overrides: Any) -> str:
    return team.ask(**{"callback_url": ..., **overrides})


def test_pages_send_a_stranger_to_sign_in_and_come_back(server: LiveServer) -> None:
    with browser(server) as http:
        answer = http.get("/history?status=completed")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fhistory%3Fstatus%3Dcompleted"


def test_pages_carry_a_content_security_policy_and_safe_cookies(server: LiveServer, team: Team) -> None:
    with browser(server) as http:
        page = http.get("/login")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert re.search(r"openhitl_csrf=[^;]+;.*HttpOnly", page.headers["set-cookie"], re.I)
        email = f"cookie.{team.loop_id}@example.com"
        asked = http.post(
            "/signup",
            data={
                "csrf_token": form_token(http, "/login"),
                "name": "Cookie Check",
                "email": email,
                "password": "correct horse battery",
                "invite_code": team.invite_code,
            },
        )
        assert asked.status_code == 303, asked.text
        signed = finish_sign_up(server, http, email)
    cookie = signed.headers["set-cookie"]
    assert "openhitl_session=" in cookie
    assert re.search(r"HttpOnly", cookie, re.I) and re.search(r"SameSite=lax", cookie, re.I)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(server: LiveServer, team: Team) -> None:
    request_id = ask(team)
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        forged = http.post(f"/requests/{request_id}/respond", data={"answer": "Approve"})
        wrong = http.post(
            f"/requests/{request_id}/respond", data={"answer": "Approve", "csrf_token": "not-the-token"}
        )
        no_cookie_token = http.post(
            "/signup", data={"name": "X", "email": "x@example.com", "password": "correct horse battery"}
        )
    for answer in (forged, wrong, no_cookie_token):
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
        assert "This form has expired" in answer.text
    assert team.status(request_id)["status"] == "pending"


def test_opening_a_request_claims_it_and_answering_goes_back_to_the_queue(
    server: LiveServer, team: Team
) -> None:
    first = ask(team, priority="critical", request_text="first one")
    second = ask(team, priority="low", request_text="second one")
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        home = http.get("/")
        assert home.text.index(first) < home.text.index(second)  # critical first
        token = form_token(http, f"/requests/{first}")
        claimed = http.post(f"/requests/{first}/claim", data={"csrf_token": token})
        assert claimed.json()["data"]["state"]["held"] is True
        assert team.status(first)["status"] == "claimed"
        answered = http.post(f"/requests/{first}/respond", data={"csrf_token": token, "answer": "Reject"})
        assert answered.status_code == 303
        assert answered.headers["location"] == "/?done=answered"
    assert team.status(second)["status"] == "pending"
    found = team.status(first)
    assert (found["status"], found["response_data"]) == (
        "completed",
        {"selected_value": "Reject", "selected_label": "Reject"},
    )


def test_a_reviewer_who_lost_the_race_is_told_so(server: LiveServer, team: Team) -> None:
    request_id = ask(team)
    with server.client(team.reviewers[0]) as api:
        assert api.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        page = http.get(f"/requests/{request_id}")
        assert "reviewer0 is answering this request now." in page.text
        assert re.search(r"data-answer-lock\s+disabled", page.text)  # shown, not answerable
        late = http.post(
            f"/requests/{request_id}/respond", data={"csrf_token": form_token(http, "/"), "answer": "Approve"}
        )
    assert late.status_code == 409
    assert "reviewer0 is answering this request now." in late.text
    assert re.search(r'value="Approve" required data-key="1" checked', late.text), "the answer is kept"


@pytest.mark.parametrize(
    ("close", "message"),
    [
        ("cancel", "The requester cancelled this request."),
        ("timeout", "Timed out: time ran out before an answer was sent."),
    ],
)
def test_an_answer_to_a_request_that_closed_meanwhile_says_what_happened(
    server: LiveServer, team: Team, close: str, message: str
) -> None:
    request_id = ask(team, timeout_seconds=60)
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        token = form_token(http, f"/requests/{request_id}")
        http.post(f"/requests/{request_id}/claim", data={"csrf_token": token})
        if close == "cancel":
            with server.client(team.owner) as api:
                assert api.delete(f"/v1/api/requests/{request_id}").status_code == 200
            answer = http.post(
                f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": "Approve"}
            )
        else:
            with server.clock.shifted(61):
                answer = http.post(
                    f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": "Approve"}
                )
    assert answer.status_code == 409
    assert message in answer.text
    assert team.status(request_id)["response_data"] is None


def test_an_invalid_answer_is_shown_again_with_what_to_fix(server: LiveServer, team: Team) -> None:
    request_id = ask(
        team,
        response_type="number",
        response_config={"min_value": 1, "max_value": 10, "decimal_places": 0},
        default_response=1,
    )
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        token = form_token(http, f"/requests/{request_id}")
        too_big = http.post(f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": "11"})
        not_a_number = http.post(
            f"/requests/{request_id}/respond", data={"csrf_token": token, "answer": "ten"}
        )
    assert too_big.status_code == 400
    assert too_big.text.count("Number must be at most 10.") == 1 and 'id="answer-form"' in too_big.text
    assert 'value="11"' in too_big.text, "what was typed is kept"
    assert not_a_number.status_code == 400 and "is not a number" in not_a_number.text
    assert team.status(request_id)["status"] == "pending"


def test_a_closing_page_gives_its_claim_back(server: LiveServer, team: Team) -> None:
    request_id = ask(team)
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        token = form_token(http, f"/requests/{request_id}")
        http.post(f"/requests/{request_id}/claim", data={"csrf_token": token})
        beacon = http.post(f"/requests/{request_id}/release?beacon=1", files={"csrf_token": (None, token)})
    assert beacon.status_code == 204
    assert team.status(request_id)["status"] == "pending"


def test_joining_by_code_boxes_and_by_link(server: LiveServer, team: Team) -> None:
    other = make_team(server, reviewers=0)
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        token = form_token(http, "/join")
        wrong = http.post("/join", data={"csrf_token": token, "code": list("ZZZZZ9")})
        assert wrong.status_code == 404 and "No loop found with that invite code" in wrong.text
        link = http.get(f"/join/{other.invite_code.lower()}")
        assert "You're about to join a review loop" in link.text
        joined = http.post("/join", data={"csrf_token": token, "code": list(other.invite_code)})
        assert (
            joined.status_code == 303 and joined.headers["location"] == f"/?loop={other.loop_id}&done=joined"
        )
        again = http.get(f"/join/{other.invite_code}")
        assert again.status_code == 303
        assert http.get("/join/nope").status_code == 404
    with browser(server) as stranger:
        landing = stranger.get(f"/join/{other.invite_code}")
    assert landing.status_code == 200
    assert f'name="invite_code" value="{other.invite_code}"' in landing.text


def test_settings_mute_a_loop_and_leave_it(server: LiveServer, team: Team) -> None:
    http, _ = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        token = form_token(http, "/settings")
        muted = http.post(f"/settings/loops/{team.loop_id}/mute", data={"csrf_token": token, "push": "off"})
        assert muted.status_code == 303
        assert "muted" in http.get("/settings").text
        prefs = http.get(f"/v1/api/loops/{team.loop_id}/notifications").json()["data"]
        assert prefs["push"] is False
        left = http.post(f"/settings/loops/{team.loop_id}/leave", data={"csrf_token": token})
        assert left.status_code == 303
        home = http.get("/")
    assert "not in any loop" in home.text


def test_history_counts_answered_and_timed_out(server: LiveServer, team: Team) -> None:
    http, _ = sign_up(server, invite_code=team.invite_code)
    answered = ask(team)
    missed = ask(team, timeout_seconds=60)
    with closing(http):
        token = form_token(http, "/")
        http.post(f"/requests/{answered}/respond", data={"csrf_token": token, "answer": "Approve"})
        with server.clock.shifted(61):
            server.state.get(EventFeed).wake()
            assert wait_for_status(team, missed, "timeout")["status"] == "timeout"
        page = http.get("/history")
        timed_out = http.get("/history?status=timeout")
    assert "All (2)" in page.text and "Completed (1)" in page.text and "Timed out (1)" in page.text
    assert missed in timed_out.text and answered not in timed_out.text


def test_signing_out_and_in_again_through_the_forms(server: LiveServer, team: Team) -> None:
    http, email = sign_up(server, invite_code=team.invite_code)
    with closing(http):
        out = http.post("/logout", data={"csrf_token": form_token(http, "/settings")})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert http.get("/").status_code == 303
        token = form_token(http, "/login?next=/history")
        wrong = http.post("/login", data={"csrf_token": token, "email": email, "password": "not it at all"})
        assert wrong.status_code == 401 and "text/html" in wrong.headers["content-type"]
        assert f'value="{email}"' in wrong.text and "not it at all" not in wrong.text  # kept, minus password
        right = http.post(
            "/login",
            data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/history"},
        )
        assert (right.status_code, right.headers["location"]) == (303, "/history")
        link = http.post("/login/email", data={"csrf_token": token, "email": email})
        assert (link.status_code, link.headers["location"]) == (303, "/login?sent=1")
        assert http.get("/history").status_code == 200
