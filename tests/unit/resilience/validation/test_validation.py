"""``validate_input``: schema checks with stable codes and paths, every error at once, and
the security controls (operator keys, control characters, NFC, size and depth bounds)."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlast.errors import ConfigurationError, ErrorContext, FieldError, ValidationError
from outlast.resilience.validation._schema import CompiledSchema, compile_schema
from outlast.resilience.validation._validation import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    validate_input,
)

SEED_SCHEMA: dict[str, dict[str, Any]] = {
    "name": {
        "required": True,
        "type": str,
        "min_length": 3,
        "max_length": 50,
        "pattern": r"^[a-zA-Z0-9_\s-]+$",
    },
    "email": {"required": True, "type": str, "validator": lambda x: "@" in x and "." in x},
}


def failures(data: object, schema: Any, **options: Any) -> list[tuple[str, str]]:
    """The (field, code) pairs of the ValidationError that validating ``data`` raises."""
    with pytest.raises(ValidationError) as caught:
        validate_input(data, schema, **options)
    return [(e.field, e.code) for e in caught.value.errors]


def only_error(data: object, schema: Any, **options: Any) -> FieldError:
    """The single FieldError that validating ``data`` raises."""
    with pytest.raises(ValidationError) as caught:
        validate_input(data, schema, **options)
    assert len(caught.value.errors) == 1
    return caught.value.errors[0]


# --- the seed ------------------------------------------------------------------------------


def test_seed_example_runs_as_written() -> None:
    """The seed's section 5 example validates and returns the sanitized fields."""
    input_data = {"name": "The Smiths", "email": "smiths@example.com"}
    schema = {
        "name": {
            "required": True,
            "type": str,
            "min_length": 3,
            "max_length": 50,
            "pattern": r"^[a-zA-Z0-9_\s-]+$",
        },
        "email": {"required": True, "type": str, "validator": lambda x: "@" in x and "." in x},
    }

    context = ErrorContext(operation="validate_user_input")
    validated_data = validate_input(input_data, schema, context)

    assert validated_data == input_data


def test_seed_schema_reports_every_failing_field_at_once() -> None:
    """Bad input fails on every field in one ValidationError, not at the first."""
    assert failures({"name": "x!", "email": "nope", "extra": 1}, SEED_SCHEMA) == [
        ("name", "min_length"),
        ("email", "validator"),
    ]
    assert failures({}, SEED_SCHEMA) == [("name", "required"), ("email", "required")]


def test_error_message_names_each_field_and_carries_the_context() -> None:
    """The error message lists fields; the ErrorContext is attached as ``.context``."""
    context = ErrorContext(operation="signup")
    with pytest.raises(ValidationError) as caught:
        validate_input({"name": "ab"}, SEED_SCHEMA, context)
    assert str(caught.value) == ("name: must be at least 3 characters long; email: is required")
    assert caught.value.user_message == str(caught.value)
    assert caught.value.context is context


