"""Request parsing without a server: the /score envelope, entity rows, and feedback labels."""

from __future__ import annotations

import math
from typing import Any

import pytest

from features.schema import FieldType, InputField, ServiceSchema
from scoring.errors import BatchTooLarge, InvalidRequest
from scoring.serving.request import (
    MAX_LABEL_CHARS,
    FeedbackItem,
    RequestProblems,
    entity_rows,
    parse_feedback,
    parse_score_request,
)

SCHEMA = ServiceSchema(
    feature_service="fraud_v1",
    join_keys=(
        InputField("customer_id", FieldType.INTEGER),
        InputField("merchant_id", FieldType.INTEGER),
    ),
    request_fields=(
        InputField("amount", FieldType.NUMBER),
        InputField("channel", FieldType.STRING),
        InputField("card_present", FieldType.BOOLEAN),
    ),
    features=(),
)


def entity(i: int, **changes: Any) -> dict[str, Any]:
    row = {
        "customer_id": i,
        "merchant_id": 100 + i,
        "amount": i + 0.5 if i % 2 else i,  # ints are numbers too
        "channel": "web" if i % 2 else "pos",
        "card_present": i % 3 == 0,
    }
    return {**row, **changes}


def expected(i: int) -> dict[str, Any]:
    return {**entity(i), "amount": float(entity(i)["amount"])}


# parse_score_request


def test_a_score_request_up_to_the_limit_is_accepted() -> None:
    rows = [entity(i) for i in range(5)]
    parsed = parse_score_request({"model": "fraud", "entities": rows}, max_rows=5)
    assert (parsed.model, parsed.entities, parsed.include_features) == ("fraud", rows, False)
    with_features = parse_score_request({"entities": rows, "include_features": True}, 5)
    assert (with_features.model, with_features.include_features) == (None, True)


def test_a_score_request_one_row_over_the_limit_is_too_large() -> None:
    with pytest.raises(BatchTooLarge, match="6 rows is over the limit of 5"):
        parse_score_request({"entities": [entity(i) for i in range(6)]}, max_rows=5)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([entity(0)], "JSON object"),
        ({"entities": [entity(0)], "rows": []}, "unknown field(s) ['rows']"),
        ({"entities": [entity(0)], "model": 1}, "'model' must be a string"),
        ({"entities": [entity(0)], "include_features": 1}, "'include_features'"),
        ({}, "'entities' must be a list"),
        ({"entities": []}, "'entities' is empty"),
        ({"entities": [entity(0), "row"]}, "entities[1] must be an object"),
    ],
)
def test_a_malformed_score_request_is_invalid(body: Any, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_score_request(body, max_rows=5)
    assert fragment in str(caught.value)


# entity_rows: up to 8 rows value by value, larger requests column by column


@pytest.mark.parametrize("n", [1, 8, 9, 50])
def test_entity_rows_keep_inputs_only_with_numbers_as_floats(n: int) -> None:
    entities = [entity(i, note="ignored", score=1.0) for i in range(n)]
    rows = entity_rows(SCHEMA, entities)
    assert rows == [expected(i) for i in range(n)]
    assert all(type(row["amount"]) is float for row in rows)
    assert all(type(row["customer_id"]) is int for row in rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer_id": None}, "missing join key 'customer_id'"),
        ({"customer_id": "7"}, "join key 'customer_id' must be an integer"),
        ({"customer_id": True}, "join key 'customer_id' must be an integer"),
        ({"customer_id": 7.0}, "join key 'customer_id' must be an integer"),
        ({"customer_id": 2**63}, "join key 'customer_id' is out of the 64-bit integer range"),
        (
            {"merchant_id": -(2**63) - 1},
            "join key 'merchant_id' is out of the 64-bit integer range",
        ),
        ({"amount": None}, "missing request field 'amount'"),
        ({"amount": "1.5"}, "request field 'amount' must be a number"),
        ({"amount": False}, "request field 'amount' must be a number"),
        ({"amount": math.nan}, "request field 'amount' must be a finite number"),
        ({"amount": -math.inf}, "request field 'amount' must be a finite number"),
        ({"amount": 10**400}, "request field 'amount' is out of the 64-bit float range"),
        ({"channel": 3}, "request field 'channel' must be a string"),
        ({"card_present": 1}, "request field 'card_present' must be true or false"),
    ],
)
@pytest.mark.parametrize("n", [8, 40], ids=["row-by-row", "by-column"])
def test_a_bad_value_is_reported_with_its_row_and_field(
    change: dict[str, Any], message: str, n: int
) -> None:
    bad = n - 3
    entities = [entity(i) for i in range(n)]
    entities[bad] = entity(bad, **change)
    with pytest.raises(RequestProblems) as caught:
        entity_rows(SCHEMA, entities)
    (field,) = change
    assert caught.value.problems == [
        {"row": bad, "field": field, "message": f"entities[{bad}]: {message}"}
    ]
    assert str(caught.value) == f"entities[{bad}]: {message}"


