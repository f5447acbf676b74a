"""The published OpenAPI document: in sync with the code, complete, and a superset of the HITL.sh reference."""

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from openhitl.app import ALIASES, API_PREFIXES, create_app
from openhitl.config import Settings
from openhitl.kit.routing import PathIndex, path_templates
from tests.support.routes import api_routes, uses_authentication

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
CANONICAL_PREFIX = API_PREFIXES[0]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
JSON_MEDIA = re.compile(r"^application/(.+\+)?json$")
OPERATION_ID = re.compile(r"^(?P<tag>[a-z][a-z0-9_]*)-(?P<name>[a-z][a-z0-9_]*)$")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # The same construction as `openhitl openapi`: no database is opened, the app only needs a URL.
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"), secret_key="unused"))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follows $ref, and looks through `anyOf: [X, null]` (an optional X) to X."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = document["components"]["schemas"][name]
            continue
        options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1 and set(schema) <= {"anyOf", "title", "description", "default"}:
            schema = options[0]
            continue
        return schema


def envelope_data(document: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    """The schema of `data` in the JSON answer of one documented operation and status."""
    response = document["paths"][path][method]["responses"][status]
    envelope = resolve(document, response["content"]["application/json"]["schema"])
    return resolve(document, envelope["properties"]["data"])


# (a) ---------------------------------------------------------------------------------------------------------


def test_committed_document_matches_the_code(document: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    if committed == document:
        return
    generated = json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    diff = list(
        difflib.unified_diff(
            json.dumps(committed, indent=2, ensure_ascii=False).splitlines(),
            generated,
            "openapi.json (committed)",
            "openapi.json (generated from the code)",
            lineterm="",
            n=2,
        )
    )
    shown = "\n".join(diff[:80]) + (f"\n... {len(diff) - 80} more diff lines" if len(diff) > 80 else "")
    pytest.fail(
        "openapi.json is out of date with the code. Run `openhitl openapi > openapi.json`, review the diff "
        f"(it is the public contract: removals and renames break clients) and commit it.\n{shown}",
        pytrace=False,
    )


# (b) ---------------------------------------------------------------------------------------------------------


def test_every_api_route_answers_under_all_three_prefixes(app: FastAPI) -> None:
    """The API is mounted once; the front door rewrites the other prefixes to it (kit/routing.py: Aliases)."""
    index = PathIndex(path_templates(app.routes))
    canonical = [path for path, _ in api_routes(app) if path.startswith(f"{CANONICAL_PREFIX}/")]
    assert canonical, f"no route is served under {CANONICAL_PREFIX}"
    wrong = []
    for path in canonical:
        for prefix in API_PREFIXES:
            scope = {"path": prefix + path.removeprefix(CANONICAL_PREFIX)}
            found = index.find(ALIASES.rewrite(scope))
            if scope["path"] != path or found is None or found.path != path:
                wrong.append(f"{prefix}{path.removeprefix(CANONICAL_PREFIX)}")
    assert not wrong, f"paths that do not reach their route under {CANONICAL_PREFIX}: {wrong}"


def test_the_other_prefixes_serve_nothing_extra(app: FastAPI) -> None:
    """A route under an alias prefix (outside the canonical one) could never be reached: it is rewritten."""
    paths = [context.path or "" for context in iter_route_contexts(app.routes)]
    hidden = sorted(
        path
        for path in paths
        if any(path.startswith(f"{prefix}/") for prefix in API_PREFIXES[1:])
        and not path.startswith(f"{CANONICAL_PREFIX}/")
    )
    assert not hidden, f"routes under an alias prefix, which the front door rewrites away: {hidden}"


def test_the_document_lists_each_route_once_under_the_canonical_prefix(document: dict[str, Any]) -> None:
    aliased = [p for p in document["paths"] if any(p.startswith(f"{prefix}/") for prefix in API_PREFIXES[1:])]
    aliased = [p for p in aliased if not p.startswith(f"{CANONICAL_PREFIX}/")]
    assert not aliased, f"alias-prefix paths leaked into the document (they are duplicates): {aliased}"


# (c) ---------------------------------------------------------------------------------------------------------


def test_operation_ids_are_tag_dash_name_and_unique(document: dict[str, Any]) -> None:
    problems = []
    seen: dict[str, str] = {}
    for path, method, operation in operations(document):
        label = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        match = OPERATION_ID.match(operation_id)
        tags = operation.get("tags") or []
        if not match:
            problems.append(f"{label}: operationId {operation_id!r} is not <tag>-<name>")
        elif not tags or match["tag"] != tags[0]:
            problems.append(f"{label}: operationId {operation_id!r} does not start with its tag {tags[:1]}")
        if operation_id in seen:
            problems.append(f"{label}: operationId {operation_id!r} is also used by {seen[operation_id]}")
        seen[operation_id] = label
    assert not problems, "\n".join(problems)


def test_every_operation_documents_a_typed_success_answer(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        label = f"{method.upper()} {path}"
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        if not successes:
            problems.append(f"{label}: no 2xx response documented")
        for code, response in successes.items():
            content = response.get("content") or {}
            if not content:
                problems.append(f"{label} {code}: no content documented")
            for media_type, media in content.items():
                schema = media.get("schema")
                if not schema:
                    problems.append(f"{label} {code} {media_type}: no schema")
                    continue
                resolved = resolve(document, schema)
                if JSON_MEDIA.match(media_type) and not (resolved.get("properties") or resolved.get("items")):
                    problems.append(f"{label} {code} {media_type}: the schema is untyped: {schema}")
    assert not problems, "\n".join(problems)


def test_operations_document_their_client_errors(app: FastAPI, document: dict[str, Any]) -> None:
    """401 wherever a key is needed; 400 wherever the caller sends parameters or a body that can be wrong."""
    routes = api_routes(app)
    problems = []
    for path, method, operation in operations(document):
        label = f"{method.upper()} {path}"
        documented = set(operation["responses"])
        if uses_authentication(routes[(path, method)]) and "401" not in documented:
            problems.append(f"{label}: takes an API key but does not document 401")
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        if takes_input and "400" not in documented:
            problems.append(f"{label}: takes input but does not document 400")
    assert not problems, "\n".join(problems)


def test_every_documented_error_is_the_error_envelope(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if not code.startswith(("4", "5")):
                continue
            schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            if schema != {"$ref": "#/components/schemas/ErrorEnvelope"}:
                problems.append(
                    f"{method.upper()} {path} {code}: documented as {response} instead of ErrorEnvelope"
                )
    assert not problems, "\n".join(problems)


def test_operations_that_need_a_key_declare_bearer_security(app: FastAPI, document: dict[str, Any]) -> None:
    """Generated clients, Swagger UI and fuzzers only send the key where the document asks for it."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    bearer = {
        name
        for name, s in schemes.items()
        if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"
    }
    routes = api_routes(app)
    problems = [] if bearer else ["components.securitySchemes has no HTTP bearer scheme"]
    for path, method, operation in operations(document):
        if not uses_authentication(routes[(path, method)]):
            continue
        requirements = operation.get("security", document.get("security", []))
        if not any(set(requirement) & bearer for requirement in requirements):
            problems.append(f"{method.upper()} {path}: takes an API key but declares no bearer security")
    assert not problems, "\n".join(problems)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    """A dangling $ref leaves clients, and the fuzzer, without a schema for that part."""

    def refs(node: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield where, node["$ref"]
            for key, value in node.items():
                yield from refs(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from refs(value, f"{where}/{index}")

    schemas = document.get("components", {}).get("schemas", {})
    dangling = sorted(
        f"{where}: {ref}"
        for where, ref in refs(document, "#")
        if not (
            ref.startswith("#/components/schemas/") and ref.removeprefix("#/components/schemas/") in schemas
        )
    )
    assert not dangling, "references to schemas the document does not define:\n" + "\n".join(dangling)


# (d) ---------------------------------------------------------------------------------------------------------

# hitl-api.md §3: every owner-side route, in the production form, with its method.
HITL_ROUTES = [
    ("get", "/test"),
    ("post", "/loops"),
    ("get", "/loops"),
    ("get", "/loops/{id}"),
    ("put", "/loops/{id}"),
    ("delete", "/loops/{id}"),
    ("get", "/loops/{id}/members"),
    ("delete", "/loops/{id}/members/{userId}"),
    ("get", "/loops/{loopId}/requests"),
    ("post", "/loops/{loopId}/requests"),
    ("get", "/requests"),
    ("get", "/requests/{id}"),
    ("patch", "/requests/{id}"),
    ("delete", "/requests/{id}"),
    ("post", "/requests/{id}/cancel"),
    ("post", "/requests/{id}/feedback"),
]
LOOP_FIELDS = ["id", "name", "description", "icon", "creator_id", "members", "member_count", "pending_count", "created_at", "updated_at", "invite_code", "join_url", "qr_code_url"]  # fmt: skip
MEMBER_FIELDS = ["user_id", "email", "status", "joined_at"]
REQUEST_FIELDS = ["id", "loop_id", "creator_id", "api_key_id", "processing_type", "type", "priority", "request_text", "image_url", "context", "platform", "platform_version", "response_type", "response_config", "default_response", "timeout_at", "callback_url", "broadcasted_to", "broadcasted_at", "status", "response_by", "response_by_user", "response_at", "response_data", "response_time_seconds", "created_at", "updated_at"]  # fmt: skip
LISTED_REQUEST_FIELDS = ["id", "loop_id", "processing_type", "type", "priority", "request_text", "response_type", "status", "response_data", "response_by", "response_at", "response_time_seconds", "timeout_at", "created_at", "updated_at"]  # fmt: skip


def template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def missing_fields(document: dict[str, Any], schema: dict[str, Any], fields: list[str]) -> list[str]:
    """Fields absent from the schema, or present but optional (clients read them without a guard)."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    return [f for f in fields if f not in properties or f not in required]


def test_every_hitl_route_is_documented(document: dict[str, Any]) -> None:
    documented = {(method, template(path)) for path, method, _ in operations(document)}
    missing = [
        f"{method.upper()} {CANONICAL_PREFIX}{path}"
        for method, path in HITL_ROUTES
        if (method, template(f"{CANONICAL_PREFIX}{path}")) not in documented
    ]
    assert not missing, f"HITL.sh routes (hitl-api.md §3) missing from the document: {missing}"


def test_create_loop_answer_has_the_hitl_fields(document: dict[str, Any]) -> None:
    data = envelope_data(document, f"{CANONICAL_PREFIX}/loops", "post", "201")
    loop = resolve(document, data["properties"]["loop"])
    member = resolve(document, resolve(document, loop["properties"]["members"])["items"])
    problems = {
        "data": missing_fields(
            document, data, ["loop", "invite_code", "qr_code_base64", "qr_code_url", "join_url"]
        ),
        "data.loop": missing_fields(document, loop, LOOP_FIELDS),
        "data.loop.members[]": missing_fields(document, member, MEMBER_FIELDS),
    }
    assert not any(problems.values()), f"missing or optional (hitl-api.md §3.2.1, §4.1): {problems}"


def test_create_request_answer_has_the_hitl_fields(document: dict[str, Any]) -> None:
    data = envelope_data(document, f"{CANONICAL_PREFIX}/loops/{{loop_id}}/requests", "post", "201")
    fields = ["request_id", "id", "status", "processing_type", "type", "priority", "timeout_at", "broadcasted_to", "notifications_sent", "polling_url"]  # fmt: skip
    assert not missing_fields(document, data, fields), "missing or optional (hitl-api.md §3.3.1)"
    assert resolve(document, data["properties"]["broadcasted_to"]).get("type") == "integer"


def test_get_request_answer_has_the_hitl_fields(document: dict[str, Any]) -> None:
    data = envelope_data(document, f"{CANONICAL_PREFIX}/requests/{{request_id}}", "get", "200")
    nested = resolve(document, data["properties"]["request"])
    problems = {
        # The API reference and the n8n node read data.request; the seed's polling code reads data.status etc.
        "data.request": missing_fields(document, nested, REQUEST_FIELDS),
        "data": missing_fields(document, data, [*REQUEST_FIELDS, "request"]),
    }
    assert not any(problems.values()), f"missing or optional (hitl-api.md §3.3.3, §4.3): {problems}"
    assert resolve(document, nested["properties"]["broadcasted_to"]).get("type") == "array"


def test_list_requests_answer_has_the_hitl_fields(document: dict[str, Any]) -> None:
    data = envelope_data(document, f"{CANONICAL_PREFIX}/requests", "get", "200")
    item = resolve(document, resolve(document, data["properties"]["requests"])["items"])
    pagination = resolve(document, data["properties"]["pagination"])
    problems = {
        "data": missing_fields(document, data, ["requests", "count", "total", "has_more", "pagination"]),
        "data.requests[]": missing_fields(document, item, LISTED_REQUEST_FIELDS),
        "data.pagination": missing_fields(document, pagination, ["limit", "offset", "next_offset"]),
    }
    assert not any(problems.values()), f"missing or optional (hitl-api.md §3.3.2): {problems}"
