"""Finding requests by text (`GET /requests?q=`) and exporting them (`GET /requests/export`), on both databases."""

import csv
import io
import json
from typing import Any

import httpx
import pytest

from openhitl.requests import export
from tests.integration.conftest import Owner
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP, request_body


def create(http: httpx.Client, loop_id: str, **overrides: Any) -> str:
    body = request_body(callback_url=..., **overrides)
    answer = http.post(f"/v1/api/loops/{loop_id}/requests", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["request_id"])


def found(http: httpx.Client, q: str, **params: Any) -> list[str]:
    answer = http.get("/v1/api/requests", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["total"] == len(data["requests"])
    return [r["id"] for r in data["requests"]]


@pytest.fixture
def other(server: LiveServer) -> tuple[httpx.Client, str]:
    """Another account, with a loop and requests of its own that mention the same words."""
    http = server.client(server.account("other"))
    loop_id = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]["loop"]["id"]
    create(http, loop_id, request_text="Refund for ORDER-778, says someone else", title="Refund (other)")
    create(http, loop_id, request_text="Unrelated", context={"customer": {"tier": "gold"}})
    return http, loop_id


def test_search_finds_text_title_and_context_values_in_any_case(
    owner: Owner, other: tuple[httpx.Client, str]
) -> None:
    refund = create(
        owner.http,
        owner.loop_id,
        request_text="Please refund ORDER-778 in full",
        title="Refund request",
        context={"customer": {"name": "Zoë Quill", "tier": "gold"}, "order_total": 42.5, "email": "x"},
    )
    label = create(
        owner.http, owner.loop_id, request_text="Print it", title="Ship LABEL", context={"n": "50%_off"}
    )
    plain = create(owner.http, owner.loop_id, request_text="Approve the budget", context=None)

    assert found(owner.http, "order-778") == [refund]  # the other account's ORDER-778 never shows
    assert found(owner.http, "REFUND") == [refund]
    assert found(owner.http, "ship label") == [label]  # the title
    assert found(owner.http, "zoë QUILL") == [refund]  # a value deep in the context
    assert found(owner.http, "GOLD") == [refund]  # the other account's gold customer stays theirs
    assert found(owner.http, "42.5") == [refund]  # numbers are values too
    assert found(owner.http, "budget") == [plain]
    # Keys alone never match: "customer", "tier" and "email" are keys of the refund's context, not values.
    assert found(owner.http, "customer") == []
    assert found(owner.http, "tier") == []
    assert found(owner.http, "email") == []
    # % and _ are searched for as themselves, not as wildcards.
    assert found(owner.http, "%") == [label]
    assert found(owner.http, "%_o") == [label]
    assert found(owner.http, "_") == [label]
    assert found(owner.http, "nothing like this") == []
    # With the other filters, and blank is no filter.
    assert found(owner.http, "refund", status="cancelled") == []
    assert found(owner.http, "refund", loop_id=owner.loop_id) == [refund]
    assert set(found(owner.http, "   ")) == {refund, label, plain}
    # The other account finds only its own.
    other_http, _ = other
    assert len(found(other_http, "order-778")) == 1
    assert refund not in found(other_http, "refund")


def test_search_text_too_long_is_a_400_saying_the_limit(owner: Owner) -> None:
    answer = owner.http.get("/v1/api/requests", params={"q": "x" * 201})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": True,
        "msg": "Search text too long",
        "data": "q must be at most 200 characters",
    }


