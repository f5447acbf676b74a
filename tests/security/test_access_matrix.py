"""Who may use which route: every API route against every kind of caller, on each database.

Access is query scoping: a loop, request or webhook you have nothing to do with does not exist for you (404);
one you can see but may not change answers 403; no key, an unknown key or a revoked one answers 401. The
table below is checked against the app's own route table, so a route added without a row fails the suite.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from openhitl.app import ALIASES, API_PREFIXES, create_app
from openhitl.config import Settings
from tests.integration.dashboarding import signed_in
from tests.security.conftest import ROLES, SIGNED_IN, WEBHOOK, World, data_of
from tests.support.payloads import SEED_LOOP, yes_no
from tests.support.routes import api_routes, uses_authentication

PREFIX = API_PREFIXES[0]
# (world, caller, the call should succeed) -> path parameters. Callers that should succeed get a thing of
# their own when the call uses it up; the others are shown the shared one, which they must not reach.
Params = Callable[[World, str, bool], dict[str, str]]
Body = Callable[[World, str, bool], Any]


def everyone(code: int) -> dict[str, int]:
    return dict.fromkeys(SIGNED_IN, code)


def in_the_loop(owner: int, admin: int, member: int, viewer: int) -> dict[str, int]:
    """The loop's people get these; anyone outside it is told the loop or request does not exist."""
    return {"owner": owner, "admin": admin, "member": member, "viewer": viewer, "outsider": 404, "other": 404}


def owner_only(code: int) -> dict[str, int]:
    """Things that belong to one account (webhooks, deliveries, keys): everyone else gets a 404."""
    return {**everyone(404), "owner": code}


