"""The sign-in pages pass axe-core's checks (WCAG 2 A and AA rules), on a phone and on a desktop: sign-in,
sign-up, "check your email", and the page an emailed link opens."""

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page

from tests.e2e.conftest import Screens
from tests.support.live import LiveServer
from tests.support.web import browser


def emailed_link_page(site: LiveServer) -> str:
    account = site.account("axe")
    with browser(site) as http:
        assert http.post("/login/email", json={"email": account.email}).status_code == 202
    return site.emailed_link(account.email, "/login/email/")


def violations(page: Page, path: str) -> list[tuple[str, list[str]]]:
    page.goto(path)
    found = Axe().run(page).response["violations"]
    return [(v["id"], [str(node["target"]) for node in v["nodes"]]) for v in found]


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_the_sign_in_pages_pass_the_accessibility_check(
    site: LiveServer, screens: Screens, device: str
) -> None:
    page = screens.phone() if device == "phone" else screens.desktop()
    paths = ["/login", "/signup", "/signup?sent=1", emailed_link_page(site)]
    assert {path: violations(page, path) for path in paths} == {path: [] for path in paths}
