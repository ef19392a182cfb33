"""The demo feature service read from a real Feast registry."""

from __future__ import annotations

import pytest

from features.errors import FeatureServiceNotFound
from features.schema import FeatureKind, FieldType, ServiceSchema, service_schema
from features.store import open_feature_store
from tests.utils.repo import DemoRepo


def test_demo_service_schema(demo_repo: DemoRepo) -> None:
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    schema = service_schema(store, "fraud_v1")
    assert [(k.name, k.type) for k in schema.join_keys] == [
        ("customer_id", FieldType.INTEGER),
        ("merchant_id", FieldType.INTEGER),
    ]
    assert [(f.name, f.type) for f in schema.request_fields] == [("amount", FieldType.NUMBER)]
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds["customer_profile__country"] is FeatureKind.CATEGORICAL
    assert kinds["customer_profile__is_premium"] is FeatureKind.BOOLEAN
    assert kinds["customer_activity__txn_count_1h"] is FeatureKind.NUMERIC
    assert kinds["transaction_features__amount_to_avg_ratio"] is FeatureKind.NUMERIC
    assert ServiceSchema.from_dict(schema.to_dict()) == schema


def test_unknown_service(demo_repo: DemoRepo) -> None:
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    with pytest.raises(FeatureServiceNotFound, match="'fraud_v9'"):
        service_schema(store, "fraud_v9")