def test_failure_is_logged_with_operation_fields_and_codes_but_no_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed validation logs the operation and field codes on outlast.validation."""
    caplog.set_level(logging.INFO, logger="outlast.validation")
    with pytest.raises(ValidationError):
        validate_input(
            {"name": "secret-value!", "email": "x"}, SEED_SCHEMA, ErrorContext(operation="op1")
        )
    (record,) = caplog.records
    assert record.getMessage() == (
        "input validation failed for op1: name (pattern), email (validator)"
    )
    assert "secret-value" not in record.getMessage()


# --- each schema key -----------------------------------------------------------------------


def test_required_fails_on_missing_and_none_and_passes_when_present() -> None:
    """``required``: a missing or None value is code 'required'; a present one passes."""
    schema = {"a": {"required": True}}
    assert only_error({}, schema) == FieldError("a", "required", "is required")
    assert failures({"a": None}, schema) == [("a", "required")]
    assert validate_input({"a": 0}, schema) == {"a": 0}


def test_optional_missing_field_is_left_out_and_explicit_none_kept() -> None:
    """An optional field absent from the input is absent from the output; None stays None."""
    schema = {"a": {"type": int}}
    assert validate_input({}, schema) == {}
    assert validate_input({"a": None}, schema) == {"a": None}


def test_type_accepts_instances_and_rejects_others() -> None:
    """``type``: isinstance decides; the message names the type."""
    schema = {"a": {"type": str}}
    assert validate_input({"a": "x"}, schema) == {"a": "x"}
    assert only_error({"a": 5}, schema) == FieldError("a", "type", "must be of type str")


def test_type_tuple_accepts_any_listed_type() -> None:
    """``type`` may be a tuple of types."""
    schema = {"a": {"type": (int, float)}}
    assert validate_input({"a": 1.5}, schema) == {"a": 1.5}
    assert validate_input({"a": 2}, schema) == {"a": 2}
    assert only_error({"a": "2"}, schema).message == "must be one of the types int, float"


def test_bool_does_not_pass_as_int_unless_listed() -> None:
    """``True`` is an int to Python but not to a schema that asks for int."""
    assert failures({"a": True}, {"a": {"type": int}}) == [("a", "type")]
    assert validate_input({"a": True}, {"a": {"type": (int, bool)}}) == {"a": True}
    assert validate_input({"a": False}, {"a": {"type": bool}}) == {"a": False}


def test_int_does_not_pass_as_float() -> None:
    """``type: float`` is plain isinstance: list int too to accept whole numbers."""
    assert failures({"a": 1}, {"a": {"type": float}}) == [("a", "type")]


def test_type_admitting_none_makes_none_a_value_not_an_absence() -> None:
    """With NoneType in ``type``, None passes a required field and skips other checks."""
    schema = {"a": {"required": True, "type": (str, type(None)), "min_length": 2}}
    assert validate_input({"a": None}, schema) == {"a": None}
    assert failures({"a": "x"}, schema) == [("a", "min_length")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ab", FieldError("a", "min_length", "must be at least 3 characters long")),
        ("abcdef", FieldError("a", "max_length", "must be at most 5 characters long")),
        ([1, 2], FieldError("a", "min_length", "must be at least 3 items long")),
        ({"k": 1}, FieldError("a", "min_length", "must be at least 3 items long")),
        (12345, FieldError("a", "type", "must be a string, list or mapping")),
    ],
)
def test_length_bounds_fail_outside(value: object, expected: FieldError) -> None:
    """``min_length``/``max_length`` bound len() of strings, lists and mappings."""
    assert only_error({"a": value}, {"a": {"min_length": 3, "max_length": 5}}) == expected


@pytest.mark.parametrize("value", ["abc", "abcde", [1, 2, 3]])
def test_length_bounds_are_inclusive(value: object) -> None:
    """A length equal to either bound passes."""
    assert validate_input({"a": value}, {"a": {"min_length": 3, "max_length": 5}}) == {"a": value}


def test_pattern_uses_full_match_semantics() -> None:
    """``pattern`` must match the whole string: a matching prefix is not enough."""
    schema = {"a": {"pattern": "[a-z]+"}}
    assert validate_input({"a": "abc"}, schema) == {"a": "abc"}
    assert only_error({"a": "abc1"}, schema) == FieldError(
        "a", "pattern", "does not match the required format"
    )


def test_pattern_accepts_a_compiled_regex_and_rejects_non_strings() -> None:
    """A precompiled pattern works; a non-string value under a pattern is a type error."""
    schema = {"a": {"pattern": re.compile(r"\d{3}")}}
    assert validate_input({"a": "123"}, schema) == {"a": "123"}
    assert only_error({"a": 123}, schema) == FieldError("a", "type", "must be a string")


def test_validator_false_fails_and_none_passes() -> None:
    """A validator fails the field by returning False; returning None means no objection."""
    assert only_error({"a": 1}, {"a": {"validator": lambda v: v > 1}}) == FieldError(
        "a", "validator", "is not valid"
    )
    assert validate_input({"a": 1}, {"a": {"validator": lambda v: None}}) == {"a": 1}


@pytest.mark.parametrize("kind", [ValueError, TypeError])
def test_validator_raising_value_or_type_error_supplies_the_message(
    kind: type[Exception],
) -> None:
    """A ValueError/TypeError raised by a validator becomes the field message."""

    def check(value: object) -> bool:
        raise kind("must be a prime number")

    assert only_error({"a": 4}, {"a": {"validator": check}}) == FieldError(
        "a", "validator", "must be a prime number"
    )


def test_validator_raising_anything_else_is_a_failure_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A validator that blows up fails the field with a generic message and is logged."""

    def broken(value: object) -> bool:
        raise RuntimeError("db://internal-host/secret")

    caplog.set_level(logging.WARNING, logger="outlast.validation")
    error = only_error({"a": 1}, {"a": {"validator": broken}})
    assert error == FieldError("a", "validator", "is not valid")
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1, FieldError("a", "min", "must be at least 0")),
        (11, FieldError("a", "max", "must be at most 10")),
        (float("nan"), FieldError("a", "type", "must be a number")),
        ("5", FieldError("a", "type", "must be a number")),
    ],
)
def test_min_max_fail_outside_the_range(value: object, expected: FieldError) -> None:
    """``min``/``max`` are inclusive bounds; NaN and non-numbers fail them."""
    assert only_error({"a": value}, {"a": {"min": 0, "max": 10}}) == expected


