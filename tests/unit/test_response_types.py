"""Response types: config parsing in both dialects, answer and default validation, and their round trips."""

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from openhitl.requests.answers import (
    ResponseDataError,
    plain_value,
    validate_default_response,
    validate_response,
)
from openhitl.requests.response_configs import (
    RESPONSE_TYPES,
    Option,
    ResponseConfig,
    ResponseConfigError,
    parse_config,
)

SEED_OPTIONS = {"options": ["Approve", "Reject", "Needs Changes", "Escalate"]}

# The exact configs the n8n node sends (reference §10.2).
N8N_OPTIONS = [
    {"value": "approve", "label": "Approve"},
    {"value": "reject", "label": "Reject"},
    {"value": "needs_changes", "label": "Needs Changes"},
]
N8N_SINGLE = {"prompt": "", "options": N8N_OPTIONS, "required": True}
N8N_MULTI = {"prompt": "", "options": N8N_OPTIONS, "required": True, "min_selections": 1, "max_selections": 3}
N8N_RATING = {"prompt": "", "min": 1, "max": 5, "required": True}
N8N_NUMBER = {
    "required": True,
    "prompt": "",
    "min_value": 0,
    "max_value": 1000000,
    "decimal_places": 0,
    "allow_negative": False,
}
N8N_TEXT = {
    "prompt": "",
    "placeholder": "Enter your response...",
    "min_length": 0,
    "max_length": 1000,
    "required": True,
}
N8N_BOOLEAN = {"prompt": "", "required": True}


def refused(config: ResponseConfig, value: object) -> str:
    with pytest.raises(ResponseDataError) as caught:
        validate_response(config, value)
    return str(caught.value)


def config_refused(response_type: str, config: object) -> str:
    with pytest.raises(ResponseConfigError) as caught:
        parse_config(response_type, config)
    return str(caught.value)


# parse_config: shared rules


def test_config_must_be_an_object() -> None:
    assert config_refused("text", None) == "response_config must be an object"
    assert config_refused("text", ["a"]) == "response_config must be an object"


def test_unknown_response_type_lists_the_valid_ones() -> None:
    assert config_refused("slider", {}) == (
        "response_type must be one of: text, single_select, multi_select, rating, number, boolean"
    )


def test_required_defaults_to_false_and_must_be_a_boolean() -> None:
    assert parse_config("text", {}).required is False
    assert parse_config("text", {"required": True}).required is True
    assert config_refused("text", {"required": "yes"}) == "required must be true or false"


def test_unknown_keys_are_tolerated() -> None:
    assert parse_config("boolean", {"prompt": "", "guidelines": "be nice", "x": [1]}).true_label == "Yes"


# Selects


def test_seed_string_options_normalise_to_value_and_label() -> None:
    config = parse_config("single_select", SEED_OPTIONS)
    assert config.options[2] == Option(value="Needs Changes", label="Needs Changes")
    assert validate_default_response(config, "Approve") == {
        "selected_value": "Approve",
        "selected_label": "Approve",
    }


def test_n8n_single_select_config_accepts_values_and_labels() -> None:
    config = parse_config("single_select", N8N_SINGLE)
    assert config.required is True
    expected = {"selected_value": "needs_changes", "selected_label": "Needs Changes"}
    assert validate_response(config, "needs_changes") == expected
    assert validate_response(config, "Needs Changes") == expected
    assert validate_response(config, {"selected_value": "needs_changes"}) == expected
    assert validate_response(config, expected) == expected
    assert plain_value(config, expected) == "needs_changes"


def test_option_objects_keep_description_and_color_and_default_label_to_value() -> None:
    config = parse_config(
        "single_select",
        {
            "options": [
                {"value": "a", "description": "first", "color": "#16a34a"},
                {"value": 2, "label": "Two"},
            ]
        },
    )
    assert config.options == (
        Option(value="a", label="a", description="first", color="#16a34a"),
        Option(value="2", label="Two"),
    )
    assert validate_response(config, 2) == {"selected_value": "2", "selected_label": "Two"}
    assert validate_response(config, 2.0) == {"selected_value": "2", "selected_label": "Two"}