def test_every_bad_value_is_collected_up_to_a_bounded_list() -> None:
    entities = [entity(i, amount="x", channel=None) for i in range(100)]
    with pytest.raises(RequestProblems) as caught:
        entity_rows(SCHEMA, entities)
    problems = caught.value.problems
    assert [(p["row"], p["field"]) for p in problems[:3]] == [
        (0, "amount"),
        (0, "channel"),
        (1, "amount"),
    ]
    assert problems[1]["message"] == "entities[0]: missing request field 'channel'"
    assert len(problems) == 20, "enough to fix the client, not a huge error body"
    assert str(caught.value).endswith("(and 19 more)")


# parse_feedback


def test_feedback_one_label_or_a_list() -> None:
    one = parse_feedback({"request_id": "r1", "label": 1}, max_rows=3)
    assert one == [FeedbackItem("r1", 1, None)]
    labels: list[Any] = ["fraud", 0, 0.25, True, "x" * MAX_LABEL_CHARS]
    body = [{"request_id": f"r{i}", "label": label} for i, label in enumerate(labels)]
    parsed = parse_feedback(body, max_rows=5)
    assert parsed == [FeedbackItem(f"r{i}", x) for i, x in enumerate(labels)]
    longest = "r" * 128
    assert parse_feedback({"request_id": longest, "label": 0}, 1) == [FeedbackItem(longest, 0)]
    named = parse_feedback({"request_id": "r1", "label": 0, "model": "fraud"}, 1)
    assert named == [FeedbackItem("r1", 0, "fraud")]


def test_feedback_one_label_over_the_limit_is_too_large() -> None:
    body = [{"request_id": f"r{i}", "label": 0} for i in range(4)]
    assert len(parse_feedback(body[:3], max_rows=3)) == 3
    with pytest.raises(BatchTooLarge, match="4 labels is over the limit of 3"):
        parse_feedback(body, max_rows=3)


OK = {"request_id": "r0", "label": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the feedback list is empty"),
        ([OK, 5], "feedback[1] must be an object with exactly request_id and label"),
        ([OK, None], "feedback[1] must be an object with exactly request_id and label"),
        ([OK, {**OK, "score": 1}], "feedback[1] must be an object with exactly request_id"),
        ([OK, {"request_id": "r1"}], "feedback[1] must be an object with exactly request_id"),
        ([OK, {"label": 1}], "feedback[1] must be an object with exactly request_id and label"),
        ([OK, {**OK, "request_id": ""}], "feedback[1]: request_id must be a string of 1 to 128"),
        ([OK, {**OK, "request_id": "r" * 129}], "feedback[1]: request_id must be a string of 1"),
        ([OK, {**OK, "request_id": 7}], "feedback[1]: request_id must be a string of 1 to 128"),
        ([OK, {**OK, "label": math.nan}], "feedback[1]: label must be finite"),
        ([OK, {**OK, "label": math.inf}], "feedback[1]: label must be finite"),
        ([OK, {**OK, "label": [1]}], "feedback[1]: label must be a string, number or boolean"),
        ([OK, {**OK, "label": {"y": 1}}], "feedback[1]: label must be a string, number or"),
        ([OK, {**OK, "label": None}], "feedback[1]: label must be a string, number or boolean"),
        ({**OK, "request_id": ""}, "feedback: request_id must be a string of 1 to 128"),
        ("r0", "feedback must be an object with exactly request_id and label"),
        ([OK, {**OK, "label": "x" * 65}], "feedback[1]: label must be a class of the model, a"),
        ({**OK, "label": "x" * 20_000_000}, "feedback: label must be a class of the model, a"),
        ([OK, {**OK, "model": 3}], "feedback[1]: model must be a string"),
    ],
)
def test_bad_feedback_is_invalid_and_names_the_item(body: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_feedback(body, max_rows=10)
    assert str(caught.value).startswith(message)
