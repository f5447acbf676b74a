"""From the answer form's fields to the raw value the response-type rules accept, and back for display; and
the rules the page checks before sending, taken from the ones requests/answers.py applies."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openhitl.kit.errors import ApiError, BadRequest
from openhitl.requests.answers import selection_range
from openhitl.requests.numbers import MAX_MAGNITUDE, MAX_SIGNIFICANT_DIGITS, as_decimal, show
from openhitl.requests.response_configs import ResponseConfig

# What the number box takes: digits with a sign, a point and an exponent, commas between groups. The page's
# script reads numbers with the same pattern (live.js: NUMBER).
TYPED_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
MAX_TYPED_NUMBER = 64


def _number(raw: str, noun: str) -> int | float:
    text = raw.strip().replace(",", "")
    if len(text) > MAX_TYPED_NUMBER or not TYPED_NUMBER.fullmatch(text):
        raise BadRequest(f"Enter a {noun}", f"“{raw}” is not a number")
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


def form_answer(config: ResponseConfig, values: Sequence[str]) -> object:
    """The form sends strings; each type gets the JSON value an API caller would send."""
    kind = config.response_type
    given = [value for value in values if value.strip()]
    if kind == "multi_select":
        return given
    if kind == "text":
        return given[0] if given else ""  # an optional answer may be left blank
    if not given:
        return None
    first = given[0]
    if kind in ("rating", "number"):
        return _number(first, "rating" if kind == "rating" else "number")
    if kind == "boolean":
        return first.strip().lower() in ("true", "1", "yes", "on")
    return first


@dataclass(frozen=True)
class Star:
    value: str
    label: str


def rating_steps(config: ResponseConfig) -> list[Star]:
    """Every value on the rating scale, lowest first, with its label when the config names one."""
    low, high, step = (Decimal(str(x)) for x in (config.scale_min, config.scale_max, config.scale_step))
    steps: list[Star] = []
    current = low
    while current <= high and len(steps) < 101:
        shown = "0" if current == 0 else format(current.normalize(), "f")
        steps.append(Star(value=shown, label=config.labels.get(shown, shown)))
        current += step
    return steps


def number_step(config: ResponseConfig) -> str:
    return "1" if config.decimal_places == 0 else format(Decimal(1).scaleb(-config.decimal_places), "f")


def display_fields(raw: Mapping[str, Any]) -> dict[str, str | None]:
    """The display-only settings a config keeps as sent but its canonical form drops: the text or number
    field's `placeholder` and a boolean's `true_color` and `false_color` (checked hex codes, see swatch)."""

    def given(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) and value.strip() else None

    return {key: given(key) for key in ("placeholder", "true_color", "false_color")}


def _count(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class Limits:
    """What the answer form refuses before sending: the rules (numbers the page's script compares with) and
    what to say next to the control when one is broken. Built from the config and the bounds the server's
    own checks use, so the page and the server cannot disagree on a limit."""

    rules: dict[str, Any]
    hint: str = ""


def _pick_limits(config: ResponseConfig) -> Limits:
    fewest, most = selection_range(config)
    if fewest == most:
        hint = f"Choose {fewest}"
    elif not fewest:
        hint = "Choose any" if most == len(config.options) else f"Choose up to {most}"
    else:
        hint = f"Choose at least {fewest}" if most == len(config.options) else f"Choose {fewest} to {most}"
    too_few = f"Choose at least {_count(fewest, 'option')}."
    too_many = f"Choose at most {_count(most, 'option')}."
    if fewest == most:
        too_few = too_many = f"Choose {_count(fewest, 'option')}."
    return Limits({"min": fewest, "max": most, "too_few": too_few, "too_many": too_many}, hint)


def _text_limits(config: ResponseConfig) -> Limits:
    return Limits(
        {
            "required": config.required,
            "min_length": config.min_length,
            "max_length": config.max_length,
            "missing": "Write a response.",
            "too_short": f"Write at least {_count(config.min_length, 'character')}.",
            "too_long": f"Write at most {_count(config.max_length, 'character')}.",
        }
    )


def _number_limits(config: ResponseConfig) -> Limits:
    def amount(value: float) -> str:
        return f"{config.prefix}{show(as_decimal(value))}{config.suffix}"

    places = config.decimal_places
    example = "12" if places == 0 else "12." + "5".ljust(min(places, 2), "0")
    return Limits(
        {
            "min": config.min_value,
            "max": config.max_value,
            "places": places,
            "negative": config.allow_negative,
            "magnitude": MAX_MAGNITUDE,
            "digits": MAX_SIGNIFICANT_DIGITS,
            "max_typed": MAX_TYPED_NUMBER,
            "missing": f"Enter a number, such as {example}.",
            "not_a_number": f"Enter a number, such as {example}.",
            "below": "" if config.min_value is None else f"Enter {amount(config.min_value)} or more.",
            "above": "" if config.max_value is None else f"Enter {amount(config.max_value)} or less.",
            "negative_refused": "Enter a number that is not negative.",
            "too_precise": "Enter a whole number."
            if places == 0
            else f"Use at most {_count(places, 'decimal place')}.",
            "too_many_digits": f"Use at most {MAX_SIGNIFICANT_DIGITS} significant digits.",
            "too_large": f"Enter a number between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}.",
        }
    )


def limits(config: ResponseConfig) -> Limits:
    """The form's limits for this config (a boolean's two buttons need none)."""
    kind = config.response_type
    if kind == "multi_select":
        return _pick_limits(config)
    if kind == "single_select":
        return Limits({"min": 1, "max": 1, "too_few": "Choose an option.", "too_many": ""})
    if kind == "rating":
        return Limits({"min": 1, "max": 1, "too_few": "Choose a rating.", "too_many": ""})
    if kind == "text":
        return _text_limits(config)
    if kind == "number":
        return _number_limits(config)
    return Limits({})


def answer_problem(exc: ApiError) -> str:
    """What was wrong with a refused answer, said once (the API says it as a message and a detail)."""
    detail = exc.data if isinstance(exc.data, str) else ""
    if exc.msg.startswith("Invalid response_data") and detail:
        return f"{detail[:1].upper()}{detail[1:]}."
    return f"{exc.msg}: {detail}" if detail else exc.msg