def test_bare_number_options_are_stringified() -> None:
    config = parse_config("multi_select", {"options": [1, 2.5, "3"]})
    assert [option.value for option in config.options] == ["1", "2.5", "3"]
    assert validate_response(config, [2.5, "1"]) == {
        "selected_values": ["1", "2.5"],
        "selected_labels": ["1", "2.5"],
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (None, "options array required for select response type"),
        ("a,b", "options must be an array of strings or {value, label} objects"),
        ([], "options must contain between 1 and 20 items"),
        ([str(n) for n in range(21)], "options must contain between 1 and 20 items"),
        (["a", "a"], "duplicate option value: a"),
        (["a", {"value": "a", "label": "A"}], "duplicate option value: a"),
        (["  "], "options[0] must not be empty"),
        ([{"label": "A"}], "options[0].value is required"),
        ([{"value": "x" * 101}], "options[0].value must be at most 100 characters"),
        ([{"value": "a", "label": "x" * 201}], "options[0].label must be at most 200 characters"),
        ([{"value": True}], "options[0].value must be a string"),
        ([{"value": "a", "color": "green"}], 'options[0].color must be a hex color such as "#16a34a"'),
        ([None], "options[0] must be a string or an object with value and label"),
    ],
)
def test_bad_options_are_refused(options: object, message: str) -> None:
    assert config_refused("single_select", {"options": options}) == message
    assert config_refused("multi_select", {"options": options}) == message


def test_a_single_option_is_enough() -> None:
    assert len(parse_config("single_select", {"options": ["only"]}).options) == 1


def test_unknown_option_is_refused_with_the_valid_values() -> None:
    config = parse_config("single_select", N8N_SINGLE)
    assert refused(config, "maybe") == (
        'selected_value is not a valid option (valid values: "approve", "reject", "needs_changes")'
    )
    assert refused(config, {"selected_value": "Approve"}).startswith("selected_value is not a valid option")
    assert refused(config, ["approve"]).startswith("single_select response must be one option value")
    assert refused(config, {"selected_label": "Approve"}) == (
        'single_select response must include "selected_value"'
    )


def test_structured_label_must_match_the_option() -> None:
    config = parse_config("single_select", N8N_SINGLE)
    message = refused(config, {"selected_value": "approve", "selected_label": "Reject"})
    assert message == 'selected_label does not match the option label ("Approve")'


def test_ambiguous_label_is_not_guessed() -> None:
    config = parse_config(
        "single_select", {"options": [{"value": "a", "label": "Same"}, {"value": "b", "label": "Same"}]}
    )
    assert refused(config, "Same").startswith("selected_value is not a valid option")


def test_n8n_multi_select_config() -> None:
    config = parse_config("multi_select", N8N_MULTI)
    assert (config.min_selections, config.max_selections) == (1, 3)
    # Answers come back in option order whatever order they were clicked in.
    assert validate_response(config, ["reject", "Approve"]) == {
        "selected_values": ["approve", "reject"],
        "selected_labels": ["Approve", "Reject"],
    }
    assert refused(config, []) == "must select at least 1 option"
    assert (
        refused(config, ["approve", "approve"]) == 'selected_values must not contain duplicates ("approve")'
    )
    assert (
        refused(config, ["approve", "Approve"]) == 'selected_values must not contain duplicates ("approve")'
    )
    assert refused(config, "approve").startswith("multi_select response must be a list of option values")


def test_multi_select_defaults_and_limits() -> None:
    config = parse_config("multi_select", {"options": ["a", "b", "c"]})
    assert (config.min_selections, config.max_selections) == (0, 3)
    assert validate_response(config, []) == {"selected_values": [], "selected_labels": []}
    limited = parse_config(
        "multi_select", {"options": ["a", "b", "c"], "min_selections": 2, "max_selections": 2}
    )
    assert refused(limited, ["a"]) == "must select at least 2 options"
    assert refused(limited, ["a", "b", "c"]) == "must select at most 2 options"
    assert refused(limited, {"selected_values": ["a", "x"]}).startswith(
        'selected_values contains "x" that is not a valid option'
    )


def test_required_multi_select_needs_one_selection_even_with_min_zero() -> None:
    config = parse_config("multi_select", {"options": ["a", "b"], "required": True})
    assert refused(config, {"selected_values": []}) == "must select at least 1 option"


def test_structured_multi_select_labels_must_match() -> None:
    config = parse_config("multi_select", N8N_MULTI)
    answer = {"selected_values": ["approve", "reject"], "selected_labels": ["Reject", "Approve"]}
    assert (
        refused(config, answer)
        == "selected_labels must list the labels of selected_values, in the same order"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"min_selections": 4}, "min_selections must be between 0 and 3 (the number of options)"),
        ({"min_selections": -1}, "min_selections must be between 0 and 3 (the number of options)"),
        ({"min_selections": 2, "max_selections": 1}, "max_selections must not be less than min_selections"),
        ({"max_selections": 4}, "max_selections must be between 1 and 3 (the number of options)"),
        ({"max_selections": 0}, "max_selections must be between 1 and 3 (the number of options)"),
        ({"max_selections": 1.5}, "max_selections must be an integer"),
        ({"max_selections": True}, "max_selections must be an integer"),
    ],
)
def test_bad_selection_limits_are_refused(extra: dict[str, object], message: str) -> None:
    assert config_refused("multi_select", {"options": ["a", "b", "c"], **extra}) == message


# Rating