def test_search_text_that_cannot_be_stored_is_a_400_on_both_routes(owner: Owner) -> None:
    for path in ("/v1/api/requests", "/v1/api/requests/export"):
        answer = owner.http.get(path, params={"q": "order\x00778"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["msg"] == "Invalid search text"
        assert "NUL" in answer.json()["data"]


def answer_as_reviewer(server: LiveServer, owner: Owner, request_id: str, value: Any) -> Account:
    reviewer = server.account("Rita")
    server.add_member(owner.loop_id, reviewer.user_id)
    with server.client(reviewer) as http:
        claimed = http.post(f"/v1/api/requests/{request_id}/claim")
        assert claimed.status_code == 200, claimed.text
        answered = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": value})
        assert answered.status_code == 200, answered.text
    return reviewer


def csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="requests-')
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_csv_export_has_every_field_the_answer_and_who_gave_it(
    server: LiveServer, owner: Owner, other: tuple[httpx.Client, str]
) -> None:
    answered = create(owner.http, owner.loop_id, request_text="Ship it?", title="Release 4.2")
    waiting = create(owner.http, owner.loop_id, request_text="Still open", priority="high")
    reviewer = answer_as_reviewer(server, owner, answered, "Reject")

    rows = csv_rows(owner.http.get("/v1/api/requests/export", params={"format": "csv"}))
    assert [row["id"] for row in rows] == [waiting, answered]  # newest first, nobody else's
    assert list(rows[0]) == export.COLUMNS
    done = rows[1]
    assert done["status"] == "completed"
    assert done["title"] == "Release 4.2"
    assert done["request_text"] == "Ship it?"
    assert json.loads(done["response_data"]) == {"selected_value": "Reject", "selected_label": "Reject"}
    assert done["response_value"] == "Reject" and done["response_display"] == "Reject"
    assert done["response_by"] == reviewer.user_id
    assert done["response_by_name"] == "Rita" and done["response_by_email"] == reviewer.email.lower()
    assert done["response_at"].endswith("Z") and done["response_time_seconds"]
    assert "Needs Changes" in json.loads(done["response_config"])["options"]
    assert json.loads(done["context"]) == request_body()["context"]
    assert done["loop_name"] == SEED_LOOP["name"]
    assert rows[0]["priority"] == "high" and rows[0]["response_data"] == "" and rows[0]["response_by"] == ""

    filtered = csv_rows(
        owner.http.get("/v1/api/requests/export", params={"status": "completed", "q": "ship"})
    )
    assert [row["id"] for row in filtered] == [answered]
    assert csv_rows(owner.http.get("/v1/api/requests/export", params={"q": "no such thing"})) == []
    other_http, _ = other
    assert answered not in other_http.get("/v1/api/requests/export").text


def test_csv_cells_that_would_run_as_formulas_are_quoted_as_text(owner: Owner) -> None:
    attacks = ['=HYPERLINK("http://127.0.0.1:9/x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rReturn"]
    ids = {
        create(owner.http, owner.loop_id, request_text=text, title=text.strip()[:50]): text
        for text in attacks
    }
    rows = csv_rows(owner.http.get("/v1/api/requests/export", params={"format": "csv"}))
    by_id = {row["id"]: row for row in rows}
    for request_id, text in ids.items():
        assert by_id[request_id]["request_text"] == "'" + text
    assert all(not cell.startswith(export.FORMULA_STARTS) for row in rows for cell in row.values())


def test_jsonl_export_is_one_request_a_line_with_its_audit_trail(
    server: LiveServer, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "BATCH_SIZE", 2)  # several batches: none repeated, none skipped
    made = [create(owner.http, owner.loop_id, request_text=f"Item {n}") for n in range(5)]
    reviewer = answer_as_reviewer(server, owner, made[1], "Approve")
    owner.http.delete(f"/v1/api/requests/{made[3]}")

    answer = owner.http.get("/v1/api/requests/export", params={"format": "jsonl"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["id"] for line in lines] == made[::-1]
    by_id = {line["id"]: line for line in lines}
    assert [e["type"] for e in by_id[made[1]]["events"]] == [
        "request.created",
        "request.claimed",
        "request.completed",
    ]
    completed = by_id[made[1]]["events"][-1]
    assert completed["actor_id"] == reviewer.user_id and completed["actor_name"] == "Rita"
    assert completed["at"].endswith("Z")
    assert by_id[made[1]]["response_value"] == "Approve"
    assert by_id[made[1]]["response_by_user"]["email"] == reviewer.email.lower()
    assert [e["type"] for e in by_id[made[3]]["events"]] == ["request.created", "request.cancelled"]
    assert by_id[made[0]]["response_data"] is None and by_id[made[0]]["response_display"] is None


def test_export_refuses_an_unknown_format_and_strangers(server: LiveServer, owner: Owner) -> None:
    bad = owner.http.get("/v1/api/requests/export", params={"format": "xlsx"})
    assert bad.status_code == 400
    assert bad.json() == {
        "error": True,
        "msg": "Invalid export format",
        "data": "format must be one of: csv, jsonl",
    }
    assert owner.http.get("/v1/api/requests/export", params={"status": "nope"}).status_code == 400
    with server.client() as anonymous:
        refused = anonymous.get("/v1/api/requests/export")
        assert refused.status_code == 401 and refused.json()["error"] is True
