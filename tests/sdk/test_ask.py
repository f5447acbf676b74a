"""ask, wait and require_approval: a caller blocks until a human decides, the deadline passes or a cancel."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from openhitl import ApprovalDenied, AsyncClient, Client, WaitTimedOut, require_approval
from tests.integration.reviewing import Team
from tests.sdk.conftest import answer_when_asked, asked, cancel_when_asked, deadlines_passed
from tests.support.live import LiveServer


def test_ask_returns_the_answer_and_who_gave_it(client: Client, team: Team) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(client.ask, team.loop_id, "Ship v2?", options=["Ship", "Hold"])
        request_id = answer_when_asked(team, "Ship")
        decision = waiting.result(timeout=30)
    assert (decision.request_id, decision.status, decision.value) == (request_id, "completed", "Ship")
    assert decision.is_default is False and decision.answered
    assert decision.answered_by is not None and decision.answered_by.user_id == team.reviewers[0].user_id
    assert decision.answered_at is not None
    assert decision.response_data == {"selected_value": "Ship", "selected_label": "Ship"}
    assert decision.request.request_text == "Ship v2?" and decision.request.response_type == "single_select"


def test_ask_returns_the_default_marked_as_such_on_timeout(
    server: LiveServer, client: Client, team: Team
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(client.ask, team.loop_id, "Refund $250?", options=["Refund", "Deny"])
        asked(team)
        with deadlines_passed(server):
            decision = waiting.result(timeout=30)
    assert (decision.status, decision.value, decision.is_default) == ("timeout", "Deny", True)
    assert decision.answered_by is None and decision.response_data is None


def test_ask_returns_the_default_on_cancel(client: Client, team: Team) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(client.ask, team.loop_id, "Deploy?", response_type="boolean")
        cancel_when_asked(team)
        decision = waiting.result(timeout=30)
    assert (decision.status, decision.value, decision.is_default) == ("cancelled", False, True)


def test_wait_gives_up_at_its_own_limit_and_can_be_resumed(client: Client, team: Team) -> None:
    created = client.create_request(team.loop_id, {**_yes_no("Merge?"), "timeout_seconds": 600})
    with pytest.raises(WaitTimedOut, match=created.request_id):
        client.wait(created.request_id, timeout=0.3)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(client.wait, created.request_id)
        answer_when_asked(team, True)
        assert waiting.result(timeout=30).value is True


def test_a_question_that_needs_a_default_says_so(client: Client, team: Team) -> None:
    with pytest.raises(ValueError, match="a rating question needs a default"):
        client.ask(team.loop_id, "How good?", response_type="rating", response_config={"scale_max": 5})


@pytest.mark.anyio
async def test_async_ask_and_wait(async_client: AsyncClient, team: Team) -> None:
    answering = asyncio.create_task(asyncio.to_thread(answer_when_asked, team, "4"))
    decision = await async_client.ask(
        team.loop_id, "Rate the draft", response_type="rating", response_config={"scale_max": 5}, default=3
    )
    await answering
    assert (decision.status, decision.value) == ("completed", 4)
    created = await async_client.create_request(team.loop_id, _yes_no("Again?"))
    cancelling = asyncio.create_task(asyncio.to_thread(cancel_when_asked, team))
    cancelled = await async_client.wait(created.request_id)
    await cancelling
    assert (cancelled.status, cancelled.value, cancelled.is_default) == ("cancelled", False, True)


def test_ask_takes_the_apis_field_names_and_passes_request_fields_through(client: Client, team: Team) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(
            client.ask,
            loop_id=team.loop_id,
            request_text="Ship v3?",
            response_type="single_select",
            response_config={"options": ["Ship", "Hold"]},
            default_response="Hold",
            timeout_seconds=600,
            title="Release",
            tags=["release"],
            priority="high",
        )
        answer_when_asked(team, "Ship")
        decision = waiting.result(timeout=30)
    asked = decision.request
    assert (asked.request_text, asked.timeout_seconds, asked.default_response) == ("Ship v3?", 600, "Hold")
    assert (asked.title, asked.tags, asked.priority) == ("Release", ["release"], "high")
    assert (decision.status, decision.value) == ("completed", "Ship")
    assert decision.response_by is not None and decision.response_by == decision.answered_by
    assert decision.response_by.user_id == team.reviewers[0].user_id


@pytest.mark.anyio
async def test_async_ask_takes_the_apis_field_names(
    server: LiveServer, async_client: AsyncClient, team: Team
) -> None:
    waiting = asyncio.create_task(
        async_client.ask(
            loop_id=team.loop_id,
            request_text="Rate the release notes",
            response_type="rating",
            response_config={"scale_max": 5},
            default_response=0,  # a fallback off the scale: the caller's, not a reviewer's
            timeout_seconds=120,
        )
    )
    await asyncio.to_thread(asked, team)
    with deadlines_passed(server):
        decision = await asyncio.wait_for(waiting, timeout=30)
    assert (decision.status, decision.value, decision.is_default) == ("timeout", 0, True)
    assert decision.response_by is None and decision.request.timeout_seconds == 120


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"request_text": "Ship?"}, "ask() got both text and request_text"),
        ({"default": "Hold", "default_response": "Ship"}, "ask() got both default and default_response"),
        ({"timeout": 60, "timeout_seconds": 120}, "ask() got both timeout and timeout_seconds"),
        ({"timeout_secs": 60}, "ask() got unexpected keyword arguments: timeout_secs"),
    ],
)
def test_one_thing_under_both_names_or_an_unknown_name_is_refused_before_asking(
    keywords: dict[str, object], message: str
) -> None:
    unreachable = Client("hitl_live_unused", "http://127.0.0.1:9", retries=0)
    with pytest.raises(TypeError, match=re.escape(message)):
        unreachable.ask("0" * 24, "Ship?", options=["Ship", "Hold"], **keywords)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ask\\(\\) needs the question: text"):
        unreachable.ask("0" * 24, options=["Ship", "Hold"])


def test_require_approval_takes_the_apis_field_names(client: Client, team: Team) -> None:
    @require_approval(
        loop_id=team.loop_id,
        client=client,
        request_text="Pay the invoice?",
        timeout_seconds=900,
        tags=["billing"],
    )
    def pay(invoice: str) -> str:
        return f"paid {invoice}"

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(pay, "INV-7")
        request_id = asked(team)
        shown = team.status(request_id)
        answer_when_asked(team, "approve")
        assert waiting.result(timeout=30) == "paid INV-7"
    assert shown["request_text"].startswith("Pay the invoice?")
    assert (shown["timeout_seconds"], shown["tags"], shown["default_response"]) == (
        900,
        ["billing"],
        "reject",
    )


def test_require_approval_refuses_one_thing_under_both_names() -> None:
    with pytest.raises(TypeError, match="got both loop and loop_id"):
        require_approval(loop="0" * 24, loop_id="1" * 24)
    with pytest.raises(TypeError, match="got both timeout and timeout_seconds"):
        require_approval(loop="0" * 24, timeout=60, timeout_seconds=60)
    with pytest.raises(TypeError, match="sets default_response itself"):
        require_approval(loop="0" * 24, default_response="approve")


def _yes_no(text: str) -> dict[str, object]:
    return {
        "processing_type": "time-sensitive",
        "type": "markdown",
        "request_text": text,
        "timeout_seconds": 3600,
        "response_type": "boolean",
        "response_config": {},
        "default_response": False,
    }


def test_require_approval_runs_the_tool_once_approved(client: Client, team: Team) -> None:
    refunds: list[tuple[str, float]] = []

    @require_approval(loop=team.loop_id, client=client)
    def refund(order_id: str, amount: float, currency: str = "USD") -> str:
        refunds.append((order_id, amount))
        return f"refunded {amount} {currency}"

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(refund, "A-1001", 250.0)
        request_id = asked(team)
        with team.http(team.owner) as http:
            shown = http.get(f"/v1/api/requests/{request_id}").json()["data"]
        assert refunds == []  # nothing runs before the human decides
        answer_when_asked(team, "approve")
        assert waiting.result(timeout=30) == "refunded 250.0 USD"
    assert refunds == [("A-1001", 250.0)]
    assert shown["context"] == {
        "tool": "refund",
        "arguments": {"order_id": "A-1001", "amount": 250.0, "currency": "USD"},
    }
    assert shown["request_text"].startswith("Approve running `refund`?")
    assert '"order_id": "A-1001"' in shown["request_text"]
    assert shown["default_response"] == "reject"


def test_require_approval_raises_on_rejection_and_does_not_run(client: Client, team: Team) -> None:
    ran: list[str] = []

    @require_approval(loop=team.loop_id, client=client, text="Delete the staging database?")
    def drop_database(name: str) -> None:
        ran.append(name)

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(drop_database, "staging")
        answer_when_asked(team, "reject")
        with pytest.raises(
            ApprovalDenied, match="drop_database was not run: rejected by reviewer0"
        ) as denied:
            waiting.result(timeout=30)
    assert ran == []
    assert denied.value.decision.value == "reject"


@pytest.mark.anyio
async def test_require_approval_on_an_async_tool_treats_a_timeout_as_no(
    server: LiveServer, async_client: AsyncClient, team: Team
) -> None:
    @require_approval(loop=team.loop_id, client=async_client, timeout=120)
    async def send_email(to: str) -> str:
        raise AssertionError("must not run")

    waiting = asyncio.create_task(send_email("all@example.com"))
    await asyncio.to_thread(asked, team)
    with (
        deadlines_passed(server),
        pytest.raises(ApprovalDenied, match="not approved before the request timed out"),
    ):
        await asyncio.wait_for(waiting, timeout=30)


def test_require_approval_refuses_a_client_of_the_wrong_kind() -> None:
    async_client = AsyncClient("hitl_live_unused", "http://127.0.0.1:9")
    with pytest.raises(TypeError, match="delete_user needs a Client"):

        @require_approval(loop="0" * 24, client=async_client)
        def delete_user(user_id: str) -> None: ...
