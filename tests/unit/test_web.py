"""Pieces of the web app that need no server: safe Markdown, form answers, rating scales, time left."""

from html.parser import HTMLParser

import pytest

from openhitl.kit.errors import BadRequest
from openhitl.kit.markdown import plain_text, render_markdown
from openhitl.requests.answers import selection_range
from openhitl.requests.response_configs import parse_config
from openhitl.web.answers import form_answer, limits, number_step, rating_steps
from openhitl.web.pages import duration


class Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "![x](javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<svg onload="alert(1)">',
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_markdown_never_carries_script(hostile: str) -> None:
    elements = Elements()
    elements.feed(str(render_markdown(hostile)))
    assert not {tag for tag, _ in elements.found} & {"script", "svg", "iframe", "object", "embed"}
    for tag, attributes in elements.found:
        for name, value in attributes:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert (value or "").split(":", 1)[0].lower() in ("http", "https", "mailto"), (tag, value)


def test_markdown_keeps_formatting_and_safe_links() -> None:
    html = str(render_markdown("**bold** and [docs](https://example.com)\n\n| a |\n|---|\n| 1 |"))
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<table>" in html


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;b&gt;hi&lt;/b&gt;" in str(render_markdown("<b>hi</b>"))
    assert plain_text("**Case** <b>one</b>") == "Case <b>one</b>"  # escaped again by the template


@pytest.mark.parametrize(
    ("response_type", "config", "values", "expected"),
    [
        ("text", {}, ["hello"], "hello"),
        ("single_select", {"options": ["A", "B"]}, ["B"], "B"),
        ("multi_select", {"options": ["A", "B"]}, ["A", "B"], ["A", "B"]),
        ("multi_select", {"options": ["A", "B"]}, [], []),
        ("rating", {}, ["4"], 4),
        ("rating", {"scale_step": 0.5}, ["4.5"], 4.5),
        ("number", {"decimal_places": 2}, ["1,250.50"], 1250.5),
        ("number", {}, ["42"], 42),
        ("boolean", {}, ["true"], True),
        ("boolean", {}, ["false"], False),
        ("text", {}, ["   "], ""),  # an optional answer left blank
    ],
)
def test_form_values_become_the_values_an_api_caller_sends(
    response_type: str, config: dict[str, object], values: list[str], expected: object
) -> None:
    assert form_answer(parse_config(response_type, config), values) == expected


@pytest.mark.parametrize("typed", ["12abc", "1_000", "Infinity", "NaN", "1e99999", "0x10", "1" * 65])
def test_a_number_that_is_not_one_is_refused_with_what_was_typed(typed: str) -> None:
    with pytest.raises(BadRequest) as refused:
        form_answer(parse_config("number", {}), [typed])
    assert refused.value.data == f"“{typed}” is not a number"


@pytest.mark.parametrize(
    ("config", "rules", "hint"),
    [
        ({"options": ["A", "B", "C"]}, {"min": 0, "max": 3}, "Choose any"),
        ({"options": ["A", "B", "C"], "required": True}, {"min": 1, "max": 3}, "Choose at least 1"),
        ({"options": ["A", "B", "C"], "max_selections": 2}, {"min": 0, "max": 2}, "Choose up to 2"),
        (
            {"options": ["A", "B", "C"], "min_selections": 2, "max_selections": 2},
            {"min": 2, "max": 2},
            "Choose 2",
        ),
        (
            {"options": ["A", "B", "C", "D"], "min_selections": 1, "max_selections": 3},
            {"min": 1, "max": 3},
            "Choose 1 to 3",
        ),
    ],
)
def test_the_pages_pick_limits_are_the_ones_the_server_checks(
    config: dict[str, object], rules: dict[str, int], hint: str
) -> None:
    parsed = parse_config("multi_select", config)
    shown = limits(parsed)
    assert (
        {key: shown.rules[key] for key in ("min", "max")}
        == rules
        == dict(zip(("min", "max"), selection_range(parsed), strict=True))
    )
    assert shown.hint == hint


def test_the_pages_number_limits_say_the_amount_as_it_is_shown() -> None:
    rules = limits(
        parse_config("number", {"min_value": 1, "max_value": 250, "decimal_places": 0, "prefix": "$"})
    ).rules
    assert (rules["min"], rules["max"], rules["places"], rules["negative"]) == (1, 250, 0, False)
    assert (rules["below"], rules["above"], rules["too_precise"]) == (
        "Enter $1 or more.",
        "Enter $250 or less.",
        "Enter a whole number.",
    )


def test_rating_steps_follow_the_scale_and_its_labels() -> None:
    config = parse_config(
        "rating", {"scale_min": 0, "scale_max": 2, "scale_step": 0.5, "labels": {"2": "Top"}}
    )
    assert [(s.value, s.label) for s in rating_steps(config)] == [
        ("0", "0"), ("0.5", "0.5"), ("1", "1"), ("1.5", "1.5"), ("2", "Top"),
    ]  # fmt: skip
    assert number_step(parse_config("number", {"decimal_places": 3})) == "0.001"
    assert number_step(parse_config("number", {"decimal_places": 0})) == "1"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(-5, "0s"), (59, "59s"), (60, "1m"), (3600, "1h"), (3900, "1h 5m"), (90000, "1d")]
)
def test_time_left_reads_like_a_phone_shows_it(seconds: int, shown: str) -> None:
    assert duration(seconds) == shown
