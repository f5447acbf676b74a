"""The create route (`requests/router.py: create_request`), a raw route served by the front door
(kit/routing.py): every kind of bad input gets its error, in the order FastAPI's validation gave them (an
unreadable body, then who is calling, then the rest together), under every prefix and across origins. On
both databases."""

import json
from typing import Any

import httpx
import pytest

from openhitl.accounts import service as accounts
from openhitl.app import ALIASES, API_PREFIXES
from openhitl.kit.routing import PathIndex, path_templates
from openhitl.requests.router import create_request
from openhitl.requests.schemas import RequestCreated
from tests.integration.conftest import Owner
from tests.support.live import LiveServer
from tests.support.payloads import request_body, yes_no

ORIGIN = {"Origin": "https://app.example.com"}  # takes the request through CORS
NOT_HEX_ID = "loop-that-is-not-an-id-!"
CREATED = "Request created and broadcasted successfully"
NOT_JSON_OBJECT = "Request body is not valid JSON: Expecting property name enclosed in double quotes"
BAD_LOOP_ID = ("Invalid loop ID format", "loop_id must be a 24-character hexadecimal id")


def test_the_create_route_of_every_prefix_is_the_raw_route(server: LiveServer) -> None:
    index = PathIndex(path_templates(server.app.routes))
    for prefix in API_PREFIXES:
        scope = {"path": f"{prefix}/loops/{'b' * 24}/requests"}
        template = index.find(ALIASES.rewrite(scope))
        assert template is not None and template.path == "/v1/api/loops/{loop_id}/requests"
        assert template.raw == {"POST": create_request}  # GET (the list) goes through FastAPI
        assert template.parameters(scope["path"]) == {"loop_id": "b" * 24}