@pytest.mark.parametrize("value", [0, 10, 5.5])
def test_min_max_are_inclusive(value: float) -> None:
    """A value equal to either bound passes."""
    assert validate_input({"a": value}, {"a": {"min": 0, "max": 10}}) == {"a": value}


def test_choices_accepts_listed_values_only() -> None:
    """``choices`` lists the allowed values and names them in the message."""
    schema = {"a": {"choices": ["red", "green"]}}
    assert validate_input({"a": "red"}, schema) == {"a": "red"}
    assert only_error({"a": "blue"}, schema) == FieldError(
        "a", "choices", "must be one of: 'red', 'green'"
    )


def test_choices_copes_with_unhashable_values_and_options() -> None:
    """Unhashable values or options never crash a choices check."""
    assert failures({"a": ["x"]}, {"a": {"choices": ["x", "y"]}}) == [("a", "choices")]
    assert validate_input({"a": [1]}, {"a": {"choices": [[1], [2]]}}) == {"a": [1]}


def test_default_applies_to_missing_and_none_values() -> None:
    """``default`` fills a missing or None field, and a required one never fails then."""
    schema = {"a": {"required": True, "default": "x"}}
    assert validate_input({}, schema) == {"a": "x"}
    assert validate_input({"a": None}, schema) == {"a": "x"}
    assert validate_input({"a": "y"}, schema) == {"a": "y"}


def test_callable_default_is_called_each_time() -> None:
    """A callable default produces a fresh value per call."""
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    schema = {"a": {"default": make}}
    assert [validate_input({}, schema)["a"] for _ in range(3)] == [1, 2, 3]


def test_mutable_default_is_never_shared_between_results() -> None:
    """A list default is copied, so mutating one result does not change the next."""
    schema = {"tags": {"default": ["a"]}}
    first = validate_input({}, schema)
    first["tags"].append("b")
    assert validate_input({}, schema) == {"tags": ["a"]}


# --- nesting -------------------------------------------------------------------------------

ADDRESS_SCHEMA: dict[str, dict[str, Any]] = {
    "address": {
        "required": True,
        "schema": {
            "city": {"required": True, "type": str, "min_length": 2},
            "zip": {"type": str, "pattern": r"\d{5}"},
        },
    },
    "tags": {"items": {"type": str, "max_length": 3}},
    "people": {"items": {"schema": {"name": {"required": True, "type": str}}}},
}


