"""Helpers for dashboard tests: a signed-in browser, its forms, and what a page shows."""

import re
from dataclasses import dataclass
from typing import Any

import httpx

from openhitl.accounts import sessions
from tests.support.live import DEFAULT_TLS, Account, LiveServer

CREATED_LOOP = re.compile(r"^/dashboard/loops/([0-9a-f]{24})\?done=created$")


@dataclass
class Browser:
    """A browser signed in as one account: it sends cookies and, in forms, the session's CSRF token."""

    http: httpx.Client
    csrf: str
    account: Account

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, **fields: Any) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf, **fields})

    def create_loop(self, name: str = "Refunds", **fields: Any) -> str:
        answer = self.post("/dashboard/loops", name=name, icon="💸", **fields)
        assert answer.status_code == 303, answer.text
        found = CREATED_LOOP.match(answer.headers["location"])
        assert found, answer.headers["location"]
        return found.group(1)

    def close(self) -> None:
        self.http.close()


def signed_in(server: LiveServer, account: Account) -> Browser:
    """A web session for the account, made as signing in makes one, in a cookie jar of a fresh client."""
    opened = server.session_for(account)
    http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False, verify=DEFAULT_TLS)
    http.cookies.set(sessions.SESSION_COOKIE, opened.token)
    return Browser(http=http, csrf=opened.csrf_token, account=account)


def cell(page: str, row_marker: str, name: str) -> str:
    """The text of the data-cell `name` in the table row carrying `row_marker` (e.g. data-priority="high")."""
    row = re.search(rf"<tr {re.escape(row_marker)}>(.*?)</tr>", page, re.S)
    assert row, f"no row {row_marker}"
    found = re.search(rf'data-cell="{re.escape(name)}">(.*?)</td>', row.group(1), re.S)
    assert found, f"no cell {name} in row {row_marker}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def stat(page: str, name: str) -> str:
    found = re.search(rf'data-stat="{re.escape(name)}">([^<]*)<', page)
    assert found, f"no stat {name}"
    return found.group(1).strip()