@pytest.mark.parametrize("prefix", API_PREFIXES)
@pytest.mark.parametrize("cross_origin", [False, True])
def test_a_good_create_is_answered(owner: Owner, prefix: str, cross_origin: bool) -> None:
    headers = ORIGIN if cross_origin else {}
    answer = owner.http.post(
        f"{prefix}/loops/{owner.loop_id}/requests", json=yes_no("Ship it?", priority="high"), headers=headers
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "application/json" and answer.headers["x-request-id"]
    assert ("access-control-allow-origin" in answer.headers) is cross_origin
    assert answer.headers.get("access-control-allow-origin", "*") == "*"
    body = answer.json()
    assert body["error"] is False and body["msg"] == CREATED
    assert body["data"]["priority"] == "high" and body["data"]["status"] == "pending"
    assert list(body["data"]) == list(RequestCreated.model_fields)


@pytest.mark.parametrize(
    ("change", "status", "msg", "data"),
    [
        (
            {"content": json.dumps(request_body(priority="urgent"))},
            400,
            "Validation failed",
            "priority must be one of: low, medium, high, critical",
        ),
        ({"content": "{not json"}, 400, "Invalid request body", NOT_JSON_OBJECT),
        ({"content": "[" * 40 + "]" * 40}, 400, "Invalid request body", "Request body must be a JSON object"),
        (
            {"content": "[" * 2000 + "]" * 2000},
            400,
            "Invalid request body",
            "JSON nests objects and arrays too deeply: send at most 32 levels",
        ),
        (
            {
                "content": json.dumps(
                    {"nested": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
                )
            },
            400,
            "Validation failed",
            "processing_type is required; type is required; request_text is required; response_type is required; "
            "response_config is required; default_response is required",
        ),
        (
            {"content": json.dumps(request_body(request_text="nul \u0000 byte"))},
            400,
            "Validation failed",
            "request_text must not contain NUL (\\u0000) characters or unpaired surrogates (\\ud800-\\udfff)",
        ),
        (
            {"content": json.dumps(request_body()).replace('"Approve"', "1e400", 1)},
            400,
            "Validation failed",
            "response_config must not contain NaN, Infinity or numbers too large for a double (like 1e400)",
        ),
        (
            {"content": json.dumps(request_body())[:-1] + ', "context": {"a": ' + "9" * 5000 + "}}"},
            400,
            "Invalid request body",
            "A number in the body has too many digits: send at most 4300",
        ),
        (
            {"content": b"\xff\xfe not utf-8"},
            400,
            "Invalid request body",
            "Request body is not valid JSON: Expecting value",
        ),
        ({"content": ""}, 400, "Invalid request body", "Request body is required"),
        (
            {"content": json.dumps(yes_no("x")), "headers": {"Content-Type": "text/plain"}},
            400,
            "Invalid request body",
            "Send the body as JSON with Content-Type: application/json (got text/plain)",
        ),
        (
            {"content": json.dumps(yes_no("x")), "headers": {"Content-Type": ""}},
            400,
            "Invalid request body",
            "Send the body as JSON with Content-Type: application/json (got no Content-Type)",
        ),
        (
            {"content": json.dumps(yes_no("x")), "headers": {"Idempotency-Key": "k" * 256}},
            400,
            "Validation failed",
            "idempotency-key must be at most 255 characters",
        ),
        ({"content": json.dumps(yes_no("x")), "loop": NOT_HEX_ID}, 400, *BAD_LOOP_ID),
        ({"content": json.dumps(yes_no("x")), "loop": "f" * 24}, 404, "Loop not found", None),
        (
            {"content": json.dumps(yes_no("x")), "auth": "Bearer hitl_live_nobody"},
            401,
            "Invalid authorization token",
            None,
        ),
        (
            {"content": json.dumps(yes_no("x")), "auth": ""},
            401,
            "Missing or invalid authorization header",
            None,
        ),
        # Which error wins: an unreadable body, then the caller, then the rest (the path first).
        (
            {"content": "{not json", "auth": "", "loop": NOT_HEX_ID},
            400,
            "Invalid request body",
            NOT_JSON_OBJECT,
        ),
        (
            {"content": json.dumps(request_body(priority="urgent")), "auth": "", "loop": NOT_HEX_ID},
            401,
            "Missing or invalid authorization header",
            None,
        ),
        (
            {
                "content": json.dumps(request_body(priority="urgent")),
                "loop": NOT_HEX_ID,
                "headers": {"Idempotency-Key": "k" * 256},
            },
            400,
            *BAD_LOOP_ID,
        ),
        (
            {
                "content": json.dumps(request_body(priority="urgent")),
                "headers": {"Idempotency-Key": "k" * 256},
            },
            400,
            "Validation failed",
            "idempotency-key must be at most 255 characters; priority must be one of: low, medium, high, critical",
        ),
    ],
)
@pytest.mark.parametrize("cross_origin", [False, True])
def test_bad_input_gets_its_error(
    owner: Owner, change: dict[str, Any], status: int, msg: str, data: str | None, cross_origin: bool
) -> None:
    headers = {
        "Content-Type": "application/json",
        **change.get("headers", {}),
        **(ORIGIN if cross_origin else {}),
    }
    if "auth" in change:
        headers["Authorization"] = change["auth"]
    path = f"/v1/api/loops/{change.get('loop', owner.loop_id)}/requests"
    answer = owner.http.post(path, content=change["content"], headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json" and answer.headers["x-request-id"]
    assert answer.json() == {"error": True, "msg": msg, "data": data}
    assert ("access-control-allow-origin" in answer.headers) is cross_origin


def test_an_idempotent_retry_is_replayed(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    body = yes_no("Once only?")
    first = owner.http.post(path, json=body, headers={"Idempotency-Key": "create-1"})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    for extra in ({}, ORIGIN):
        again = owner.http.post(path, json=body, headers={"Idempotency-Key": "create-1", **extra})
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    conflict = owner.http.post(path, json=yes_no("Another body"), headers={"Idempotency-Key": "create-1"})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["msg"] == "Idempotency-Key reused with a different request"


def test_a_key_without_the_permission_is_refused(server: LiveServer, owner: Owner) -> None:
    async def issue() -> str:
        async with server.state.db.write() as session:
            issued = await accounts.issue_api_key(
                session,
                user=owner.account.user_id,
                name="reader",
                secret_key=server.settings.resolved_secret_key,
                now=server.state.clock.now(),
                permissions=["requests:read"],
            )
        return issued.secret

    key = server.run(issue())
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as reader:
        for extra in ({}, ORIGIN):
            answer = reader.post(f"/v1/api/loops/{owner.loop_id}/requests", json=yes_no("x"), headers=extra)
            assert answer.status_code == 403
            assert answer.json() == {
                "error": True,
                "msg": "Insufficient permissions: requires requests:write",
                "data": None,
            }
