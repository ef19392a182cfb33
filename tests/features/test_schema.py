"""The demo feature service read from a real Feast registry."""

from __future__ import annotations

import pandas as pd
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


def test_chunked_point_in_time_join_equals_one_join(demo_repo: DemoRepo) -> None:
    """Slicing the labels (to bound Feast's memory) gives the same training rows."""
    from features.training import EVENT_TIMESTAMP, historical_features

    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    schema = service_schema(store, "fraud_v1")
    labels = demo_repo.data.transactions.sample(3000, random_state=4)
    whole = historical_features(store, "fraud_v1", schema, labels, "is_fraud")
    sliced = historical_features(store, "fraud_v1", schema, labels, "is_fraud", chunk_rows=700)
    order = [EVENT_TIMESTAMP, "customer_id", "merchant_id", "amount"]
    whole = whole.sort_values(order).reset_index(drop=True)
    sliced = sliced.sort_values(order).reset_index(drop=True)
    assert len(sliced) == 3000
    pd.testing.assert_frame_equal(sliced[whole.columns], whole, check_dtype=False)
