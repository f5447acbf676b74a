"""Every create-request rule of hitl-api.md §3.3.1 and §5, each with its 400 message, on both databases."""

from typing import Any

import pytest

from tests.integration.conftest import Owner
from tests.support.payloads import VALID_TYPES, request_body

OMIT = ...

RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"processing_type": OMIT}, "Validation failed", "processing_type is required"),
    (
        {"processing_type": "soon"},
        "Validation failed",
        "processing_type must be one of: time-sensitive, deferred",
    ),
    ({"type": OMIT}, "Validation failed", "type is required"),
    ({"type": "video"}, "Validation failed", "type must be one of: markdown, image"),
    ({"priority": "urgent"}, "Validation failed", "priority must be one of: low, medium, high, critical"),
    ({"request_text": OMIT}, "Validation failed", "request_text is required"),
    ({"request_text": ""}, "Validation failed", "request_text must not be empty"),
    ({"request_text": "   "}, "Validation failed", "request_text must not be empty"),
    ({"request_text": "x" * 2001}, "Validation failed", "request_text must be between 1 and 2000 characters"),
    ({"request_text": 42}, "Validation failed", "request_text must be a string"),
    ({"type": "image"}, "Validation failed", "image_url is required when type is 'image'"),
    (
        {"type": "image", "image_url": "ftp://x/y.png"},
        "Validation failed",
        "image_url must be a valid http or https URL",
    ),
    (
        {"timeout_seconds": OMIT},
        "Validation failed",
        "timeout_seconds is required for time-sensitive requests",
    ),
    ({"timeout_seconds": 59}, "Validation failed", "timeout_seconds must be between 60 and 86400"),
    ({"timeout_seconds": 86401}, "Validation failed", "timeout_seconds must be between 60 and 86400"),
    ({"timeout_seconds": "soon"}, "Validation failed", "timeout_seconds must be an integer"),
    ({"timeout_seconds": 60.5}, "Validation failed", "timeout_seconds must be an integer"),
    (
        {"processing_type": "deferred", "timeout_seconds": 30},
        "Validation failed",
        "timeout_seconds must be between 60 and 2592000",
    ),
    ({"response_type": OMIT}, "Validation failed", "response_type is required"),
    (
        {"response_type": "emoji"},
        "Validation failed",
        "response_type must be one of: text, single_select, multi_select, rating, number, boolean",
    ),
    ({"response_config": OMIT}, "Validation failed", "response_config is required"),
    ({"response_config": ["Approve"]}, "Validation failed", "response_config must be an object"),
    (
        {"response_config": {}},
        "Invalid response configuration",
        "options array required for select response type",
    ),
    ({"default_response": OMIT}, "Validation failed", "default_response is required"),
    ({"default_response": None}, "Validation failed", "default_response is required"),
    (
        {"platform": "fax"},
        "Validation failed",
        "platform must be one of: n8n, zapier, web_portal, api, mobile, webhook, make, sdk, mcp, cli",
    ),
    ({"context": "not an object"}, "Validation failed", "context must be an object"),
    ({"context": {"blob": "x" * 60_000}}, "Validation failed", "context must be at most 50000 bytes of JSON"),
    (
        {"callback_url": "http://169.254.169.254/latest/meta-data"},
        "Validation failed",
        "callback_url must not point to a link-local or cloud metadata address",
    ),
    (
        {"callback_url": "http://[fe80::1]/hook"},
        "Validation failed",
        "callback_url must not point to a link-local or cloud metadata address",
    ),
    (
        {"callback_url": "http://metadata.google.internal/"},
        "Validation failed",
        "callback_url must not point to a link-local or cloud metadata address",
    ),
    (
        {"callback_url": "javascript:alert(1)"},
        "Validation failed",
        "callback_url must be a valid http or https URL",
    ),
    ({"tags": "urgent"}, "Validation failed", "tags must be an array"),
    ({"title": "t" * 201}, "Validation failed", "title must be at most 200 characters"),
]


@pytest.mark.parametrize(("override", "msg", "data"), RULES, ids=[r[2] for r in RULES])
def test_create_request_rule(owner: Owner, override: dict[str, Any], msg: str, data: str) -> None:
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(**override))
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": True, "msg": msg, "data": data}