def test_n8n_rating_config_uses_min_max_aliases() -> None:
    config = parse_config("rating", N8N_RATING)
    assert (config.scale_min, config.scale_max, config.scale_step) == (1, 5, 1)
    assert validate_response(config, 4) == {"rating": 4}
    assert validate_response(config, "4") == {"rating": 4}
    assert validate_response(config, 4.0) == {"rating": 4}


def test_mcp_rating_config_with_only_scale_max() -> None:
    config = parse_config("rating", {"scale_max": 5})
    assert (config.scale_min, config.scale_max) == (1, 5)


def test_rich_rating_config_with_half_steps_and_labels() -> None:
    config = parse_config(
        "rating",
        {
            "scale_min": 1,
            "scale_max": 5,
            "scale_step": 0.5,
            "labels": {"1": "Poor", "4.5": "Good", 5: "Great"},
        },
    )
    assert config.labels == {"1": "Poor", "4.5": "Good", "5": "Great"}
    assert validate_response(config, 4.5) == {"rating": 4.5, "rating_label": "Good"}
    assert validate_response(config, {"rating": 2}) == {"rating": 2}
    assert validate_response(config, {"rating": 5, "rating_label": "Great"}) == {
        "rating": 5,
        "rating_label": "Great",
    }
    assert refused(config, {"rating": 5, "rating_label": "Good"}) == (
        'rating_label does not match the label for this rating (it is "Great")'
    )
    assert refused(config, 4.25) == "rating must fall on a valid step (steps of 0.5 from 1)"
    assert refused(config, 5.5) == "rating must be between 1 and 5"
    assert refused(config, 0) == "rating must be between 1 and 5"


def test_scale_keys_win_over_aliases() -> None:
    config = parse_config("rating", {"scale_min": 0, "min": 3, "max_value": 10})
    assert (config.scale_min, config.scale_max) == (0, 10)


def test_rating_float_noise_snaps_to_the_step() -> None:
    config = parse_config("rating", {"scale_min": 0, "scale_max": 1, "scale_step": 0.1})
    assert validate_response(config, 0.1 * 3) == {"rating": 0.3}


def test_rating_refuses_booleans_and_non_finite_numbers() -> None:
    config = parse_config("rating", {})
    assert refused(config, True) == "rating must be a number, not true/false"
    assert refused(config, math.nan) == "rating must be a finite number"
    assert refused(config, "inf") == "rating must be a number"
    assert refused(config, None) == "rating must be a number"
    assert refused(config, {"rating_label": "x"}) == 'rating must include "rating"'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"scale_min": 5, "scale_max": 5}, "scale_max (5) must be greater than scale_min (5)"),
        ({"min": 3, "max": 1}, "max (1) must be greater than min (3)"),
        ({"scale_max": 0.5}, "scale_max (0.5) must be greater than scale_min (1)"),
        ({"scale_step": 0}, "scale_step must be greater than 0"),
        ({"scale_step": 5}, "scale_step must not be greater than scale_max - scale_min"),
        ({"scale_max": "5"}, "scale_max must be a number"),
        ({"scale_max": math.inf}, "scale_max must be a finite number"),
        ({"labels": ["Poor"]}, 'labels must be an object mapping ratings to labels, e.g. {"1": "Poor"}'),
        ({"labels": {"6": "Too high"}}, 'labels "6" is not a rating on this scale (1 to 5 in steps of 1)'),
        ({"labels": {"good": "Good"}}, 'labels "good" is not a rating on this scale (1 to 5 in steps of 1)'),
        ({"labels": {"1": 1}}, "labels[1] must be a non-empty string"),
        ({"labels": {"1": "a", "1.0": "b"}}, "labels has more than one entry for rating 1"),
    ],
)
def test_bad_rating_configs_are_refused(config: dict[str, object], message: str) -> None:
    assert config_refused("rating", config) == message


def test_rating_scale_may_be_negative() -> None:
    config = parse_config("rating", {"scale_min": -2, "scale_max": 2})
    assert validate_response(config, -2) == {"rating": -2}


# Number


def test_n8n_number_config() -> None:
    config = parse_config("number", N8N_NUMBER)
    assert (config.min_value, config.max_value, config.decimal_places) == (0, 1000000, 0)
    assert validate_response(config, 42) == {"number": 42, "formatted_value": "42"}
    assert validate_response(config, "42") == {"number": 42, "formatted_value": "42"}
    assert refused(config, 4.5) == "number must have at most 0 decimal places (a whole number)"
    assert refused(config, 1000001) == "number must be at most 1000000"
    assert refused(config, -1) == "number must not be negative"