def nothing(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {}


def the_loop(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"loop_id": world.loop_id}


def a_fresh_loop(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"loop_id": world.fresh_loop() if succeeds else world.loop_id}


def a_loop_to_leave(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"loop_id": world.fresh_membership(role) if succeeds else world.loop_id}


def a_member_to_remove(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {
        "loop_id": world.loop_id,
        "user_id": world.fresh_member() if succeeds else world.user_id("member"),
    }


def the_member(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"loop_id": world.loop_id, "user_id": world.user_id("member")}


def the_request(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"request_id": world.pending_request_id}


def the_completed_request(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"request_id": world.completed_request_id}


def a_fresh_request(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"request_id": world.fresh_request() if succeeds else world.pending_request_id}


def a_request_the_caller_claimed(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"request_id": world.fresh_claimed_request(role) if succeeds else world.pending_request_id}


def the_webhook(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"webhook_id": world.webhook_id}


def a_fresh_webhook(world: World, role: str, succeeds: bool) -> dict[str, str]:
    if not succeeds:
        return the_webhook(world, role, succeeds)
    return {
        "webhook_id": data_of(world.client("owner").post("/v1/api/webhooks", json=WEBHOOK))["webhook"]["id"]
    }


def the_delivery(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"delivery_id": world.delivery_id}


def a_key_of_the_owner(world: World, role: str, succeeds: bool) -> dict[str, str]:
    if not succeeds:
        return {"api_key_id": world.owner_key_id}
    return {
        "api_key_id": data_of(world.client("owner").post("/v1/api/api-keys", json={"name": "x"}))["api_key"][
            "id"
        ]
    }


def push_endpoint(world: World, role: str, succeeds: bool) -> dict[str, Any]:
    world.push_endpoints += 1
    return {"endpoint": f"http://127.0.0.1:9/push/{world.push_endpoints}", "keys": world.push_keys}


def an_endpoint_of_the_owner(world: World, role: str, succeeds: bool) -> dict[str, Any]:
    """Others are shown the owner's subscription (which they cannot remove); the owner removes a fresh one."""
    if not succeeds:
        return {"endpoint": world.owner_push_endpoint}
    body = push_endpoint(world, role, succeeds)
    data_of(world.client("owner").post("/v1/api/push/subscriptions", json=body))
    return {"endpoint": body["endpoint"]}


def fixed(body: Any) -> Body:
    return lambda world, role, succeeds: body


def the_lobby_code(world: World, role: str, succeeds: bool) -> dict[str, str]:
    return {"invite_code": world.lobby_invite_code}


@dataclass(frozen=True)
class Row:
    expect: dict[str, int]  # signed-in caller -> status (no key, unknown and revoked keys: see expected())
    params: Params = nothing
    body: Body | None = None
    public: bool = False
    streams: bool = field(default=False)


MATRIX: dict[str, Row] = {
    # Your own account: anyone signed in may, and sees only their own things.
    "GET /test": Row(everyone(200)),
    "GET /me": Row(everyone(200)),
    "GET /api-keys": Row(everyone(200)),
    "POST /api-keys": Row(everyone(201), body=fixed({"name": "matrix"})),
    "DELETE /api-keys/{api_key_id}": Row(owner_only(200), a_key_of_the_owner),
    "GET /loops": Row(everyone(200)),
    "POST /loops": Row(everyone(201), body=fixed(SEED_LOOP)),
    "POST /loops/join": Row(everyone(200), body=the_lobby_code),
    "GET /requests": Row(everyone(200)),
    "GET /requests/export": Row(everyone(200)),
    "GET /inbox": Row(everyone(200)),
    "GET /events": Row(everyone(200), streams=True),
    "GET /webhooks": Row(everyone(200)),
    "POST /webhooks": Row(everyone(201), body=fixed(WEBHOOK)),
    "GET /webhooks/secret": Row(everyone(200)),
    "POST /webhooks/secret/rotate": Row(everyone(200)),
    "POST /push/subscriptions": Row(everyone(201), body=push_endpoint),
    "DELETE /push/subscriptions": Row(owner_only(200), body=an_endpoint_of_the_owner),
    "GET /push/vapid-public-key": Row(everyone(200), public=True),
    # A loop: its people see it; only its creator changes or deletes it; the creator and admins manage it.
    "GET /loops/{loop_id}": Row(in_the_loop(200, 200, 200, 200), the_loop),
    "PUT /loops/{loop_id}": Row(in_the_loop(200, 403, 403, 403), the_loop, fixed({"description": "Changed"})),
    "DELETE /loops/{loop_id}": Row(in_the_loop(200, 403, 403, 403), a_fresh_loop),
    "GET /loops/{loop_id}/members": Row(in_the_loop(200, 200, 403, 403), the_loop),
    "DELETE /loops/{loop_id}/members/{user_id}": Row(in_the_loop(200, 200, 403, 403), a_member_to_remove),
    "PUT /loops/{loop_id}/members/{user_id}": Row(
        in_the_loop(200, 200, 403, 403), the_member, fixed({"role": "member"})
    ),
    "POST /loops/{loop_id}/invitations": Row(
        in_the_loop(201, 201, 403, 403), the_loop, fixed({"emails": ["invitee@example.com"]})
    ),
    "POST /loops/{loop_id}/invite-code": Row(in_the_loop(200, 200, 403, 403), the_loop),
    # The creator cannot leave their own loop (400); everyone else in it can.
    "POST /loops/{loop_id}/leave": Row(in_the_loop(400, 200, 200, 200), a_loop_to_leave),
    "GET /loops/{loop_id}/notifications": Row(in_the_loop(200, 200, 200, 200), the_loop),
    "PUT /loops/{loop_id}/notifications": Row(
        in_the_loop(200, 200, 200, 200), the_loop, fixed({"push": False})
    ),
    "GET /loops/{loop_id}/requests": Row(in_the_loop(200, 200, 403, 200), the_loop),
    "POST /loops/{loop_id}/requests": Row(in_the_loop(201, 201, 403, 403), the_loop, fixed(yes_no("Ok?"))),
    # A request as its sender sees it: its creator and the loop's managers; plain members get a 403.
    "GET /requests/{request_id}": Row(in_the_loop(200, 200, 403, 200), the_request),
    "PATCH /requests/{request_id}": Row(
        in_the_loop(200, 200, 403, 403), the_request, fixed({"priority": "high"})
    ),
    "DELETE /requests/{request_id}": Row(in_the_loop(200, 200, 403, 403), a_fresh_request),
    "POST /requests/{request_id}/cancel": Row(in_the_loop(200, 200, 403, 403), a_fresh_request),
    "POST /requests/{request_id}/feedback": Row(
        in_the_loop(200, 200, 403, 403), the_completed_request, fixed({"feedback": {"rating": 5}})
    ),
    "GET /requests/{request_id}/deliveries": Row(in_the_loop(200, 200, 403, 200), the_request),
    "GET /requests/{request_id}/events": Row(in_the_loop(200, 200, 403, 200), the_request, streams=True),
    # A request as a reviewer sees it: everyone in the loop.
    "GET /inbox/{request_id}": Row(in_the_loop(200, 200, 200, 403), the_request),
    "POST /requests/{request_id}/claim": Row(in_the_loop(200, 200, 200, 403), a_fresh_request),
    "POST /requests/{request_id}/release": Row(in_the_loop(200, 200, 200, 403), a_request_the_caller_claimed),
    "POST /requests/{request_id}/respond": Row(
        in_the_loop(200, 200, 200, 403), a_fresh_request, fixed({"response_data": True})
    ),
    # Webhook endpoints and their deliveries belong to one account.
    "GET /webhooks/{webhook_id}": Row(owner_only(200), the_webhook),
    "PATCH /webhooks/{webhook_id}": Row(owner_only(200), the_webhook, fixed({"enabled": True})),
    "DELETE /webhooks/{webhook_id}": Row(owner_only(200), a_fresh_webhook),
    "POST /webhooks/{webhook_id}/test": Row(owner_only(202), the_webhook),
    "GET /webhooks/{webhook_id}/deliveries": Row(owner_only(200), the_webhook),
    "POST /webhooks/deliveries/{delivery_id}/redeliver": Row(owner_only(202), the_delivery),
}


def served_api_routes(app: FastAPI) -> dict[str, bool]:
    """ "METHOD /path" (without the prefix) -> whether it takes a key, for every route of the API."""
    return {
        f"{method.upper()} {path.removeprefix(PREFIX)}": uses_authentication(dependant)
        for (path, method), dependant in api_routes(app).items()
        if path.startswith(PREFIX + "/")
    }


def test_every_route_has_an_expectation(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="unused"))
    served = served_api_routes(app)
    assert sorted(set(served) - set(MATRIX)) == [], "routes without a row in the access matrix"
    assert sorted(set(MATRIX) - set(served)) == [], "rows for routes the app does not serve"
    wrongly_public = [route for route, row in MATRIX.items() if row.public == served[route]]
    assert wrongly_public == [], "rows that say public for a route that takes a key, or the other way round"
    for prefix in API_PREFIXES:  # the matrix holds for the other prefixes: the front door rewrites them to it
        for route in served:
            path = route.split(" ", 1)[1]
            assert ALIASES.rewrite({"path": prefix + path}) == PREFIX + path, f"{prefix}{path}"


def expected(row: Row, role: str) -> int:
    if role in SIGNED_IN:
        return row.expect[role]
    return 200 if row.public else 401


def call(world: World, route: str, row: Row, role: str) -> httpx.Response:
    succeeds = expected(row, role) < 300
    method, template = route.split(" ", 1)
    path = PREFIX + template.format(**row.params(world, role, succeeds))
    body = row.body(world, role, succeeds) if row.body else None
    http = world.client(role)
    with http.stream(method, path, json=body) as answer:
        if not (row.streams and answer.is_success):
            answer.read()  # an event stream stays open: its status is enough
    return answer


def problem(answer: httpx.Response, role: str, want: int) -> str | None:
    request = answer.request
    text = answer.text if not answer.is_success or answer.is_stream_consumed else ""
    if answer.status_code != want:
        return f"{role}: {request.method} {request.url.path} answered {answer.status_code}, not {want}: {text[:200]}"
    if answer.status_code >= 400:
        envelope = answer.json()
        if envelope.get("error") is not True or not str(envelope.get("msg", "")).strip():
            return f"{role}: {request.method} {request.url.path} {answer.status_code} without the envelope: {text}"
    return None


@pytest.mark.parametrize("route", list(MATRIX))
def test_access(world: World, route: str) -> None:
    row = MATRIX[route]
    problems = []
    for role in ROLES:
        want = expected(row, role)
        found = problem(call(world, route, row, role), role, want)
        if found:
            problems.append(found)
    assert not problems, "\n".join([f"on {world.server.backend}:", *problems])


LISTS = ["/loops", "/requests", "/inbox", "/inbox?view=history", "/webhooks", "/api-keys"]


def ids_of(world: World, role: str) -> set[str]:
    """What each tenant owns that no one outside may see listed."""
    if role == "owner":
        return {world.loop_id, world.pending_request_id, world.completed_request_id, world.webhook_id}
    return {world.other_loop_id, world.other_request_id, world.other_webhook_id}


@pytest.mark.parametrize("path", LISTS)
def test_lists_show_nothing_of_another_tenant(world: World, path: str) -> None:
    leaks = []
    for viewer, hidden_from_viewer in [("outsider", "owner"), ("other", "owner"), ("owner", "other")]:
        page = world.client(viewer).get(PREFIX + path)
        assert page.status_code == 200, page.text
        leaks += [
            f"{viewer} sees {hidden_from_viewer}'s {i} in {path}"
            for i in ids_of(world, hidden_from_viewer)
            if i in page.text
        ]
    assert not leaks, "\n".join(leaks)


# Web pages are signed-in browsers, not keys: every page that names a loop or a request.
WEB_PAGES = {
    # A plain member or a viewer knows the loop, and may not manage it.
    "/dashboard/loops/{loop_id}": in_the_loop(200, 200, 403, 403),
    "/dashboard/loops/{loop_id}/edit": in_the_loop(200, 200, 403, 403),
    "/dashboard/loops/{loop_id}/delete": in_the_loop(200, 200, 403, 403),
    "/dashboard/loops/{loop_id}/analytics": in_the_loop(200, 200, 403, 403),
    # The caller's view of a request: its creator, the loop's managers and its viewers.
    "/dashboard/requests/{request_id}": in_the_loop(200, 200, 403, 200),
    # The reviewer's view of a request: everyone who answers in the loop; a viewer does not.
    "/requests/{request_id}": in_the_loop(200, 200, 200, 403),
}


@pytest.mark.parametrize("template", list(WEB_PAGES))
def test_web_pages(world: World, template: str) -> None:
    problems = []
    for role, want in WEB_PAGES[template].items():
        path = template.format(loop_id=world.loop_id, request_id=world.pending_request_id)
        browser = signed_in(world.server, world.accounts[role])
        try:
            answer = browser.get(path)
        finally:
            browser.close()
        if answer.status_code != want:
            problems.append(f"{role}: GET {path} answered {answer.status_code}, not {want}")
    anonymous = world.client("anonymous").get(
        template.format(loop_id=world.loop_id, request_id=world.pending_request_id)
    )
    if anonymous.status_code != 303:
        problems.append(f"anonymous: answered {anonymous.status_code}, not a redirect to sign in")
    assert not problems, "\n".join([f"on {world.server.backend}:", *problems])


# Every page form that changes a loop or a request, sent by the loop's viewer with a valid CSRF token: refused.
VIEWER_REFUSED_FORMS = {
    "/dashboard/loops/{loop_id}/edit": {"name": "Renamed", "icon": "x"},
    "/dashboard/loops/{loop_id}/delete": {},
    "/dashboard/loops/{loop_id}/invitations": {"emails": "someone@example.com"},
    "/dashboard/loops/{loop_id}/invite-code": {},
    "/dashboard/loops/{loop_id}/members/{member_id}/role": {"role": "viewer"},
    "/dashboard/loops/{loop_id}/members/{member_id}/remove": {},
    "/dashboard/loops/{loop_id}/members/{member_id}/invitation-link": {},
    "/dashboard/requests/{request_id}/cancel": {},
    "/requests/{request_id}/claim": {},
    "/requests/{request_id}/release": {},
    "/requests/{request_id}/respond": {"answer": "true"},
}


@pytest.mark.parametrize("template", list(VIEWER_REFUSED_FORMS))
def test_a_viewer_changes_nothing_through_the_pages(world: World, template: str) -> None:
    path = template.format(
        loop_id=world.loop_id, request_id=world.pending_request_id, member_id=world.user_id("member")
    )
    browser = signed_in(world.server, world.accounts["viewer"])
    try:
        answer = browser.post(path, **VIEWER_REFUSED_FORMS[template])
    finally:
        browser.close()
    assert answer.status_code == 403, f"on {world.server.backend}: POST {path} answered {answer.status_code}"
    owner = world.client("owner")
    request = data_of(owner.get(f"{PREFIX}/requests/{world.pending_request_id}"))
    assert request["status"] == "pending"
    members = data_of(owner.get(f"{PREFIX}/loops/{world.loop_id}/members"))["members"]
    assert {m["user_id"]: m["role"] for m in members}[world.user_id("member")] == "member"


def test_a_viewer_reads_the_loops_requests_and_is_asked_to_answer_none(world: World) -> None:
    viewer = world.client("viewer")
    listed = {r["id"] for r in data_of(viewer.get(f"{PREFIX}/requests?loop_id={world.loop_id}"))["requests"]}
    assert {world.pending_request_id, world.completed_request_id} <= listed
    answered = data_of(viewer.get(f"{PREFIX}/requests/{world.completed_request_id}"))
    assert answered["response_value"] is True
    assert data_of(viewer.get(f"{PREFIX}/inbox"))["requests"] == []
    history = data_of(viewer.get(f"{PREFIX}/inbox?view=history"))
    assert history["requests"] == []
    recipients = data_of(world.client("owner").get(f"{PREFIX}/requests/{world.pending_request_id}"))
    assert world.user_id("viewer") not in {r["user_id"] for r in recipients["broadcasted_to"]}
    # The invite code makes whoever holds it a member: a viewer is not shown it (nor could rejoin as one).
    loop = data_of(viewer.get(f"{PREFIX}/loops/{world.loop_id}"))["loop"]
    assert (loop["role"], loop["invite_code"], loop["join_url"], loop["qr_code_url"]) == (
        "viewer",
        None,
        None,
        None,
    )
    assert data_of(world.client("member").get(f"{PREFIX}/loops/{world.loop_id}"))["loop"]["invite_code"]
    refused = viewer.post(f"{PREFIX}/requests/{world.pending_request_id}/claim")
    assert refused.status_code == 403
    assert refused.json()["msg"] == "Viewers cannot claim or answer requests"
