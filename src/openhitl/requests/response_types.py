"""The six response types: parse response_config (both HITL.sh dialects) and validate answers and defaults."""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

RESPONSE_TYPES: tuple[str, ...] = ("text", "single_select", "multi_select", "rating", "number", "boolean")

_MAX_OPTIONS = 20
_MAX_OPTION_VALUE_LENGTH = 100
_MAX_OPTION_LABEL_LENGTH = 200
_MAX_DESCRIPTION_LENGTH = 500
_MAX_RATING_LABEL_LENGTH = 200
_MAX_BOOLEAN_LABEL_LENGTH = 100
_MAX_AFFIX_LENGTH = 50
_MAX_TEXT_LENGTH = 5000
_MAX_DECIMAL_PLACES = 10
# JSON numbers are read back as IEEE doubles by most clients: integers stay exact up to 2**53 and any decimal
# with at most 15 significant digits survives the round trip, so nothing larger or finer is accepted.
_MAX_MAGNITUDE = 10**15
_MAX_SIGNIFICANT_DIGITS = 15
_MAX_NUMERIC_STRING_LENGTH = 64
# Float arithmetic in clients (0.1 * 3) lands a hair off the grid; a billionth of a step is not a real answer.
_STEP_TOLERANCE = Decimal("1e-9")

_NUMERIC_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0"})


class ResponseConfigError(ValueError):
    """A response_config that cannot be used; str(error) is for the caller."""


class ResponseDataError(ValueError):
    """An answer or default_response that does not fit its config; str(error) is for the caller."""


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    description: str | None = None
    color: str | None = None


@dataclass(frozen=True)
class ResponseConfig:
    """The canonical form of a response_config, whichever dialect it arrived in."""

    response_type: str
    required: bool
    options: tuple[Option, ...] = ()
    min_selections: int = 0
    max_selections: int | None = None
    scale_min: float = 1
    scale_max: float = 5
    scale_step: float = 1
    labels: dict[str, str] = field(default_factory=dict)
    min_value: float | None = 0
    max_value: float | None = None
    decimal_places: int = 2
    prefix: str = ""
    suffix: str = ""
    allow_negative: bool = False
    min_length: int = 0
    max_length: int = _MAX_TEXT_LENGTH
    true_label: str = "Yes"
    false_label: str = "No"


class _BadNumber(Exception):
    """Why a value is not an acceptable number; callers turn it into their own error type."""


def _parse_decimal(value: object, *, allow_strings: bool) -> Decimal:
    # Decimal, not float: decimal places, steps and formatting are then exact ("0.3" is 0.3, not 0.299...).
    if isinstance(value, bool):
        raise _BadNumber("must be a number, not true/false")
    if isinstance(value, int):
        if abs(value) > _MAX_MAGNITUDE:
            raise _BadNumber(f"must be between -{_MAX_MAGNITUDE} and {_MAX_MAGNITUDE}")
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _BadNumber("must be a finite number")
        number = Decimal(repr(value))
    elif allow_strings and isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMERIC_STRING_LENGTH or not _NUMERIC_STRING.fullmatch(text):
            raise _BadNumber("must be a number")
        number = Decimal(text)
    else:
        raise _BadNumber("must be a number")
    if abs(number) > _MAX_MAGNITUDE:
        raise _BadNumber(f"must be between -{_MAX_MAGNITUDE} and {_MAX_MAGNITUDE}")
    return number


def _digits(number: Decimal) -> tuple[int, int]:
    """(significant digits, decimal places) of a finite number, ignoring trailing zeros."""
    if number == 0:
        return 1, 0
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        raise _BadNumber("must be a finite number")
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
        exponent += 1
    return significant, max(0, -exponent)


def _json_number(number: Decimal) -> int | float:
    return int(number) if _digits(number)[1] == 0 else float(number)


def _as_decimal(number: float) -> Decimal:
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _show(number: Decimal) -> str:
    return "0" if number == 0 else format(number.normalize(), "f")


# A JSON null counts as "not given" in every config key: that is what clients that send it mean.
def _first_key(config: Mapping[object, object], *keys: str) -> str:
    """The first of the alias keys the caller actually set, else the canonical (first) one."""
    return next((key for key in keys if config.get(key) is not None), keys[0])


