"""Answers and default_responses: checked against their ResponseConfig and returned structured."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from openhitl.requests.numbers import (
    MAX_SIGNIFICANT_DIGITS,
    STEP_TOLERANCE,
    BadNumber,
    as_decimal,
    digits,
    json_number,
    on_scale,
    parse_decimal,
    show,
)
from openhitl.requests.response_configs import (
    MAX_TEXT_LENGTH,
    RESPONSE_TYPES,
    Option,
    ResponseConfig,
    quote,
)

_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0"})


class ResponseDataError(ValueError):
    """An answer or default_response that does not fit its config; str(error) is for the caller."""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class _Mode:
    """Who is being validated: a reviewer's answer, a default_response, or a stored value being read back."""

    subject: str | None
    allow_empty: bool
    # Length, range, step and selection-count rules are for reviewers; a default only needs the right type.
    reviewer_rules: bool = True

    def name(self, response_noun: str) -> str:
        return self.subject or response_noun

    def key(self, key: str) -> str:
        return f"{self.subject}.{key}" if self.subject else key

    def say(self, message: str) -> str:
        return f"{self.subject} {message}" if self.subject else message


_ANSWER = _Mode(subject=None, allow_empty=False)
# Defaults are the caller's fallback, not a human's answer: "nothing selected", "" or "No summary provided"
# under a min_length of 20 are legitimate fallbacks. The HITL.sh MCP server's own example sends that last one.
_DEFAULT = _Mode(subject="default_response", allow_empty=True, reviewer_rules=False)
_STORED = _Mode(subject=None, allow_empty=True)
# Reading an answer or a default back to show it: whatever its shape, only the type has to fit.
_SHOWN = _Mode(subject=None, allow_empty=True, reviewer_rules=False)


def validate_response(config: ResponseConfig, value: object) -> object:
    """Check an answer given raw or structured and return it structured; raises ResponseDataError."""
    return _structured(config, value, _ANSWER)


def validate_default_response(config: ResponseConfig, value: object) -> object:
    """Check a default_response given raw or structured and return it structured; raises ResponseDataError."""
    return _structured(config, value, _DEFAULT)


def read_answer(config: ResponseConfig, value: object) -> object:
    """A stored answer or default_response, raw or structured, in its structured form to show it; raises
    ResponseDataError when it does not fit the config's type at all."""
    return _structured(config, value, _SHOWN)


def plain_value(config: ResponseConfig, structured: object) -> object:
    """The raw value of a structured answer: option value, list of values, number, bool or text."""
    kind = config.response_type
    if kind == "text":
        return _check_text(config, structured, _STORED)
    if kind == "single_select":
        return _check_single(config, structured, _STORED).value
    if kind == "multi_select":
        return [option.value for option in _check_multi(config, structured, _STORED)]
    if kind == "rating":
        return json_number(_check_rating(config, structured, _STORED))
    if kind == "number":
        return json_number(_check_number(config, structured, _STORED))
    if kind == "boolean":
        return _check_boolean(config, structured, _STORED)
    raise ResponseDataError(f"response_type must be one of: {', '.join(RESPONSE_TYPES)}")


def _structured(config: ResponseConfig, value: object, mode: _Mode) -> object:
    kind = config.response_type
    if kind == "text":
        return _check_text(config, value, mode)
    if kind == "single_select":
        option = _check_single(config, value, mode)
        return {"selected_value": option.value, "selected_label": option.label}
    if kind == "multi_select":
        options = _check_multi(config, value, mode)
        return {
            "selected_values": [option.value for option in options],
            "selected_labels": [option.label for option in options],
        }
    if kind == "rating":
        rating = _check_rating(config, value, mode)
        result: dict[str, object] = {"rating": json_number(rating)}
        label = config.labels.get(show(rating))
        if label is not None:
            result["rating_label"] = label
        return result
    if kind == "number":
        number = _check_number(config, value, mode)
        places = Decimal(1).scaleb(-config.decimal_places)
        formatted = format(number.quantize(places), "f")
        return {
            "number": json_number(number),
            "formatted_value": f"{config.prefix}{formatted}{config.suffix}",
        }
    if kind == "boolean":
        answer = _check_boolean(config, value, mode)
        return {"boolean": answer, "boolean_label": config.true_label if answer else config.false_label}
    raise ResponseDataError(f"response_type must be one of: {', '.join(RESPONSE_TYPES)}")


