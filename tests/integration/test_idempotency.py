"""Idempotency-Key on create: a retried create returns the first request, never a second one."""

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.integration.conftest import Owner
from tests.support.live import LiveServer
from tests.support.payloads import request_body


def test_same_key_and_body_returns_the_first_request(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    first = owner.http.post(path, json=request_body(), headers={"Idempotency-Key": "order-42"})
    second = owner.http.post(path, json=request_body(), headers={"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert owner.http.get("/v1/api/requests").json()["data"]["total"] == 1


def test_same_key_with_another_body_is_refused(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    assert owner.http.post(path, json=request_body(), headers={"Idempotency-Key": "k1"}).status_code == 201
    other = owner.http.post(path, json=request_body(priority="high"), headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409
    assert other.json()["msg"] == "Idempotency-Key reused with a different request"
    assert owner.http.get("/v1/api/requests").json()["data"]["total"] == 1


def test_keys_belong_to_their_user(server: LiveServer, owner: Owner) -> None:
    stranger = server.account("stranger")
    with server.client(stranger) as http:
        loop_id = http.post("/v1/api/loops", json={"name": "S", "icon": "eye"}).json()["data"]["loop"]["id"]
        theirs = http.post(
            f"/v1/api/loops/{loop_id}/requests", json=request_body(), headers={"Idempotency-Key": "shared"}
        )
    mine = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(), headers={"Idempotency-Key": "shared"}
    )
    assert theirs.status_code == mine.status_code == 201
    assert theirs.json()["data"]["request_id"] != mine.json()["data"]["request_id"]


def test_without_a_key_every_create_is_new(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    ids = {owner.http.post(path, json=request_body()).json()["data"]["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_concurrent_retries_with_one_key_create_one_request(server: LiveServer, owner: Owner) -> None:
    path = f"{server.url}/v1/api/loops/{owner.loop_id}/requests"
    headers = {"Authorization": f"Bearer {owner.account.key}", "Idempotency-Key": "burst"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            return http.post(path, json=request_body(), headers=headers)

    for round_number in range(3):
        headers["Idempotency-Key"] = f"burst-{round_number}"
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(post, range(12)))
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["data"]["request_id"] for a in answers}) == 1
    assert owner.http.get("/v1/api/requests").json()["data"]["total"] == 3
