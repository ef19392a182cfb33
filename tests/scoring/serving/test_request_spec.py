"""One spec for ``POST /score``: the hand-written validator and the published schema agree."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from scoring.errors import InvalidRequest
from scoring.serving.request import ScoreRequestBody, parse_score_request
from scoring.settings import Settings
from scoring.web.app import create_app

ROW = {"customer_id": 1, "merchant_id": 2, "amount": 3.5}

BODIES: list[Any] = [
    {"entities": [ROW]},
    {"entities": [ROW, {}]},  # a row's own fields are checked against the model later
    {"model": "fraud", "entities": [ROW]},
    {"model": None, "entities": [ROW]},
    {"entities": [ROW], "include_features": True},
    {"entities": [ROW], "include_features": False},
    {"model": "fraud", "entities": [ROW], "include_features": True},
    {},
    {"entities": []},
    {"entities": None},
    {"entities": ROW},
    {"entities": "rows"},
    {"entities": [ROW, 1]},
    {"entities": [[1, 2]]},
    {"entities": [None]},
    {"model": 5, "entities": [ROW]},
    {"model": ["fraud"], "entities": [ROW]},
    {"model": True, "entities": [ROW]},
    {"entities": [ROW], "include_features": 1},
    {"entities": [ROW], "include_features": "true"},
    {"entities": [ROW], "include_features": None},
    {"entities": [ROW], "features": True},
    {"entities": [ROW], "Model": "fraud"},
    [],
    [{"entities": [ROW]}],
    "entities",
    None,
    3,
]


def _validator_accepts(body: Any) -> bool:
    try:
        parse_score_request(body, max_rows=1_000)
    except InvalidRequest:
        return False
    return True


def _spec_accepts(body: Any) -> bool:
    try:
        ScoreRequestBody.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("body", BODIES, ids=[repr(b)[:40] for b in BODIES])
def test_the_validator_accepts_exactly_what_the_spec_accepts(body: Any) -> None:
    assert _validator_accepts(body) == _spec_accepts(body)


def test_the_bodies_cover_both_answers() -> None:
    accepted = [_spec_accepts(body) for body in BODIES]
    assert accepted.count(True) >= 7
    assert accepted.count(False) >= 15


def test_the_published_schema_of_score_is_the_spec(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        operation = client.get("/openapi.json").json()["paths"]["/score"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == ScoreRequestBody.model_json_schema()
    assert schema["required"] == ["entities"]
    assert schema["additionalProperties"] is False