def test_documented_number_config_formats_with_prefix_and_suffix() -> None:
    config = parse_config("number", {"min_value": 0, "max_value": 1000, "prefix": "$", "suffix": " USD"})
    assert config.decimal_places == 2
    assert validate_response(config, 299.99) == {"number": 299.99, "formatted_value": "$299.99 USD"}
    assert validate_response(config, {"number": 5, "formatted_value": "5"}) == {
        "number": 5,
        "formatted_value": "$5.00 USD",
    }
    assert refused(config, 1.234) == "number must have at most 2 decimal places"
    assert plain_value(config, {"number": 299.99, "formatted_value": "$299.99 USD"}) == 299.99


def test_number_min_max_aliases() -> None:
    config = parse_config("number", {"min": 10, "max": 20})
    assert (config.min_value, config.max_value) == (10, 20)
    assert refused(config, 9) == "number must be at least 10"


def test_explicit_negative_minimum_allows_negative_numbers() -> None:
    config = parse_config("number", {"min_value": -10, "max_value": 10})
    assert config.allow_negative is True
    assert validate_response(config, -10) == {"number": -10, "formatted_value": "-10.00"}
    assert refused(config, -11) == "number must be at least -10"


def test_allow_negative_without_minimum_is_unbounded_below() -> None:
    config = parse_config("number", {"allow_negative": True})
    assert config.min_value is None
    assert validate_response(config, "-123.5") == {"number": -123.5, "formatted_value": "-123.50"}


def test_number_refuses_huge_non_finite_and_boolean_values() -> None:
    config = parse_config("number", {"allow_negative": True})
    assert (
        refused(config, 10**400) == "number response must be between -1000000000000000 and 1000000000000000"
    )
    assert refused(config, "1e5000").startswith("number response must be between")
    assert refused(config, math.inf) == "number response must be a finite number"
    assert refused(config, False) == "number response must be a number, not true/false"
    assert refused(config, "1_000") == "number response must be a number"
    assert refused(config, "123456789012345.6") == "number must have at most 15 significant digits"


def test_negative_zero_is_zero() -> None:
    config = parse_config("number", {})
    assert validate_response(config, -0.0) == {"number": 0, "formatted_value": "0.00"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"min_value": 5, "max_value": 5}, "max_value (5) must be greater than min_value (5)"),
        ({"min": 5, "max": 1}, "max (1) must be greater than min (5)"),
        (
            {"max_value": -5},
            "max_value (-5) must be greater than min_value (0)"
            " (min_value defaults to 0 unless allow_negative is true)",
        ),
        (
            {"min_value": -1, "allow_negative": False},
            "min_value cannot be negative when allow_negative is false",
        ),
        ({"decimal_places": 11}, "decimal_places must be between 0 and 10"),
        ({"decimal_places": -1}, "decimal_places must be between 0 and 10"),
        ({"prefix": 5}, "prefix must be a string"),
        ({"allow_negative": "no"}, "allow_negative must be true or false"),
        ({"min_value": True}, "min_value must be a number, not true/false"),
    ],
)
def test_bad_number_configs_are_refused(config: dict[str, object], message: str) -> None:
    assert config_refused("number", config) == message


# Text


def test_n8n_text_config() -> None:
    config = parse_config("text", N8N_TEXT)
    assert (config.min_length, config.max_length, config.required) == (0, 1000, True)
    assert validate_response(config, "  Looks fine.  ") == "Looks fine."
    assert refused(config, "   ") == "text response is required"
    assert refused(config, "x" * 1001) == "text must be at most 1000 characters"
    assert refused(config, {"text": "hi"}) == "text response must be a string"


def test_text_defaults_and_length_bounds() -> None:
    config = parse_config("text", {"min_length": 3})
    assert config.max_length == 5000
    assert refused(config, "ab") == "text must be at least 3 characters"
    # Optional and left blank is "no answer", not a too-short answer.
    assert validate_response(config, "") == ""


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"max_length": 0}, "max_length must be between 1 and 5000"),
        ({"max_length": 5001}, "max_length must be between 1 and 5000"),
        ({"min_length": -1}, "min_length must be at least 0"),
        ({"min_length": 10, "max_length": 5}, "min_length must not be greater than max_length (5)"),
        ({"min_length": "3"}, "min_length must be an integer"),
    ],
)
def test_bad_text_configs_are_refused(config: dict[str, object], message: str) -> None:
    assert config_refused("text", config) == message


# Boolean


def test_n8n_boolean_config_accepts_words_and_labels() -> None:
    config = parse_config("boolean", N8N_BOOLEAN)
    yes = {"boolean": True, "boolean_label": "Yes"}
    no = {"boolean": False, "boolean_label": "No"}
    for raw in (True, "true", "YES", " 1 ", 1, {"boolean": True}, yes):
        assert validate_response(config, raw) == yes
    for raw in (False, "False", "no", "0", 0, {"boolean": False, "boolean_label": "No"}):
        assert validate_response(config, raw) == no
    assert plain_value(config, yes) is True


