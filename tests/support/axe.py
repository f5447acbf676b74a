"""axe-core (vendored from npm under tests/support/vendor/, never served by the app) run in an open page.

The pages forbid inline and injected scripts (CSP); Playwright's evaluate runs outside that policy, so axe
is evaluated into the page as it is and run there.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:4]) + (
            f" (+{len(self.targets) - 4} more)" if len(self.targets) > 4 else ""
        )
        return f"{self.impact:<8} {self.rule}: {self.help} [{shown}]"


@cache
def axe_source() -> str:
    return AXE.read_text()


RUN = """([within, rules]) => axe.run(
    within || document,
    rules.length ? {runOnly: rules, resultTypes: ['violations']} : {resultTypes: ['violations']},
).then((r) => r.violations)"""


def audit(page: Page, *, within: str | None = None, rules: tuple[str, ...] = ()) -> list[Violation]:
    """Every axe violation on the page as it is now (WCAG 2 A/AA and axe's best practices); `within`: only
    in the part a CSS selector picks; `rules`: only these rules."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found = page.evaluate(RUN, [within, list(rules)])
    return [
        Violation(
            rule=v["id"],
            impact=v.get("impact") or "minor",
            help=v["help"],
            targets=tuple(" ".join(map(str, node["target"])) for node in v["nodes"]),
        )
        for v in found
    ]


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.impact in BLOCKING]
