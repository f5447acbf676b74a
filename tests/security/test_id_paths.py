"""Ids in paths, from the server's side: every route declares its id parameters with the id pattern (checked
against the app's own route table, so a new route without it fails), the document states the pattern, and
encoded traversal (`%2e%2e%2f`, encoded slashes, `..` segments, NUL, newlines) sent as raw bytes, as a hostile
client sends them, never reaches another route: malformed ids answer 400 with the envelope, paths that no
longer match a route 404, and the webhook and invite code they aim at stay as they were."""

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from openhitl.app import API_PREFIXES, create_app
from openhitl.config import Settings
from openhitl.kit.ids import ID_PATTERN
from tests.security.conftest import World, data_of
from tests.support.live import LiveServer

PREFIX = API_PREFIXES[0]
# Path parameters that are codes or tokens, not ids: looked up as they are, and throttled (test_guessing.py).
NOT_IDS = {"invite_code", "code", "token"}
EVIL_URL = "http://127.0.0.1:9/taken"
PARAMETER = re.compile(r"{(\w+)}")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("ids"), secret_key="unused"))


def path_parameters(app: FastAPI) -> Iterator[tuple[str, str, str | None]]:
    """(route path, parameter, its pattern) for every path parameter of every route, web pages included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            for parameter in context.dependant.path_params:
                patterns = [getattr(m, "pattern", None) for m in parameter.field_info.metadata]
                yield context.path, parameter.name, next((p for p in patterns if p), None)


def test_every_id_in_a_route_path_is_checked_against_the_id_pattern(app: FastAPI) -> None:
    found = list(path_parameters(app))
    assert len(found) > 50, "the route table was not read"
    unchecked = [
        f"{path} {{{name}}}" for path, name, pattern in found if name not in NOT_IDS and pattern != ID_PATTERN
    ]
    assert unchecked == [], "declare these with openhitl.kit.params.id_path"
    assert {name for _, name, _ in found} - NOT_IDS == {
        "loop_id",
        "request_id",
        "user_id",
        "webhook_id",
        "delivery_id",
        "api_key_id",
        "key_id",
    }


def test_the_document_states_the_pattern_of_every_id_in_a_path(app: FastAPI) -> None:
    document = app.openapi()
    seen = 0
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] not in NOT_IDS:
                    seen += 1
                    assert parameter["schema"]["pattern"] == ID_PATTERN, (path, parameter)
    assert seen > 30


def raw(server: LiveServer, key: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """One request with `path` sent byte for byte (httpx would normalise `..` segments away)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def malformed(world: World) -> list[str]:
    """Id values as they go on the wire, each aimed at the world's webhook or invite code."""
    hook, loop = world.webhook_id, world.loop_id
    return [
        "..",
        ".",
        "%2e%2e",
        "%2E%2E",
        f"..%2Fwebhooks%2F{hook}",
        f"%2e%2e%2fwebhooks%2f{hook}",
        f"%2e%2e%2f%2e%2e%2floops%2f{loop}%2finvite-code",
        f"{hook}%2F..%2F..%2Fwebhooks%2F{hook}",
        f"..%5Cwebhooks%5C{hook}",
        f"{hook}%00",
        f"{hook}%0A",
        f"{hook}%20",
        f"{hook}%3Fx%3D",
        f"{hook}0",
        "g" * 24,
    ]


def probes(app: FastAPI, world: World) -> Iterator[tuple[str, str, str]]:
    """(method, path, the parameter made malformed) for every API route with an id in its path."""
    valid = {
        "loop_id": world.loop_id,
        "request_id": world.pending_request_id,
        "user_id": world.user_id("member"),
        "webhook_id": world.webhook_id,
        "delivery_id": world.delivery_id,
        "api_key_id": world.owner_key_id,
    }
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if not isinstance(context.original_route, APIRoute) or not path.startswith(PREFIX + "/"):
            continue
        names = PARAMETER.findall(path)
        for name in names:
            filled = path
            for other in names:
                if other != name:
                    filled = filled.replace(f"{{{other}}}", valid[other])
            for method in sorted(context.methods or ()):
                yield method, filled, name


def test_malformed_and_traversing_ids_reach_no_route_and_change_nothing(
    app: FastAPI, server: LiveServer, world: World
) -> None:
    owner = world.accounts["owner"]

    def state() -> tuple[str, str, int]:
        http = world.client("owner")
        hook = data_of(http.get(f"{PREFIX}/webhooks/{world.webhook_id}"))["webhook"]
        loop = data_of(http.get(f"{PREFIX}/loops/{world.loop_id}"))["loop"]
        return hook["url"], loop["invite_code"], len(data_of(http.get(f"{PREFIX}/webhooks"))["webhooks"])

    before = state()
    tried = 0
    for method, template, name in probes(app, world):
        for value in malformed(world):
            path = template.replace(f"{{{name}}}", value)
            body = {"url": EVIL_URL} if method in ("POST", "PUT", "PATCH") else None
            status, answer = raw(server, owner.key, method, path, body)
            where = f"{method} {path}"
            assert set(answer) == {"error", "msg", "data"} and answer["error"] is True, (where, answer)
            one_segment = "%2f" not in value.lower() and "/" not in value
            if one_segment:
                noun = name.removesuffix("_id").replace("_", " ")
                assert (status, answer["msg"]) == (400, f"Invalid {noun} ID format"), (where, answer)
            else:
                assert status in (400, 404), (where, status, answer)
            tried += 1
    assert tried > 400
    assert state() == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/requests/../webhooks/{hook}", {"url": EVIL_URL}),
        ("PATCH", "/requests/%2e%2e/webhooks/{hook}", {"url": EVIL_URL}),
        ("PATCH", "/requests/..%2fwebhooks%2f{hook}", {"url": EVIL_URL}),
        ("DELETE", "/requests/../webhooks/{hook}", None),
        ("DELETE", "/requests/./../webhooks/{hook}", None),
        ("POST", "/requests/../loops/{loop}/invite-code", {}),
        ("POST", "/requests/{request}/../../loops/{loop}/invite-code", {}),
        (
            "POST",
            "/requests/%2e%2e%2floops%2f{loop}%2finvite-code%3fx=/feedback",
            {"feedback": {"rating": 5}},
        ),
        ("POST", "/webhooks/{hook}/..%2f..%2floops%2f{loop}%2finvite-code", {}),
    ],
)
def test_traversal_in_the_raw_path_reaches_no_other_route(
    server: LiveServer, world: World, method: str, path: str, body: Any
) -> None:
    http = world.client("owner")
    before = (
        data_of(http.get(f"{PREFIX}/webhooks/{world.webhook_id}"))["webhook"]["url"],
        data_of(http.get(f"{PREFIX}/loops/{world.loop_id}"))["loop"]["invite_code"],
    )
    filled = path.format(hook=world.webhook_id, loop=world.loop_id, request=world.pending_request_id)
    status, answer = raw(server, world.accounts["owner"].key, method, PREFIX + filled, body)
    assert status in (400, 404) and answer["error"] is True, (status, answer)
    after = (
        data_of(http.get(f"{PREFIX}/webhooks/{world.webhook_id}"))["webhook"]["url"],
        data_of(http.get(f"{PREFIX}/loops/{world.loop_id}"))["loop"]["invite_code"],
    )
    assert after == before
