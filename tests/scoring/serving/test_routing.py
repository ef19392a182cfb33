"""The canary's split by entity, and what of an alias file changes what is served."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.errors import InvalidRequest
from scoring.model.loaded import load_model
from scoring.model.registry import Aliases, ModelRegistry
from scoring.serving.request import entity_rows
from scoring.serving.routing import (
    CANARY_ROUTE,
    CHAMPION_ROUTE,
    EntityBuckets,
    ServedVersions,
    key_text,
    serving_aliases,
    split_by_version,
)
from scoring.settings import Settings
from tests.utils.serving import register_copy_of_v1

KEYS = ("customer_id", "merchant_id")
ENTITIES = [{"customer_id": 1000 + i, "merchant_id": i % 97} for i in range(10_000)]


def within_binomial_bounds(picked: int, n: int, weight: float) -> bool:
    """Whether ``picked`` of ``n`` is within 4 standard deviations of a share ``weight``.

    A fair split strays further with probability under 1e-4; the hash being a fixed function
    of fixed entities, the outcome is the same on every run, never a flake.
    """
    return abs(picked / n - weight) <= 4 * math.sqrt(weight * (1 - weight) / n)


def test_a_bucket_is_blake2b_of_the_model_and_the_key_text() -> None:
    # The documented hash, worked out here from hashlib: changing it moves every customer.
    digest = hashlib.blake2b(b"fraud\x0042", digest_size=8).digest()
    expected = (int.from_bytes(digest, "big") >> 11) / 2**53
    assert EntityBuckets("fraud", ["customer_id"]).bucket({"customer_id": 42}) == expected


def test_buckets_are_the_same_in_another_process_with_another_string_hash(
    tmp_path: Path,
) -> None:
    buckets = EntityBuckets("fraud", KEYS)
    here = [buckets.bucket(row) for row in ENTITIES[:1000]]
    script = (
        "import json, sys\n"
        "from scoring.serving.routing import EntityBuckets\n"
        "rows = json.load(open(sys.argv[1]))\n"
        "b = EntityBuckets('fraud', ['merchant_id', 'customer_id'])\n"
        "print(json.dumps([b.bucket(r) for r in rows]))\n"
    )
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(ENTITIES[:1000]))
    seeds = []
    for seed in ("1", "2"):  # Python's own hash() of a string differs between these
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.getcwd()}
        done = subprocess.run(
            [sys.executable, "-c", script, str(rows_file)],
            env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        seeds.append(json.loads(done.stdout))
    assert seeds[0] == here
    assert seeds[1] == here


def test_a_key_is_hashed_as_its_text_whatever_its_json_type() -> None:
    assert key_text(42) == key_text(42.0) == key_text("42") == "42"
    assert key_text(2.5) == "2.5"
    assert (key_text(True), key_text(False)) == ("true", "false")
    buckets = EntityBuckets("fraud", ["customer_id"])
    assert len({buckets.bucket({"customer_id": v}) for v in (42, 42.0, "42")}) == 1
    assert buckets.bucket({"customer_id": 42}) != buckets.bucket({"customer_id": 43})


def test_several_keys_are_combined_in_name_order_and_unambiguously() -> None:
    row = {"customer_id": 7, "merchant_id": 3, "amount": 1.0}
    ab = EntityBuckets("fraud", ["customer_id", "merchant_id"])
    ba = EntityBuckets("fraud", ["merchant_id", "customer_id"])
    assert ab.bucket(row) == ba.bucket(row)
    # Request fields are not keys: the same entity with another amount stays put.
    assert ab.bucket(row) == ab.bucket({**row, "amount": 99.0})
    assert ab.bucket(row) != ab.bucket({**row, "merchant_id": 4})
    assert ab.bucket({"customer_id": 1, "merchant_id": 23}) != ab.bucket(
        {"customer_id": 12, "merchant_id": 3}
    )
    texts = EntityBuckets("m", ["a", "b"])
    assert texts.bucket({"a": "1:2", "b": "3"}) != texts.bucket({"a": "1", "b": "2:3"})


@pytest.mark.parametrize("weight", [0.01, 0.05, 0.25, 0.5, 0.9])
def test_a_weight_takes_its_share_of_entities(weight: float) -> None:
    buckets = EntityBuckets("fraud", KEYS)
    picked = sum(buckets.bucket(row) < weight for row in ENTITIES)
    assert within_binomial_bounds(picked, len(ENTITIES), weight), picked


def test_raising_the_weight_only_moves_entities_to_the_canary() -> None:
    points = [EntityBuckets("fraud", KEYS).bucket(row) for row in ENTITIES]
    assert all(0.0 <= p < 1.0 for p in points)
    weights = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.99, 1.0]
    canaries = [{i for i, p in enumerate(points) if p < w} for w in weights]
    for smaller, larger in itertools.pairwise(canaries):
        assert smaller <= larger
        assert len(larger) > len(smaller)
    assert canaries[0] == set()
    assert len(canaries[-1]) == len(ENTITIES)


def test_two_models_canaries_take_different_entities() -> None:
    fraud = {i for i, row in enumerate(ENTITIES) if EntityBuckets("fraud", KEYS).bucket(row) < 0.2}
    risk = {i for i, row in enumerate(ENTITIES) if EntityBuckets("risk", KEYS).bucket(row) < 0.2}
    # Independent splits share about 0.2 * 0.2 of the entities, not 0.2 of them.
    assert within_binomial_bounds(len(fraud & risk), len(ENTITIES), 0.04), len(fraud & risk)


def test_the_split_keeps_each_row_and_its_place(own_settings: Settings) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    champion = load_model(registry, "fraud", 1)
    canary = load_model(registry, "fraud", register_copy_of_v1(own_settings))
    rows = [{**row, "amount": float(i)} for i, row in enumerate(ENTITIES[:300])]
    served = ServedVersions(champion=champion, canary=canary, canary_weight=0.3)
    to_canary = [i for i, row in enumerate(rows) if served.buckets.bucket(row) < 0.3]
    assert served.canary_rows(rows) == to_canary
    first, second = split_by_version(served, rows, rows)
    assert (first.model, first.route, second.model, second.route) == (
        champion, CHAMPION_ROUTE, canary, CANARY_ROUTE,
    )  # fmt: skip
    assert second.positions == to_canary
    assert first.positions == [i for i in range(len(rows)) if i not in set(to_canary)]
    for part in (first, second):
        assert part.positions is not None
        assert part.rows == [rows[i] for i in part.positions]
    # All rows one version's: the request is not split.
    (whole,) = split_by_version(ServedVersions(champion, canary, 1.0), rows, rows)
    assert (whole.model, whole.route, whole.rows, whole.positions) == (
        canary, CANARY_ROUTE, rows, None,
    )  # fmt: skip
    (whole,) = split_by_version(ServedVersions(champion), rows, rows)
    assert (whole.model, whole.route, whole.positions) == (champion, CHAMPION_ROUTE, None)


def test_a_canary_with_other_inputs_names_the_row_by_its_place_in_the_request(
    own_settings: Settings,
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    schema = registry.manifest("fraud", 1).feast_schema
    request_fields = [*schema["request_fields"], {"name": "channel", "type": "string"}]
    champion = load_model(registry, "fraud", 1)
    v2 = register_copy_of_v1(
        own_settings, feast_schema={**schema, "request_fields": request_fields}
    )
    served = ServedVersions(champion, load_model(registry, "fraud", v2), 0.5)
    sent = [{**row, "amount": 1.0, "channel": "web"} for row in ENTITIES[:20]]
    checked = entity_rows(champion.schema, sent)  # the champion's inputs: no channel
    first, second = split_by_version(served, checked, sent)
    assert second.positions
    assert second.rows == [sent[i] for i in second.positions]  # checked for the canary's own
    assert first.rows == [checked[i] for i in first.positions or []]
    late = second.positions[-1]
    del sent[late]["channel"]
    with pytest.raises(InvalidRequest, match=rf"entities\[{late}\]: missing request field"):
        split_by_version(served, checked, sent)


def test_a_canary_without_a_share_is_not_served() -> None:
    assert serving_aliases(Aliases(champion=1, canary=2, canary_weight=0.0, shadow=3)) == Aliases(
        champion=1, shadow=3
    )
    assert serving_aliases(Aliases(champion=1, canary=None, canary_weight=0.5)) == Aliases(
        champion=1
    )
    live = Aliases(champion=1, canary=2, canary_weight=0.2)
    assert serving_aliases(live) == live
