"""The viewer role over the API: invited or set as one, a viewer reads the loop's requests, answers and
exports, and changes nothing (every route is in tests/security/test_access_matrix.py)."""

import csv
import io

from tests.integration.conftest import Owner
from tests.support.live import LiveServer, free_port
from tests.support.payloads import request_body


def test_an_invitation_as_viewer_makes_a_viewer(server: LiveServer, owner: Owner) -> None:
    email = f"vera-{free_port()}@example.com"
    sent = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/invitations", json={"emails": [email], "role": "viewer"}
    )
    assert sent.status_code == 201, sent.text
    members = owner.http.get(f"/v1/api/loops/{owner.loop_id}/members").json()["data"]["members"]
    assert [(m["role"], m["status"]) for m in members if m["email"] == email] == [("viewer", "pending")]
    with server.client() as http:
        joined = http.get(server.emailed_link(email, "/invitations/"), headers={"Accept": "application/json"})
        assert joined.status_code == 200, joined.text
        assert http.get(f"/v1/api/loops/{owner.loop_id}").json()["data"]["loop"]["role"] == "viewer"
    bad = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/invitations", json={"emails": ["x@example.com"], "role": "admin"}
    )
    assert bad.status_code == 400 and bad.json()["error"] is True


def test_roles_are_set_by_the_creator_and_switched_by_admins(server: LiveServer, owner: Owner) -> None:
    admin, member = server.account("admin"), server.account("member")
    server.add_member(owner.loop_id, admin.user_id, role="admin")
    server.add_member(owner.loop_id, member.user_id)
    path = f"/v1/api/loops/{owner.loop_id}/members/{member.user_id}"
    made = owner.http.put(path, json={"role": "viewer"})
    assert made.status_code == 200 and made.json()["data"]["member"]["role"] == "viewer"
    with server.client(admin) as http:
        assert http.put(path, json={"role": "member"}).json()["data"]["member"]["role"] == "member"
        assert http.put(path, json={"role": "viewer"}).status_code == 200
        promoted = http.put(path, json={"role": "admin"})
        assert promoted.status_code == 403
        assert promoted.json()["msg"] == "Only the loop creator can make or unmake admins"
        demoted = http.put(f"/v1/api/loops/{owner.loop_id}/members/{admin.user_id}", json={"role": "viewer"})
        assert demoted.status_code == 403
    with server.client(member) as http:  # a viewer changes no one's role, their own included
        assert http.put(path, json={"role": "member"}).status_code == 403
    unknown = owner.http.put(path, json={"role": "owner"})
    assert unknown.status_code == 400 and "viewer" in str(unknown.json())


def test_a_viewer_reads_searches_and_exports_the_loops_requests(server: LiveServer, owner: Owner) -> None:
    viewer = server.account("viewer")
    server.add_member(owner.loop_id, viewer.user_id, role="viewer")
    body = request_body(
        callback_url=..., request_text="Refund ORDER-31?", context={"customer": "Ada Lovelace"}
    )
    made = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body).json()["data"]
    assert made["broadcasted_to"] == 1  # the creator; the viewer is not asked
    request_id = made["request_id"]
    with server.client(viewer) as http:
        listed = http.get(f"/v1/api/loops/{owner.loop_id}/requests").json()["data"]["requests"]
        assert [r["id"] for r in listed] == [request_id]
        assert [
            r["id"] for r in http.get("/v1/api/requests", params={"q": "lovelace"}).json()["data"]["requests"]
        ] == [request_id]
        rows = list(csv.DictReader(io.StringIO(http.get("/v1/api/requests/export").text)))
        assert [row["id"] for row in rows] == [request_id]
        created = http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body)
        assert created.status_code == 403
        changed = http.patch(f"/v1/api/requests/{request_id}", json={"priority": "high"})
        assert changed.status_code == 403
        assert changed.json()["msg"] == "Viewers can read this loop's requests but not change them"
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 403
        assert http.get("/v1/api/inbox").json()["data"]["requests"] == []
        respond = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
        assert respond.status_code == 403
    assert owner.http.get(f"/v1/api/requests/{request_id}").json()["data"]["status"] == "pending"
