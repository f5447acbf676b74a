"""A loop's analytics page, and the overview's across loops, against a history made at known moments, so
every number is exact."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from openhitl.requests import lifecycle
from openhitl.requests import service as requests_service
from openhitl.requests.schemas import RequestCreate
from openhitl.reviewers import service as reviewers
from tests.integration.dashboarding import cell, signed_in, stat
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP, request_body


@dataclass(frozen=True)
class Planned:
    """One request's life: created at `at`, claimed and answered (by whom) some seconds later."""

    priority: str
    at: datetime
    claim: tuple[Account, float] | None = None
    answer: tuple[Account, float] | None = None
    timed_out: bool = False


def live_through(server: LiveServer, loop_id: str, owner: Account, plan: Planned) -> None:
    """The whole life in one unit of work, so the deadline sweeper never sees it half-lived."""

    async def live() -> None:
        async with server.state.db.write() as session:
            body = RequestCreate.model_validate(
                request_body(priority=plan.priority, timeout_seconds=86400, callback_url=...)
            )
            created = await requests_service.create(
                session,
                loop_id=loop_id,
                body=body,
                user_id=owner.user_id,
                api_key_id=None,
                idempotency_key=None,
                settings=server.settings,
                now=plan.at,
            )
            request_id = created.values["id"]
            if plan.claim:
                who, after = plan.claim
                await reviewers.claim(
                    session,
                    request_id=request_id,
                    user_id=who.user_id,
                    lease_seconds=86400,
                    now=plan.at + timedelta(seconds=after),
                )
            if plan.answer:
                who, after = plan.answer
                await reviewers.respond(
                    session,
                    request_id=request_id,
                    user_id=who.user_id,
                    response_data="Approve",
                    now=plan.at + timedelta(seconds=after),
                )
            if plan.timed_out:
                await lifecycle.apply(
                    session,
                    lifecycle.TIME_OUT,
                    request_id=request_id,
                    now=plan.at + timedelta(seconds=86400),
                    actor_id=None,
                )

    server.run(live())


def test_analytics_numbers_for_a_known_history(server: LiveServer) -> None:
    owner, alice, bob = server.account("owner"), server.account("alice"), server.account("bob")
    with server.client(owner) as http:
        loop_id = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]["loop"]["id"]
    server.add_member(loop_id, alice.user_id)
    server.add_member(loop_id, bob.user_id)
    now = server.clock.now()
    day = datetime.combine((now - timedelta(days=3)).date(), time(1, 0), tzinfo=UTC)
    for plan in (
        Planned("high", day, claim=(alice, 60), answer=(alice, 600)),
        Planned("high", day + timedelta(minutes=10), claim=(bob, 120), answer=(bob, 1800)),
        Planned("high", day + timedelta(minutes=20), answer=(alice, 4000)),  # answered without a claim
        Planned("high", day + timedelta(minutes=30), timed_out=True),
        Planned("low", day + timedelta(minutes=40), answer=(bob, 300)),
        Planned("medium", now - timedelta(minutes=1)),  # still open
        Planned("critical", now - timedelta(days=31), answer=(alice, 30)),  # before the window
    ):
        live_through(server, loop_id, owner, plan)

    browser = signed_in(server, owner)
    try:
        page = browser.get(f"/dashboard/loops/{loop_id}/analytics").text
    finally:
        browser.close()
    assert [stat(page, name) for name in ("total", "completed", "timeout", "open")] == ["6", "4", "1", "1"]
    high = 'data-priority="high"'
    # claims 60, 120, 4000 s; answers 600, 1800, 4000 s (p90 by linear interpolation)
    assert [cell(page, high, name) for name in ("requests", "claim-p50", "claim-p90")] == ["4", "2m", "53m"]
    assert [cell(page, high, name) for name in ("decide-p50", "decide-p90")] == ["30m", "59m"]
    assert (cell(page, high, "within"), cell(page, high, "timeouts")) == ("50% (2/4)", "1")
    low = 'data-priority="low"'
    assert [cell(page, low, n) for n in ("claim-p50", "decide-p90", "within")] == ["5m", "5m", "100% (1/1)"]
    medium = 'data-priority="medium"'
    assert [cell(page, medium, n) for n in ("requests", "claim-p50", "within")] == ["1", "—", "—"]
    assert cell(page, 'data-priority="critical"', "requests") == "0"
    # bob: 1800 and 300 s; alice: 600 and 4000 s
    assert [cell(page, 'data-reviewer="bob"', n) for n in ("answered", "median")] == ["2", "17m"]
    assert [cell(page, 'data-reviewer="alice"', n) for n in ("answered", "median")] == ["2", "38m"]
    assert page.index('data-reviewer="bob"') < page.index('data-reviewer="alice"')
    # the charts: five requests on that day, the escaped names on the reviewers' bars
    assert f"<title>{day:%d %b}: 5</title>" in page
    assert "<title>high · p90: 59m</title>" in page
    assert page.count('<svg class="chart"') == 4


