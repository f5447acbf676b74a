"""Guessing invite codes is stopped: after the allowed attempts even the right code is refused, with a 429
and Retry-After, until the minute has passed. Through the API, the web form and sign-up, on a server with the
real limits (the other tests open up the per-address ones: every test client is 127.0.0.1)."""

import time
from collections.abc import Callable, Iterator
from itertools import count

import httpx
import limits.aio.storage.memory
import pytest

from openhitl.config import Settings
from tests.conftest import BACKENDS, start_server
from tests.integration.dashboarding import signed_in
from tests.security.conftest import data_of
from tests.support.live import LiveServer
from tests.support.payloads import SEED_LOOP
from tests.support.web import PASSWORD

REAL_LIMITS = {
    name: Settings.model_fields[name].default
    for name in (
        "join_attempts_per_minute",
        "join_attempts_per_minute_per_address",
        "login_attempts_per_minute",
    )
}
PER_USER = REAL_LIMITS["join_attempts_per_minute"]
PER_ADDRESS = REAL_LIMITS["join_attempts_per_minute_per_address"]
SIGN_UPS_PER_ADDRESS = REAL_LIMITS["login_attempts_per_minute"]
WRONG_CODE = "ZZZ-ZZ9"


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, **REAL_LIMITS)


class ThrottleClock:
    """The time the throttle's counters read (the rate-limit library's wall clock), moved forward at will.

    Only ever forward, and on from one test to the next, so every test starts with windows of its own."""

    offset = 0.0

    def time(self) -> float:
        return time.time() + ThrottleClock.offset

    def next_minute(self) -> None:
        ThrottleClock.offset += 61

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@pytest.fixture
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> ThrottleClock:
    clock = ThrottleClock()
    monkeypatch.setattr(limits.aio.storage.memory, "time", clock)
    clock.next_minute()
    return clock


def invite_code(server: LiveServer) -> str:
    with server.client(server.account("loop-owner")) as http:
        return str(data_of(http.post("/v1/api/loops", json=SEED_LOOP))["invite_code"])


def assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    if answer.headers["content-type"].startswith("text/html"):  # a browser is shown a page saying so
        assert (
            "Too many invite code attempts" in answer.text or "Too many wrong codes or links" in answer.text
        )
        return
    envelope = answer.json()
    assert envelope["error"] is True and envelope["msg"].startswith("Too many"), envelope


def guess_until_refused(attempt: Callable[[str], httpx.Response], allowed: int, right_code: str) -> None:
    for _ in range(allowed):
        answer = attempt(WRONG_CODE)
        assert answer.status_code in (403, 404), answer.text  # the wrong code is simply wrong, for now
    assert_throttled(attempt(right_code))


def api_join(server: LiveServer) -> Callable[[str], httpx.Response]:
    http = server.client(server.account("guesser"))
    return lambda code: http.post("/v1/api/loops/join", json={"invite_code": code})


def test_api_join_is_limited_per_user_and_recovers(
    guarded: LiveServer, throttle_clock: ThrottleClock
) -> None:
    code, join = invite_code(guarded), api_join(guarded)
    guess_until_refused(join, PER_USER, code)
    assert_throttled(join(code))  # a refused attempt does not count as waiting
    throttle_clock.next_minute()
    assert join(code).status_code == 200


