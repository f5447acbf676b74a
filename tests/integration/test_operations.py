"""Operations on both databases: liveness and readiness, request ids in answers and logs, real metric scrapes."""

import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from openhitl.config import Settings
from openhitl.migrations import upgrade
from tests.conftest import BACKENDS, make_settings, start_server
from tests.integration.conftest import Owner
from tests.support.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.support.live import LiveServer, complete
from tests.support.payloads import request_body


def scrape(server: LiveServer, **headers: str) -> dict[str, list[Sample]]:
    with server.client() as http:
        answer = http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(answer.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def test_liveness_and_readiness_answer_on_a_healthy_server(server: LiveServer) -> None:
    with server.client() as http:
        live, ready, health = http.get("/livez"), http.get("/readyz"), http.get("/health")
    assert (live.status_code, live.json()["data"]) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()["data"]) == (200, {"status": "ready"})
    assert health.json()["status"] == "ok"  # unchanged for old probes


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("req-42.a:b_c", True), ("has spaces", False), ("x" * 129, False), ("line\tbreak", False)],
)
def test_request_ids_are_echoed_when_plain_and_replaced_when_not(
    server: LiveServer, sent: str, kept: bool
) -> None:
    with server.client() as http:
        answer = http.get("/livez", headers={"X-Request-ID": sent})
    returned = answer.headers["x-request-id"]
    assert (returned == sent) is kept
    if not kept:
        assert len(returned) == 32 and int(returned, 16) >= 0


def test_every_log_line_of_a_request_carries_its_id(
    server: LiveServer, owner: Owner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openhitl")
    answer = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/requests",
        json=request_body(callback_url=None),
        headers={"X-Request-ID": "trace-me-1"},
    )
    assert answer.status_code == 201 and answer.headers["x-request-id"] == "trace-me-1"
    mine = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("request_id") == "trace-me-1"
    ]
    assert any(line.get("event") == "http.response" and line.get("status") == "201" for line in mine), mine


def test_metrics_count_requests_by_loop_priority_and_status(server: LiveServer, owner: Owner) -> None:
    created = []
    for priority in ("high", "high", "low"):
        answer = owner.http.post(
            f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(priority=priority, callback_url=None)
        )
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["data"]["request_id"])
    assert owner.http.delete(f"/v1/api/requests/{created[2]}").status_code == 200
    complete(
        server, created[0], owner.account.user_id, {"selected_value": "Approve", "selected_label": "Approve"}
    )

    metrics = scrape(server)

    requests = metrics["openhitl_requests"]
    assert value(requests, "openhitl_requests", loop_id=owner.loop_id, priority="high", status="pending") == 1
    assert (
        value(requests, "openhitl_requests", loop_id=owner.loop_id, priority="high", status="completed") == 1
    )
    assert (
        value(requests, "openhitl_requests", loop_id=owner.loop_id, priority="low", status="cancelled") == 1
    )
    decided = metrics["openhitl_time_to_decide_seconds"]
    assert value(decided, "openhitl_time_to_decide_seconds_bucket", le="+Inf") >= 1
    assert (
        value(metrics["openhitl_time_to_decide_seconds_gcount"], "openhitl_time_to_decide_seconds_gcount")
        >= 1
    )
    assert "openhitl_time_to_claim_seconds" in metrics
    assert value(metrics["openhitl_outbox_backlog"], "openhitl_outbox_backlog") >= 0
    assert value(metrics["openhitl_outbox_oldest_age_seconds"], "openhitl_outbox_oldest_age_seconds") >= 0
    assert "openhitl_webhook_delivery_failures" in metrics and "openhitl_outbox_failed" in metrics
    answers = metrics["openhitl_http_responses"]
    posted = value(
        answers,
        "openhitl_http_responses_total",
        route="/v1/api/loops/{loop_id}/requests",
        method="POST",
        status="201",
    )
    assert posted >= 3
    assert all(sample.labels["process"] for sample in answers)
    live = value(metrics["openhitl_live_connections"], "openhitl_live_connections")
    assert live >= 0


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, metrics_token="scrape-secret")


def test_a_metrics_token_is_required_once_configured(guarded: LiveServer) -> None:
    with guarded.client() as http:
        refused = http.get("/metrics")
        wrong = http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == wrong.status_code == 403
    assert refused.json()["error"] is True
    assert "openhitl_requests" in scrape(guarded, Authorization="Bearer scrape-secret")


@pytest.fixture(params=BACKENDS)
def behind_on_migrations(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server whose database stops at an older migration than the code expects."""
    data_dir = tmp_path_factory.mktemp("behind")
    pg_name = None
    if request.param == "postgres":
        pg_name, url = create_postgres_database()
    else:
        url = sqlite_url(data_dir)
    try:
        upgrade(url, "0002")
        settings: Settings = make_settings(data_dir, url, worker_enabled=False)
        server = LiveServer(settings, backend=request.param).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        if pg_name:
            drop_postgres_database(pg_name)


def test_readiness_fails_with_the_reason_when_migrations_lag(behind_on_migrations: LiveServer) -> None:
    with behind_on_migrations.client() as http:
        ready, live = http.get("/readyz"), http.get("/livez")
    assert ready.status_code == 503
    assert ready.json()["error"] is True and "openhitl migrate" in ready.json()["data"]
    assert live.status_code == 200