def test_nested_schema_and_items_validate_and_return_clean_values() -> None:
    """Good nested input comes back with the same shape (unknown nested keys dropped)."""
    data = {
        "address": {"city": "Oslo", "zip": "01234", "note": "x"},
        "tags": ["a", "bc"],
        "people": [{"name": "Ann"}],
    }
    assert validate_input(data, ADDRESS_SCHEMA) == {
        "address": {"city": "Oslo", "zip": "01234"},
        "tags": ["a", "bc"],
        "people": [{"name": "Ann"}],
    }


def test_nested_errors_carry_dotted_and_indexed_paths() -> None:
    """Errors inside nested mappings and lists are named address.city, tags[2], people[1].name."""
    data = {
        "address": {"zip": "12"},
        "tags": ["a", "b", "long"],
        "people": [{"name": "Ann"}, {}],
    }
    assert failures(data, ADDRESS_SCHEMA) == [
        ("address.city", "required"),
        ("address.zip", "pattern"),
        ("tags[2]", "max_length"),
        ("people[1].name", "required"),
    ]


def test_schema_and_items_imply_the_container_type() -> None:
    """A nested schema needs a mapping and items need a list or tuple."""
    assert failures({"address": "Oslo", "tags": "abc"}, ADDRESS_SCHEMA) == [
        ("address", "type"),
        ("tags", "type"),
    ]


def test_items_keep_tuples_as_tuples() -> None:
    """A tuple value validated with ``items`` stays a tuple."""
    assert validate_input({"tags": ("a", "b")}, {"tags": {"items": {"type": str}}}) == {
        "tags": ("a", "b")
    }


def test_items_required_rejects_none_elements() -> None:
    """``required`` inside ``items`` rejects None elements at their index."""
    schema = {"ids": {"items": {"required": True, "type": int}}}
    assert failures({"ids": [1, None, 3]}, schema) == [("ids[1]", "required")]


def test_list_length_and_items_together() -> None:
    """A list field can bound its own length and every element at once."""
    schema = {"ids": {"min_length": 1, "items": {"type": int, "min": 0}}}
    assert failures({"ids": []}, schema) == [("ids", "min_length")]
    assert failures({"ids": [1, -1]}, schema) == [("ids[1]", "min")]


# --- strict mode and shapes ----------------------------------------------------------------


def test_unknown_fields_are_dropped_by_default_and_errors_when_strict() -> None:
    """Unknown fields vanish from the output, or become 'unknown_field' errors when strict."""
    schema: dict[str, Any] = {"a": {}, "inner": {"schema": {"b": {}}}}
    data = {"a": 1, "zzz": 2, "inner": {"b": 3, "yyy": 4}}
    assert validate_input(data, schema) == {"a": 1, "inner": {"b": 3}}
    assert failures(data, schema, strict=True) == [
        ("zzz", "unknown_field"),
        ("inner.yyy", "unknown_field"),
    ]


@pytest.mark.parametrize("data", [None, "name=x", ["a"], 42])
def test_data_that_is_not_a_mapping_is_a_type_error_on_the_empty_field(data: object) -> None:
    """Non-mapping input fails with field '' and code 'type'."""
    assert failures(data, SEED_SCHEMA) == [("", "type")]


def test_compiled_schema_is_accepted_in_place_of_the_dict() -> None:
    """compile_schema returns a reusable CompiledSchema that validate_input takes as is."""
    compiled = compile_schema(SEED_SCHEMA)
    assert isinstance(compiled, CompiledSchema)
    assert compile_schema(compiled) is compiled
    data = {"name": "abc", "email": "a@b.c"}
    assert validate_input(data, compiled) == validate_input(data, SEED_SCHEMA)