def test_boolean_custom_labels() -> None:
    config = parse_config(
        "boolean",
        {
            "true_label": "✅ Approve Post",
            "false_label": "Reject",
            "true_color": "#16a34a",
            "false_color": "#dc2626",
        },
    )
    assert validate_response(config, "✅ approve post") == {
        "boolean": True,
        "boolean_label": "✅ Approve Post",
    }
    assert refused(config, {"boolean": True, "boolean_label": "Yes"}) == (
        'boolean_label must be "✅ Approve Post" for true'
    )
    assert refused(config, "maybe") == (
        "boolean response must be true or false"
        ' (also accepted: "yes"/"no", "1"/"0", "✅ Approve Post"/"Reject")'
    )
    assert refused(config, 2).startswith("boolean response must be true or false")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"true_label": "Same", "false_label": "same"}, "true_label and false_label must be different"),
        ({"true_label": "x" * 101}, "true_label must be at most 100 characters"),
        ({"false_label": 0}, "false_label must be a string"),
        ({"true_color": "red"}, 'true_color must be a hex color such as "#16a34a"'),
    ],
)
def test_bad_boolean_configs_are_refused(config: dict[str, object], message: str) -> None:
    assert config_refused("boolean", config) == message


# default_response


def test_defaults_may_be_empty_where_answers_may_not() -> None:
    multi = parse_config("multi_select", N8N_MULTI)
    assert validate_default_response(multi, []) == {"selected_values": [], "selected_labels": []}
    text = parse_config("text", {"required": True, "min_length": 5})
    assert validate_default_response(text, "") == ""


def default_refused(config: ResponseConfig, value: object) -> str:
    with pytest.raises(ResponseDataError) as caught:
        validate_default_response(config, value)
    return str(caught.value)


def test_default_messages_name_default_response() -> None:
    single = parse_config("single_select", SEED_OPTIONS)
    assert default_refused(single, "Maybe").startswith("default_response is not a valid option")
    multi = parse_config("multi_select", {"options": ["a", "b", "c"], "max_selections": 1})
    assert default_refused(multi, ["a", "d"]).startswith('default_response contains "d" that is not a valid')
    rating = parse_config("rating", {})
    assert default_refused(rating, "lots") == "default_response must be a number"
    number = parse_config("number", {"max_value": 10})
    assert default_refused(number, True) == "default_response must be a number, not true/false"
    text = parse_config("text", {"min_length": 5})
    assert default_refused(text, 5) == "default_response must be a string"
    boolean = parse_config("boolean", {})
    assert default_refused(boolean, {"boolean": True, "boolean_label": "No"}) == (
        'default_response.boolean_label must be "Yes" for true'
    )


# The official HITL.sh MCP server's example: a summary of at least 20 characters, and a shorter fallback.
def test_a_text_default_shorter_than_min_length_is_the_callers_fallback() -> None:
    config = parse_config("text", {"placeholder": "Enter summary...", "min_length": 20, "max_length": 500})
    assert validate_default_response(config, "No summary provided") == "No summary provided"
    assert refused(config, "No summary provided") == "text must be at least 20 characters"


def test_a_text_default_longer_than_max_length_is_kept_up_to_the_server_limit() -> None:
    config = parse_config("text", {"max_length": 5})
    assert validate_default_response(config, "too long") == "too long"
    assert refused(config, "too long") == "text must be at most 5 characters"
    assert default_refused(config, "x" * 5001) == "default_response must be at most 5000 characters"


def test_a_multi_select_default_ignores_the_selection_counts() -> None:
    config = parse_config(
        "multi_select", {"options": ["a", "b", "c"], "min_selections": 2, "max_selections": 2}
    )
    assert validate_default_response(config, ["c"]) == {"selected_values": ["c"], "selected_labels": ["c"]}
    assert validate_default_response(config, ["c", "a", "b"]) == {
        "selected_values": ["a", "b", "c"],
        "selected_labels": ["a", "b", "c"],
    }
    assert refused(config, ["c"]) == "must select at least 2 options"
    assert default_refused(config, ["a", "a"]) == 'default_response must not contain duplicates ("a")'
    assert default_refused(config, "a").startswith("default_response must be a list of option values")


def test_a_single_select_default_is_an_option() -> None:
    config = parse_config("single_select", {"options": N8N_OPTIONS})
    assert validate_default_response(config, "reject") == {
        "selected_value": "reject",
        "selected_label": "Reject",
    }
    assert default_refused(config, ["reject"]).startswith("default_response must be one option value")


