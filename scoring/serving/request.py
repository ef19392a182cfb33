"""Parsing and checking a scoring request against the model's inputs, without any web code."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from features.schema import FieldType, InputField, ServiceSchema
from scoring.errors import BatchTooLarge, InvalidRequest, quoted

_INT64 = (-(2**63), 2**63 - 1)
_MAX_FLOAT = sys.float_info.max
# Up to this many rows, checking value by value is cheaper than setting up column checks.
_ROW_BY_ROW = 8


class ScoreRequestBody(BaseModel):
    """The body of ``POST /score``, described once.

    The OpenAPI schema is generated from it, and :func:`parse_score_request` accepts exactly
    the bodies it accepts (a test holds them to that), checking them by hand because that is
    several times faster than validating through pydantic on the hot path.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "fraud",
                    "entities": [{"customer_id": 1001, "merchant_id": 17, "amount": 42.5}],
                }
            ]
        },
    )

    model: str | None = Field(
        default=None, description="The model to score with; the default model when left out."
    )
    entities: list[dict[str, Any]] = Field(
        min_length=1,
        description="The rows to score: each row's join keys and request fields, by name.",
    )
    include_features: bool = Field(
        default=False, description="Return the exact feature vector each row was scored with."
    )


_BODY_FIELDS = tuple(ScoreRequestBody.model_fields)


@dataclass(frozen=True)
class ScoreRequest:
    """A scoring request whose shape is right; its rows are checked against a model later."""

    model: str | None
    entities: list[dict[str, Any]]
    include_features: bool


class RequestProblems(InvalidRequest):
    """Several things wrong with a request body, each naming where."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


def parse_score_request(body: Any, max_rows: int) -> ScoreRequest:
    """Check the envelope of a ``POST /score`` body: an object with a non-empty entity list."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object with an 'entities' list")
    unknown = sorted(set(body) - set(_BODY_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"unknown field(s) {quoted(unknown)}; expected {', '.join(_BODY_FIELDS)}"
        )
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("'model' must be a string")
    include = body.get("include_features", False)
    if not isinstance(include, bool):
        raise InvalidRequest("'include_features' must be true or false")
    entities = body.get("entities")
    if not isinstance(entities, list):
        raise InvalidRequest("'entities' must be a list of objects, one per row to score")
    if not entities:
        raise InvalidRequest("'entities' is empty: send at least one row")
    if len(entities) > max_rows:
        raise BatchTooLarge(f"{len(entities)} rows is over the limit of {max_rows} per request")
    for i, row in enumerate(entities):
        if not isinstance(row, dict):
            raise InvalidRequest(f"entities[{i}] must be an object of join keys and request fields")
    return ScoreRequest(model=model, entities=entities, include_features=include)


def _type_problem(field: InputField, value: Any) -> str | None:
    if field.type is FieldType.STRING:
        return None if isinstance(value, str) else "must be a string"
    if field.type is FieldType.BOOLEAN:
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool):
        return f"must be {'an integer' if field.type is FieldType.INTEGER else 'a number'}"
    if field.type is FieldType.INTEGER:
        if not isinstance(value, int):
            return "must be an integer"
        return None if _INT64[0] <= value <= _INT64[1] else "is out of the 64-bit integer range"
    if not isinstance(value, int | float):
        return "must be a number"
    if isinstance(value, int):
        return None if -_MAX_FLOAT <= value <= _MAX_FLOAT else "is out of the 64-bit float range"
    return None if math.isfinite(value) else "must be a finite number"


_PLAIN_TYPES: dict[FieldType, type] = {FieldType.STRING: str, FieldType.BOOLEAN: bool}


def _checked_column(field: InputField, values: list[Any]) -> list[Any] | None:
    """``values`` as the row values of ``field`` if every one is right, else None.

    Whole-column checks by exact type (bool is not an int here): for a large request this
    is a fraction of checking value by value, which only a request with a problem pays for.
    """
    kinds = set(map(type, values))
    if field.type is FieldType.NUMBER:
        if not kinds or not kinds <= {int, float}:
            return None
        try:
            floats = list(map(float, values))
        except OverflowError:
            return None
        return floats if all(map(math.isfinite, floats)) else None
    if field.type is FieldType.INTEGER:
        if kinds != {int} or min(values) < _INT64[0] or max(values) > _INT64[1]:
            return None
        return values
    return values if kinds == {_PLAIN_TYPES[field.type]} else None


