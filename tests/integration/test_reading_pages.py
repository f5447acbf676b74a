"""What the pages say, over plain HTTP: the bell's notification list, answers by their labels in the
dashboard, and the display fields of a response config on the answer form.

The list is read from the event log of the reviewer's own loops: new requests, claims of theirs that ran
out, and requests they held that closed without their answer; nothing of loops they are not in.
"""

import re
from typing import Any

from tests.integration.dashboarding import signed_in
from tests.integration.reviewing import Team, make_team, wait_for_status
from tests.support.live import LiveServer
from tests.support.web import browser

NOTICE = re.compile(r'data-notice="([a-z_]+)" data-request-id="([0-9a-f]{24})"')


def ask(team: Team, **overrides: Any) -> str:
    return team.ask(**{"callback_url": ..., **overrides})


def notices(page: str) -> list[tuple[str, str]]:
    return [(kind, request_id) for kind, request_id in NOTICE.findall(page)]


def test_the_bell_lists_new_requests_and_what_happened_to_requests_the_reviewer_held(
    server: LiveServer,
) -> None:
    team = make_team(server, reviewers=2)
    reviewer, colleague = team.reviewers
    cancelled = ask(team, request_text="Held, then cancelled")
    expired = ask(team, request_text="Held until the claim ran out", timeout_seconds=86400)
    colleagues = ask(team, request_text="Held by a colleague, then cancelled")
    answered = ask(team, request_text="Answered by the reviewer")
    page = signed_in(server, reviewer)
    try:
        for request_id in (cancelled, expired):
            assert page.post(f"/requests/{request_id}/claim").status_code == 200
        assert page.post(f"/requests/{answered}/respond", answer="Approve").status_code == 303
        with team.http(colleague) as http:
            assert http.post(f"/v1/api/requests/{colleagues}/claim").status_code == 200
        with team.http(team.owner) as http:
            for request_id in (cancelled, colleagues):
                assert http.post(f"/v1/api/requests/{request_id}/cancel").status_code == 200
        with server.clock.shifted(server.settings.claim_lease_seconds + 1):
            assert wait_for_status(team, expired, "pending")["status"] == "pending"
        listed = page.get("/notifications")
        fragment = page.get("/notifications/list")
    finally:
        page.close()
    assert listed.status_code == 200 and fragment.status_code == 200
    found = notices(listed.text)
    assert found[0] == ("claim_expired", expired)  # newest first
    assert set(found) == {
        ("claim_expired", expired),
        ("cancelled", cancelled),
        *(("new", request_id) for request_id in (cancelled, expired, colleagues, answered)),
    }
    assert "Your claim ran out" in listed.text and "Cancelled while you held it" in listed.text
    assert notices(fragment.text) == found and "<html" not in fragment.text


def test_the_bell_shows_nothing_of_loops_the_reviewer_is_not_in(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    elsewhere = make_team(server, reviewers=0)
    before = ask(team, request_text="Sent before the newcomer joined")
    newcomer = server.account("newcomer")
    with server.client(newcomer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": team.invite_code}).status_code == 200
    after = ask(team, request_text="Sent after the newcomer joined")
    other = ask(elsewhere, request_text="Another team's request")
    page = signed_in(server, newcomer)
    try:
        listed = notices(page.get("/notifications").text)
        with server.client(newcomer) as http:
            assert http.post(f"/v1/api/loops/{team.loop_id}/leave").status_code == 200
        after_leaving = page.get("/notifications/list")
    finally:
        page.close()
    assert listed == [("new", after)]
    assert before not in str(listed) and other not in str(listed)
    assert notices(after_leaving.text) == [] and after not in after_leaving.text


def test_the_notification_list_needs_a_signed_in_browser(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    ask(team)
    with browser(server) as http:
        for path in ("/notifications", "/notifications/list"):
            answer = http.get(path)
            assert (answer.status_code, answer.headers["location"]) == (
                303,
                f"/login?next={path.replace('/', '%2F')}",
            )
    with server.client(team.reviewers[0], follow_redirects=False) as http:
        keyed = http.get("/notifications")  # an API key is not a browser session
    assert keyed.status_code == 303 and 'data-notice="' not in keyed.text


LABELLED = {
    "response_type": "single_select",
    "response_config": {
        "options": [
            {"value": "full", "label": "Full refund"},
            {"value": "partial", "label": "Partial refund"},
        ]
    },
    "default_response": "full",
}


def test_the_dashboard_shows_answers_and_defaults_by_their_labels(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    answered = ask(team, request_text="Refund order A-1001?", **LABELLED)
    waiting = ask(team, request_text="Refund order A-1002?", **LABELLED)
    with team.http(team.reviewers[0]) as http:
        done = http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "partial"})
        assert done.status_code == 200, done.text
    owner = signed_in(server, team.owner)
    try:
        table = owner.get("/dashboard/requests", loop=team.loop_id).text
        detail = owner.get(f"/dashboard/requests/{answered}").text
        open_detail = owner.get(f"/dashboard/requests/{waiting}").text
    finally:
        owner.close()
    assert "Partial refund" in table and ">partial<" not in table
    assert re.search(r"data-answer>\s*Partial refund\s*<", detail)
    assert "the default answer then is <strong>Full refund</strong>" in open_detail


def test_the_answer_form_shows_the_display_fields_of_its_config(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    text = ask(
        team,
        response_type="text",
        response_config={"placeholder": "Say why, in a sentence", "max_length": 300},
        default_response="",
    )
    yes_no = ask(
        team,
        response_type="boolean",
        response_config={"true_label": "Ship it", "false_label": "Hold", "true_color": "#16a34a"},
        default_response=False,
    )
    picked = ask(
        team,
        response_config={
            "options": [
                {"value": "a", "label": "Approve", "color": "#2563eb", "description": "Looks right to me"},
                {"value": "r", "label": "Reject"},
            ]
        },
        default_response="r",
    )
    page = signed_in(server, team.reviewers[0])
    try:
        text_page = page.get(f"/requests/{text}").text
        yes_no_page = page.get(f"/requests/{yes_no}").text
        picked_page = page.get(f"/requests/{picked}").text
    finally:
        page.close()
    assert 'placeholder="Say why, in a sentence"' in text_page
    assert re.search(r'value="true"[^>]*>\s*<svg class="swatch"[^>]*><circle[^>]*fill="#16a34a"', yes_no_page)
    assert 'fill="#2563eb"' in picked_page and "<small>Looks right to me</small>" in picked_page
