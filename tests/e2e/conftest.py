"""Browser tests: Playwright driving Debian's Chromium against a live server on loopback.

Phones get a 390x844 touch viewport, owners a desktop one. Screenshots of what people see land in
docs/screenshots/ (from the SQLite run, so each screen is taken once).
"""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.conftest import BACKENDS, start_server
from tests.support.live import LiveServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Device(TypedDict, total=False):
    """Browser context options that make a kind of device (Browser.new_context's keywords)."""

    viewport: ViewportSize
    is_mobile: bool
    has_touch: bool
    device_scale_factor: float


PHONE: Device = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP: Device = {"viewport": {"width": 1280, "height": 860}}


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is not installed: apt-get install chromium (./scripts/test does this)")
    return found


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open, and any
# later test in the same worker that runs a loop of its own (anyio tests, asyncio.run) would fail on it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server where anyone may sign up, as the browser tests create their people through the pages."""
    yield from start_server(request.param, tmp_path_factory, signup="open", worker_poll_seconds=0.05)


class Screens:
    """Opens browser contexts for phones and desktops and takes screenshots of them."""

    def __init__(self, browser: Browser, site: LiveServer) -> None:
        self.browser = browser
        self.site = site
        self.contexts: list[BrowserContext] = []

    def phone(self) -> Page:
        return self._page(PHONE)

    def desktop(self) -> Page:
        return self._page(DESKTOP)

    def _page(self, device: Device) -> Page:
        context = self.browser.new_context(base_url=self.site.url, **device)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def shoot(self, page: Page, name: str, *, full_page: bool = True) -> None:
        """The page as its person sees it; `full_page=False`: the screen they are looking at, as scrolled."""
        if self.site.backend != "sqlite":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def screens(browser: Browser, site: LiveServer) -> Iterator[Screens]:
    opened = Screens(browser, site)
    yield opened
    opened.close()