# --- security: operator keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"$where": "sleep(1000)"}, "$where"),
        ({"a.b": 1}, "a.b"),
        ({"filter": {"age": {"$gt": 0}}}, "filter.age.$gt"),
        ({"filter": [{"ok": 1}, {"$ne": None}]}, "filter[1].$ne"),
        ({"address": {"city": "Oslo", "$set": {"admin": True}}}, "address.$set"),
        ({"address": {"city": {"$regex": ".*"}}}, "address.city.$regex"),
        ({"tags": ["a", {"$in": ["b"]}]}, "tags[1].$in"),
    ],
)
def test_operator_and_dotted_keys_are_rejected_anywhere(data: dict[str, Any], path: str) -> None:
    """Keys starting with '$' or holding '.' fail as 'forbidden_key', at any depth."""
    schema = {"address": {"schema": {"city": {}}}, "tags": {"items": {}}, "filter": {}}
    assert (path, "forbidden_key") in failures(data, schema)


def test_operator_keys_are_reported_even_inside_a_value_of_the_wrong_type() -> None:
    """A type error does not hide an injection attempt nested in the same value."""
    assert failures({"a": {"$gt": ""}}, {"a": {"type": str}}) == [
        ("a", "type"),
        ("a.$gt", "forbidden_key"),
    ]


def test_operator_keys_pass_when_the_check_is_off() -> None:
    """forbid_operator_keys=False lets operator keys through (for trusted callers)."""
    data = {"filter": {"age": {"$gt": 0}}}
    assert validate_input(data, {"filter": {}}, forbid_operator_keys=False) == data


def test_keys_equal_after_normalization_are_rejected() -> None:
    """Two keys that NFC-normalize to one key cannot smuggle a value past the first."""
    data = {"meta": {"caf\u00e9": 1, "cafe\u0301": 2}}
    assert failures(data, {"meta": {}}) == [("meta.cafe\u0301", "forbidden_key")]


# --- security: control characters ----------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[31m", "x\x7f", "x\x85", "\x0b"])
def test_control_characters_are_rejected(bad: str) -> None:
    """NUL, ESC, DEL and C1 controls in a value fail as 'control_characters'."""
    assert only_error({"a": bad}, {"a": {"type": str}}) == FieldError(
        "a", "control_characters", "contains control characters"
    )


@pytest.mark.parametrize("bad", ["a\ud800", "\udfffb"])
def test_lone_surrogates_are_rejected(bad: str) -> None:
    """A lone surrogate (unencodable in UTF-8 and BSON) fails as 'invalid_unicode'."""
    assert only_error({"a": bad}, {"a": {"type": str}}) == FieldError(
        "a", "invalid_unicode", "contains unpaired surrogate characters"
    )


def test_tab_newline_and_carriage_return_are_allowed() -> None:
    """Tab, LF and CR are ordinary text."""
    assert validate_input({"a": "x\ty\r\nz"}, {"a": {}}) == {"a": "x\ty\r\nz"}


def test_control_characters_are_rejected_in_keys_and_nested_unknown_fields() -> None:
    """Controls are caught in keys and in fields the schema never names."""
    data = {"a": {"k\x00": 1}, "junk": ["ok", "bad\x00"]}
    assert failures(data, {"a": {}}) == [
        ("junk[1]", "control_characters"),
        ("a.k\\x00", "control_characters"),
    ]


def test_strings_inside_sets_are_checked_and_normalized() -> None:
    """Sets are walked like lists: their strings are checked and normalized too."""
    assert failures({"a": {"x\x00"}}, {"a": {}}) == [("a[0]", "control_characters")]
    assert validate_input({"a": frozenset({"e\u0301"})}, {"a": {}}) == {"a": frozenset({"\u00e9"})}


def test_control_characters_pass_when_the_check_is_off() -> None:
    """reject_control_characters=False lets control characters through."""
    assert validate_input({"a": "x\x00"}, {"a": {}}, reject_control_characters=False) == {
        "a": "x\x00"
    }


