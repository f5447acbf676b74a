"""Creating a request is served directly by the front door (kit/routing.py's `served_directly`): the same
answers, good and bad, as the FastAPI route gives, which still answers cross-origin requests (they pass
through CORS) and every request the direct handler declines. On both databases."""

import json
from typing import Any

import httpx
import pytest

from openhitl.accounts import service as accounts
from openhitl.app import API_PREFIXES
from openhitl.kit.routing import PathIndex, path_templates
from openhitl.requests.router import create_request_directly
from tests.integration.conftest import Owner
from tests.support.live import LiveServer
from tests.support.payloads import request_body, yes_no

ORIGIN = {"Origin": "https://app.example.com"}  # takes the request through CORS and the FastAPI route
VARYING = {"request_id", "id", "polling_url", "timeout_at", "created_at"}
NOT_HEX_ID = "loop-that-is-not-an-id-!"


def test_the_create_route_of_every_prefix_is_served_directly(server: LiveServer) -> None:
    index = PathIndex(path_templates(server.app.routes))
    for prefix in API_PREFIXES:
        template = index.find(f"{prefix}/loops/{'a' * 24}/requests")
        assert template is not None
        assert template.direct == {"POST": create_request_directly}  # GET (the list) goes through FastAPI
        assert template.parameters(f"{prefix}/loops/{'b' * 24}/requests") == {"loop_id": "b" * 24}


def both_doors(http: httpx.Client, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    headers = kwargs.pop("headers", {})
    direct = http.post(path, headers=headers, **kwargs)
    routed = http.post(path, headers={**headers, **ORIGIN}, **kwargs)
    assert routed.headers["access-control-allow-origin"] == "*"
    return direct, routed


def same_answer(direct: httpx.Response, routed: httpx.Response) -> dict[str, Any]:
    assert direct.status_code == routed.status_code, (direct.text, routed.text)
    assert direct.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert direct.headers["x-request-id"] and routed.headers["x-request-id"]
    first, second = direct.json(), routed.json()
    if direct.status_code != 201:
        assert first == second
        return dict(first)
    # The same fields in the same order, equal but for the new request's id and times.
    assert list(first) == list(second) and list(first["data"]) == list(second["data"])
    for key in VARYING:
        first["data"].pop(key), second["data"].pop(key)
    assert first == second
    return dict(first)


def test_a_good_create_is_answered_alike_through_both(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    answer = same_answer(*both_doors(owner.http, path, json=yes_no("Ship it?", priority="high")))
    assert answer["msg"] == "Request created and broadcasted successfully"
    assert answer["data"]["priority"] == "high" and answer["data"]["status"] == "pending"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"content": json.dumps(request_body(priority="urgent"))}, 400),  # fails validation
        ({"content": "{not json"}, 400),
        ({"content": "[" * 40 + "]" * 40}, 400),
        (
            {
                "content": json.dumps(
                    {"nested": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
                )
            },
            400,
        ),
        ({"content": json.dumps(request_body(request_text="nul \u0000 byte"))}, 400),
        ({"content": json.dumps(request_body()).replace('"Approve"', "1e400", 1)}, 400),
        ({"content": b"\xff\xfe not utf-8"}, 400),
        ({"content": "", "headers": {"Content-Type": "application/json"}}, 400),
        ({"content": json.dumps(yes_no("x")), "headers": {"Content-Type": "text/plain"}}, 400),
        ({"content": json.dumps(yes_no("x")), "headers": {"Idempotency-Key": "k" * 256}}, 400),
        ({"content": json.dumps(yes_no("x")), "loop": NOT_HEX_ID}, 400),
        ({"content": json.dumps(yes_no("x")), "loop": "f" * 24}, 404),
        ({"content": json.dumps(yes_no("x")), "auth": "Bearer hitl_live_nobody"}, 401),
        ({"content": json.dumps(yes_no("x")), "auth": ""}, 401),
    ],
)
def test_bad_input_gets_the_same_error_through_both(
    owner: Owner, change: dict[str, Any], status: int
) -> None:
    headers = {"Content-Type": "application/json", **change.get("headers", {})}
    if "auth" in change:
        headers["Authorization"] = change["auth"]
    path = f"/v1/api/loops/{change.get('loop', owner.loop_id)}/requests"
    direct, routed = both_doors(owner.http, path, content=change["content"], headers=headers)
    answer = same_answer(direct, routed)
    assert direct.status_code == status, answer
    assert answer["error"] is True and answer["msg"]


def test_an_idempotent_retry_is_replayed_through_either(owner: Owner) -> None:
    path = f"/v1/api/loops/{owner.loop_id}/requests"
    body = yes_no("Once only?")
    first = owner.http.post(path, json=body, headers={"Idempotency-Key": "direct-1"})
    again_direct, again_routed = both_doors(
        owner.http, path, json=body, headers={"Idempotency-Key": "direct-1"}
    )
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    for again in (again_direct, again_routed):
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    other = yes_no("Another body")
    conflict = same_answer(*both_doors(owner.http, path, json=other, headers={"Idempotency-Key": "direct-1"}))
    assert conflict["msg"] == "Idempotency-Key reused with a different request"


def test_a_key_without_the_permission_is_refused_through_both(server: LiveServer, owner: Owner) -> None:
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
        answer = same_answer(*both_doors(reader, f"/v1/api/loops/{owner.loop_id}/requests", json=yes_no("x")))
    assert answer["msg"] == "Insufficient permissions: requires requests:write"
