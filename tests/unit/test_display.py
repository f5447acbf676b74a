"""What people read of a request: answers by their labels, headlines without Markdown, one status vocabulary,
and loop icons drawn from the vendored icon set."""

from typing import Any

import pytest

from openhitl.requests.display import STATUS_LABELS, answer_text, headline, preview, status_label
from openhitl.requests.states import STATUSES
from openhitl.web.answers import display_fields
from openhitl.web.icons import NAMED_ICONS, loop_icon, swatch

OPTIONS = [
    {"value": "full", "label": "Full refund", "color": "#16a34a"},
    {"value": "partial", "label": "Partial refund", "description": "Up to half"},
    {"value": "none", "label": "No refund"},
]
SHOWN: list[tuple[str, dict[str, Any], Any, str]] = [
    (
        "single_select",
        {"options": OPTIONS},
        {"selected_value": "partial", "selected_label": "Partial refund"},
        "Partial refund",
    ),
    ("single_select", {"options": OPTIONS}, "partial", "Partial refund"),  # a raw value, as a default is kept
    (
        "multi_select",
        {"options": OPTIONS},
        {"selected_values": ["full", "none"], "selected_labels": ["Full refund", "No refund"]},
        "Full refund, No refund",
    ),
    ("multi_select", {"options": OPTIONS}, [], "Nothing selected"),
    (
        "boolean",
        {"true_label": "Ship it", "false_label": "Hold"},
        {"boolean": True, "boolean_label": "Ship it"},
        "Ship it",
    ),
    ("boolean", {"true_label": "Ship it", "false_label": "Hold"}, False, "Hold"),
    ("boolean", {}, True, "Yes"),
    (
        "number",
        {"prefix": "$", "suffix": " USD", "decimal_places": 2},
        {"number": 42.5, "formatted_value": "$42.50 USD"},
        "$42.50 USD",
    ),
    ("number", {"prefix": "€", "decimal_places": 0}, 1200, "€1200"),
    (
        "rating",
        {"scale_min": 1, "scale_max": 5, "labels": {"5": "Great"}},
        {"rating": 5, "rating_label": "Great"},
        "Great (5 of 5)",
    ),
    ("rating", {"scale_min": 0, "scale_max": 10}, {"rating": 7}, "7 of 10"),
    ("rating", {"scale_min": 1, "scale_max": 5, "scale_step": 0.5}, 4.5, "4.5 of 5"),
    ("rating", {"scale_min": -2, "scale_max": 2}, -1, "-1 on a scale of -2 to 2"),
    ("text", {}, "Looks fine to me", "Looks fine to me"),
]


@pytest.mark.parametrize(("response_type", "config", "data", "words"), SHOWN)
def test_answers_are_shown_by_their_labels(
    response_type: str, config: dict[str, Any], data: Any, words: str
) -> None:
    assert answer_text(response_type, config, data) == words


def test_no_answer_is_no_words() -> None:
    assert answer_text("boolean", {}, None) == ""


def test_an_answer_that_no_longer_fits_its_config_shows_the_labels_it_was_kept_with() -> None:
    changed = {"options": [{"value": "other", "label": "Other"}]}
    kept = {"selected_value": "partial", "selected_label": "Partial refund"}
    assert answer_text("single_select", changed, kept) == "Partial refund"
    assert answer_text("boolean", {"true_label": "Same", "false_label": "same"}, True) == "Yes"
    assert answer_text("single_select", {"options": "broken"}, ["a", "b"]) == "a, b"


def test_a_headline_is_the_callers_title_or_the_words_of_the_first_line() -> None:
    text = "# Refund request A-1001\n\nCustomer **Jane Doe** asks for a refund of *$250.00*."
    assert headline("Refund $250 to Jane Doe?", text) == "Refund $250 to Jane Doe?"
    assert headline("# Refund request A-1001", text) == "Refund request A-1001"  # a derived title
    assert headline("", "**Deploy** v2.4.0 to `production`?") == "Deploy v2.4.0 to production?"
    assert headline(
        "![](https://example.com/x.png)", "![](https://example.com/x.png)\n\nIs this *spam*?"
    ) == ("Is this spam?")
    long = headline("", "word " * 100)
    assert len(long) == 140 and long.endswith("…")


def test_a_preview_says_what_the_headline_does_not() -> None:
    text = "# Refund request A-1001\n\nCustomer **Jane Doe** asks for a refund."
    assert preview("# Refund request A-1001", text) == "Customer Jane Doe asks for a refund."
    assert preview("Refund?", text) == "Refund request A-1001 Customer Jane Doe asks for a refund."
    assert preview("Approve?", "Approve?") == ""


def test_every_status_has_one_label_and_timeout_reads_timed_out() -> None:
    assert tuple(STATUS_LABELS) == STATUSES
    assert status_label("timeout") == "Timed out"
    assert all(label[0].isupper() and label[1:] == label[1:].lower() for label in STATUS_LABELS.values())


@pytest.mark.parametrize("name", sorted(NAMED_ICONS))
def test_every_documented_icon_name_draws_an_svg(name: str) -> None:
    drawn = str(loop_icon(name))
    assert drawn.startswith("<svg") and f'data-icon="{NAMED_ICONS[name]}"' in drawn
    assert "<path" in drawn or "<circle" in drawn or "<rect" in drawn


def test_emoji_icons_stay_text_and_unknown_names_get_a_plain_circle() -> None:
    assert str(loop_icon("💸")) == '<span class="loop-emoji">💸</span>'
    assert str(loop_icon("<b>x</b>")) == '<span class="loop-emoji">&lt;b&gt;x&lt;/b&gt;</span>'
    assert 'data-icon="circle"' in str(loop_icon("rocket-ship"))
    assert str(loop_icon("")) == "" and str(loop_icon(None)) == ""


def test_a_swatch_takes_only_a_hex_colour() -> None:
    assert 'fill="#16a34a"' in str(swatch("#16a34a"))
    assert str(swatch('red" onload="x')) == "" and str(swatch(None)) == ""


def test_the_display_fields_a_canonical_config_drops_are_read_from_the_config_as_sent() -> None:
    shown = display_fields({"placeholder": "Why?", "true_color": "#16a34a", "false_color": "", "x": 1})
    assert shown == {"placeholder": "Why?", "true_color": "#16a34a", "false_color": None}
    assert display_fields({"placeholder": 12}) == {
        "placeholder": None,
        "true_color": None,
        "false_color": None,
    }