def test_control_character_error_hides_the_other_checks_of_that_field() -> None:
    """A field with control characters reports that alone, not also its pattern."""
    assert failures({"a": "ab\x00"}, {"a": {"pattern": "[a-z]+"}}) == [("a", "control_characters")]


# --- security: Unicode normalization -------------------------------------------------------


def test_strings_are_nfc_normalized_before_length_checks_and_in_the_output() -> None:
    """'e' + combining acute becomes one character 'é' and counts as one."""
    result = validate_input({"a": "e\u0301"}, {"a": {"max_length": 1}})
    assert result == {"a": "\u00e9"}
    assert len(result["a"]) == 1


def test_normalization_happens_before_pattern_checks() -> None:
    """A pattern written for composed characters matches decomposed input."""
    assert validate_input({"a": "Rene\u0301e"}, {"a": {"pattern": "Ren\u00e9e"}}) == {
        "a": "Ren\u00e9e"
    }


def test_normalization_can_be_turned_off() -> None:
    """normalize_unicode=False keeps the decomposed form (and its length)."""
    assert failures({"a": "e\u0301"}, {"a": {"max_length": 1}}, normalize_unicode=False) == [
        ("a", "max_length")
    ]


# --- security: size and depth --------------------------------------------------------------


def test_defaults_are_one_mebibyte_and_thirty_two_levels() -> None:
    """The default limits are the documented ones."""
    assert (DEFAULT_MAX_SIZE, DEFAULT_MAX_DEPTH) == (1024 * 1024, 32)


def test_oversized_input_fails_as_too_large_naming_the_limit() -> None:
    """Characters plus items beyond max_size fail with 'too_large' and the limit's value."""
    error = only_error({"a": "x" * 11}, {"a": {}}, max_size=11)
    assert error == FieldError("a", "too_large", "input exceeds the size limit (max_size=11)")


def test_size_counts_unknown_fields_too() -> None:
    """A huge field the schema ignores still counts against the size limit."""
    data = {"a": 1, "junk": ["x"] * 50}
    assert failures(data, {"a": {}}, max_size=40) == [("junk", "too_large")]


def test_default_size_limit_rejects_a_two_megabyte_string() -> None:
    """With default limits, a 2 MiB string is rejected without being normalized."""
    assert failures({"a": "\u00e9" * (2 * 1024 * 1024)}, {"a": {}}) == [("a", "too_large")]


def nested(depth: int) -> dict[str, Any]:
    """A chain of ``depth`` mappings, the top one included."""
    data: dict[str, Any] = {}
    for _ in range(depth - 1):
        data = {"n": data}
    return data


def test_depth_at_the_limit_passes_and_beyond_fails_naming_the_limit() -> None:
    """max_depth counts nested containers; one level more fails with 'too_deep'."""
    assert validate_input(nested(4), {"n": {}}, max_depth=4) == nested(4)
    error = only_error(nested(5), {"n": {}}, max_depth=4)
    assert error == FieldError("n.n.n.n", "too_deep", "is nested too deeply (max_depth=4)")


def test_depth_applies_through_lists_and_nested_schemas() -> None:
    """Lists and schema-validated mappings count as levels too."""
    schema: dict[str, Any] = {"a": {"schema": {"b": {"items": {}}}}}
    assert failures({"a": {"b": [[["x"]]]}}, schema, max_depth=4) == [("a.b[0][0]", "too_deep")]


def test_self_referencing_input_fails_as_too_deep() -> None:
    """A cyclic input cannot hang or crash the walk."""
    cyclic: dict[str, Any] = {}
    cyclic["n"] = cyclic
    assert failures(cyclic, {"n": {}}) == [("n" + ".n" * 31, "too_deep")]


