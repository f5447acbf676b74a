"""The HITL.sh seed documents replayed verbatim against a live server, on both databases."""

import re
import textwrap
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from tests.integration.conftest import Owner
from tests.support.live import LiveServer, complete
from tests.support.payloads import SEED_LOOP, SEED_REQUEST
from tests.support.qr import decode_data_url, decode_png

INVITE_CODE = re.compile(r"^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("path", ["/v1/loops", "/v1/api/loops", "/api/v1/loops"])
def test_create_loop_answers_as_the_reference_shows(server: LiveServer, path: str) -> None:
    account = server.account("creator")
    with server.client(account) as http:
        answer = http.post(path, json=SEED_LOOP, headers={"Content-Type": "application/json"})
    assert answer.status_code == 201
    body = answer.json()
    assert body["error"] is False
    assert body["msg"] == "Loop created successfully with QR code"
    data = body["data"]
    loop = data["loop"]
    assert re.fullmatch(r"[0-9a-f]{24}", loop["id"])
    assert (loop["name"], loop["description"], loop["icon"]) == (
        SEED_LOOP["name"],
        SEED_LOOP["description"],
        SEED_LOOP["icon"],
    )
    assert loop["creator_id"] == account.user_id
    assert loop["members"] == [
        {
            "user_id": account.user_id,
            "email": account.email,
            "name": "creator",
            "status": "active",
            "role": "creator",
            "joined_at": loop["created_at"],
            "last_active": loop["created_at"],
        }
    ]
    assert loop["member_count"] == 1
    assert loop["pending_count"] == 0
    assert TIMESTAMP.match(loop["created_at"]) and TIMESTAMP.match(loop["updated_at"])
    assert INVITE_CODE.match(data["invite_code"])
    assert data["join_url"] == f"{server.url}/join/{data['invite_code']}"
    assert data["qr_code_url"] == f"{server.url}/qr/{data['invite_code']}.png"
    # The invite details are on the loop object too, where docs code reads them.
    assert (loop["invite_code"], loop["join_url"], loop["qr_code_url"]) == (
        data["invite_code"],
        data["join_url"],
        data["qr_code_url"],
    )
    assert decode_data_url(data["qr_code_base64"]) == data["join_url"]


def test_qr_code_url_serves_a_png_of_the_join_link(server: LiveServer, owner: Owner) -> None:
    loop = owner.http.get(f"/v1/api/loops/{owner.loop_id}").json()["data"]["loop"]
    with server.client() as anonymous:
        answer = anonymous.get(loop["qr_code_url"].removeprefix(server.url))
        missing = anonymous.get("/qr/ZZZZZZ.png")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert decode_png(answer.content) == loop["join_url"]
    assert missing.status_code == 404
    assert missing.json()["error"] is True


def test_create_request_answers_as_the_guide_shows(server: LiveServer, owner: Owner) -> None:
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST)
    assert answer.status_code == 201
    body = answer.json()
    assert (body["error"], body["msg"]) == (False, "Request created and broadcasted successfully")
    data = body["data"]
    assert re.fullmatch(r"[0-9a-f]{24}", data["request_id"])
    assert data["status"] == "pending"
    assert (data["processing_type"], data["type"], data["priority"]) == (
        "time-sensitive",
        "markdown",
        "medium",
    )
    assert parse_time(data["timeout_at"]) - parse_time(data["created_at"]) == timedelta(seconds=3600)
    assert data["broadcasted_to"] == 1  # the creator is the loop's only active member
    assert data["notifications_sent"] == 0
    assert data["polling_url"] == f"/v1/api/requests/{data['request_id']}"


def test_polling_url_serves_both_the_seed_shape_and_the_reference_shape(
    server: LiveServer, owner: Owner
) -> None:
    created = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST).json()["data"]
    answer = owner.http.get(created["polling_url"])
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert answer.json()["msg"] == "Request retrieved successfully"
    assert data["status"] == "pending"
    assert data["response_data"] is None
    assert data["default_response"] == "Approve"
    nested = data.pop("request")
    assert nested == data
    assert nested["id"] == created["request_id"]
    assert nested["response_config"] == SEED_REQUEST["response_config"]  # echoed as sent
    assert nested["context"] == SEED_REQUEST["context"]
    assert nested["callback_url"] == SEED_REQUEST["callback_url"]
    assert nested["broadcasted_to"] == [
        {
            "user_id": owner.account.user_id,
            "email": owner.account.email,
            "role": "creator",
            "notification_sent": False,
            "notification_error": None,
        }
    ]


# seeds/first-loop-guide.txt, "Check Request Status", verbatim.
SEED_POLLING_CODE = textwrap.dedent('''
import requests
import time

def wait_for_response(request_id, api_key, max_wait=300):
    """Poll for request completion"""
    url = f"https://api.hitl.sh/v1/api/requests/{request_id}"
    headers = {"Authorization": f"Bearer {api_key}"}
    
    start_time = time.time()
    while time.time() - start_time < max_wait:
        response = requests.get(url, headers=headers)
        data = response.json()
        
        status = data['data']['status']
        print(f"📊 Request status: {status}")
        
        if status == 'completed':
            response_data = data['data']['response_data'] 
            print(f"✅ Human decision: {response_data}")
            return response_data
        elif status == 'cancelled':
            print("❌ Request was cancelled")
            return None
        elif status == 'timed_out':
            print("⏰ Request timed out, using default response")
            return data['data']['default_response']
            
        time.sleep(10)  # Wait 10 seconds before checking again
    
    print("⏰ Polling timeout reached")
    return None
''')


def seed_wait_for_response(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The guide's function, unchanged, with api.hitl.sh pointed at the live server."""
    real_get = requests.get

    def get(url: str, **kwargs: Any) -> requests.Response:
        return real_get(url.replace("https://api.hitl.sh", server.url), **kwargs)

    monkeypatch.setattr(requests, "get", get)
    namespace: dict[str, Any] = {}
    exec(compile(SEED_POLLING_CODE, "first-loop-guide", "exec"), namespace)
    return namespace["wait_for_response"]


def test_seed_polling_code_returns_the_human_decision(
    server: LiveServer, owner: Owner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST).json()["data"][
        "request_id"
    ]
    complete(
        server, request_id, owner.account.user_id, {"selected_value": "Reject", "selected_label": "Reject"}
    )
    wait_for_response = seed_wait_for_response(server, monkeypatch)
    decision = wait_for_response(request_id, owner.account.key)
    assert decision == {"selected_value": "Reject", "selected_label": "Reject"}
    assert "Human decision" in capsys.readouterr().out
    detail = owner.http.get(f"/v1/api/requests/{request_id}").json()["data"]
    assert detail["response_value"] == "Reject"
    assert detail["response_by"] == owner.account.user_id
    assert detail["response_by_user"] == {
        "user_id": owner.account.user_id,
        "name": "owner",
        "email": owner.account.email,
    }


def test_seed_polling_code_sees_a_cancelled_request(
    server: LiveServer, owner: Owner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=SEED_REQUEST).json()["data"][
        "request_id"
    ]
    assert owner.http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    wait_for_response = seed_wait_for_response(server, monkeypatch)
    assert wait_for_response(request_id, owner.account.key) is None
    assert "Request was cancelled" in capsys.readouterr().out