def test_several_problems_are_reported_together(owner: Owner) -> None:
    answer = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(priority="x", type="y")
    )
    assert answer.status_code == 400
    data = answer.json()["data"]
    assert "type must be one of: markdown, image" in data
    assert "priority must be one of: low, medium, high, critical" in data


@pytest.mark.parametrize(
    ("raw", "content_type", "data"),
    [
        (b"{not json", "application/json", "Request body is not valid JSON"),
        (b"[1, 2]", "application/json", "Request body must be a JSON object"),
        (b"", "application/json", "Request body is required"),
        (
            b"name=x",
            "application/x-www-form-urlencoded",
            "Send the body as JSON with Content-Type: application/json (got application/x-www-form-urlencoded)",
        ),
    ],
)
def test_unreadable_bodies_are_refused(owner: Owner, raw: bytes, content_type: str, data: str) -> None:
    answer = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/requests", content=raw, headers={"Content-Type": content_type}
    )
    assert answer.status_code == 400
    assert answer.json()["msg"] == "Invalid request body"
    assert answer.json()["data"].startswith(data)


def test_defaults_for_optional_fields(owner: Owner) -> None:
    body = request_body(
        priority=OMIT,
        platform=OMIT,
        processing_type="deferred",
        timeout_seconds=OMIT,
        callback_url=OMIT,
        context=OMIT,
    )
    created = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body)
    assert created.status_code == 201, created.text
    request = owner.http.get(created.json()["data"]["polling_url"]).json()["data"]
    assert request["priority"] == "medium"
    assert request["platform"] == "api"
    assert request["timeout_seconds"] == 30 * 86400
    assert request["title"] == body["request_text"]
    assert request["context"] is None and request["callback_url"] is None


def test_private_and_loopback_callbacks_are_allowed_by_default(owner: Owner) -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://10.1.2.3/hook", "http://n8n.internal:5678/webhook/x"):
        answer = owner.http.post(
            f"/v1/api/loops/{owner.loop_id}/requests", json=request_body(callback_url=url)
        )
        assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(("response_type", "config", "default"), VALID_TYPES)
def test_every_response_type_in_both_dialects(
    owner: Owner, response_type: str, config: dict[str, Any], default: Any
) -> None:
    body = request_body(response_type=response_type, response_config=config, default_response=default)
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body)
    assert answer.status_code == 201, answer.text
    stored = owner.http.get(answer.json()["data"]["polling_url"]).json()["data"]
    assert stored["response_type"] == response_type
    assert stored["response_config"] == config  # echoed unchanged, whichever dialect
    assert stored["default_response"] == default


INVALID_TYPES: list[tuple[str, dict[str, Any], Any, str, str]] = [
    ("single_select", {"options": []}, "x", "Invalid response configuration", "options"),
    (
        "single_select",
        {"options": ["A", "A"]},
        "A",
        "Invalid response configuration",
        "duplicate option value: A",
    ),
    ("single_select", {"options": ["Approve", "Reject"]}, "Maybe", "Validation failed", "default_response"),
    (
        "multi_select",
        {"options": ["A", "B"], "min_selections": 3},
        [],
        "Invalid response configuration",
        "min_selections",
    ),
    ("multi_select", {"options": ["A", "B"]}, ["C"], "Validation failed", "default_response"),
    ("rating", {"scale_min": 5, "scale_max": 1}, 3, "Invalid response configuration", "scale_max"),
    ("rating", {"scale_min": 1, "scale_max": 5}, "nine", "Validation failed", "default_response"),
    ("number", {"min_value": 10, "max_value": 1}, 5, "Invalid response configuration", "max_value"),
    ("number", {"min_value": 0, "max_value": 10}, "lots", "Validation failed", "default_response"),
    ("text", {"max_length": 0}, "x", "Invalid response configuration", "max_length"),
    ("text", {"max_length": 5}, 42, "Validation failed", "default_response must be a string"),
    ("multi_select", {"options": ["A", "B"]}, "A", "Validation failed", "default_response"),
    ("single_select", {"options": ["A", "B"]}, ["A"], "Validation failed", "default_response"),
    ("number", {}, True, "Validation failed", "default_response must be a number"),
    ("boolean", {}, "perhaps", "Validation failed", "default_response"),
]