def test_a_rating_default_off_the_scale_or_its_steps_is_accepted() -> None:
    config = parse_config(
        "rating", {"scale_min": 1, "scale_max": 5, "scale_step": 1, "labels": {"1": "Poor"}}
    )
    assert validate_default_response(config, 0) == {"rating": 0}
    assert validate_default_response(config, 9) == {"rating": 9}
    assert validate_default_response(config, 2.5) == {"rating": 2.5}
    assert validate_default_response(config, 1) == {"rating": 1, "rating_label": "Poor"}
    assert refused(config, 9) == "rating must be between 1 and 5"
    assert default_refused(config, "nine") == "default_response must be a number"


def test_a_number_default_outside_its_range_sign_or_places_is_accepted() -> None:
    config = parse_config(
        "number", {"min_value": 0, "max_value": 10, "decimal_places": 0, "allow_negative": False}
    )
    assert validate_default_response(config, 11) == {"number": 11, "formatted_value": "11"}
    assert validate_default_response(config, -1) == {"number": -1, "formatted_value": "-1"}
    assert validate_default_response(config, 1.5) == {"number": 1.5, "formatted_value": "2"}
    assert refused(config, 11) == "number must be at most 10"
    assert default_refused(config, "lots") == "default_response must be a number"
    assert default_refused(config, 1234567890.1234567) == (
        "default_response must have at most 15 significant digits"
    )


def test_a_boolean_default_is_true_or_false() -> None:
    config = parse_config("boolean", {"true_label": "Ship", "false_label": "Hold"})
    assert validate_default_response(config, "Hold") == {"boolean": False, "boolean_label": "Hold"}
    assert default_refused(config, "perhaps").startswith("default_response must be true or false")


def test_plain_value_of_each_type() -> None:
    multi = parse_config("multi_select", N8N_MULTI)
    assert plain_value(multi, {"selected_values": ["reject"], "selected_labels": ["Reject"]}) == ["reject"]
    rating = parse_config("rating", {"scale_step": 0.5})
    assert plain_value(rating, {"rating": 3.5}) == 3.5
    assert plain_value(parse_config("text", {}), "hello") == "hello"
    with pytest.raises(ResponseDataError):
        plain_value(rating, {"rating": 9})