def _check_text(config: ResponseConfig, value: object, mode: _Mode) -> str:
    if not isinstance(value, str):
        raise ResponseDataError(f"{mode.name('text response')} must be a string")
    # Surrounding whitespace is input noise; trimming also makes the stored length the checked length.
    text = value.strip()
    if not text:
        if config.required and not mode.allow_empty:
            raise ResponseDataError("text response is required")
        # An optional answer left blank is "no answer", which min_length is not about.
        return text
    if not mode.reviewer_rules:
        if len(text) > MAX_TEXT_LENGTH:
            raise ResponseDataError(
                f"{mode.name('text')} must be at most {_plural(MAX_TEXT_LENGTH, 'character')}"
            )
        return text
    if len(text) < config.min_length:
        raise ResponseDataError(
            f"{mode.name('text')} must be at least {_plural(config.min_length, 'character')}"
        )
    if len(text) > config.max_length:
        raise ResponseDataError(
            f"{mode.name('text')} must be at most {_plural(config.max_length, 'character')}"
        )
    return text


def _valid_values(config: ResponseConfig) -> str:
    return ", ".join(quote(option.value) for option in config.options)


def _find_option(config: ResponseConfig, raw: object, *, by_label: bool) -> Option | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # Numeric option values were stringified the same way when the config was parsed.
        try:
            raw = show(parse_decimal(raw, allow_strings=False))
        except BadNumber:
            return None
    if not isinstance(raw, str):
        return None
    for option in config.options:
        if option.value == raw:
            return option
    if by_label:
        # n8n users and the seed guide send what they see, the label; only an unambiguous label counts.
        matches = [option for option in config.options if option.label == raw]
        if len(matches) == 1:
            return matches[0]
    return None


def _check_single(config: ResponseConfig, value: object, mode: _Mode) -> Option:
    if isinstance(value, Mapping):
        if value.get("selected_value") is None:
            raise ResponseDataError(f'{mode.name("single_select response")} must include "selected_value"')
        option = _find_option(config, value["selected_value"], by_label=False)
        if option is None:
            raise ResponseDataError(
                f"{mode.name('selected_value')} is not a valid option (valid values: {_valid_values(config)})"
            )
        label = value.get("selected_label")
        if label is not None and label != option.label:
            raise ResponseDataError(
                f"{mode.key('selected_label')} does not match the option label ({quote(option.label)})"
            )
        return option
    if isinstance(value, list | tuple) or value is None:
        raise ResponseDataError(
            f'{mode.name("single_select response")} must be one option value or {{"selected_value": ...}}'
        )
    option = _find_option(config, value, by_label=True)
    if option is None:
        raise ResponseDataError(
            f"{mode.name('selected_value')} is not a valid option (valid values: {_valid_values(config)})"
        )
    return option


def _check_multi(config: ResponseConfig, value: object, mode: _Mode) -> list[Option]:
    given_labels: object = None
    if isinstance(value, Mapping):
        items = value.get("selected_values")
        if not isinstance(items, list | tuple):
            raise ResponseDataError(f"{mode.key('selected_values')} must be a list of option values")
        given_labels = value.get("selected_labels")
        by_label = False
    elif isinstance(value, list | tuple):
        items = value
        by_label = True
    else:
        raise ResponseDataError(
            f"{mode.name('multi_select response')} must be a list of option values "
            '(or {"selected_values": [...]})'
        )
    chosen: list[Option] = []
    for item in items:
        option = _find_option(config, item, by_label=by_label)
        if option is None:
            shown = quote(item) if isinstance(item, str) else "an item"
            raise ResponseDataError(
                f"{mode.name('selected_values')} contains {shown} that is not a valid option "
                f"(valid values: {_valid_values(config)})"
            )
        if option in chosen:
            raise ResponseDataError(
                f"{mode.name('selected_values')} must not contain duplicates ({quote(option.value)})"
            )
        chosen.append(option)
    if given_labels is not None and given_labels != [option.label for option in chosen]:
        raise ResponseDataError(
            f"{mode.key('selected_labels')} must list the labels of selected_values, in the same order"
        )
    if (not chosen and mode.allow_empty) or not mode.reviewer_rules:
        return [option for option in config.options if option in chosen]
    fewest, most = selection_range(config)
    if len(chosen) < fewest:
        raise ResponseDataError(mode.say(f"must select at least {_plural(fewest, 'option')}"))
    if len(chosen) > most:
        raise ResponseDataError(mode.say(f"must select at most {_plural(most, 'option')}"))
    # Selections are a set: option order makes the stored answer independent of click order.
    return [option for option in config.options if option in chosen]


def selection_range(config: ResponseConfig) -> tuple[int, int]:
    """How many options a reviewer's multi_select answer picks: at least, at most."""
    fewest = max(config.min_selections, 1 if config.required else 0)
    most = len(config.options) if config.max_selections is None else config.max_selections
    return fewest, most


