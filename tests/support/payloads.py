"""Request bodies taken from the HITL.sh documents, and small builders around them."""

from typing import Any

# seeds/create-loop-reference.txt and seeds/first-loop-guide.txt, verbatim.
SEED_LOOP = {
    "name": "Content Moderation Review",
    "description": "Review user-generated content for community guidelines compliance",
    "icon": "shield-check",
}
SEED_REQUEST = {
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
