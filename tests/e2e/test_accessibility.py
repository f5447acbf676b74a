"""Every page of the app passes axe-core's checks (WCAG 2 A and AA rules and axe's best practices) with no
serious or critical violation, on a phone and on a desktop.

The pages are the app's own route table: every GET route of the page route class is either listed here
with the pages it is checked on, or named as no page (with why), so a new page cannot be left out. axe-core
is vendored from npm under tests/support/vendor/ and loaded only here. Run with -rP to read every page's
findings; a failure prints them anyway.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from playwright.sync_api import Page, expect

from openhitl.realtime.feed import EventFeed
from openhitl.web.routing import PageRoute
from tests.e2e.conftest import Screens
from tests.e2e.people import Team, make_team, open_as
from tests.support.axe import Violation, audit, blocking
from tests.support.live import Account, LiveServer, full_access_account
from tests.support.web import browser

NOT_PAGES = {
    "/manifest.webmanifest": "the web app manifest (JSON)",
    "/sw.js": "the service worker (a script)",
    "/queue": "a part of / that the live feed fetches again",
    "/notifications/list": "a part of /notifications that the live feed fetches again",
    "/dashboard/loops/{loop_id}/try/{request_id}": "a part of a loop's page that its script fetches again",
    "/dashboard/loops/{loop_id}/try": "where the try-it form posts; a GET goes back to the loop's page",
    "/dashboard/requests/export": "a download of the requests (CSV or JSON), not a page",
}
ANSWERS: dict[str, dict[str, Any]] = {
    "single_select": {
        "response_config": {
            "options": [
                {"value": "full", "label": "Full refund", "color": "#16a34a", "description": "All of it"},
                {"value": "none", "label": "No refund", "color": "#dc2626"},
            ]
        },
        "default_response": "none",
    },
    "multi_select": {
        "response_config": {"options": ["Spam", "Abuse", "Off-topic"], "max_selections": 2},
        "default_response": [],
    },
    "text": {"response_config": {"placeholder": "Why?", "max_length": 500}, "default_response": ""},
    "rating": {
        "response_config": {"scale_min": 0, "scale_max": 10, "labels": {"0": "Awful", "10": "Perfect"}},
        "default_response": 5,
    },
    "number": {"response_config": {"prefix": "$", "max_value": 500}, "default_response": 0},
    "boolean": {
        "response_config": {"true_label": "Ship it", "false_label": "Hold"},
        "default_response": False,
    },
}


@dataclass
class World:
    """Something on every page: a loop with requests of every type, answered and open, a webhook, links."""

    team: Team
    answered: str
    closed: dict[str, str]  # cancelled and timed out, by status
    open_requests: dict[str, str]
    webhook_id: str
    elsewhere_code: str
    sign_in_link: str
    invitation_link: str

    @property
    def loop_id(self) -> str:
        return str(self.team.loop["id"])


Visit = tuple[str | None, str]  # who (None: nobody signed in; else "owner" or "reviewer") and the path
PAGES: dict[str, Callable[[World], Sequence[Visit]]] = {
    "/login": lambda w: [(None, "/login"), (None, "/login?sent=1")],
    "/signup": lambda w: [
        (None, "/signup"),
        (None, "/signup?sent=1"),
        (None, f"/signup?code={w.elsewhere_code}"),
    ],
    "/login/email/{token}": lambda w: [(None, w.sign_in_link)],
    "/invitations/{token}": lambda w: [(None, w.invitation_link)],
    "/offline": lambda w: [(None, "/offline")],
    "/": lambda w: [("reviewer", "/"), ("reviewer", f"/?loop={w.loop_id}")],
    "/history": lambda w: [("reviewer", "/history"), ("reviewer", "/history?status=timeout")],
    "/notifications": lambda w: [("reviewer", "/notifications")],
    "/requests/{request_id}": lambda w: (
        [
            ("reviewer", f"/requests/{request_id}")
            for request_id in (*w.open_requests.values(), w.answered, *w.closed.values())
        ]
        + [("reviewer", "/requests/" + "0" * 24)]
    ),  # the error page: no such request
    "/join": lambda w: [("reviewer", "/join"), (None, "/join")],
    "/join/{code}": lambda w: [
        ("reviewer", f"/join/{w.elsewhere_code}"),
        (None, f"/join/{w.elsewhere_code}"),
    ],
    "/settings": lambda w: [("reviewer", "/settings")],
    "/dashboard": lambda w: [("owner", "/dashboard")],
    "/dashboard/loops": lambda w: [("owner", "/dashboard/loops")],
    "/dashboard/loops/new": lambda w: [("owner", "/dashboard/loops/new")],
    "/dashboard/loops/{loop_id}": lambda w: [("owner", f"/dashboard/loops/{w.loop_id}")],
    "/dashboard/loops/{loop_id}/edit": lambda w: [("owner", f"/dashboard/loops/{w.loop_id}/edit")],
    "/dashboard/loops/{loop_id}/delete": lambda w: [("owner", f"/dashboard/loops/{w.loop_id}/delete")],
    "/dashboard/loops/{loop_id}/analytics": lambda w: [("owner", f"/dashboard/loops/{w.loop_id}/analytics")],
    "/dashboard/requests": lambda w: [("owner", "/dashboard/requests")],
    "/dashboard/requests/{request_id}": lambda w: [
        ("owner", f"/dashboard/requests/{w.answered}"),
        ("owner", f"/dashboard/requests/{w.open_requests['rating']}"),
        ("owner", f"/dashboard/requests/{w.closed['timeout']}"),
    ],
    "/dashboard/settings": lambda w: [("owner", "/dashboard/settings")],
    "/dashboard/settings/webhooks/{webhook_id}": lambda w: [
        ("owner", f"/dashboard/settings/webhooks/{w.webhook_id}")
    ],
}


def page_routes(app: FastAPI) -> set[str]:
    """Every path a browser can GET from the page routes (reviewer app, dashboard, sign-in, links)."""
    return {
        context.path
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, PageRoute) and "GET" in (context.methods or ()) and context.path
    }


def test_every_page_route_is_checked_or_named_as_no_page(site: LiveServer) -> None:
    served = page_routes(site.app)
    assert sorted(served - set(PAGES) - set(NOT_PAGES)) == [], "pages the accessibility check does not visit"
    assert sorted((set(PAGES) | set(NOT_PAGES)) - served) == [], "listed pages the app does not serve"


@pytest.fixture(scope="module")
def world(site: LiveServer) -> World:
    owner = full_access_account(site, "Olivia Owner")
    team = make_team(site, name="Refund approvals", icon="shield-check", owner=owner)
    with site.client(owner) as http:
        hook = http.post("/v1/api/webhooks", json={"url": "https://hooks.example.com/hitl"})
        assert hook.status_code == 201, hook.text
        invited = http.post(
            f"/v1/api/loops/{team.loop['id']}/invitations", json={"emails": ["newcomer@example.com"]}
        )
        assert invited.status_code == 201, invited.text
    open_requests = {
        kind: team.ask(
            title=f"A {kind.replace('_', ' ')} request",
            request_text=f"**Decide** this *{kind}* request.\n\n- one\n- two",
            priority=priority,
            response_type=kind,
            context={"order": "A-1001", "amount": 250},
            **ANSWERS[kind],
        )
        for kind, priority in zip(
            ANSWERS, ["critical", "high", "medium", "low", "high", "medium"], strict=True
        )
    }
    answered = team.ask(
        request_text="Refund order A-1000?", response_type="single_select", **ANSWERS["single_select"]
    )
    team.respond(team.reviewers[0], answered, "full")
    closed = {
        "cancelled": team.ask(request_text="Cancelled while waiting"),
        "timeout": team.ask(request_text="Nobody answered in time", timeout_seconds=60),
    }
    with site.client(owner) as http:
        assert http.post(f"/v1/api/requests/{closed['cancelled']}/cancel").status_code == 200
        with site.clock.shifted(61):
            site.state.get(EventFeed).wake()
            deadline = time.monotonic() + 30
            while http.get(f"/v1/api/requests/{closed['timeout']}").json()["data"]["status"] != "timeout":
                assert time.monotonic() < deadline, "the request did not time out"
                time.sleep(0.05)
    elsewhere = make_team(site, name="Payouts", icon="💸", reviewers=())
    linked = site.account("linked")  # someone who asks for a sign-in link
    with browser(site) as http:
        assert http.post("/login/email", json={"email": linked.email}).status_code == 202
    return World(
        team=team,
        answered=answered,
        closed=closed,
        open_requests=open_requests,
        webhook_id=str(hook.json()["data"]["webhook"]["id"]),
        elsewhere_code=str(elsewhere.loop["invite_code"]),
        sign_in_link=site.emailed_link(linked.email, "/login/email/"),
        invitation_link=site.emailed_link("newcomer@example.com", "/invitations/"),
    )


def visit(page: Page, path: str) -> None:
    page.goto(path)
    if page.locator("#answer[data-live]").count():  # an open request claims itself as it opens (live.js)
        expect(page.locator("#answer[data-state]:not([data-state=open])")).to_be_visible()


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_every_page_passes_the_accessibility_check(
    site: LiveServer, screens: Screens, world: World, device: str
) -> None:
    people: dict[str | None, Account | None] = {
        "owner": world.team.owner,
        "reviewer": world.team.reviewers[0],
        None: None,
    }
    pages: dict[str | None, Page] = {}
    findings: dict[str, list[Violation]] = {}
    for template in sorted(PAGES):
        for who, path in PAGES[template](world):
            if who not in pages:
                account = people[who]
                pages[who] = (
                    open_as(screens, account, device)
                    if account
                    else (screens.phone() if device == "phone" else screens.desktop())
                )
            visit(pages[who], path)
            findings[f"{who or 'anonymous':>9} {path}"] = audit(pages[who])
    report = [f"axe-core on {len(findings)} pages, {device}, {site.backend}:"]
    for name, violations in findings.items():
        report.append(f"  {name}: {len(violations) or 'no'} violation{'' if len(violations) == 1 else 's'}")
        report += [f"      {violation}" for violation in violations]
    print("\n".join(report))
    failing = {name: [str(v) for v in blocking(found)] for name, found in findings.items() if blocking(found)}
    assert failing == {}, "\n".join(report)


def test_the_check_finds_what_it_looks_for(site: LiveServer, screens: Screens) -> None:
    page = screens.phone()
    page.goto("/offline")
    assert blocking(audit(page)) == []
    page.evaluate(
        """() => {
          const image = document.createElement("img");
          image.src = "/static/icons/icon-192.png";
          document.querySelector("main").append(image);
          const faint = document.createElement("p");
          faint.textContent = "Hard to read";
          faint.style.color = "#e5e7eb";
          document.querySelector("main").append(faint);
        }"""
    )
    found = {violation.rule: violation.impact for violation in audit(page)}
    assert found == {"image-alt": "critical", "color-contrast": "serious"}
