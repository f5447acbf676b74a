"""Account takeovers, written as the attacks: claiming an existing address by signing up, links in emails
that follow a forged Host, sign-in and sign-up forged from another site, invitation links used after
their time. On SQLite and PostgreSQL."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, start_server
from tests.security.conftest import data_of
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP
from tests.support.web import PASSWORD, browser, finish_sign_up, follow_emailed_link, form_token

ATTACKER_PASSWORD = "mallory's own password"
EVIL = "http://evil.example"


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    servers = start_server(request.param, tmp_path_factory, worker_poll_seconds=0.05)
    server = next(servers)
    server.account("first")  # sign-up is by invitation from here on
    yield server
    next(servers, None)


def make_loop(site: LiveServer, account: Account) -> dict[str, Any]:
    with site.client(account) as http:
        return data_of(http.post("/v1/api/loops", json=SEED_LOOP))


def sign_up(http: httpx.Client, email: str, invite_code: str, **headers: str) -> httpx.Response:
    body = {"name": "Mallory", "email": email, "password": ATTACKER_PASSWORD, "invite_code": invite_code}
    return http.post("/signup", json=body, headers=headers)


def with_password(site: LiveServer, code: str, name: str) -> str:
    """Someone who signed up properly and has a password."""
    email = f"{name}-{site.backend}-{id(site)}@example.com"
    with browser(site) as http:
        asked = http.post(
            "/signup", json={"name": name, "email": email, "password": PASSWORD, "invite_code": code}
        )
        assert asked.status_code == 202, asked.text
        finish_sign_up(site, http, email)
    return email


def signs_in(site: LiveServer, email: str, password: str) -> bool:
    with browser(site) as http:
        return http.post("/login", json={"email": email, "password": password}).status_code == 200


def test_signing_up_as_an_existing_address_claims_nothing_and_tells_nothing(site: LiveServer) -> None:
    owner = site.account("cli-owner")  # as `openhitl api-key create` makes it: no password
    owners_loop = make_loop(site, owner)
    mallory = site.account("mallory")
    mallorys_code = make_loop(site, mallory)["invite_code"]  # a loop of her own is enough to try
    invited = f"invited-{site.backend}@example.com"
    with site.client(owner) as http:
        data_of(
            http.post(f"/v1/api/loops/{owners_loop['loop']['id']}/invitations", json={"emails": [invited]})
        )
    has_password = with_password(site, owners_loop["invite_code"], "pat")
    unknown = f"nobody-{site.backend}@example.com"

    answers = {}
    for email in (owner.email, has_password, invited, unknown):
        with browser(site) as http:
            answer = sign_up(http, email, mallorys_code)
            answers[email] = (answer.status_code, answer.json(), "set-cookie" in answer.headers)
            assert http.get("/v1/api/me").status_code == 401  # nobody was signed in
    assert len(set(map(repr, answers.values()))) == 1, answers  # exists, invited, unknown: all alike
    assert answers[unknown][0] == 202

    for email in (owner.email, has_password, invited):
        assert not signs_in(site, email, ATTACKER_PASSWORD)
    assert signs_in(site, has_password, PASSWORD)
    with site.client(owner) as http:
        me = data_of(http.get("/v1/api/me"))["user"]
        assert me["name"] != "Mallory"
        members = data_of(http.get(f"/v1/api/loops/{owners_loop['loop']['id']}/members"))
    assert members["pending_count"] == 1  # the invitation was not accepted for anyone

    # What reached the owner's mailbox is a plain sign-in link: it changes nothing but signs them in.
    text = site.emails_to(owner.email)[0]["text"]
    assert "already has an account" in text and "Your account was not changed" in text
    with browser(site) as http:
        signed_in = finish_sign_up(site, http, owner.email)
        assert signed_in.headers["location"] == f"/join/{mallorys_code}"  # offered, not joined
        assert data_of(http.get("/v1/api/me"))["user"]["id"] == owner.user_id
        assert [loop["id"] for loop in data_of(http.get("/v1/api/loops"))["loops"]] == [
            owners_loop["loop"]["id"]
        ]
    assert not signs_in(site, owner.email, ATTACKER_PASSWORD)


def test_signing_up_by_form_as_an_existing_address_looks_like_any_other(site: LiveServer) -> None:
    owner = site.account("form-owner")
    code = make_loop(site, owner)["invite_code"]
    places = []
    for email in (owner.email, f"form-new-{site.backend}@example.com"):
        with browser(site) as http:
            answer = http.post(
                "/signup",
                data={
                    "csrf_token": form_token(http, "/signup"),
                    "name": "Mallory",
                    "email": email,
                    "password": ATTACKER_PASSWORD,
                    "invite_code": code,
                },
            )
            places.append((answer.status_code, answer.headers.get("location")))
            assert "openhitl_session" not in answer.headers.get("set-cookie", "")
    assert places == [(303, "/signup?sent=1")] * 2
    assert not signs_in(site, owner.email, ATTACKER_PASSWORD)


@pytest.mark.parametrize("header", ["Host", "X-Forwarded-Host", "Forwarded"])
def test_links_in_emails_never_follow_request_headers(site: LiveServer, header: str) -> None:
    forged = {
        "Host": "attacker.example",
        "X-Forwarded-Host": "attacker.example",
        "Forwarded": "host=attacker.example;proto=https",
    }[header]
    owner = site.account(f"victim-{header.lower()}")
    loop = make_loop(site, owner)
    invitee = f"invitee-{header.lower()}-{site.backend}@example.com"
    newcomer = f"newcomer-{header.lower()}-{site.backend}@example.com"
    with browser(site) as http:
        assert (
            http.post("/login/email", json={"email": owner.email}, headers={header: forged}).status_code
            == 202
        )
        assert sign_up(http, newcomer, loop["invite_code"], **{header: forged}).status_code == 202
    with site.client(owner) as http:
        sent = http.post(
            f"/v1/api/loops/{loop['loop']['id']}/invitations",
            json={"emails": [invitee]},
            headers={header: forged},
        )
        assert sent.status_code == 201, sent.text
    for to, path in ((owner.email, "/login/email/"), (newcomer, "/login/email/"), (invitee, "/invitations/")):
        emails = site.emails_to(to)
        assert emails and all("attacker.example" not in email["text"] for email in emails)
        assert site.emailed_link(to, path).startswith(path)  # the link is to this server's own address


def test_a_join_link_made_for_a_forged_host_is_never_kept_for_others(site: LiveServer) -> None:
    code = make_loop(site, site.account("qr-owner"))["invite_code"]
    with browser(site) as http:
        image = http.get(f"/qr/{code}.png", headers={"Host": "attacker.example"})
    assert image.status_code == 200
    assert image.headers["cache-control"].startswith("private")


def test_sign_in_and_sign_up_cannot_be_forged_from_another_site(site: LiveServer) -> None:
    owner = site.account("csrf-owner")
    code = make_loop(site, owner)["invite_code"]
    email = with_password(site, code, "csrf")
    login = f'{{"email": "{email}", "password": "{PASSWORD}", "x": "="}}'
    for path, body in (
        ("/login", login),
        (
            "/signup",
            f'{{"name": "x", "email": "x@example.com", "password": "{PASSWORD}", "invite_code": "{code}"}}',
        ),
        ("/login/email", f'{{"email": "{email}"}}'),
    ):
        for content_type in ("text/plain", "text/plain;charset=UTF-8", "application/octet-stream", None):
            headers = {"Content-Type": content_type} if content_type else {}
            with browser(site) as http:
                answer = http.post(path, content=body, headers=headers)
                assert answer.status_code == 415, (path, content_type, answer.text)
                assert answer.json()["error"] is True and "application/json" in answer.json()["data"]
                assert "set-cookie" not in answer.headers
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        with browser(site) as http:
            answer = http.post("/login", json={"email": email, "password": PASSWORD}, headers=headers)
            assert (answer.status_code, answer.json()["msg"]) == (403, "Cross-site request refused"), headers
            assert "set-cookie" not in answer.headers
            token = form_token(http, "/login")
            form = http.post(
                "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}, headers=headers
            )
            assert form.status_code == 403 and "openhitl_session" not in form.headers.get("set-cookie", "")
    with browser(site) as http:  # the server's own pages name their own origin and pass
        same = http.post("/login", json={"email": email, "password": PASSWORD}, headers={"Origin": site.url})
        assert same.status_code == 200, same.text


def test_a_signed_in_browser_cannot_be_driven_from_another_site(site: LiveServer) -> None:
    owner = site.account("driven-owner")
    loop = make_loop(site, owner)
    email = with_password(site, loop["invite_code"], "driven")
    with browser(site) as http:
        csrf = data_of(http.post("/login", json={"email": email, "password": PASSWORD}))["csrf_token"]
        other = make_loop(site, site.account("driven-other"))["invite_code"]
        cross = http.post(
            "/v1/api/loops/join", json={"invite_code": other}, headers={"X-CSRF-Token": csrf, "Origin": EVIL}
        )
        assert (cross.status_code, cross.json()["msg"]) == (403, "Cross-site request refused")
        for attempt in (
            http.post("/logout"),
            http.post("/logout", content=b"{}", headers={"Content-Type": "text/plain"}),
            http.post("/logout", data={"csrf_token": "wrong"}),
            http.post("/logout", headers={"X-CSRF-Token": csrf, "Origin": EVIL}),
        ):
            assert attempt.status_code == 403, attempt.text
        assert http.get("/v1/api/me").status_code == 200  # still signed in
        assert http.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert http.get("/v1/api/me").status_code == 401


def invitation_link(site: LiveServer, owner: Account, loop_id: str, email: str) -> str:
    with site.client(owner) as http:
        data_of(http.post(f"/v1/api/loops/{loop_id}/invitations", json={"emails": [email]}))
    return site.emailed_link(email, "/invitations/")


def refused(site: LiveServer, link: str) -> None:
    with browser(site) as http:
        answer = http.get(link, headers={"Accept": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["msg"] == "This invitation has expired or was already used"
        assert "set-cookie" not in answer.headers and http.get("/v1/api/me").status_code == 401


def test_invitation_links_die_once_used_withdrawn_or_joined_another_way(site: LiveServer) -> None:
    owner = site.account("inviting-owner")
    loop = make_loop(site, owner)
    loop_id = loop["loop"]["id"]

    joined_by_code = site.account("joins-by-code")
    link = invitation_link(site, owner, loop_id, joined_by_code.email)
    with site.client(joined_by_code) as http:
        data_of(http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}))
    refused(site, link)

    withdrawn = f"withdrawn-{site.backend}@example.com"
    link = invitation_link(site, owner, loop_id, withdrawn)
    with site.client(owner) as http:
        members = data_of(http.get(f"/v1/api/loops/{loop_id}/members"))["members"]
        pending = next(m for m in members if m["email"] == withdrawn)
        data_of(http.delete(f"/v1/api/loops/{loop_id}/members/{pending['user_id']}"))
    refused(site, link)

    left = site.account("leaves")
    link = invitation_link(site, owner, loop_id, left.email)
    with site.client(left) as http:
        data_of(http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}))
        data_of(http.post(f"/v1/api/loops/{loop_id}/leave"))
    refused(site, link)

    used = f"used-{site.backend}@example.com"
    link = invitation_link(site, owner, loop_id, used)
    with browser(site) as http:
        assert http.get(link).status_code == 200  # opening it uses nothing
        assert follow_emailed_link(http, link).status_code == 303
    refused(site, link)


def test_an_emailed_link_is_spent_only_by_the_tap_on_its_own_page(site: LiveServer) -> None:
    account = site.account("scanned")
    with browser(site) as http:
        assert http.post("/login/email", json={"email": account.email}).status_code == 202
    link = site.emailed_link(account.email, "/login/email/")
    with browser(site) as http:
        for _ in range(3):  # a mail scanner, a link preview, the person: opening spends nothing
            assert http.get(link).status_code == 200
        fetched = http.get(link, headers={"Accept": "application/json", "Sec-Fetch-Site": "cross-site"})
        assert (fetched.status_code, fetched.json()["msg"]) == (403, "Cross-site request refused")
        token = form_token(http, link)
        for forged in (
            http.post(link),  # a page elsewhere posting to the link has no token
            http.post(link, data={"csrf_token": "guessed"}),
            http.post(link, data={"csrf_token": token}, headers={"Origin": EVIL}),
        ):
            assert forged.status_code == 403, forged.text
            assert "openhitl_session" not in forged.headers.get("set-cookie", "")
        assert follow_emailed_link(http, link).status_code == 303  # still good for its owner, once
        assert data_of(http.get("/v1/api/me"))["user"]["id"] == account.user_id
    with browser(site) as http:
        assert http.get(link).status_code == 401