def entity_rows(
    schema: ServiceSchema,
    entities: list[dict[str, Any]],
    positions: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The rows Feast is asked for: join keys and request fields only, each of the right type.

    ``positions`` are the entities' indices in the request when they are a part of it (the
    rows a canary answers): a problem names the row by its index there.
    """
    if len(entities) <= _ROW_BY_ROW:
        return _checked_rows(schema, entities, positions)
    fields = [*schema.join_keys, *schema.request_fields]
    columns = []
    for field in fields:
        name = field.name
        column = _checked_column(field, [entity.get(name) for entity in entities])
        if column is None:
            return _checked_rows(schema, entities, positions)  # to say what is wrong, and where
        columns.append(column)
    names = [field.name for field in fields]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _checked_rows(
    schema: ServiceSchema, entities: list[dict[str, Any]], positions: Sequence[int] | None
) -> list[dict[str, Any]]:
    """:func:`entity_rows` value by value, collecting a problem for each bad one."""
    join_keys = {k.name for k in schema.join_keys}
    fields = [
        (f, "join key" if f.name in join_keys else "request field")
        for f in (*schema.join_keys, *schema.request_fields)
    ]
    low, high = _INT64
    problems: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for i, entity in enumerate(entities):
        row: dict[str, Any] = {}
        for field, what in fields:
            name = field.name
            value: Any = entity.get(name)
            kind = type(value)
            # The common case first, by exact type (bool is not an int here); the message is
            # only worked out for a value that fails.
            if field.type is FieldType.NUMBER:
                if (kind is int and -_MAX_FLOAT <= value <= _MAX_FLOAT) or (
                    kind is float and value - value == 0.0  # inf and NaN fail
                ):
                    row[name] = float(value)
                    continue
            elif field.type is FieldType.INTEGER:
                if kind is int and low <= value <= high:
                    row[name] = value
                    continue
            elif kind is _PLAIN_TYPES[field.type]:
                row[name] = value
                continue
            at = i if positions is None else positions[i]
            if value is None:
                message = f"entities[{at}]: missing {what} {name!r}"
            else:
                message = f"entities[{at}]: {what} {name!r} {_type_problem(field, value)}"
            problems.append({"row": at, "field": name, "message": message})
        rows.append(row)
        if len(problems) >= 20:  # enough to fix the client; don't build a huge error body
            break
    if problems:
        raise RequestProblems(problems)
    return rows


MAX_LABEL_CHARS = 64
"""A feedback label is a class: a short name, a number or a boolean, never a document."""

_FEEDBACK_FIELDS = ("request_id", "label", "model")


@dataclass(frozen=True)
class FeedbackItem:
    """One realized label, as sent: checked for shape, not yet against the model's classes."""

    request_id: str
    label: str | int | float | bool
    model: str | None = None
    """The model whose request it labels; the default model when left out."""


def parse_feedback(body: Any, max_rows: int) -> list[FeedbackItem]:
    """``{"request_id", "label", "model"?}`` or a list of them, each checked for shape."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise InvalidRequest("the feedback list is empty")
    if len(items) > max_rows:
        raise BatchTooLarge(f"{len(items)} labels is over the limit of {max_rows} per request")
    parsed: list[FeedbackItem] = []
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if isinstance(body, list) else "feedback"
        if (
            not isinstance(item, dict)
            or not {"request_id", "label"} <= set(item)
            or not set(item) <= set(_FEEDBACK_FIELDS)
        ):
            raise InvalidRequest(
                f"{where} must be an object with exactly request_id and label (and optionally "
                "model)"
            )
        request_id, label, model = item["request_id"], item["label"], item.get("model")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
            raise InvalidRequest(f"{where}: request_id must be a string of 1 to 128 characters")
        if isinstance(label, float) and not math.isfinite(label):
            raise InvalidRequest(f"{where}: label must be finite")
        if not isinstance(label, str | int | float | bool):
            raise InvalidRequest(f"{where}: label must be a string, number or boolean")
        if isinstance(label, str) and len(label) > MAX_LABEL_CHARS:
            raise InvalidRequest(
                f"{where}: label must be a class of the model, a string of at most "
                f"{MAX_LABEL_CHARS} characters (got {len(label):,})"
            )
        if model is not None and not isinstance(model, str):
            raise InvalidRequest(f"{where}: model must be a string")
        parsed.append(FeedbackItem(request_id, label, model))
    return parsed
