"""Hostile bodies get a clean 4xx that says what is wrong, and the server goes on serving: bodies over 1 MB
(declared, chunked, or with a Content-Length that lies), JSON nested thousands deep, numbers no double or
integer can hold, and strings far longer than their field allows."""

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from openhitl.kit.bodies import MAX_JSON_DEPTH
from openhitl.kit.http import MAX_BODY_BYTES
from tests.security.conftest import data_of
from tests.support.live import LiveServer, full_access_account
from tests.support.payloads import SEED_LOOP, yes_no

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Caller:
    server: LiveServer
    http: httpx.Client
    loop_id: str
    request_id: str


@pytest.fixture(scope="module")
def caller(server: LiveServer) -> Iterator[Caller]:
    with server.client(full_access_account(server, "bodies")) as http:
        loop_id = data_of(http.post("/v1/api/loops", json=SEED_LOOP))["loop"]["id"]
        request_id = data_of(http.post(f"/v1/api/loops/{loop_id}/requests", json=yes_no("Ok?")))["request_id"]
        yield Caller(server, http, loop_id, request_id)


def assert_refused(answer: httpx.Response, status: int, *words: str) -> None:
    """The status, the envelope, and a message that names the problem."""
    assert answer.status_code == status, f"{answer.status_code}: {answer.text[:300]}"
    envelope = answer.json()
    assert envelope["error"] is True, envelope
    said = f"{envelope['msg']} {envelope['data']}"
    assert all(word in said for word in words), f"{said!r} does not say {words}"


def assert_still_serving(caller: Caller) -> None:
    assert caller.http.get(f"/v1/api/loops/{caller.loop_id}").status_code == 200


def request_with(field: str, raw_value: str) -> str:
    """A create-request body (raw JSON) whose `field` is the given JSON text."""
    body = {k: v for k, v in yes_no("Ok?").items() if k != field}
    return json.dumps(body)[:-1] + f', "{field}": {raw_value}}}'


# --- Oversized bodies -----------------------------------------------------------------------------------

TOO_BIG = b"x" * (MAX_BODY_BYTES + 1)


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/api/loops", JSON),
        ("/v1/api/loops/join", JSON),
        ("/login", FORM),
        ("/signup", FORM),
        ("/join", FORM),
    ],
)
def test_oversized_bodies_are_refused(caller: Caller, path: str, headers: dict[str, str]) -> None:
    assert_refused(
        caller.http.post(path, content=TOO_BIG, headers=headers), 413, "too large", str(MAX_BODY_BYTES)
    )
    # Chunked: no Content-Length to judge by, so the server counts what arrives.
    chunked = caller.http.post(path, content=chunks(MAX_BODY_BYTES + 1), headers=headers)
    assert_refused(chunked, 413, "too large")
    assert_still_serving(caller)


def test_a_body_of_exactly_the_limit_is_read(caller: Caller) -> None:
    padded = json.dumps({**SEED_LOOP, "padding": ""})
    body = padded[:-2] + " " * (MAX_BODY_BYTES - len(padded)) + '"}'
    assert len(body) == MAX_BODY_BYTES
    assert caller.http.post("/v1/api/loops", content=body, headers=JSON).status_code == 201


def raw_post(
    server: LiveServer, path: str, content_length: int, body: bytes
) -> tuple[int, dict[str, object]]:
    """POSTs over a bare socket with a Content-Length of the caller's choosing; the first answer's status and
    envelope."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # refused before it was all sent: the answer is already waiting
            sock.sendall(head + body)
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < declared_length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head_part, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    return status, json.loads(payload[: declared_length(answer)])


def declared_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def test_a_content_length_that_understates_the_body(caller: Caller) -> None:
    """The server reads what was declared (here the start of a JSON document) and says it is not JSON."""
    status, envelope = raw_post(caller.server, "/v1/api/loops", 10, b'{"name": "' + b"x" * 2_000_000 + b'"}')
    assert status == 400 and envelope["error"] is True and envelope["msg"] == "Invalid request body", envelope
    assert_still_serving(caller)


def test_a_content_length_that_overstates_the_limit(caller: Caller) -> None:
    """A declared 50 MB is refused once more than the limit has arrived, without waiting for the rest."""
    status, envelope = raw_post(caller.server, "/v1/api/loops", 50_000_000, TOO_BIG)
    assert status == 413 and envelope["msg"] == "Request body too large", envelope
    assert_still_serving(caller)


# --- Deep JSON ------------------------------------------------------------------------------------------


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [10_000, 100_000])
@pytest.mark.parametrize("nested", [nested_arrays, nested_objects])
def test_deep_json_is_refused(caller: Caller, depth: int, nested: object) -> None:
    assert callable(nested)
    deep = nested(depth)
    requests = f"/v1/api/loops/{caller.loop_id}/requests"
    cases = [
        ("POST", "/v1/api/loops", deep),
        ("POST", requests, request_with("context", deep)),
        ("POST", requests, request_with("response_config", deep)),
        ("PATCH", f"/v1/api/requests/{caller.request_id}", '{"context": ' + deep + "}"),
        ("POST", "/login", '{"email": ' + deep + "}"),  # sign-in and sign-up read their JSON themselves
        ("POST", "/signup", deep),
    ]
    for method, path, body in cases:
        answer = caller.http.request(method, path, content=body, headers=JSON)
        assert_refused(answer, 400, "too deeply", str(MAX_JSON_DEPTH))
    assert_still_serving(caller)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 600, 900])
def test_json_deeper_than_allowed_but_parseable_is_refused_by_field(caller: Caller, depth: int) -> None:
    """Python's parser reads these; the server refuses them before anything walks them by recursion."""
    requests = f"/v1/api/loops/{caller.loop_id}/requests"
    for field in ("context", "response_config"):
        body = request_with(field, '{"a": ' + nested_arrays(depth - 1) + "}")
        assert_refused(caller.http.post(requests, content=body, headers=JSON), 400, field, "levels deep")
    feedback = f'{{"feedback": {{"tags": {nested_arrays(depth - 1)}}}}}'
    answer = caller.http.post(
        f"/v1/api/requests/{caller.request_id}/feedback", content=feedback, headers=JSON
    )
    assert_refused(answer, 400, "feedback", "levels deep")
    assert_still_serving(caller)


