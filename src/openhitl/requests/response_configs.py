"""Response configs: the six response types' settings, parsed from either HITL.sh dialect into one canonical
form. Answers to a config are checked by requests/answers.py."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from openhitl.requests.numbers import (
    MAX_SIGNIFICANT_DIGITS,
    BadNumber,
    digits,
    json_number,
    on_scale,
    parse_decimal,
    show,
)

RESPONSE_TYPES: tuple[str, ...] = ("text", "single_select", "multi_select", "rating", "number", "boolean")

_MAX_OPTIONS = 20
_MAX_OPTION_VALUE_LENGTH = 100
_MAX_OPTION_LABEL_LENGTH = 200
_MAX_DESCRIPTION_LENGTH = 500
_MAX_RATING_LABEL_LENGTH = 200
_MAX_BOOLEAN_LABEL_LENGTH = 100
_MAX_AFFIX_LENGTH = 50
MAX_TEXT_LENGTH = 5000
_MAX_DECIMAL_PLACES = 10
HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


class ResponseConfigError(ValueError):
    """A response_config that cannot be used; str(error) is for the caller."""


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
    max_length: int = MAX_TEXT_LENGTH
    true_label: str = "Yes"
    false_label: str = "No"


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
        number = parse_decimal(raw, allow_strings=False)
    except BadNumber as error:
        raise ResponseConfigError(f"{key} {error}") from None
    significant, places = digits(number)
    if places > _MAX_DECIMAL_PLACES:
        raise ResponseConfigError(f"{key} must have at most {_MAX_DECIMAL_PLACES} decimal places")
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise ResponseConfigError(f"{key} must have at most {MAX_SIGNIFICANT_DIGITS} significant digits")
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
    if not isinstance(raw, str) or not HEX_COLOR.fullmatch(raw):
        raise ResponseConfigError(f'{where} must be a hex color such as "#16a34a"')
    return raw


def quote(text: str) -> str:
    return f'"{text}"' if len(text) <= 60 else f'"{text[:57]}..."'


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
    max_length = _config_int(config, "max_length", MAX_TEXT_LENGTH)
    if not 1 <= max_length <= MAX_TEXT_LENGTH:
        raise ResponseConfigError(f"max_length must be between 1 and {MAX_TEXT_LENGTH}")
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
            return show(parse_decimal(raw, allow_strings=False))
        except BadNumber as error:
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
            f"{max_key} ({show(scale_max)}) must be greater than {min_key} ({show(scale_min)})"
        )
    if scale_step <= 0:
        raise ResponseConfigError("scale_step must be greater than 0")
    if scale_step > scale_max - scale_min:
        raise ResponseConfigError(f"scale_step must not be greater than {max_key} - {min_key}")
    return ResponseConfig(
        "rating",
        required,
        scale_min=json_number(scale_min),
        scale_max=json_number(scale_max),
        scale_step=json_number(scale_step),
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
                rating = on_scale(parse_decimal(key, allow_strings=True), scale)
            except BadNumber:
                rating = None
        if rating is None:
            scale_min, scale_max, step = scale
            shown_key = quote(key) if isinstance(key, str) else "key"
            raise ResponseConfigError(
                f"labels {shown_key} is not a rating on this scale "
                f"({show(scale_min)} to {show(scale_max)} in steps of {show(step)})"
            )
        canonical = show(rating)
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
            f"{max_key} ({show(max_value)}) must be greater than {min_key} ({show(min_value)}){hint}"
        )
    return ResponseConfig(
        "number",
        required,
        min_value=None if min_value is None else json_number(min_value),
        max_value=None if max_value is None else json_number(max_value),
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
