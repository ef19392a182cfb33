"""Tests of the seeded demo-data generator."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.demo.data import DemoData, DemoDataConfig, generate

END = datetime(2025, 6, 1, tzinfo=UTC)
SMALL = DemoDataConfig(customers=1_500, merchants=150, transactions=15_000, days=14, end=END)

COLUMNS = {
    "customer_profile": {
        "customer_id": "int64",
        "event_timestamp": "datetime64[ns, UTC]",
        "account_age_days": "int64",
        "avg_amount_30d": "float64",
        "credit_limit": "float64",
        "country": "object",
        "card_type": "object",
        "is_premium": "bool",
    },
    "customer_activity": {
        "customer_id": "int64",
        "event_timestamp": "datetime64[ns, UTC]",
        "txn_count_1h": "int64",
        "txn_amount_1h": "float64",
        "txn_count_24h": "int64",
    },
    "merchant_risk": {
        "merchant_id": "int64",
        "event_timestamp": "datetime64[ns, UTC]",
        "merchant_category": "object",
        "chargeback_rate_90d": "float64",
        "merchant_age_days": "int64",
    },
    "transactions": {
        "transaction_id": "int64",
        "customer_id": "int64",
        "merchant_id": "int64",
        "event_timestamp": "datetime64[ns, UTC]",
        "amount": "float64",
        "is_fraud": "int64",
    },
}


@pytest.fixture(scope="module")
def reference() -> DemoData:
    """The small reference data set, generated once."""
    return generate(SMALL)


def test_same_config_gives_equal_frames(reference: DemoData) -> None:
    again = generate(SMALL)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(getattr(reference, name), getattr(again, name))


def test_columns_dtypes_and_time_window(reference: DemoData) -> None:
    for name, columns in COLUMNS.items():
        frame = getattr(reference, name)
        assert {c: str(t) for c, t in frame.dtypes.items()} == columns, name
    tx = reference.transactions
    assert len(tx) == SMALL.transactions
    assert len(reference.customer_activity) == SMALL.transactions
    assert tx.event_timestamp.min() >= pd.Timestamp(END - timedelta(days=SMALL.days))
    assert tx.event_timestamp.max() < pd.Timestamp(END)
    # Static tables must predate every transaction for point-in-time joins.
    assert reference.customer_profile.event_timestamp.max() < tx.event_timestamp.min()
    assert reference.merchant_risk.event_timestamp.max() < tx.event_timestamp.min()


def test_fraud_rate_and_missing_values(reference: DemoData) -> None:
    assert 0.02 <= reference.transactions.is_fraud.mean() <= 0.05
    profile = reference.customer_profile
    assert 0.03 <= profile.credit_limit.isna().mean() <= 0.07
    assert 0.005 <= profile.country.isna().mean() <= 0.04
    assert 0.95 * SMALL.customers <= len(profile) < SMALL.customers


def test_shift_moves_only_named_features(reference: DemoData) -> None:
    shifted = generate(replace(SMALL, shift=0.5))
    tx, ref_tx = shifted.transactions, reference.transactions
    assert tx.amount.mean() / ref_tx.amount.mean() == pytest.approx(1.5, rel=0.01)
    count_gain = shifted.customer_activity.txn_count_1h - reference.customer_activity.txn_count_1h
    assert count_gain.min() >= 0
    assert count_gain.mean() == pytest.approx(1.5, rel=0.1)
    ratio = shifted.merchant_risk.chargeback_rate_90d / reference.merchant_risk.chargeback_rate_90d
    assert np.allclose(ratio, 1.5)
    pd.testing.assert_series_equal(tx.is_fraud, ref_tx.is_fraud)
    pd.testing.assert_frame_equal(shifted.customer_profile, reference.customer_profile)
    for column in ("txn_count_24h", "txn_amount_1h"):
        pd.testing.assert_series_equal(
            shifted.customer_activity[column], reference.customer_activity[column]
        )


def test_shift_only_touches_selected_features(reference: DemoData) -> None:
    shifted = generate(replace(SMALL, shift=1.0, shifted_features=("amount",)))
    pd.testing.assert_frame_equal(shifted.customer_activity, reference.customer_activity)
    pd.testing.assert_frame_equal(shifted.merchant_risk, reference.merchant_risk)


def test_unknown_shifted_feature_raises() -> None:
    with pytest.raises(ValueError, match="unknown shifted features"):
        generate(DemoDataConfig(transactions=100, shifted_features=("amount", "colour")))


def test_write_round_trips(reference: DemoData, tmp_path: Path) -> None:
    paths = reference.write(tmp_path / "data")
    assert sorted(paths) == sorted(COLUMNS)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(
        f"{name}.parquet" for name in COLUMNS
    )
    back = pd.read_parquet(paths["transactions"])
    pd.testing.assert_frame_equal(back, reference.transactions)