def _config_int(config: Mapping[object, object], key: str, default: int) -> int:
    raw = config.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ResponseConfigError(f"{key} must be an integer")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ResponseConfigError(f"{key} must be an integer")
        return int(raw)
    return raw


def _config_number(config: Mapping[object, object], key: str) -> Decimal | None:
    raw = config.get(key)
    if raw is None:
        return None
    try:
        number = _parse_decimal(raw, allow_strings=False)
    except _BadNumber as error:
        raise ResponseConfigError(f"{key} {error}") from None
    significant, places = _digits(number)
    if places > _MAX_DECIMAL_PLACES:
        raise ResponseConfigError(f"{key} must have at most {_MAX_DECIMAL_PLACES} decimal places")
    if significant > _MAX_SIGNIFICANT_DIGITS:
        raise ResponseConfigError(f"{key} must have at most {_MAX_SIGNIFICANT_DIGITS} significant digits")
    return number


def _config_bool(config: Mapping[object, object], key: str, default: bool) -> bool:
    raw = config.get(key)
    if raw is None:
        return default
    if not isinstance(raw, bool):
        raise ResponseConfigError(f"{key} must be true or false")
    return raw


def _config_str(raw: object, where: str, max_length: int) -> str | None:
    """An optional string; "" counts as not given."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ResponseConfigError(f"{where} must be a string")
    if len(raw) > max_length:
        raise ResponseConfigError(f"{where} must be at most {max_length} characters")
    return raw


def _config_color(raw: object, where: str) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _HEX_COLOR.fullmatch(raw):
        raise ResponseConfigError(f'{where} must be a hex color such as "#16a34a"')
    return raw


def _quote(text: str) -> str:
    return f'"{text}"' if len(text) <= 60 else f'"{text[:57]}..."'


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def parse_config(response_type: str, config: object) -> ResponseConfig:
    """Check a response_config and return its canonical form; raises ResponseConfigError."""
    if response_type not in RESPONSE_TYPES:
        raise ResponseConfigError(f"response_type must be one of: {', '.join(RESPONSE_TYPES)}")
    if not isinstance(config, Mapping):
        raise ResponseConfigError("response_config must be an object")
    required = _config_bool(config, "required", False)
    if response_type == "text":
        return _parse_text(config, required)
    if response_type in ("single_select", "multi_select"):
        return _parse_select(response_type, config, required)
    if response_type == "rating":
        return _parse_rating(config, required)
    if response_type == "number":
        return _parse_number(config, required)
    return _parse_boolean(config, required)


def _parse_text(config: Mapping[object, object], required: bool) -> ResponseConfig:
    min_length = _config_int(config, "min_length", 0)
    max_length = _config_int(config, "max_length", _MAX_TEXT_LENGTH)
    if not 1 <= max_length <= _MAX_TEXT_LENGTH:
        raise ResponseConfigError(f"max_length must be between 1 and {_MAX_TEXT_LENGTH}")
    if min_length < 0:
        raise ResponseConfigError("min_length must be at least 0")
    if min_length > max_length:
        raise ResponseConfigError(f"min_length must not be greater than max_length ({max_length})")
    return ResponseConfig("text", required, min_length=min_length, max_length=max_length)


def _parse_select(response_type: str, config: Mapping[object, object], required: bool) -> ResponseConfig:
    options = _parse_options(config.get("options"))
    if response_type == "single_select":
        return ResponseConfig(response_type, required, options=options)
    count = len(options)
    min_selections = _config_int(config, "min_selections", 0)
    if not 0 <= min_selections <= count:
        raise ResponseConfigError(f"min_selections must be between 0 and {count} (the number of options)")
    max_selections = _config_int(config, "max_selections", count)
    if max_selections < min_selections:
        raise ResponseConfigError("max_selections must not be less than min_selections")
    if not 1 <= max_selections <= count:
        raise ResponseConfigError(f"max_selections must be between 1 and {count} (the number of options)")
    return ResponseConfig(
        response_type,
        required,
        options=options,
        min_selections=min_selections,
        max_selections=max_selections,
    )


def _parse_options(raw: object) -> tuple[Option, ...]:
    if raw is None:
        raise ResponseConfigError("options array required for select response type")
    if not isinstance(raw, list | tuple):
        raise ResponseConfigError("options must be an array of strings or {value, label} objects")
    if not 1 <= len(raw) <= _MAX_OPTIONS:
        raise ResponseConfigError(f"options must contain between 1 and {_MAX_OPTIONS} items")
    options: list[Option] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        option = _parse_option(item, f"options[{index}]")
        if option.value in seen:
            raise ResponseConfigError(f"duplicate option value: {option.value}")
        seen.add(option.value)
        options.append(option)
    return tuple(options)


def _parse_option(item: object, where: str) -> Option:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        value = _option_text(item, where, _MAX_OPTION_VALUE_LENGTH)
        return Option(value=value, label=value)
    if not isinstance(item, Mapping):
        raise ResponseConfigError(f"{where} must be a string or an object with value and label")
    if item.get("value") is None:
        raise ResponseConfigError(f"{where}.value is required")
    value = _option_text(item["value"], f"{where}.value", _MAX_OPTION_VALUE_LENGTH)
    raw_label = item.get("label")
    # A missing label falls back to the value, as string options do.
    if raw_label is None or (isinstance(raw_label, str) and not raw_label.strip()):
        label = value
    else:
        label = _option_text(raw_label, f"{where}.label", _MAX_OPTION_LABEL_LENGTH)
    return Option(
        value=value,
        label=label,
        description=_config_str(item.get("description"), f"{where}.description", _MAX_DESCRIPTION_LENGTH),
        color=_config_color(item.get("color"), f"{where}.color"),
    )


def _option_text(raw: object, where: str, max_length: int) -> str:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # Some clients send numeric option values (1, 2, 3); they are matched as strings from then on.
        try:
            return _show(_parse_decimal(raw, allow_strings=False))
        except _BadNumber as error:
            raise ResponseConfigError(f"{where} {error}") from None
    if not isinstance(raw, str):
        raise ResponseConfigError(f"{where} must be a string")
    if not raw.strip():
        raise ResponseConfigError(f"{where} must not be empty")
    if len(raw) > max_length:
        raise ResponseConfigError(f"{where} must be at most {max_length} characters")
    return raw


def _parse_rating(config: Mapping[object, object], required: bool) -> ResponseConfig:
    # scale_* wins over the aliases min/max (API reference, n8n) and min_value/max_value (old docs).
    min_key = _first_key(config, "scale_min", "min", "min_value")
    max_key = _first_key(config, "scale_max", "max", "max_value")
    scale_min = _config_number(config, min_key)
    scale_max = _config_number(config, max_key)
    scale_step = _config_number(config, "scale_step")
    if scale_min is None:
        scale_min = Decimal(1)
    if scale_max is None:
        scale_max = Decimal(5)
    if scale_step is None:
        scale_step = Decimal(1)
    if scale_max <= scale_min:
        raise ResponseConfigError(
            f"{max_key} ({_show(scale_max)}) must be greater than {min_key} ({_show(scale_min)})"
        )
    if scale_step <= 0:
        raise ResponseConfigError("scale_step must be greater than 0")
    if scale_step > scale_max - scale_min:
        raise ResponseConfigError(f"scale_step must not be greater than {max_key} - {min_key}")
    return ResponseConfig(
        "rating",
        required,
        scale_min=_json_number(scale_min),
        scale_max=_json_number(scale_max),
        scale_step=_json_number(scale_step),
        labels=_parse_rating_labels(config.get("labels"), (scale_min, scale_max, scale_step)),
    )


def _parse_rating_labels(raw: object, scale: tuple[Decimal, Decimal, Decimal]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ResponseConfigError('labels must be an object mapping ratings to labels, e.g. {"1": "Poor"}')
    labels: dict[str, str] = {}
    for key, label in raw.items():
        rating: Decimal | None = None
        if isinstance(key, str | int | float):
            try:
                rating = _on_scale(_parse_decimal(key, allow_strings=True), scale)
            except _BadNumber:
                rating = None
        if rating is None:
            scale_min, scale_max, step = scale
            shown_key = _quote(key) if isinstance(key, str) else "key"
            raise ResponseConfigError(
                f"labels {shown_key} is not a rating on this scale "
                f"({_show(scale_min)} to {_show(scale_max)} in steps of {_show(step)})"
            )
        canonical = _show(rating)
        if canonical in labels:
            raise ResponseConfigError(f"labels has more than one entry for rating {canonical}")
        if not isinstance(label, str) or not label.strip():
            raise ResponseConfigError(f"labels[{canonical}] must be a non-empty string")
        if len(label) > _MAX_RATING_LABEL_LENGTH:
            raise ResponseConfigError(
                f"labels[{canonical}] must be at most {_MAX_RATING_LABEL_LENGTH} characters"
            )
        labels[canonical] = label
    return labels


def _scale(config: ResponseConfig) -> tuple[Decimal, Decimal, Decimal]:
    return _as_decimal(config.scale_min), _as_decimal(config.scale_max), _as_decimal(config.scale_step)


def _on_scale(number: Decimal, scale: tuple[Decimal, Decimal, Decimal]) -> Decimal | None:
    """The grid point of the rating scale that number stands for, or None if it is off the grid or range."""
    scale_min, scale_max, step = scale
    steps = (number - scale_min) / step
    nearest = steps.to_integral_value()
    if abs(steps - nearest) > _STEP_TOLERANCE:
        return None
    snapped = scale_min + nearest * step
    return snapped if scale_min <= snapped <= scale_max else None


def _parse_number(config: Mapping[object, object], required: bool) -> ResponseConfig:
    min_key = _first_key(config, "min_value", "min")
    max_key = _first_key(config, "max_value", "max")
    min_value = _config_number(config, min_key)
    max_value = _config_number(config, max_key)
    decimal_places = _config_int(config, "decimal_places", 2)
    if not 0 <= decimal_places <= _MAX_DECIMAL_PLACES:
        raise ResponseConfigError(f"decimal_places must be between 0 and {_MAX_DECIMAL_PLACES}")
    if config.get("allow_negative") is None:
        # An explicit negative minimum says what the caller wants more clearly than a flag they left out.
        allow_negative = min_value is not None and min_value < 0
    else:
        allow_negative = _config_bool(config, "allow_negative", False)
        if not allow_negative and min_value is not None and min_value < 0:
            raise ResponseConfigError(f"{min_key} cannot be negative when allow_negative is false")
    min_defaulted = min_value is None and not allow_negative
    if min_defaulted:
        min_value = Decimal(0)
    if max_value is not None and min_value is not None and max_value <= min_value:
        hint = " (min_value defaults to 0 unless allow_negative is true)" if min_defaulted else ""
        raise ResponseConfigError(
            f"{max_key} ({_show(max_value)}) must be greater than {min_key} ({_show(min_value)}){hint}"
        )
    return ResponseConfig(
        "number",
        required,
        min_value=None if min_value is None else _json_number(min_value),
        max_value=None if max_value is None else _json_number(max_value),
        decimal_places=decimal_places,
        prefix=_config_str(config.get("prefix"), "prefix", _MAX_AFFIX_LENGTH) or "",
        suffix=_config_str(config.get("suffix"), "suffix", _MAX_AFFIX_LENGTH) or "",
        allow_negative=allow_negative,
    )


def _parse_boolean(config: Mapping[object, object], required: bool) -> ResponseConfig:
    true_label = _boolean_label(config.get("true_label"), "true_label", "Yes")
    false_label = _boolean_label(config.get("false_label"), "false_label", "No")
    if true_label.strip().casefold() == false_label.strip().casefold():
        raise ResponseConfigError("true_label and false_label must be different")
    # Colors are display-only and not kept in the canonical form, but a bad one is still the caller's mistake.
    _config_color(config.get("true_color"), "true_color")
    _config_color(config.get("false_color"), "false_color")
    return ResponseConfig("boolean", required, true_label=true_label, false_label=false_label)


def _boolean_label(raw: object, key: str, default: str) -> str:
    if isinstance(raw, str) and not raw.strip():
        return default
    return _config_str(raw, key, _MAX_BOOLEAN_LABEL_LENGTH) or default


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


def validate_response(config: ResponseConfig, value: object) -> object:
    """Check an answer given raw or structured and return it structured; raises ResponseDataError."""
    return _structured(config, value, _ANSWER)


def validate_default_response(config: ResponseConfig, value: object) -> object:
    """Check a default_response given raw or structured and return it structured; raises ResponseDataError."""
    return _structured(config, value, _DEFAULT)


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
        return _json_number(_check_rating(config, structured, _STORED))
    if kind == "number":
        return _json_number(_check_number(config, structured, _STORED))
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
        result: dict[str, object] = {"rating": _json_number(rating)}
        label = config.labels.get(_show(rating))
        if label is not None:
            result["rating_label"] = label
        return result
    if kind == "number":
        number = _check_number(config, value, mode)
        places = Decimal(1).scaleb(-config.decimal_places)
        formatted = format(number.quantize(places), "f")
        return {
            "number": _json_number(number),
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
        if len(text) > _MAX_TEXT_LENGTH:
            raise ResponseDataError(
                f"{mode.name('text')} must be at most {_plural(_MAX_TEXT_LENGTH, 'character')}"
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
    return ", ".join(_quote(option.value) for option in config.options)


def _find_option(config: ResponseConfig, raw: object, *, by_label: bool) -> Option | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # Numeric option values were stringified the same way when the config was parsed.
        try:
            raw = _show(_parse_decimal(raw, allow_strings=False))
        except _BadNumber:
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
                f"{mode.key('selected_label')} does not match the option label ({_quote(option.label)})"
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
            shown = _quote(item) if isinstance(item, str) else "an item"
            raise ResponseDataError(
                f"{mode.name('selected_values')} contains {shown} that is not a valid option "
                f"(valid values: {_valid_values(config)})"
            )
        if option in chosen:
            raise ResponseDataError(
                f"{mode.name('selected_values')} must not contain duplicates ({_quote(option.value)})"
            )
        chosen.append(option)
    if given_labels is not None and given_labels != [option.label for option in chosen]:
        raise ResponseDataError(
            f"{mode.key('selected_labels')} must list the labels of selected_values, in the same order"
        )
    if (not chosen and mode.allow_empty) or not mode.reviewer_rules:
        return [option for option in config.options if option in chosen]
    fewest = max(config.min_selections, 1 if config.required else 0)
    most = len(config.options) if config.max_selections is None else config.max_selections
    if len(chosen) < fewest:
        raise ResponseDataError(mode.say(f"must select at least {_plural(fewest, 'option')}"))
    if len(chosen) > most:
        raise ResponseDataError(mode.say(f"must select at most {_plural(most, 'option')}"))
    # Selections are a set: option order makes the stored answer independent of click order.
    return [option for option in config.options if option in chosen]


def _unwrap(value: object, key: str, type_noun: str, mode: _Mode) -> tuple[object, object]:
    """(the raw value, the label the caller sent or None) for a structured or raw answer."""
    if isinstance(value, Mapping):
        if value.get(key) is None:
            raise ResponseDataError(f'{mode.name(type_noun)} must include "{key}"')
        return value[key], value.get(f"{key}_label")
    return value, None


def _read_number(raw: object, type_noun: str, mode: _Mode) -> Decimal:
    try:
        return _parse_decimal(raw, allow_strings=True)
    except _BadNumber as error:
        raise ResponseDataError(f"{mode.name(type_noun)} {error}") from None


def _check_rating(config: ResponseConfig, value: object, mode: _Mode) -> Decimal:
    raw, given_label = _unwrap(value, "rating", "rating", mode)
    rating = _read_number(raw, "rating", mode)
    noun = mode.name("rating")
    snapped = _on_scale_checked(config, rating, noun) if mode.reviewer_rules else rating
    if _digits(snapped)[0] > _MAX_SIGNIFICANT_DIGITS:
        raise ResponseDataError(f"{noun} must have at most {_MAX_SIGNIFICANT_DIGITS} significant digits")
    label = config.labels.get(_show(snapped))
    if given_label is not None and given_label != label:
        expected = f"it is {_quote(label)}" if label is not None else "this rating has no label"
        raise ResponseDataError(
            f"{mode.key('rating_label')} does not match the label for this rating ({expected})"
        )
    return snapped


def _on_scale_checked(config: ResponseConfig, rating: Decimal, noun: str) -> Decimal:
    scale = _scale(config)
    scale_min, scale_max, step = scale
    slack = step * _STEP_TOLERANCE
    if not scale_min - slack <= rating <= scale_max + slack:
        raise ResponseDataError(f"{noun} must be between {_show(scale_min)} and {_show(scale_max)}")
    snapped = _on_scale(rating, scale)
    if snapped is None:
        raise ResponseDataError(
            f"{noun} must fall on a valid step (steps of {_show(step)} from {_show(scale_min)})"
        )
    return snapped


def _check_number(config: ResponseConfig, value: object, mode: _Mode) -> Decimal:
    # formatted_value is display text (Handoff sends String(number)), so it is recomputed, not checked.
    raw, _ = _unwrap(value, "number", "number response", mode)
    number = _read_number(raw, "number response", mode)
    if number == 0:
        number = Decimal(0)
    noun = mode.name("number")
    significant, places = _digits(number)
    too_precise = f"{noun} must have at most {_MAX_SIGNIFICANT_DIGITS} significant digits"
    if not mode.reviewer_rules:
        if significant > _MAX_SIGNIFICANT_DIGITS:
            raise ResponseDataError(too_precise)
        return number
    if number < 0 and not config.allow_negative:
        raise ResponseDataError(f"{noun} must not be negative")
    if config.min_value is not None and number < _as_decimal(config.min_value):
        raise ResponseDataError(f"{noun} must be at least {_show(_as_decimal(config.min_value))}")
    if config.max_value is not None and number > _as_decimal(config.max_value):
        raise ResponseDataError(f"{noun} must be at most {_show(_as_decimal(config.max_value))}")
    if places > config.decimal_places:
        whole = " (a whole number)" if config.decimal_places == 0 else ""
        raise ResponseDataError(f"{noun} must have at most {config.decimal_places} decimal places{whole}")
    if significant > _MAX_SIGNIFICANT_DIGITS:
        raise ResponseDataError(too_precise)
    return number


def _check_boolean(config: ResponseConfig, value: object, mode: _Mode) -> bool:
    raw, given_label = _unwrap(value, "boolean", "boolean response", mode)
    answer = _read_boolean(config, raw)
    if answer is None:
        raise ResponseDataError(
            f"{mode.name('boolean response')} must be true or false "
            f'(also accepted: "yes"/"no", "1"/"0", {_quote(config.true_label)}/{_quote(config.false_label)})'
        )
    label = config.true_label if answer else config.false_label
    if given_label is not None and given_label != label:
        raise ResponseDataError(
            f"{mode.key('boolean_label')} must be {_quote(label)} for {str(answer).lower()}"
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


# The keys parse_config reads, for the OpenAPI document (the README's table says the same).
RESPONSE_CONFIG_DESCRIPTION = (
    "Settings of the response type; either HITL.sh dialect is accepted and echoed back exactly as sent. "
    "Every type: `required` (bool, default false; a text answer may then not be empty, and a multi_select "
    "answer picks at least one option). "
    "**text**: `min_length` (int >= 0, default 0), `max_length` (int 1-5000, default 5000); `placeholder` "
    "is kept for clients that show it. "
    "**single_select**: `options` (needed, 1-20 items, unique values): strings, or objects with `value` "
    "(<= 100 characters), `label` (<= 200, default the value), `description` (<= 500) and `color` (hex such "
    'as "#16a34a"). '
    "**multi_select**: the same `options`, plus `min_selections` (0 to the number of options, default 0) and "
    "`max_selections` (from min_selections and at least 1, to the number of options, default all). "
    "**rating**: `scale_min` (alias `min` or `min_value`, default 1), `scale_max` (alias `max` or "
    "`max_value`, default 5, greater than the minimum), `scale_step` (> 0, default 1, e.g. 0.5), `labels` "
    '(rating to label, e.g. `{"1": "Poor", "5": "Excellent"}`, keys on the scale, labels <= 200). '
    "**number**: `min_value` (alias `min`; default 0, or no minimum when `allow_negative` is true), "
    "`max_value` (alias `max`; default none, greater than the minimum), `decimal_places` (0-10, default 2), "
    "`prefix` and `suffix` (<= 50 characters, shown around the number, e.g. `$`), `allow_negative` (default "
    "false, or true when the minimum is negative). "
    "**boolean**: `true_label` and `false_label` (<= 100 characters, default Yes and No, different from each "
    "other), `true_color` and `false_color` (hex). "
    "Numbers in a config have at most 15 significant digits and 10 decimal places; other keys (n8n's "
    "`prompt`, `placeholder` on numbers, `unit`, `guidelines`) are kept and ignored."
)