def test_depth_limit_can_be_lifted() -> None:
    """max_depth=None accepts nesting far beyond the default limit."""
    assert validate_input(nested(100), {"n": {}}, max_depth=None) == nested(100)


def test_cycle_without_a_depth_limit_is_still_a_validation_error() -> None:
    """With max_depth=None a cycle ends as 'too_deep', never as RecursionError."""
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert failures({"n": cyclic}, {"n": {}}, max_depth=None) == [("", "too_deep")]


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_nonsensical_limits_are_configuration_errors(limit: object) -> None:
    """A zero, negative or non-int limit is a programming error, not bad input."""
    with pytest.raises(ConfigurationError, match="max_size"):
        validate_input({}, {}, max_size=limit)  # type: ignore[arg-type]


# --- schema errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"a": {"requird": True}}, "unknown key 'requird'"),
        ({"a": {"schema": {"b": {"max_lenght": 3}}}}, "'a.b': unknown key 'max_lenght'"),
        ({"a": {"items": {"patern": "x"}}}, "'a[]': unknown key 'patern'"),
        ({"a": {"type": "str"}}, "type must be a type"),
        ({"a": {"pattern": "("}}, "invalid pattern"),
        ({"a": {"validator": "not callable"}}, "validator must be callable"),
        ({"a": {"min_length": -1}}, "min_length must be a non-negative int"),
        ({"a": {"required": "yes"}}, "required must be True or False"),
        ({"a": {"choices": "abc"}}, "choices must be a collection"),
        ({"a": "str"}, "spec must be a mapping"),
        ({"$a": {}}, "'$a': name must not start with '$'"),
        ({"a.b": {}}, "must not start with '$' or hold '.'"),
        ({"a": {"schema": ["b"]}}, "schema at 'a' must be a mapping"),
        (["a"], "schema must be a mapping"),
    ],
)
def test_broken_schemas_raise_configuration_error_naming_the_problem(
    schema: Any, message: str
) -> None:
    """A typo or bad value in a schema fails loudly instead of disabling a check."""
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        validate_input({}, schema)


# --- properties ----------------------------------------------------------------------------

TRICKY_TEXT = st.sampled_from(["a\x00b", "e\u0301", "\x9f", "$gt", "a.b", "\u212b", "ok"])
TEXT = st.text(max_size=8) | TRICKY_TEXT
KEYS = TEXT | st.sampled_from(["anything", "text", "nested", "list", "inner"])
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=25,
)
PROPERTY_SCHEMA: dict[str, dict[str, Any]] = {
    "anything": {},
    "text": {"type": str, "max_length": 6},
    "nested": {"schema": {"inner": {}}},
    "list": {"items": {}},
}


def walk(value: Any, visit: Callable[[str], None]) -> None:
    """Call ``visit`` on every string in ``value``, mapping keys included."""
    if isinstance(value, str):
        visit(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            walk(key, visit)
            assert not (isinstance(key, str) and (key.startswith("$") or "." in key))
            walk(item, visit)
    elif isinstance(value, (list, tuple)):
        for item in value:
            walk(item, visit)


def assert_safe(text: str) -> None:
    """No control character other than tab/LF/CR, and NFC-normalized."""
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text), repr(
        text
    )
    assert unicodedata.is_normalized("NFC", text)


@given(data=st.dictionaries(KEYS, JSON, max_size=6) | JSON, strict=st.booleans())
def test_any_json_input_yields_a_clean_result_or_a_validation_error(
    data: Any, strict: bool
) -> None:
    """For arbitrary JSON-like input: only ValidationError, and a clean, safe output."""
    outcome: dict[str, Any] | ValidationError
    try:
        outcome = validate_input(data, PROPERTY_SCHEMA, strict=strict)
    except ValidationError as error:
        outcome = error
    if isinstance(outcome, ValidationError):
        assert outcome.errors
    else:
        assert set(outcome) <= set(PROPERTY_SCHEMA)
        walk(outcome, assert_safe)