def test_api_join_is_limited_per_address_across_users(
    guarded: LiveServer, throttle_clock: ThrottleClock
) -> None:
    code = invite_code(guarded)
    guessers = [api_join(guarded) for _ in range(PER_ADDRESS // PER_USER)]
    for join in guessers:  # each stays within its own limit; together they use up the address's
        for _ in range(PER_USER):
            assert join(WRONG_CODE).status_code == 404
    newcomer = api_join(guarded)
    assert_throttled(newcomer(code))
    throttle_clock.next_minute()
    assert newcomer(code).status_code == 200


def test_web_join_form_is_limited(guarded: LiveServer, throttle_clock: ThrottleClock) -> None:
    code = invite_code(guarded)
    browser = signed_in(guarded, guarded.account("web-guesser"))
    guess_until_refused(lambda c: browser.post("/join", code=c), PER_USER, code)
    throttle_clock.next_minute()
    joined = browser.post("/join", code=code)
    assert joined.status_code == 303 and "done=joined" in joined.headers["location"], joined.text


def test_sign_up_with_invite_codes_is_limited(guarded: LiveServer, throttle_clock: ThrottleClock) -> None:
    code, people = invite_code(guarded), count()

    def sign_up(invite: str) -> httpx.Response:
        body = {"name": "Guesser", "email": f"guesser-{next(people)}@example.com", "password": PASSWORD}
        with httpx.Client(base_url=guarded.url) as http:
            return http.post("/signup", json={**body, "invite_code": invite})

    guess_until_refused(sign_up, SIGN_UPS_PER_ADDRESS, code)
    throttle_clock.next_minute()
    assert sign_up(code).status_code == 202  # on its way to the address


# Wrong codes and links, on every route that looks one up: counted together, per client and overall.
MISSES_PER_ADDRESS, MISSES_OVERALL = 6, 12


@pytest.fixture(scope="module", params=BACKENDS)
def counted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(
        request.param,
        tmp_path_factory,
        code_misses_per_minute_per_address=MISSES_PER_ADDRESS,
        code_misses_per_minute=MISSES_OVERALL,
    )


def from_address(server: LiveServer, address: str) -> httpx.Client:
    """A client the server sees at `address` (it trusts X-Forwarded-For from loopback, as behind a proxy)."""
    return httpx.Client(base_url=server.url, headers={"X-Forwarded-For": address}, follow_redirects=False)


LOOKUPS: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "join link": lambda http, code: http.get(f"/join/{code}"),
    "QR code": lambda http, code: http.get(f"/qr/{code}.png"),
    "invitation link": lambda http, code: http.get(
        f"/invitations/{code}", headers={"Accept": "application/json"}
    ),
    "sign-in link": lambda http, code: http.get(
        f"/login/email/{code}", headers={"Accept": "application/json"}
    ),
}


@pytest.mark.parametrize("route", LOOKUPS)
def test_every_code_route_refuses_a_guesser_even_the_right_code(
    counted: LiveServer, throttle_clock: ThrottleClock, route: str
) -> None:
    code = invite_code(counted)
    with from_address(counted, "10.1.0.1") as http:
        for _ in range(MISSES_PER_ADDRESS):
            assert LOOKUPS[route](http, "ZZZZZ9").status_code in (401, 404)
        assert_throttled(http.get(f"/join/{code}"))
        assert_throttled(http.get(f"/qr/{code}.png"))
        assert_throttled(http.get(f"/join/{code}", headers={"Accept": "application/json"}))
    with from_address(counted, "10.1.0.2") as http:  # another client is not held back by this one
        assert http.get(f"/join/{code}").status_code == 200
    throttle_clock.next_minute()
    with from_address(counted, "10.1.0.1") as http:
        assert http.get(f"/qr/{code}.png").status_code == 200


def test_moving_between_code_routes_buys_no_more_guesses(
    counted: LiveServer, throttle_clock: ThrottleClock
) -> None:
    code = invite_code(counted)
    with from_address(counted, "10.2.0.1") as http:
        routes = list(LOOKUPS.values())
        for attempt in range(MISSES_PER_ADDRESS):
            assert routes[attempt % len(routes)](http, "ZZZZZ8").status_code in (401, 404)
        assert_throttled(http.get(f"/join/{code}"))
        body = {"name": "G", "email": "g@example.com", "password": PASSWORD, "invite_code": code}
        assert_throttled(http.post("/signup", json=body))


def test_guessing_spread_over_many_addresses_is_stopped_overall(
    counted: LiveServer, throttle_clock: ThrottleClock
) -> None:
    code = invite_code(counted)
    for n in range(MISSES_OVERALL):  # each address stays well within its own limit
        with from_address(counted, f"10.3.0.{n + 1}") as http:
            assert http.get("/qr/ZZZZZ7.png").status_code == 404
    with from_address(counted, "10.3.1.1") as newcomer:
        assert_throttled(newcomer.get(f"/join/{code}"))
    throttle_clock.next_minute()
    with from_address(counted, "10.3.1.1") as newcomer:
        assert newcomer.get(f"/join/{code}").status_code == 200


def test_right_codes_are_not_counted(counted: LiveServer, throttle_clock: ThrottleClock) -> None:
    code = invite_code(counted)
    with from_address(counted, "10.4.0.1") as http:
        for _ in range(MISSES_PER_ADDRESS * 3):
            assert http.get(f"/qr/{code}.png").status_code == 200
