"""An answer is checked against the request it is stored on, on both databases: a PATCH that replaces the
response type races a reviewer answering the old one, 40 times, and no answer is ever stored that the
request's final config refuses; nor a default checked against a config another PATCH replaced."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx

from openhitl.requests.answers import validate_default_response, validate_response
from openhitl.requests.response_configs import parse_config
from tests.integration.reviewing import make_team
from tests.support.live import LiveServer

ROUNDS = 40
SELECT = {"response_type": "single_select", "response_config": {"options": ["Approve", "Reject"]}}
RATING = {"response_type": "rating", "response_config": {"scale_max": 5}, "default_response": 3}


def at_once(pool: ThreadPoolExecutor, *calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Sends the calls together: each waits on a barrier for the others, then sends."""
    start = threading.Barrier(len(calls))

    def send(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    futures = [pool.submit(send, call) for call in calls]
    return [future.result(timeout=30) for future in futures]


def envelope_error(answer: httpx.Response) -> tuple[int, str]:
    body = answer.json()
    assert body["error"] is True and body["msg"] and "data" in body, answer.text
    return answer.status_code, str(body["msg"])


def test_an_answer_racing_a_config_change_is_stored_only_if_the_final_config_accepts_it(
    server: LiveServer,
) -> None:
    team = make_team(server, reviewers=1)
    outcomes: Counter[str] = Counter()
    with (
        team.http(team.owner) as owner,
        team.http(team.reviewers[0]) as reviewer,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        owner.get("/v1/api/loops")  # both connections open before the first round
        reviewer.get("/v1/api/inbox")
        for _ in range(ROUNDS):
            request_id = team.ask(callback_url=None, default_response="Approve", **SELECT)
            changed, answered = at_once(
                pool,
                partial(owner.patch, f"/v1/api/requests/{request_id}", json=RATING),
                partial(
                    reviewer.post, f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"}
                ),
            )
            final: dict[str, Any] = owner.get(f"/v1/api/requests/{request_id}").json()["data"]

            if answered.status_code == 200:
                assert final["status"] == "completed"
                assert final["response_type"] == "single_select", "the answer's config was replaced"
                config = parse_config(final["response_type"], final["response_config"])
                validate_response(config, final["response_data"])  # raises if the stored answer is invalid
                assert envelope_error(changed) == (400, "Only pending requests can be updated")
                outcomes["answer won"] += 1
            else:
                assert changed.status_code == 200, changed.text
                assert final["status"] == "pending"
                assert (final["response_type"], final["response_data"]) == ("rating", None)
                status, msg = envelope_error(answered)
                assert (status, msg) in {
                    (409, "Request changed while you were answering"),
                    (400, "Invalid response_data: rating must be a number"),
                }, answered.text
                outcomes[f"change won, answer got {status}"] += 1
    assert sum(outcomes.values()) == ROUNDS, outcomes


def test_a_default_racing_a_config_change_is_stored_only_if_the_final_config_accepts_it(
    server: LiveServer,
) -> None:
    team = make_team(server, reviewers=0)
    with (
        team.http(team.owner) as first,
        team.http(team.owner) as second,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        first.get("/v1/api/loops")
        second.get("/v1/api/loops")
        for _ in range(ROUNDS):
            request_id = team.ask(callback_url=None, default_response="Approve", **SELECT)
            url = f"/v1/api/requests/{request_id}"
            results = at_once(
                pool,
                partial(first.patch, url, json=RATING),
                partial(second.patch, url, json={"default_response": "Reject"}),
            )
            final: dict[str, Any] = first.get(url).json()["data"]

            config = parse_config(final["response_type"], final["response_config"])
            validate_default_response(config, final["default_response"])  # raises if invalid for the config
            assert any(answer.status_code == 200 for answer in results)
            for answer in results:
                if answer.status_code != 200:
                    assert envelope_error(answer) in {
                        (409, "Request changed while you were updating it"),
                        (400, "Validation failed"),
                    }, answer.text
