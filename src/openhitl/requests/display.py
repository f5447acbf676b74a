"""What people read of a request, in every page and email: its headline, its answer in words, its status.

Answers are shown by their labels (the option's label, the boolean's true_label or false_label, the number
with its prefix, decimals and suffix, the rating on its scale with its label), never by the raw values
that programs exchange.
"""

from collections.abc import Mapping
from decimal import Decimal

from openhitl.kit.markdown import plain_text
from openhitl.requests.answers import ResponseDataError, read_answer
from openhitl.requests.numbers import as_decimal, show
from openhitl.requests.response_configs import ResponseConfig, ResponseConfigError, parse_config
from openhitl.requests.states import STATUSES

# The API's statuses as people read them; every page and message uses this one mapping.
STATUS_LABELS = {
    "pending": "Pending",
    "claimed": "Claimed",
    "completed": "Completed",
    "timeout": "Timed out",
    "cancelled": "Cancelled",
}
assert tuple(STATUS_LABELS) == STATUSES, "a status has no label"

TITLE_LENGTH = 200
HEADLINE_LENGTH = 140
NOTHING_SELECTED = "Nothing selected"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def snippet(text: str, length: int) -> str:
    """The text on one line, cut to `length` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def derived_title(request_text: str) -> str:
    """The title a request gets when its caller gives none: the first line of its text."""
    text = request_text.strip()
    return text.splitlines()[0][:TITLE_LENGTH] if text else ""


def headline(title: str, request_text: str, length: int = HEADLINE_LENGTH) -> str:
    """A request's headline: the caller's own title, else the words of its text's first line (Markdown
    flattened), else of its whole text."""
    if title and title != derived_title(request_text):
        return snippet(title, length)
    text = request_text.strip()
    first_line = text.splitlines()[0] if text else ""
    return snippet(plain_text(first_line) or plain_text(text) or "Request", length)


def preview(title: str, request_text: str, length: int = HEADLINE_LENGTH) -> str:
    """The words of a request's text that its headline does not already say, for a card's second line."""
    words = plain_text(request_text)
    shown = headline(title, request_text, length=len(words) + len(title) + 1)
    if words.startswith(shown):
        words = words[len(shown) :].lstrip(" :.-–—")
    return snippet(words, length) if words != shown else ""


def answer_text(response_type: str, response_config: object, response_data: object) -> str:
    """An answer or default_response (raw or structured) in the words the reviewer saw when answering."""
    if response_data is None:
        return ""
    try:
        config = parse_config(response_type, response_config)
        return _words(config, read_answer(config, response_data))
    except (ResponseConfigError, ResponseDataError):  # the config changed since: show what was kept
        return _kept_words(response_data)


def _words(config: ResponseConfig, answer: object) -> str:
    if isinstance(answer, str):
        return answer
    assert isinstance(answer, Mapping)
    kind = config.response_type
    if kind == "single_select":
        return str(answer["selected_label"])
    if kind == "multi_select":
        return ", ".join(answer["selected_labels"]) or NOTHING_SELECTED
    if kind == "number":
        return str(answer["formatted_value"])
    if kind == "boolean":
        return str(answer["boolean_label"])
    return rating_words(config, as_decimal(answer["rating"]), answer.get("rating_label"))


def rating_words(config: ResponseConfig, rating: Decimal, label: object) -> str:
    """A rating on its scale: "4 of 5", "Great (5 of 5)", "-1 on a scale of -2 to 2"."""
    low, high = as_decimal(config.scale_min), as_decimal(config.scale_max)
    scale = (
        f"{show(rating)} of {show(high)}"
        if low in (0, 1)
        else f"{show(rating)} on a scale of {show(low)} to {show(high)}"
    )
    return f"{label} ({scale})" if label else scale


def _kept_words(value: object) -> str:
    """An answer that no longer fits its config: the labels it was stored with, else its plain value."""
    if isinstance(value, Mapping):
        for key in ("selected_label", "selected_labels", "formatted_value", "boolean_label", "rating_label"):
            if value.get(key) is not None:
                return _kept_words(value[key])
        for key in ("selected_value", "selected_values", "number", "boolean", "rating"):
            if value.get(key) is not None:
                return _kept_words(value[key])
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_kept_words(part) for part in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return show(as_decimal(value))
    return "" if value is None else str(value)