@pytest.mark.parametrize(("response_type", "config", "default", "msg", "fragment"), INVALID_TYPES)
def test_bad_configs_and_defaults_are_refused(
    owner: Owner, response_type: str, config: dict[str, Any], default: Any, msg: str, fragment: str
) -> None:
    body = request_body(response_type=response_type, response_config=config, default_response=default)
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["msg"] == msg
    assert fragment in answer.json()["data"]


# The text request of the official HITL.sh MCP server's scripts/test-all-response-types.mjs, as it sends it.
MCP_TEXT_REQUEST: dict[str, Any] = {
    "processing_type": "time-sensitive",
    "type": "markdown",
    "priority": "medium",
    "request_text": "Please provide a summary of this article in 2-3 sentences.",
    "context": {
        "article_url": "https://example.com/article",
        "word_limit": 50,
    },
    "timeout_seconds": 1800,
    "response_type": "text",
    "response_config": {
        "min_length": 20,
        "max_length": 500,
    },
    "default_response": "No summary provided",
    "platform": "api",
}


def test_the_mcp_servers_text_request_is_accepted_with_its_short_default(owner: Owner) -> None:
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=MCP_TEXT_REQUEST)
    assert answer.status_code == 201, answer.text
    stored = owner.http.get(answer.json()["data"]["polling_url"]).json()["data"]
    assert stored["default_response"] == "No summary provided"
    assert stored["response_config"] == {"min_length": 20, "max_length": 500}


# Defaults are the caller's fallback: only their type is checked, never the rules meant for reviewers.
FALLBACK_DEFAULTS: list[tuple[str, dict[str, Any], Any]] = [
    ("text", {"min_length": 20}, "n/a"),
    ("text", {"max_length": 5}, "longer than five"),
    ("multi_select", {"options": ["A", "B", "C"], "min_selections": 2}, ["C"]),
    ("multi_select", {"options": ["A", "B", "C"], "max_selections": 1}, ["A", "B"]),
    ("rating", {"scale_min": 1, "scale_max": 5}, 0),
    ("rating", {"scale_min": 1, "scale_max": 5}, 9),
    ("rating", {"scale_min": 1, "scale_max": 5, "scale_step": 1}, 2.5),
    ("number", {"min_value": 0, "max_value": 10}, 11),
    ("number", {"min_value": 0, "max_value": 10}, -1),
    ("number", {"min_value": 0, "max_value": 10, "decimal_places": 0}, 1.5),
]


@pytest.mark.parametrize(("response_type", "config", "default"), FALLBACK_DEFAULTS)
def test_defaults_are_not_held_to_the_reviewers_rules(
    owner: Owner, response_type: str, config: dict[str, Any], default: Any
) -> None:
    body = request_body(response_type=response_type, response_config=config, default_response=default)
    answer = owner.http.post(f"/v1/api/loops/{owner.loop_id}/requests", json=body)
    assert answer.status_code == 201, answer.text
    stored = owner.http.get(answer.json()["data"]["polling_url"]).json()["data"]
    assert stored["default_response"] == default


def test_an_update_keeps_a_default_that_only_its_type_must_fit(owner: Owner) -> None:
    created = owner.http.post(
        f"/v1/api/loops/{owner.loop_id}/requests",
        json=request_body(response_type="text", response_config={}, default_response="No summary provided"),
    )
    assert created.status_code == 201, created.text
    path = created.json()["data"]["polling_url"]
    stricter = owner.http.patch(path, json={"response_config": {"min_length": 20}})
    assert stricter.status_code == 200, stricter.text
    retyped = owner.http.patch(path, json={"response_type": "number", "response_config": {}})
    assert retyped.status_code == 400
    assert retyped.json()["data"] == "default_response must be a number"
    assert owner.http.get(path).json()["data"]["response_config"] == {"min_length": 20}
