"""From the answer form's fields to the raw value the response-type rules accept, and back for display."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from openhitl.kit.errors import BadRequest
from openhitl.requests.response_configs import ResponseConfig


def _number(raw: str, noun: str) -> int | float:
    text = raw.strip().replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise BadRequest(f"Enter a {noun}", f"“{raw}” is not a number") from exc
    if not value.is_finite():
        raise BadRequest(f"Enter a {noun}", f"“{raw}” is not a number")
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


def form_answer(config: ResponseConfig, values: Sequence[str]) -> object:
    """The form sends strings; each type gets the JSON value an API caller would send."""
    kind = config.response_type
    given = [value for value in values if value.strip()]
    if kind == "multi_select":
        return given
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
