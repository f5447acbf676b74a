"""A real OpenHITL server on loopback, in a thread, on a database of the test's choosing."""

import asyncio
import re
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

import httpx
import uvicorn
from sqlalchemy import select

from openhitl.accounts import service as accounts
from openhitl.accounts import sessions
from openhitl.accounts.schemas import Permission
from openhitl.app import create_app
from openhitl.config import Settings
from openhitl.delivery.email import EMAIL_KIND
from openhitl.delivery.models import OutboxMessage
from openhitl.kit.ids import new_id
from openhitl.kit.state import AppState
from openhitl.loops.models import Membership
from openhitl.realtime.models import Event
from openhitl.requests import lifecycle
from openhitl.requests.models import Request
from tests.support.clock import ShiftedClock

T = TypeVar("T")
# httpx builds a TLS context for every client it makes, loading the CA bundle (~40 ms of CPU each); tests
# make thousands of clients. The same default context, made once (most of them speak plain HTTP anyway).
DEFAULT_TLS = httpx.create_ssl_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    key: str


class LiveServer:
    def __init__(self, settings: Settings, *, backend: str) -> None:
        self.settings = settings
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if not settings.base_url:  # as `openhitl serve` does: emails link to where the server listens
            settings.listen_url = self.url
        self.clock = ShiftedClock()
        self.app = create_app(settings, clock=self.clock)
        self.state: AppState = self.app.state.openhitl
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, name=f"openhitl-{backend}", daemon=True)
        self._counter = 0

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's own event loop (its database pools live there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def account(self, name: str | None = None) -> Account:
        self._counter += 1
        local = (name or "user").lower().replace(" ", ".")
        email = f"{local}-{self._counter}-{new_id()[-8:]}@example.com"

        async def create() -> Account:
            now = self.state.clock.now()
            async with self.state.db.write() as session:
                user = await accounts.get_or_create_user(session, email=email, name=name, now=now)
                issued = await accounts.issue_api_key(
                    session, user=user, name="test", secret_key=self.settings.resolved_secret_key, now=now
                )
            return Account(user_id=user.id, email=email, key=issued.secret)

        return self.run(create())

    def add_member(self, loop_id: str, user_id: str, *, role: str = "member", status: str = "active") -> None:
        """Puts someone in a loop directly (joining through the API belongs to the reviewer side)."""

        async def add() -> None:
            now = self.state.clock.now()
            async with self.state.db.write() as session:
                session.add(
                    Membership(
                        id=new_id(),
                        loop_id=loop_id,
                        user_id=user_id,
                        role=role,
                        status=status,
                        joined_at=now if status == "active" else None,
                        created_at=now,
                    )
                )

        self.run(add())

    def session_for(self, account: Account) -> sessions.NewSession:
        """A web session for the account, made as signing in makes one (its cookie and CSRF token)."""

        async def open_session() -> sessions.NewSession:
            async with self.state.db.write() as session:
                return await sessions.create(
                    session,
                    user_id=account.user_id,
                    user_agent="tests",
                    settings=self.settings,
                    now=self.state.clock.now(),
                )

        return self.run(open_session())

    def emails_to(self, to: str) -> list[dict[str, Any]]:
        """Every email queued for `to` (to, subject, text), newest first. Read from the outbox, so it needs
        no SMTP server."""

        async def read() -> list[dict[str, Any]]:
            async with self.state.db.read() as session:
                rows = await session.execute(
                    select(OutboxMessage.payload)
                    .where(OutboxMessage.kind == EMAIL_KIND)
                    .order_by(OutboxMessage.id.desc())
                )
                return [payload for (payload,) in rows if payload["to"] == to]

        return self.run(read())

    def emailed_link(self, to: str, path: str) -> str:
        """The newest link to `path` (e.g. /login/email/) in an email queued for `to`, as a local path:
        what the person would follow."""
        for email in self.emails_to(to):
            found = re.search(re.escape(self.url + path) + r"\S+", email["text"])
            if found:
                return found.group(0).removeprefix(self.url)
        raise AssertionError(f"no email to {to} with a link to {path}")

    def client(self, account: Account | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {account.key}"} if account else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=DEFAULT_TLS, **kwargs)


def complete(server: LiveServer, request_id: str, user_id: str, response_data: Any) -> None:
    """Answer a request in the database (the reviewer API is tested on its own)."""

    async def answer() -> None:
        now = server.state.clock.now()
        async with server.state.db.write() as session:
            moved = await lifecycle.apply(
                session,
                lifecycle.RESPOND,
                request_id=request_id,
                now=now,
                actor_id=user_id,
                values={
                    "response_by": user_id,
                    "response_at": now,
                    "response_data": response_data,
                    "response_time_seconds": 1.5,
                },
            )
            assert moved is not None

    server.run(answer())


def events_of(server: LiveServer, request_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The request's rows in the event log (its audit trail): type, actor, data."""

    async def read() -> list[tuple[str, str | None, dict[str, Any]]]:
        async with server.state.db.read() as session:
            rows = await session.execute(
                select(Event.type, Event.actor_id, Event.data)
                .where(Event.request_id == request_id)
                .order_by(Event.id)
            )
            return [(kind, actor, dict(data or {})) for kind, actor, data in rows.all()]

    return server.run(read())


def stored_request(server: LiveServer, request_id: str) -> Request:
    """The request's row as the database has it now (fields the API does not show: version, lease)."""

    async def read() -> Request:
        async with server.state.db.read() as session:
            return (await session.execute(select(Request).where(Request.id == request_id))).scalar_one()

    return server.run(read())


def full_access_account(server: LiveServer, name: str) -> Account:
    """An account whose key may do everything a key may (keys, webhooks), so every operation is reachable."""
    account = server.account(name)

    async def issue() -> str:
        async with server.state.db.write() as session:
            issued = await accounts.issue_api_key(
                session,
                user=account.user_id,
                name="full access",
                secret_key=server.settings.resolved_secret_key,
                now=server.state.clock.now(),
                permissions=list(get_args(Permission)),
            )
        return issued.secret

    return Account(user_id=account.user_id, email=account.email, key=server.run(issue()))
