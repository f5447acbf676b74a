"""API-key authentication, permissions, rate limiting and the envelope on every error."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from openhitl.accounts.models import ApiKey, User
from tests.conftest import BACKENDS, start_server
from tests.integration.conftest import Owner
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP


def set_key(server: LiveServer, account: Account, **values: object) -> None:
    async def change() -> None:
        async with server.state.db.write() as session:
            await session.execute(update(ApiKey).where(ApiKey.user_id == account.user_id).values(**values))

    server.run(change())


@pytest.mark.parametrize("path", ["/v1/test", "/v1/api/test", "/api/v1/test"])
def test_key_test_reports_the_key(server: LiveServer, path: str) -> None:
    account = server.account("tester")
    with server.client(account) as http:
        answer = http.get(path)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["error"], body["msg"]) == (False, "API key is valid")
    data = body["data"]
    assert data["user_id"] == account.user_id
    assert data["email"] == account.email
    assert data["account_status"] == "active"
    assert data["permissions"] == ["loops:read", "loops:write", "requests:read", "requests:write"]
    assert len(data["api_key_id"]) == 24
    assert data["rate_limit"]["limit"] is None  # rate limiting is off unless configured
    assert answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("headers", "msg"),
    [
        ({}, "Missing or invalid authorization header"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Missing or invalid authorization header"),
        ({"Authorization": "Bearer"}, "Missing or invalid authorization header"),
        ({"Authorization": "Bearer hitl_live_0000"}, "Invalid authorization token"),
        ({"Authorization": "Bearer something-else"}, "Invalid authorization token"),
    ],
)
def test_missing_or_wrong_keys_get_401(server: LiveServer, headers: dict[str, str], msg: str) -> None:
    with server.client() as http:
        for method, path in (
            ("GET", "/v1/test"),
            ("GET", "/v1/api/loops"),
            ("POST", "/v1/api/loops"),
            ("GET", "/v1/api/requests"),
        ):
            answer = http.request(method, path, headers=headers, json=SEED_LOOP if method == "POST" else None)
            assert answer.status_code == 401, (method, path)
            assert answer.json() == {"error": True, "msg": msg, "data": None}


def test_revoked_and_expired_keys_stop_working(server: LiveServer) -> None:
    revoked, expired = server.account("revoked"), server.account("expired")
    now = server.state.clock.now()
    set_key(server, revoked, revoked_at=now)
    set_key(server, expired, expires_at=now - timedelta(seconds=1))
    for account in (revoked, expired):
        with server.client(account) as http:
            answer = http.get("/v1/test")
        assert answer.status_code == 401
        assert answer.json()["msg"] == "Invalid authorization token"


def test_a_key_revoked_by_another_replica_stops_working_within_the_cache_lifetime(server: LiveServer) -> None:
    account = server.account("elsewhere")
    with server.client(account) as http:
        assert http.get("/v1/test").status_code == 200  # now held in this server's key cache
        set_key(server, account, revoked_at=server.state.clock.now())  # as another replica would
        with server.clock.shifted(server.state.settings.api_key_cache_seconds):
            answer = http.get("/v1/test")
    assert answer.status_code == 401
    assert answer.json()["msg"] == "Invalid authorization token"


def test_suspended_accounts_are_refused(server: LiveServer) -> None:
    account = server.account("suspended")

    async def suspend() -> None:
        async with server.state.db.write() as session:
            await session.execute(update(User).where(User.id == account.user_id).values(status="suspended"))

    server.run(suspend())
    with server.client(account) as http:
        answer = http.get("/v1/api/loops")
    assert answer.status_code == 403
    assert answer.json()["msg"] == "Account suspended"


def test_permissions_limit_what_a_key_may_do(server: LiveServer, owner: Owner) -> None:
    reader = server.account("reader")
    set_key(server, reader, permissions=["loops:read", "requests:read"])
    with server.client(reader) as http:
        assert http.get("/v1/api/loops").status_code == 200
        assert http.get("/v1/api/requests").status_code == 200
        write = http.post("/v1/api/loops", json=SEED_LOOP)
        assert write.status_code == 403
        assert write.json()["msg"] == "Insufficient permissions: requires loops:write"
        assert http.get("/v1/test").json()["data"]["permissions"] == ["loops:read", "requests:read"]


def test_key_use_is_recorded(server: LiveServer) -> None:
    account = server.account("used")
    with server.client(account) as http:
        http.get("/v1/test")

    async def last_used() -> object:
        async with server.state.db.read() as session:
            return await session.scalar(
                ApiKey.__table__.select()
                .with_only_columns(ApiKey.last_used_at)
                .where(ApiKey.user_id == account.user_id)
            )

    assert server.run(last_used()) is not None


def test_unknown_routes_and_methods_answer_with_the_envelope(server: LiveServer) -> None:
    with server.client() as http:
        missing = http.get("/v1/api/nothing-here")
        wrong_method = http.put("/v1/test")
        health = http.get("/health")
    assert missing.status_code == 404
    assert missing.json() == {"error": True, "msg": "Route not found", "data": None}
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {
        "error": True,
        "msg": "Method not allowed",
        "data": "PUT is not allowed here; use GET",
    }
    assert wrong_method.headers["allow"] == "GET"
    assert health.json()["status"] == "ok"


def test_cors_preflight_is_allowed(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.options(
            "/v1/api/loops",
            headers={
                "Origin": "https://example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, rate_limit_per_hour=3)


def test_rate_limit_headers_and_429_body(limited: LiveServer) -> None:
    account, other = limited.account("limited"), limited.account("other")
    with limited.client(account) as http:
        answers = [http.get("/v1/test") for _ in range(4)]
    for used, answer in enumerate(answers[:3], start=1):
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit"] == "3"
        assert answer.headers["x-ratelimit-remaining"] == str(3 - used)
        assert int(answer.headers["x-ratelimit-reset"]) % 3600 == 0  # the next top of the hour
    assert answers[2].json()["data"]["rate_limit"]["remaining"] == 0
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    body = refused.json()
    assert (body["error"], body["msg"]) == (True, "API key request limit exceeded")
    assert body["data"]["usage_limit"] == 3 and body["data"]["remaining"] == 0
    assert body["data"]["usage_count"] == 4
    assert body["data"]["reset_at"].endswith(":00:00Z")
    with limited.client(other) as http:
        assert http.get("/v1/test").status_code == 200  # limits are per key


def test_unstorable_text_and_huge_bodies_are_refused(server: LiveServer) -> None:
    account = server.account("careful")
    with server.client(account) as http:
        nul = http.post(
            "/v1/api/loops",
            content=b'{"name": "a\\u0000b", "icon": "x"}',
            headers={"Content-Type": "application/json"},
        )
        lone = http.post(
            "/v1/api/loops",
            content=b'{"name": "a\\ud83db", "icon": "x"}',
            headers={"Content-Type": "application/json"},
        )
        emoji = http.post(
            "/v1/api/loops",
            content=b'{"name": "ok \\ud83d\\ude00", "icon": "x"}',
            headers={"Content-Type": "application/json"},
        )
        huge = http.post(
            "/v1/api/loops",
            content=b'{"name": "' + b"x" * 1_100_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        nul_path = http.get("/qr/AB%00CDE.png")
    assert (nul.status_code, nul.json()["msg"]) == (400, "Validation failed")
    assert (lone.status_code, lone.json()["msg"]) == (400, "Validation failed")
    assert emoji.status_code == 201 and emoji.json()["data"]["loop"]["name"] == "ok 😀"
    assert (huge.status_code, huge.json()["msg"]) == (413, "Request body too large")
    # A malformed code never reaches the database: no such code, whatever it holds.
    assert (nul_path.status_code, nul_path.json()["msg"]) == (404, "Invite code not found")
