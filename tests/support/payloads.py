"""Request bodies taken from the HITL.sh documents, and small builders around them."""

import base64
from typing import Any

# seeds/create-loop-reference.txt and seeds/first-loop-guide.txt, verbatim.
SEED_LOOP = {
    "name": "Content Moderation Review",
    "description": "Review user-generated content for community guidelines compliance",
    "icon": "shield-check",
}
SEED_REQUEST: dict[str, Any] = {
    "processing_type": "time-sensitive",
    "type": "markdown",
    "priority": "medium",
    "request_text": 'Please review this user comment: "This post is amazing! Thanks for sharing."',
    "context": {"user_id": "user123", "post_id": "post456", "automated_flags": ["potential_spam"]},
    "timeout_seconds": 3600,
    "response_type": "single_select",
    "response_config": {"options": ["Approve", "Reject", "Needs Changes", "Escalate"]},
    "default_response": "Approve",
    "platform": "api",
    "callback_url": "https://your-app.com/webhook/response",
}


def request_body(**overrides: Any) -> dict[str, Any]:
    body = dict(SEED_REQUEST)
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def yes_no(text: str, **overrides: Any) -> dict[str, Any]:
    """A yes/no request, with no callback unless one is given."""
    fields: dict[str, Any] = {"callback_url": ..., **overrides}
    return request_body(
        request_text=text, response_type="boolean", response_config={}, default_response=False, **fields
    )


# Every response type in both config dialects (hitl-api.md §5), each with a default it must accept.
VALID_TYPES: list[tuple[str, dict[str, Any], Any]] = [
    ("text", {}, "No decision"),
    (
        "text",
        {
            "placeholder": "Enter your response...",
            "min_length": 0,
            "max_length": 1000,
            "required": True,
            "prompt": "",
        },
        "",
    ),
    ("single_select", {"options": ["Approve", "Reject"]}, "Reject"),
    (
        "single_select",
        {
            "options": [
                {"value": "approve", "label": "✅ Approve", "color": "#16a34a"},
                {"value": "reject", "label": "❌ Reject"},
            ],
            "required": True,
        },
        "reject",
    ),
    (
        "multi_select",
        {"options": ["Spam", "Abuse", "Off-topic"], "min_selections": 1, "max_selections": 2},
        [],
    ),
    (
        "multi_select",
        {
            "prompt": "",
            "options": [{"value": "spam", "label": "Spam"}, {"value": "abuse", "label": "Abuse"}],
            "required": True,
            "min_selections": 1,
            "max_selections": 2,
        },
        ["spam"],
    ),
    (
        "rating",
        {"scale_min": 1, "scale_max": 5, "scale_step": 0.5, "labels": {"1": "Poor", "5": "Great"}},
        3.5,
    ),
    ("rating", {"prompt": "", "min": 1, "max": 10, "required": True}, 5),
    ("rating", {"scale_max": 5}, 3),
    ("number", {"min_value": 0, "max_value": 1000, "decimal_places": 2, "prefix": "$"}, 12.5),
    ("number", {"min": 0, "max": 100}, 0),
    (
        "number",
        {
            "required": True,
            "prompt": "",
            "min_value": 0,
            "max_value": 1000000,
            "decimal_places": 0,
            "allow_negative": False,
        },
        10,
    ),
    ("boolean", {"true_label": "Approve", "false_label": "Reject"}, False),
    ("boolean", {"prompt": "", "required": True}, "no"),
]


# The P-256 base point: a valid browser key for a push subscription. Pushes go to the discard port.
P256_BASE_POINT = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
PUSH_KEYS = {
    "p256dh": base64.urlsafe_b64encode(P256_BASE_POINT).decode().rstrip("="),
    "auth": base64.urlsafe_b64encode(b"0123456789abcdef").decode().rstrip("="),
}
