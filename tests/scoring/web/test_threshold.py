"""The score -> label rule over HTTP: scores at or above the served version's threshold get the
positive label, in the answer and in the prediction log alike."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, read_log, register_copy_of_v1

Row = tuple[dict[str, Any], dict[str, Any], str]
"""One scored row: the entity sent, its prediction, the request's id."""


def _score(settings: Settings, rows: list[dict[str, Any]], version: int) -> list[Row]:
    """Score ``rows`` with the app of ``settings`` (in requests of at most 500 rows)."""
    scored: list[Row] = []
    with TestClient(create_app(settings)) as client:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            response = client.post("/score", json={"entities": chunk})
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["model"], body["version"]) == ("fraud", version)
            scored.extend(
                (entity, prediction, body["request_id"])
                for entity, prediction in zip(chunk, body["predictions"], strict=True)
            )
    return scored


def _logged_labels(settings: Settings) -> dict[tuple[str, int, float], str]:
    """The log's label of each row, by request id, customer and amount."""
    table: pa.Table = read_log(settings.data_dir / "logs" / "predictions")
    keys = zip(
        table.column("request_id").to_pylist(),
        table.column("customer_id").to_pylist(),
        table.column("amount").to_pylist(),
        strict=True,
    )
    labels = dict(zip(keys, table.column("label").to_pylist(), strict=True))
    assert len(labels) == table.num_rows, "the rows must be told apart by these columns"
    return labels


def _assert_logged_as_answered(settings: Settings, scored: list[Row]) -> None:
    logged = _logged_labels(settings)
    for entity, prediction, request_id in scored:
        key = (request_id, entity["customer_id"], entity["amount"])
        # The log keeps labels as text, whatever their type in the training labels.
        assert logged[key] == str(prediction["label"]), (key, prediction)


def _with_threshold(settings: Settings, threshold: float) -> int:
    """Register v1's booster with ``threshold`` in its manifest and make it the champion."""
    registry = ModelRegistry(settings.models_dir)
    postprocess = {**registry.manifest("fraud", 1).postprocess.model_dump(), "threshold": threshold}
    version = register_copy_of_v1(settings, postprocess=postprocess)
    registry.set_alias("fraud", "champion", version)
    return version


def test_rows_on_both_sides_of_the_learned_threshold_get_their_labels(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    learned = ModelRegistry(own_settings.models_dir).manifest("fraud", 1).postprocess.threshold
    assert learned < 0.5  # what the demo data teaches; a default 0.5 would label differently

    scored = _score(own_settings, entities(demo_repo, 1500, seed=21), version=1)

    scores = [prediction["score"] for _, prediction, _ in scored]
    below = [p for _, p, _ in scored if p["score"] < learned]
    under_half = [p for _, p, _ in scored if learned <= p["score"] < 0.5]
    assert below, scores
    assert under_half, "no score between the learned threshold and 0.5: sample more rows"
    assert all(p["label"] == 0 for p in below)
    assert all(p["label"] == 1 for p in under_half)
    assert all(p["label"] == 1 for _, p, _ in scored if p["score"] >= 0.5)
    _assert_logged_as_answered(own_settings, scored)


def test_a_score_exactly_at_the_manifest_threshold_is_positive(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 600, seed=22)
    learned = ModelRegistry(own_settings.models_dir).manifest("fraud", 1).postprocess.threshold
    first = _score(own_settings, rows, version=1)
    # A row scored below the learned threshold and 0.5, with other rows on both sides of it:
    # as the new threshold, only the ">=" rule set by the manifest labels it positive.
    distinct = sorted({p["score"] for _, p, _ in first if p["score"] < learned})
    assert len(distinct) > 10
    at = distinct[len(distinct) * 9 // 10]

    version = _with_threshold(own_settings, at)
    second = _score(own_settings, rows, version=version)

    # Same booster, same features: every row scores exactly as it did under v1.
    assert [p["score"] for _, p, _ in second] == [p["score"] for _, p, _ in first]
    on_it = [p for _, p, _ in second if p["score"] == at]
    assert on_it
    assert all(p["label"] == 1 for p in on_it)
    assert all(p["label"] == (1 if p["score"] >= at else 0) for _, p, _ in second)
    assert any(p["label"] == 0 for _, p, _ in second)
    assert any(p["label"] == 1 and p["score"] < learned for _, p, _ in second)
    _assert_logged_as_answered(own_settings, first + second)


def test_a_threshold_between_two_scores_splits_them(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 600, seed=23)
    learned = ModelRegistry(own_settings.models_dir).manifest("fraud", 1).postprocess.threshold
    first = _score(own_settings, rows, version=1)
    distinct = sorted({p["score"] for _, p, _ in first if p["score"] < learned})
    lower, upper = distinct[len(distinct) // 2 - 1], distinct[len(distinct) // 2]
    between = (lower + upper) / 2
    assert lower < between < upper
    assert between not in (0.5, learned)

    version = _with_threshold(own_settings, between)
    second = _score(own_settings, rows, version=version)

    labels = {p["score"]: p["label"] for _, p, _ in second}
    assert (labels[lower], labels[upper]) == (0, 1)
    assert all(p["label"] == (1 if p["score"] > between else 0) for _, p, _ in second)
    _assert_logged_as_answered(own_settings, first + second)