def test_json_as_deep_as_allowed_is_kept(caller: Caller) -> None:
    context = '{"a": ' + nested_arrays(MAX_JSON_DEPTH - 1) + "}"
    body = request_with("context", context)
    answer = caller.http.post(f"/v1/api/loops/{caller.loop_id}/requests", content=body, headers=JSON)
    kept = data_of(caller.http.get(f"/v1/api/requests/{data_of(answer)['request_id']}"))["context"]
    assert kept == json.loads(context)


# --- Numbers --------------------------------------------------------------------------------------------

HUGE_INTEGER = "1" + "0" * 5000  # 10**5000: more digits than Python reads from text


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["context", "response_config"])
def test_numbers_no_double_holds_are_refused(caller: Caller, number: str, field: str) -> None:
    body = request_with(field, f'{{"n": {number}}}')
    answer = caller.http.post(f"/v1/api/loops/{caller.loop_id}/requests", content=body, headers=JSON)
    assert_refused(answer, 400, field, "NaN, Infinity or numbers too large")


@pytest.mark.parametrize("field", ["timeout_seconds", "context", "response_config", "default_response"])
def test_integers_with_thousands_of_digits_are_refused(caller: Caller, field: str) -> None:
    value = f'{{"n": {HUGE_INTEGER}}}' if field in ("context", "response_config") else HUGE_INTEGER
    answer = caller.http.post(
        f"/v1/api/loops/{caller.loop_id}/requests", content=request_with(field, value), headers=JSON
    )
    assert_refused(answer, 400, "too many digits")


def test_out_of_range_numbers_in_typed_fields_are_refused(caller: Caller) -> None:
    requests = f"/v1/api/loops/{caller.loop_id}/requests"
    for field, value in [("timeout_seconds", "1e400"), ("timeout_seconds", "1" + "0" * 40)]:
        answer = caller.http.post(requests, content=request_with(field, value), headers=JSON)
        assert_refused(answer, 400, field)
    answer = caller.http.post("/login", content='{"email": ' + HUGE_INTEGER + "}", headers=JSON)
    assert_refused(answer, 400, "too many digits")
    answer = caller.http.get("/v1/api/requests", params={"limit": "1" + "0" * 40})
    assert_refused(answer, 400, "limit")
    assert_still_serving(caller)


# --- Long strings ---------------------------------------------------------------------------------------

LONG = "x" * 500_000


def test_strings_longer_than_their_field_allows_are_refused(caller: Caller) -> None:
    http, requests = caller.http, f"/v1/api/loops/{caller.loop_id}/requests"
    cases = [
        (http.post("/v1/api/loops", json={**SEED_LOOP, "name": LONG}), "name"),
        (http.post("/v1/api/loops", json={**SEED_LOOP, "description": LONG}), "description"),
        (http.put(f"/v1/api/loops/{caller.loop_id}", json={"icon": LONG}), "icon"),
        (http.post(requests, json=yes_no(LONG)), "request_text"),
        (http.post(requests, json=yes_no("Ok?", title=LONG)), "title"),
        (http.post(requests, json=yes_no("Ok?", tags=[LONG])), "tag"),
        (http.post(requests, json=yes_no("Ok?", context={"note": LONG})), "context"),
        (
            http.post(requests, json=yes_no("Ok?", callback_url="https://hooks.example.com/" + LONG)),
            "callback_url",
        ),
        (http.post(requests, headers={"Idempotency-Key": "k" * 5000}, json=yes_no("Ok?")), "idempotency"),
        (http.post("/v1/api/api-keys", json={"name": LONG}), "name"),
        (http.post("/v1/api/webhooks", json={"url": "https://hooks.example.com/" + LONG}), "url"),
        (http.post("/v1/api/loops/join", json={"invite_code": LONG}), "invite_code"),
        (
            http.post(
                f"/v1/api/loops/{caller.loop_id}/invitations", json={"emails": [LONG + "@example.com"]}
            ),
            "email",
        ),
        (http.request("DELETE", f"/v1/api/requests/{caller.request_id}", json={"reason": LONG}), "reason"),
    ]
    problems = []
    for answer, field in cases:
        envelope = answer.json()
        said = f"{envelope.get('msg')} {envelope.get('data')}".lower()
        if answer.status_code != 400 or envelope.get("error") is not True or field not in said:
            problems.append(
                f"{answer.request.method} {answer.request.url.path} ({field}): {answer.status_code} {said[:200]}"
            )
    assert not problems, "\n".join(problems)
    assert_still_serving(caller)