# Property tests

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
CONFIG_KEYS = [
    "options",
    "min_selections",
    "max_selections",
    "scale_min",
    "scale_max",
    "scale_step",
    "min",
    "max",
    "min_value",
    "max_value",
    "labels",
    "decimal_places",
    "prefix",
    "suffix",
    "allow_negative",
    "min_length",
    "max_length",
    "true_label",
    "false_label",
    "true_color",
    "false_color",
    "required",
    "prompt",
    "placeholder",
]
option_like = (
    st.text(max_size=6)
    | st.integers()
    | st.dictionaries(st.sampled_from(["value", "label", "description", "color"]), json_scalars, max_size=4)
)
config_like = st.dictionaries(
    st.sampled_from(CONFIG_KEYS),
    json_values | st.lists(option_like, max_size=5) | st.dictionaries(st.text(max_size=4), json_scalars),
    max_size=6,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(response_type=st.sampled_from(RESPONSE_TYPES) | st.text(max_size=6), config=config_like | json_values)
def test_parse_config_only_raises_config_errors(response_type: str, config: object) -> None:
    try:
        parsed = parse_config(response_type, config)
    except ResponseConfigError as error:
        assert str(error)
    else:
        assert parsed.response_type == response_type


# No whitespace or control characters, so str.strip() leaves these alone.
visible_characters = st.characters(blacklist_categories=("Cs", "Cc", "Z"))
label_text = st.text(alphabet=visible_characters, min_size=1, max_size=12)
option_values = st.lists(label_text | st.integers(0, 999).map(str), min_size=1, max_size=20, unique=True)


@st.composite
def select_configs(draw: st.DrawFn, response_type: str) -> dict[str, Any]:
    values = draw(option_values)
    options: list[object] = []
    for value in values:
        shape = draw(st.sampled_from(["string", "object", "object_with_label"]))
        if shape == "string":
            options.append(value)
            continue
        numeric = value.isascii() and value.isdigit() and str(int(value)) == value
        sent_value: object = int(value) if numeric and draw(st.booleans()) else value
        option: dict[str, object] = {"value": sent_value}
        if shape == "object_with_label":
            option["label"] = draw(label_text)
            if draw(st.booleans()):
                option["description"] = draw(st.text(max_size=20))
                option["color"] = draw(st.sampled_from(["#fff", "#16a34a", "#dc2626ff"]))
        options.append(option)
    config: dict[str, Any] = {"options": options, "prompt": "", "required": draw(st.booleans())}
    if response_type == "multi_select":
        count = len(values)
        low = draw(st.integers(0, count))
        if draw(st.booleans()):
            config["min_selections"] = low
        else:
            low = 0
        if draw(st.booleans()):
            config["max_selections"] = draw(st.integers(max(1, low), count))
    return config


def as_json_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


@st.composite
def rating_configs(draw: st.DrawFn) -> dict[str, Any]:
    step = draw(st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.25"), Decimal("0.1"), Decimal(2)]))
    low = Decimal(draw(st.integers(-10, 10))) * step
    high = low + step * draw(st.integers(1, 20))
    min_key, max_key = draw(
        st.sampled_from([("scale_min", "scale_max"), ("min", "max"), ("min_value", "max_value")])
    )
    config: dict[str, Any] = {min_key: as_json_number(low), max_key: as_json_number(high), "prompt": ""}
    if step != 1 or draw(st.booleans()):
        config["scale_step"] = as_json_number(step)
    points = int((high - low) / step)
    labelled = draw(st.lists(st.integers(0, points), unique=True, max_size=4))
    if labelled:
        config["labels"] = {str(as_json_number(low + step * k)): f"label {k}" for k in labelled}
    return config


@st.composite
def number_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {"prompt": ""}
    allow_negative = draw(st.none() | st.booleans())
    low = draw(st.none() | st.integers(-1000, 1000))
    if low is not None and low < 0 and allow_negative is False:
        low = -low
    if allow_negative is not None:
        config["allow_negative"] = allow_negative
    min_key, max_key = draw(st.sampled_from([("min_value", "max_value"), ("min", "max")]))
    if low is not None:
        config[min_key] = low
    if draw(st.booleans()):
        floor = low if low is not None else (-1000 if allow_negative else 0)
        config[max_key] = floor + draw(st.integers(1, 10**6))
    if draw(st.booleans()):
        config["decimal_places"] = draw(st.integers(0, 10))
    if draw(st.booleans()):
        config["prefix"] = draw(st.sampled_from(["$", "€ ", ""]))
        config["suffix"] = draw(st.sampled_from([" USD", "%", ""]))
    return config


@st.composite
def text_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {
        "prompt": "",
        "placeholder": "Enter your response...",
        "required": draw(st.booleans()),
    }
    max_length = draw(st.none() | st.integers(1, 5000))
    if max_length is not None:
        config["max_length"] = max_length
    if draw(st.booleans()):
        config["min_length"] = draw(st.integers(0, min(max_length or 5000, 40)))
    return config


@st.composite
def boolean_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {"prompt": "", "required": draw(st.booleans())}
    if draw(st.booleans()):
        labels = draw(st.lists(label_text, min_size=2, max_size=2, unique_by=lambda s: s.strip().casefold()))
        assume(all(label.strip() for label in labels))
        config["true_label"], config["false_label"] = labels
    return config


raw_configs = st.one_of(
    select_configs("single_select").map(lambda c: ("single_select", c)),
    select_configs("multi_select").map(lambda c: ("multi_select", c)),
    rating_configs().map(lambda c: ("rating", c)),
    number_configs().map(lambda c: ("number", c)),
    text_configs().map(lambda c: ("text", c)),
    boolean_configs().map(lambda c: ("boolean", c)),
)
valid_configs = raw_configs.map(lambda pair: parse_config(*pair))


@FAST
@given(raw_configs)
def test_generated_configs_in_both_dialects_parse(pair: tuple[str, dict[str, Any]]) -> None:
    config = parse_config(*pair)
    assert config.response_type == pair[0]


answer_like = json_values | st.dictionaries(
    st.sampled_from(
        [
            "selected_value",
            "selected_label",
            "selected_values",
            "selected_labels",
            "rating",
            "rating_label",
            "number",
            "formatted_value",
            "boolean",
            "boolean_label",
        ]
    ),
    json_values,
    max_size=3,
)


@FAST
@given(config=valid_configs, value=answer_like)
def test_validation_only_raises_data_errors(config: ResponseConfig, value: object) -> None:
    for check in (validate_response, validate_default_response, plain_value):
        try:
            check(config, value)
        except ResponseDataError as error:
            assert str(error)


def _text_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    fewest = max(config.min_length, 1 if config.required else 0)
    size = draw(st.integers(fewest, min(config.max_length, fewest + 30)))
    core = draw(st.text(alphabet=visible_characters, min_size=size, max_size=size))
    return draw(st.sampled_from(["", " ", "\n"])) + core + draw(st.sampled_from(["", "  "]))


def _select_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    option = draw(st.sampled_from(config.options))
    values = [other.value for other in config.options]
    labels = [other.label for other in config.options]
    # A label only stands for its option when no value and no other label reads the same.
    by_label = (
        option.label if labels.count(option.label) == 1 and option.label not in values else option.value
    )
    return draw(
        st.sampled_from(
            [
                option.value,
                by_label,
                {"selected_value": option.value},
                {"selected_value": option.value, "selected_label": option.label},
            ]
        )
    )


def _multi_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    count = len(config.options)
    fewest = max(config.min_selections, 1 if config.required else 0)
    most = config.max_selections if config.max_selections is not None else count
    chosen = draw(st.lists(st.sampled_from(config.options), unique=True, min_size=fewest, max_size=most))
    values = [option.value for option in chosen]
    return draw(
        st.sampled_from(
            [
                values,
                {"selected_values": values},
                {"selected_values": values, "selected_labels": [option.label for option in chosen]},
            ]
        )
    )


def scale_of(config: ResponseConfig) -> tuple[Decimal, Decimal, Decimal]:
    low, high, step = (
        Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
        for x in (config.scale_min, config.scale_max, config.scale_step)
    )
    return low, high, step


def _rating_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    low, high, step = scale_of(config)
    point = low + step * draw(st.integers(0, int((high - low) / step)))
    number = as_json_number(point)
    return draw(st.sampled_from([number, float(point), str(point), {"rating": number}]))


def _number_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    # Bounds here reach 7 integer digits; 8 places keeps answers within 15 significant digits.
    places = draw(st.integers(0, min(config.decimal_places, 8)))
    scale = 10**places
    low = config.min_value if config.min_value is not None else -(10**6)
    high = config.max_value if config.max_value is not None else 10**6
    units = draw(st.integers(math.ceil(low * scale), math.floor(high * scale)))
    point = Decimal(units).scaleb(-places)
    number = as_json_number(point)
    return draw(
        st.sampled_from([number, str(point), {"number": number}, {"number": number, "formatted_value": "?"}])
    )


def _boolean_answer(draw: st.DrawFn, config: ResponseConfig) -> object:
    return draw(
        st.sampled_from(
            [
                True,
                False,
                "yes",
                "No",
                "TRUE",
                "0",
                1,
                config.true_label,
                config.false_label,
                {"boolean": False},
            ]
        )
    )


ANSWERS = {
    "text": _text_answer,
    "single_select": _select_answer,
    "multi_select": _multi_answer,
    "rating": _rating_answer,
    "number": _number_answer,
    "boolean": _boolean_answer,
}


@st.composite
def configs_with_answers(draw: st.DrawFn) -> tuple[ResponseConfig, object]:
    config = draw(valid_configs)
    return config, ANSWERS[config.response_type](draw, config)


def assert_structured(config: ResponseConfig, answer: object) -> None:
    if config.response_type == "text":
        assert isinstance(answer, str)
        return
    assert isinstance(answer, dict)
    expected_keys = {
        "single_select": {"selected_value", "selected_label"},
        "multi_select": {"selected_values", "selected_labels"},
        "rating": {"rating", "rating_label"},
        "number": {"number", "formatted_value"},
        "boolean": {"boolean", "boolean_label"},
    }[config.response_type]
    assert set(answer) <= expected_keys
    assert len(set(answer)) >= (1 if config.response_type == "rating" else 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs_with_answers())
def test_valid_answers_round_trip(case: tuple[ResponseConfig, object]) -> None:
    config, raw = case
    structured = validate_response(config, raw)
    assert_structured(config, structured)
    assert validate_response(config, structured) == structured
    assert validate_response(config, plain_value(config, structured)) == structured
    assert validate_response(config, json.loads(json.dumps(structured))) == structured
    assert validate_default_response(config, structured) == structured


@st.composite
def configs_with_wrong_answers(draw: st.DrawFn) -> tuple[ResponseConfig, object]:
    config = draw(valid_configs)
    kind = config.response_type
    if kind == "single_select":
        known = {option.value for option in config.options} | {option.label for option in config.options}
        return config, draw(st.text(max_size=8).filter(lambda text: text not in known))
    if kind == "multi_select":
        known = {option.value for option in config.options} | {option.label for option in config.options}
        unknown = draw(st.text(max_size=8).filter(lambda text: text not in known))
        return config, [config.options[0].value, unknown]
    if kind == "rating":
        low, high, step = scale_of(config)
        return config, float(draw(st.sampled_from([low - step, high + step, low + step / 2])))
    if kind == "number":
        too_precise = Decimal(1).scaleb(-config.decimal_places - 1) + Decimal(config.min_value or 0)
        wrong = [float(too_precise)]
        if config.max_value is not None:
            wrong.append(config.max_value + 1)
        if config.min_value is not None:
            wrong.append(config.min_value - 1)
        return config, draw(st.sampled_from(wrong))
    if kind == "text":
        return config, "x" * (config.max_length + 1)
    labels = {config.true_label.casefold(), config.false_label.casefold()}
    return config, draw(
        st.sampled_from(["maybe", 2, None, [True]]).filter(
            lambda value: not isinstance(value, str) or value.casefold() not in labels
        )
    )


@FAST
@given(configs_with_wrong_answers())
def test_wrong_answers_are_refused(case: tuple[ResponseConfig, object]) -> None:
    config, wrong = case
    with pytest.raises(ResponseDataError):
        validate_response(config, wrong)
