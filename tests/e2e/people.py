"""People for the browser tests: an owner with a loop, reviewers in it, and a browser signed in as each."""

from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page

from openhitl.accounts.sessions import SESSION_COOKIE
from tests.e2e.conftest import Screens
from tests.support.live import Account, LiveServer
from tests.support.payloads import request_body


def sign_in(context: BrowserContext, site: LiveServer, account: Account) -> None:
    """The browser gets a session for the account, made as signing in makes one."""
    opened = site.session_for(account)
    context.add_cookies([{"name": SESSION_COOKIE, "value": opened.token, "url": site.url}])


def open_as(screens: Screens, account: Account, device: str) -> Page:
    """A phone or desktop browser signed in as the account."""
    page = screens.phone() if device == "phone" else screens.desktop()
    sign_in(page.context, screens.site, account)
    return page


@dataclass
class Team:
    site: LiveServer
    owner: Account
    loop: dict[str, Any]
    reviewers: list[Account]

    def api(self, account: Account | None = None) -> httpx.Client:
        return self.site.client(account or self.owner)

    def ask(self, **overrides: Any) -> str:
        with self.api() as http:
            answer = http.post(
                f"/v1/api/loops/{self.loop['id']}/requests", json=request_body(callback_url=..., **overrides)
            )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["data"]["request_id"])

    def respond(self, reviewer: Account, request_id: str, response_data: Any) -> None:
        with self.api(reviewer) as http:
            answer = http.post(
                f"/v1/api/requests/{request_id}/respond", json={"response_data": response_data}
            )
        assert answer.status_code == 200, answer.text


def make_team(
    site: LiveServer,
    *,
    name: str,
    icon: str,
    reviewers: tuple[str, ...] = ("Rita Reviewer",),
    owner: Account | None = None,
) -> Team:
    """A loop made by its owner (a new account unless given), with reviewers who joined it by its code."""
    owner = owner or site.account("Olivia Owner")
    with site.client(owner) as http:
        created = http.post("/v1/api/loops", json={"name": name, "icon": icon, "description": f"{name} loop"})
    assert created.status_code == 201, created.text
    loop = dict(created.json()["data"]["loop"])
    members = []
    for reviewer_name in reviewers:
        reviewer = site.account(reviewer_name)
        with site.client(reviewer) as http:
            joined = http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]})
        assert joined.status_code == 200, joined.text
        members.append(reviewer)
    return Team(site, owner, loop, members)
