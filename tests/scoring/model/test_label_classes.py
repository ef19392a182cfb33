"""Realized labels read as the model's classes: every natural spelling, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.model.label_classes import class_of, class_text

INTS = (0, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1), (0, 0), (1.0, 1), (0.0, 0), (True, 1), (False, 0),
        ("1", 1), ("0", 0), ("1.0", 1), ("0.0", 0), ("true", 1), ("False", 0), ("TRUE", 1),
        (" 1 ", 1),
    ],
)  # fmt: skip
def test_spellings_of_zero_one_classes(value: Any, expected: int) -> None:
    found = class_of(value, INTS)
    assert found == expected
    assert type(found) is int  # the class itself, as training stored it, not the spelling


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", "2", "nan", "inf", None, [1], {}])
def test_what_names_no_class_of_zero_one(value: Any) -> None:
    assert class_of(value, INTS) is None


def test_named_classes_by_name_or_by_position() -> None:
    classes = ("legit", "fraud")  # (negative, positive)
    assert class_of("fraud", classes) == "fraud"
    assert class_of("Legit", classes) == "legit"
    assert class_of(True, classes) == "fraud"
    assert class_of(1, classes) == "fraud"
    assert class_of("0", classes) == "legit"
    assert class_of("false", classes) == "legit"
    assert class_of("chargeback", classes) is None
    assert class_of(2, classes) is None


def test_numeric_classes_other_than_zero_one_are_named_by_value() -> None:
    classes = (1, 2)
    assert class_of(1, classes) == 1
    assert class_of("2.0", classes) == 2
    assert class_of(0, classes) is None  # not a position: 1 would be ambiguous
    assert class_of(True, classes) == 2  # true is the positive class
    assert class_of(False, classes) == 1


def test_boolean_and_float_classes() -> None:
    assert class_of(1, (False, True)) is True
    assert class_of("True", (False, True)) is True
    assert class_of("0", (False, True)) is False
    assert class_of(1, (0.0, 1.0)) == 1.0


def test_the_stored_text_is_what_the_prediction_log_writes() -> None:
    assert [class_text(c) for c in (0, 1, True, "fraud", 1.0)] == ["0", "1", "True", "fraud", "1.0"]