def _unwrap(value: object, key: str, type_noun: str, mode: _Mode) -> tuple[object, object]:
    """(the raw value, the label the caller sent or None) for a structured or raw answer."""
    if isinstance(value, Mapping):
        if value.get(key) is None:
            raise ResponseDataError(f'{mode.name(type_noun)} must include "{key}"')
        return value[key], value.get(f"{key}_label")
    return value, None


def _read_number(raw: object, type_noun: str, mode: _Mode) -> Decimal:
    try:
        return parse_decimal(raw, allow_strings=True)
    except BadNumber as error:
        raise ResponseDataError(f"{mode.name(type_noun)} {error}") from None


def _check_rating(config: ResponseConfig, value: object, mode: _Mode) -> Decimal:
    raw, given_label = _unwrap(value, "rating", "rating", mode)
    rating = _read_number(raw, "rating", mode)
    noun = mode.name("rating")
    snapped = _on_scale_checked(config, rating, noun) if mode.reviewer_rules else rating
    if digits(snapped)[0] > MAX_SIGNIFICANT_DIGITS:
        raise ResponseDataError(f"{noun} must have at most {MAX_SIGNIFICANT_DIGITS} significant digits")
    label = config.labels.get(show(snapped))
    if given_label is not None and given_label != label:
        expected = f"it is {quote(label)}" if label is not None else "this rating has no label"
        raise ResponseDataError(
            f"{mode.key('rating_label')} does not match the label for this rating ({expected})"
        )
    return snapped


def _scale(config: ResponseConfig) -> tuple[Decimal, Decimal, Decimal]:
    return as_decimal(config.scale_min), as_decimal(config.scale_max), as_decimal(config.scale_step)


def _on_scale_checked(config: ResponseConfig, rating: Decimal, noun: str) -> Decimal:
    scale = _scale(config)
    scale_min, scale_max, step = scale
    slack = step * STEP_TOLERANCE
    if not scale_min - slack <= rating <= scale_max + slack:
        raise ResponseDataError(f"{noun} must be between {show(scale_min)} and {show(scale_max)}")
    snapped = on_scale(rating, scale)
    if snapped is None:
        raise ResponseDataError(
            f"{noun} must fall on a valid step (steps of {show(step)} from {show(scale_min)})"
        )
    return snapped


def _check_number(config: ResponseConfig, value: object, mode: _Mode) -> Decimal:
    # formatted_value is display text (Handoff sends String(number)), so it is recomputed, not checked.
    raw, _ = _unwrap(value, "number", "number response", mode)
    number = _read_number(raw, "number response", mode)
    if number == 0:
        number = Decimal(0)
    noun = mode.name("number")
    significant, places = digits(number)
    too_precise = f"{noun} must have at most {MAX_SIGNIFICANT_DIGITS} significant digits"
    if not mode.reviewer_rules:
        if significant > MAX_SIGNIFICANT_DIGITS:
            raise ResponseDataError(too_precise)
        return number
    if number < 0 and not config.allow_negative:
        raise ResponseDataError(f"{noun} must not be negative")
    if config.min_value is not None and number < as_decimal(config.min_value):
        raise ResponseDataError(f"{noun} must be at least {show(as_decimal(config.min_value))}")
    if config.max_value is not None and number > as_decimal(config.max_value):
        raise ResponseDataError(f"{noun} must be at most {show(as_decimal(config.max_value))}")
    if places > config.decimal_places:
        whole = " (a whole number)" if config.decimal_places == 0 else ""
        raise ResponseDataError(f"{noun} must have at most {config.decimal_places} decimal places{whole}")
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise ResponseDataError(too_precise)
    return number


def _check_boolean(config: ResponseConfig, value: object, mode: _Mode) -> bool:
    raw, given_label = _unwrap(value, "boolean", "boolean response", mode)
    answer = _read_boolean(config, raw)
    if answer is None:
        raise ResponseDataError(
            f"{mode.name('boolean response')} must be true or false "
            f'(also accepted: "yes"/"no", "1"/"0", {quote(config.true_label)}/{quote(config.false_label)})'
        )
    label = config.true_label if answer else config.false_label
    if given_label is not None and given_label != label:
        raise ResponseDataError(
            f"{mode.key('boolean_label')} must be {quote(label)} for {str(answer).lower()}"
        )
    return answer


def _read_boolean(config: ResponseConfig, raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return raw == 1
    if not isinstance(raw, str):
        return None
    text = raw.strip().casefold()
    # Configured labels first: they are what the reviewer saw, even if one of them reads "no".
    if text == config.true_label.strip().casefold():
        return True
    if text == config.false_label.strip().casefold():
        return False
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    return None
