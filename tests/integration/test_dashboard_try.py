"""The "try it" form on a loop's page: a request sent as the API sends one, followed, and refused with reasons
beside its fields; and who may use it. On both databases."""

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from openhitl.web.dashboard.trying import EXAMPLES, blank_form
from tests.integration.dashboarding import Browser, signed_in
from tests.support.live import Account, LiveServer
from tests.support.payloads import request_body

REQUEST_ID = re.compile(r'id="try-result"[^>]*data-request-id="([0-9a-f]{24})"', re.S)


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Browser]:
    browser = signed_in(server, server.account("owner"))
    yield browser
    browser.close()


def send(browser: Browser, loop_id: str, **fields: str) -> Any:
    return browser.post(f"/dashboard/loops/{loop_id}/try", **{**blank_form(), **fields})


def sent_id(page: str) -> str:
    found = REQUEST_ID.search(page)
    assert found, "no result panel on the page"
    return found.group(1)


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<span class="field-error" id="try-{name}-error">(.*?)</span>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def read_request(server: LiveServer, account: Account, request_id: str) -> dict[str, Any]:
    with server.client(account) as http:
        answer = http.get(f"/v1/api/requests/{request_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def request_count(server: LiveServer, account: Account, loop_id: str) -> int:
    with server.client(account) as http:
        return int(http.get("/v1/api/requests", params={"loop_id": loop_id}).json()["data"]["total"])


def api_refusal(server: LiveServer, account: Account, loop_id: str, body: dict[str, Any]) -> str:
    """What the API says of the same body: the detail the form must show beside the field."""
    with server.client(account) as http:
        answer = http.post(f"/v1/api/loops/{loop_id}/requests", json=body)
    assert answer.status_code == 400, answer.text
    refused = answer.json()
    return (
        str(refused["data"])
        if refused["msg"] == "Validation failed"
        else f"{refused['msg']}: {refused['data']}"
    )


def test_the_loop_page_offers_the_form_with_working_defaults(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Refunds")
    page = owner.get(f"/dashboard/loops/{loop_id}").text
    assert "<title>Refunds · OpenHITL</title>" in page
    assert page.count('id="try-it"') == 1
    assert f'action="/dashboard/loops/{loop_id}/try#try-it"' in page
    for name in ("request_text", "title", "priority", "processing_type", "timeout_seconds", "response_type"):
        assert f'id="try-{name}"' in page, name
    for name in ("response_config", "default_response", "type", "image_url", "context", "tags"):
        assert f'id="try-{name}"' in page, name
    for name in ("platform", "platform_version", "callback_url"):
        assert f'id="try-{name}"' in page, name
    assert "<strong>$120</strong>" in page  # the sample text's preview, rendered on the server

    sent = send(owner, loop_id)  # the defaults alone make a valid request
    assert sent.status_code == 200, sent.text
    found = read_request(server, owner.account, sent_id(sent.text))
    assert (found["status"], found["priority"], found["platform"]) == ("pending", "medium", "web_portal")
    assert found["response_config"] == EXAMPLES["single_select"][0]
    assert found["default_response"] == "reject"


def test_every_field_reaches_the_request_as_the_api_would_store_it(
    server: LiveServer, owner: Browser
) -> None:
    loop_id = owner.create_loop("Refunds")
    config = {"scale_min": 0, "scale_max": 10, "scale_step": 0.5, "labels": {"0": "Awful", "10": "Great"}}
    sent = send(
        owner,
        loop_id,
        request_text="Rate **this** reply",
        title="Reply quality",
        priority="high",
        processing_type="deferred",
        timeout_seconds="7200",
        response_type="rating",
        response_config=json.dumps(config),
        default_response="5",
        type="image",
        image_url="https://images.example.com/reply.png",
        context='{"ticket": "T-9", "tries": 2}',
        tags="support, quality ",
        platform="sdk",
        platform_version="1.4.2",
        callback_url="http://127.0.0.1:9/hooks/hitl",
    )
    assert sent.status_code == 200, sent.text
    request_id = sent_id(sent.text)
    found = read_request(server, owner.account, request_id)
    expected = {
        "request_text": "Rate **this** reply",
        "title": "Reply quality",
        "priority": "high",
        "processing_type": "deferred",
        "timeout_seconds": 7200,
        "response_type": "rating",
        "response_config": config,
        "default_response": 5,
        "type": "image",
        "image_url": "https://images.example.com/reply.png",
        "context": {"ticket": "T-9", "tries": 2},
        "tags": ["support", "quality"],
        "platform": "sdk",
        "platform_version": "1.4.2",
        "callback_url": "http://127.0.0.1:9/hooks/hitl",
        "creator_id": owner.account.user_id,
        "api_key_id": None,
        "status": "pending",
    }
    assert {name: found[name] for name in expected} == expected
    # The page keeps what was typed, to send another, and shows the request pending.
    assert "Reply quality" in sent.text and "support, quality" in sent.text
    assert 'class="badge status-pending"' in sent.text


@pytest.mark.parametrize("response_type", list(EXAMPLES))
def test_each_response_types_example_is_a_valid_request(
    server: LiveServer, owner: Browser, response_type: str
) -> None:
    loop_id = owner.create_loop("Examples")
    config, default = EXAMPLES[response_type]
    sent = send(
        owner,
        loop_id,
        response_type=response_type,
        response_config=json.dumps(config),
        default_response=json.dumps(default),
    )
    assert sent.status_code == 200, sent.text
    found = read_request(server, owner.account, sent_id(sent.text))
    assert (found["response_type"], found["response_config"]) == (response_type, config)


def test_unreadable_fields_are_refused_beside_each_field_with_the_typing_kept(
    server: LiveServer, owner: Browser
) -> None:
    loop_id = owner.create_loop("Refunds")
    typed = {
        "request_text": "   ",
        "response_config": '{"options": [}',
        "context": '["not", "an object"]',
        "timeout_seconds": "soon",
        "priority": "urgent",
        "title": "<b>kept</b>",
    }
    refused = send(owner, loop_id, **typed)
    assert refused.status_code == 400
    page = refused.text
    assert field_error(page, "request_text") == "request_text must not be empty"
    assert field_error(page, "response_config") == (
        "response_config is not valid JSON: Expecting value (line 1, column 14)"
    )
    assert field_error(page, "context") == "context must be an object"
    assert field_error(page, "timeout_seconds") == "timeout_seconds must be an integer"
    assert field_error(page, "priority") == "priority must be one of: low, medium, high, critical"
    assert field_error(page, "title") is None
    assert 'aria-invalid="true" aria-describedby="try-context-error try-context-hint"' in page
    assert "The request was not sent. Check the fields marked below." in page
    # Everything typed is still there, escaped.
    assert "{&#34;options&#34;: [}</textarea>" in page
    assert 'value="&lt;b&gt;kept&lt;/b&gt;"' in page and "<b>kept</b>" not in page
    assert '<details class="reveal more-fields" open>' in page  # a refused field inside is shown
    assert request_count(server, owner.account, loop_id) == 0


@pytest.mark.parametrize(
    ("field", "fields", "api_body"),
    [
        ("timeout_seconds", {"timeout_seconds": "5"}, {"timeout_seconds": 5}),
        (
            "response_config",
            {"response_config": '{"options": []}'},
            {"response_config": {"options": []}},
        ),
        (
            "default_response",
            {"default_response": "maybe"},
            {
                "response_config": EXAMPLES["single_select"][0],
                "default_response": "maybe",
            },
        ),
        ("image_url", {"type": "image", "image_url": ""}, {"type": "image"}),
        (
            "callback_url",
            {"callback_url": "http://169.254.169.254/x"},
            {"callback_url": "http://169.254.169.254/x"},
        ),
    ],
)
def test_the_apis_own_refusals_are_shown_beside_their_field(
    server: LiveServer, owner: Browser, field: str, fields: dict[str, str], api_body: dict[str, Any]
) -> None:
    loop_id = owner.create_loop("Refunds")
    expected = api_refusal(server, owner.account, loop_id, request_body(**api_body))
    refused = send(owner, loop_id, **fields)
    assert refused.status_code == 400
    assert field_error(refused.text, field) == expected
    assert request_count(server, owner.account, loop_id) == 0


def test_the_result_follows_the_request_until_it_is_answered(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Refunds")
    rita = server.account("Rita")
    server.add_member(loop_id, rita.user_id)
    config, default = EXAMPLES["text"]
    sent = send(
        owner,
        loop_id,
        response_type="text",
        response_config=json.dumps(config),
        default_response=json.dumps(default),
    )
    request_id = sent_id(sent.text)
    path = f"/dashboard/loops/{loop_id}/try/{request_id}"

    pending = owner.get(path)
    assert pending.status_code == 200 and "<html" not in pending.text  # the panel alone
    assert 'class="badge status-pending"' in pending.text and "data-closed" not in pending.text
    assert "Waiting for a reviewer" in pending.text
    assert 'data-events="request.claimed ' in pending.text

    with server.client(rita) as http:
        assert http.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
        claimed = owner.get(path).text
        assert "Claimed by <strong>Rita</strong>" in claimed
        answered = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Looks right"})
        assert answered.status_code == 200, answered.text
    done = owner.get(path).text
    assert 'class="badge status-completed"' in done and "data-closed" in done
    assert re.search(r'<p class="answer-value" data-answer>\s*Looks right\s*</p>', done)
    assert "<dd>Rita</dd>" in done


def test_the_preview_is_the_reviewer_apps_rendering(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Refunds")
    rita = server.account("Rita")
    server.add_member(loop_id, rita.user_id)
    text = "**Refund** $120?\n\n<script>alert(1)</script> [site](javascript:alert(1))\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    preview = owner.post(f"/dashboard/loops/{loop_id}/try/preview", request_text=text, type="markdown")
    assert preview.status_code == 200
    shown = re.search(r'<div class="request-text markdown">(.*?)</div>', preview.text, re.S)
    assert shown
    assert "<strong>Refund</strong>" in shown.group(1) and "<table>" in shown.group(1)
    assert "<script>" not in preview.text and 'href="javascript' not in preview.text

    with server.client(owner.account) as http:
        created = http.post(
            f"/v1/api/loops/{loop_id}/requests", json=request_body(request_text=text, callback_url=...)
        )
    reviewer = signed_in(server, rita)
    try:
        app_page = reviewer.get(f"/requests/{created.json()['data']['request_id']}").text
    finally:
        reviewer.close()
    in_app = re.search(r'<div class="request-text markdown">(.*?)</div>', app_page, re.S)
    assert in_app and in_app.group(1) == shown.group(1)

    image = owner.post(
        f"/dashboard/loops/{loop_id}/try/preview",
        request_text="Is this a cat?",
        type="image",
        image_url="https://img.example.com/cat.png",
    )
    assert '<img src="https://img.example.com/cat.png"' in image.text
    unsafe = owner.post(
        f"/dashboard/loops/{loop_id}/try/preview",
        request_text="x",
        type="image",
        image_url="javascript:alert(1)",
    )
    assert "<img" not in unsafe.text


def test_an_admin_the_loop_does_not_let_send_is_refused(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Refunds")  # admins may not send: the box was left unticked
    admin = server.account("admin")
    server.add_member(loop_id, admin.user_id, role="admin")
    browser = signed_in(server, admin)
    try:
        page = browser.get(f"/dashboard/loops/{loop_id}").text
        assert "Admins can't send requests into this loop" in page and 'id="try-form"' not in page
        refused = send(browser, loop_id)
        assert refused.status_code == 403
        assert "Only loop creators and admins can create requests" in refused.text
        assert 'id="try-result"' not in refused.text
    finally:
        browser.close()
    assert request_count(server, owner.account, loop_id) == 0


def test_nobody_else_can_send_follow_or_preview(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Refunds")
    request_id = sent_id(send(owner, loop_id).text)
    other_loop = owner.create_loop("Other")
    member, stranger = server.account("member"), server.account("stranger")
    server.add_member(loop_id, member.user_id)
    for account, status in ((member, 403), (stranger, 404)):
        browser = signed_in(server, account)
        try:
            assert send(browser, loop_id).status_code == status
            assert browser.get(f"/dashboard/loops/{loop_id}/try/{request_id}").status_code == status
            preview = browser.post(f"/dashboard/loops/{loop_id}/try/preview", request_text="hi")
            assert preview.status_code == status
        finally:
            browser.close()
    # The owner's own request, asked for through another loop's address, is not found there.
    assert owner.get(f"/dashboard/loops/{other_loop}/try/{request_id}").status_code == 404
    # Without the form's token nothing is sent, nor previewed.
    forged = owner.http.post(f"/dashboard/loops/{loop_id}/try", data=blank_form())
    assert forged.status_code == 403
    assert (
        owner.http.post(f"/dashboard/loops/{loop_id}/try/preview", data={"request_text": "x"}).status_code
        == 403
    )
    assert request_count(server, owner.account, loop_id) == 1
    # Its address, opened on its own, leads back to the loop's page.
    back = owner.get(f"/dashboard/loops/{loop_id}/try")
    assert (back.status_code, back.headers["location"]) == (303, f"/dashboard/loops/{loop_id}#try-it")