def section(page: str, table: str) -> str:
    """One table of the analytics (by-priority or reviewers), as the page has it."""
    found = re.search(rf'<table class="data {table}">.*?</table>', page, re.S)
    assert found, f"no {table} table"
    return found.group(0)


def test_the_overview_adds_up_the_loops_it_is_asked_for(server: LiveServer) -> None:
    owner, alice, bob, stranger = (server.account(name) for name in ("owner", "alice", "bob", "stranger"))
    loops = {}
    for name, account in (("A", owner), ("B", owner), ("theirs", stranger), ("joined", stranger)):
        with server.client(account) as http:
            loops[name] = http.post("/v1/api/loops", json={**SEED_LOOP, "name": f"Loop {name}"}).json()[
                "data"
            ]["loop"]["id"]
    for name in ("A", "B", "theirs", "joined"):
        server.add_member(loops[name], alice.user_id)
    server.add_member(loops["A"], bob.user_id)
    server.add_member(loops["joined"], owner.user_id)  # a plain member there: not the owner's to count
    now = server.clock.now()
    day = datetime.combine((now - timedelta(days=2)).date(), time(1, 0), tzinfo=UTC)
    history = {
        "A": [
            Planned("high", day, claim=(alice, 60), answer=(alice, 600)),
            Planned("high", day + timedelta(minutes=5), claim=(bob, 120), answer=(bob, 1800)),
            Planned("low", day + timedelta(minutes=10), answer=(bob, 300)),
        ],
        "B": [
            Planned("high", day + timedelta(minutes=15), claim=(alice, 240), answer=(alice, 1200)),
            Planned("critical", day + timedelta(minutes=20), answer=(alice, 30)),
            Planned("medium", day + timedelta(minutes=25), timed_out=True),
        ],
        "theirs": [Planned("high", day, claim=(alice, 5), answer=(alice, 5))],
        "joined": [Planned("high", day, claim=(alice, 7), answer=(alice, 7))],
    }
    for name, plans in history.items():
        creator = owner if name in ("A", "B") else stranger
        for plan in plans:
            live_through(server, loops[name], creator, plan)

    browser = signed_in(server, owner)
    try:
        everything = browser.get("/dashboard").text
        only_a = browser.get("/dashboard", loop=loops["A"]).text
        only_b = browser.get("/dashboard", loop=[loops["B"], loops["joined"]]).text
        not_mine = browser.get("/dashboard", loop=loops["theirs"]).text
        page_a = browser.get(f"/dashboard/loops/{loops['A']}/analytics").text
    finally:
        browser.close()

    # Both loops together: six requests, alice's answers in A and B counted as one reviewer's.
    assert [stat(everything, n) for n in ("total", "completed", "timeout", "open")] == ["6", "5", "1", "0"]
    high = 'data-priority="high"'
    # claims 60, 120, 240 s; answers 600, 1200, 1800 s
    assert [cell(everything, high, n) for n in ("requests", "claim-p50", "claim-p90")] == ["3", "2m", "3m"]
    assert [cell(everything, high, n) for n in ("decide-p50", "decide-p90", "within")] == [
        "20m",
        "28m",
        "100% (3/3)",
    ]
    assert [cell(everything, 'data-priority="critical"', n) for n in ("claim-p50", "within")] == [
        "30s",
        "100% (1/1)",
    ]
    medium = 'data-priority="medium"'
    assert [cell(everything, medium, n) for n in ("requests", "within", "timeouts")] == ["1", "0% (0/1)", "1"]
    assert [cell(everything, 'data-reviewer="alice"', n) for n in ("answered", "median")] == ["3", "10m"]
    assert [cell(everything, 'data-reviewer="bob"', n) for n in ("answered", "median")] == ["2", "17m"]
    assert "all 2 loops" in everything

    # One loop: the very numbers of that loop's own analytics page.
    assert [stat(only_a, n) for n in ("total", "completed", "timeout")] == ["3", "3", "0"]
    assert section(only_a, "by-priority") == section(page_a, "by-priority")
    assert section(only_a, "reviewers") == section(page_a, "reviewers")
    assert "1 of 2 loops" in only_a
    assert re.search(rf'value="{loops["A"]}"\s+checked', only_a)

    # A loop the viewer only belongs to, or does not belong to, is never counted.
    assert [stat(only_b, n) for n in ("total", "completed", "timeout")] == ["3", "2", "1"]
    assert [cell(only_b, 'data-reviewer="alice"', n) for n in ("answered", "median")] == ["2", "10m"]
    assert [stat(not_mine, n) for n in ("total", "completed")] == ["0", "0"]
    assert "0 of 2 loops" in not_mine
    for page in (everything, not_mine):
        assert loops["theirs"] not in page and loops["joined"] not in page
