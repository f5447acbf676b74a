"""The dashboard's settings: API keys shown once, webhook endpoints and deliveries, secrets, notifications."""

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from openhitl.loops.models import Membership
from tests.conftest import BACKENDS
from tests.integration.dashboarding import Browser, signed_in
from tests.integration.reviewing import make_team
from tests.integration.webhooking import eventually, fast_server
from tests.support.live import LiveServer
from tests.support.receiver import Receiver

KEY = re.compile(r'id="new-key" value="(hitl_live_[^"]+)"')
SECRET = re.compile(r'id="signing-secret-value" value="([^"]+)"')
WEBHOOK = re.compile(r"^/dashboard/settings/webhooks/([0-9a-f]{24})\?done=webhook$")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Deliveries go out within milliseconds here."""
    yield from fast_server(request.param, tmp_path_factory)


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Browser]:
    browser = signed_in(server, server.account("owner"))
    yield browser
    browser.close()


def test_an_api_key_is_shown_once_works_and_can_be_revoked(server: LiveServer, owner: Browser) -> None:
    assert owner.post("/dashboard/settings/api-keys", name=" ").status_code == 400
    created = owner.post("/dashboard/settings/api-keys", name="Production")
    assert created.status_code == 200 and "it is shown only once" in created.text
    key = KEY.search(created.text)
    assert key, created.text
    with server.client(follow_redirects=False) as http:
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        assert http.get("/v1/api/loops", headers=headers).status_code == 200
        listed = owner.get("/dashboard/settings").text
        assert key.group(1) not in listed and key.group(1)[:14] in listed
        key_id = re.search(r"/dashboard/settings/api-keys/([0-9a-f]{24})/revoke", listed)
        assert key_id
        revoked = owner.post(f"/dashboard/settings/api-keys/{key_id.group(1)}/revoke")
        assert revoked.headers["location"] == "/dashboard/settings?done=revoked"
        assert http.get("/v1/api/loops", headers=headers).status_code == 401


def test_webhook_endpoints_deliveries_and_redelivery(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    owner = signed_in(server, team.owner)
    try:
        refused = owner.post(
            "/dashboard/settings/webhooks", url="ftp://example.com/x", events="request.completed"
        )
        assert refused.status_code == 400 and "url" in refused.text and "ftp://example.com/x" in refused.text
        no_events = owner.post("/dashboard/settings/webhooks", url=receiver.url())
        assert no_events.status_code == 400 and "events" in no_events.text

        created = owner.http.post(
            "/dashboard/settings/webhooks",
            data={
                "csrf_token": owner.csrf,
                "url": receiver.url(),
                "events": ["request.completed", "request.created"],
            },
        )
        found = WEBHOOK.match(created.headers.get("location", ""))
        assert created.status_code == 303 and found, created.text
        webhook_id = found.group(1)
        page = owner.get(f"/dashboard/settings/webhooks/{webhook_id}").text
        assert 'id="endpoint-secret" value="whsec_' in page and "No deliveries yet." in page
        assert receiver.url() in owner.get("/dashboard/settings").text

        tested = owner.post(f"/dashboard/settings/webhooks/{webhook_id}/test")
        assert tested.headers["location"] == f"/dashboard/settings/webhooks/{webhook_id}?done=tested"
        [first] = receiver.wait_for(1)
        logged = eventually(
            lambda: "webhook.test" in owner.get(f"/dashboard/settings/webhooks/{webhook_id}").text,
            what="the test delivery on the page",
        )
        assert logged

        request_id = team.ask(callback_url=...)
        with team.http(team.reviewers[0]) as http:
            http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
        receiver.wait_for(3)
        detail = eventually(
            lambda: owner.get(f"/dashboard/requests/{request_id}").text.count("/redeliver") == 2 or None,
            what="both deliveries on the request page",
        )
        assert detail
        page = owner.get(f"/dashboard/requests/{request_id}").text
        delivery_id = re.search(r"/dashboard/deliveries/([0-9a-f]{24})/redeliver", page)
        assert delivery_id
        again = owner.post(
            f"/dashboard/deliveries/{delivery_id.group(1)}/redeliver",
            back_to=f"/dashboard/requests/{request_id}",
        )
        assert again.headers["location"] == f"/dashboard/requests/{request_id}?done=redelivered"
        [*_, repeat] = receiver.wait_for(4)
        assert (
            repeat.event_id in {r.event_id for r in receiver.received()[:3]}
            and repeat.event_id != first.event_id
        )
        offsite = owner.post(
            f"/dashboard/deliveries/{delivery_id.group(1)}/redeliver", back_to="https://evil.example"
        )
        assert offsite.status_code == 400

        deleted = owner.post(f"/dashboard/settings/webhooks/{webhook_id}/delete")
        assert deleted.headers["location"] == "/dashboard/settings?done=webhook_deleted"
        assert owner.get(f"/dashboard/settings/webhooks/{webhook_id}").status_code == 404
    finally:
        owner.close()


def test_signing_secret_and_notification_preferences(server: LiveServer, owner: Browser) -> None:
    assert "No secret yet" in owner.get("/dashboard/settings").text
    assert (
        owner.post("/dashboard/settings/signing-secret").headers["location"]
        == "/dashboard/settings?done=rotated"
    )
    first = SECRET.search(owner.get("/dashboard/settings").text)
    owner.post("/dashboard/settings/signing-secret")
    second = SECRET.search(owner.get("/dashboard/settings").text)
    assert first and second and first.group(1).startswith("whsec_") and first.group(1) != second.group(1)

    loop_id = owner.create_loop()
    saved = owner.post(f"/dashboard/settings/notifications/{loop_id}", email="on")  # push box left unticked
    assert saved.headers["location"] == "/dashboard/settings?done=saved"
    assert owner.post(f"/dashboard/settings/notifications/{loop_id}", email="daily").status_code == 400

    async def preferences() -> tuple[bool, str]:
        async with server.state.db.read() as session:
            found = await session.execute(
                select(Membership.notify_push, Membership.notify_email).where(Membership.loop_id == loop_id)
            )
            push, email = found.one()
            return bool(push), str(email)

    assert server.run(preferences()) == (False, "on")
    page = owner.get("/dashboard/settings", done="saved").text
    assert "Notification settings saved." in page
    assert '<option value="on" selected>' in page
