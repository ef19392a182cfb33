"""Feast definitions for card-payment fraud scoring."""

from datetime import timedelta

import numpy as np
import pandas as pd
from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    RequestSource,
    ValueType,
)
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Float64, Int64, String

OWNER = "fraud-scoring"

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="Card holder",
    owner=OWNER,
)

merchant = Entity(
    name="merchant",
    join_keys=["merchant_id"],
    value_type=ValueType.INT64,
    description="Card acceptor",
    owner=OWNER,
)

# Paths are relative to the repo directory; Feast resolves them against repo_path.
customer_profile_source = FileSource(
    name="customer_profile_source",
    path="data/customer_profile.parquet",
    timestamp_field="event_timestamp",
)

customer_activity_source = FileSource(
    name="customer_activity_source",
    path="data/customer_activity.parquet",
    timestamp_field="event_timestamp",
)

merchant_risk_source = FileSource(
    name="merchant_risk_source",
    path="data/merchant_risk.parquet",
    timestamp_field="event_timestamp",
)

# Velocity counters are pushed by the stream side; the parquet file is their history.
customer_activity_push = PushSource(
    name="customer_activity_push",
    batch_source=customer_activity_source,
    description="Rolling transaction counters per customer",
    owner=OWNER,
)

transaction = RequestSource(
    name="transaction",
    schema=[Field(name="amount", dtype=Float64, description="Transaction amount")],
    description="Fields only known when the payment is authorised",
    owner=OWNER,
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=365),
    schema=[
        Field(name="account_age_days", dtype=Int64, description="Days since account opening"),
        Field(name="avg_amount_30d", dtype=Float64, description="Mean amount over 30 days"),
        Field(name="credit_limit", dtype=Float64, description="Card limit, may be null"),
        Field(name="country", dtype=String, description="Issuing country, may be null"),
        Field(name="card_type", dtype=String, description="debit, credit or prepaid"),
        Field(name="is_premium", dtype=Bool, description="Premium card tier"),
    ],
    online=True,
    source=customer_profile_source,
    description="Slow-changing card holder attributes",
    tags={"team": "fraud"},
    owner=OWNER,
)

customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=2),
    schema=[
        Field(name="txn_count_1h", dtype=Int64, description="Prior transactions in 1 hour"),
        Field(name="txn_amount_1h", dtype=Float64, description="Prior amount in 1 hour"),
        Field(name="txn_count_24h", dtype=Int64, description="Prior transactions in 24 hours"),
    ],
    online=True,
    source=customer_activity_push,
    description="Short-window transaction velocity",
    tags={"team": "fraud"},
    owner=OWNER,
)

merchant_risk = FeatureView(
    name="merchant_risk",
    entities=[merchant],
    ttl=timedelta(days=365),
    schema=[
        Field(name="merchant_category", dtype=String, description="Merchant category"),
        Field(name="chargeback_rate_90d", dtype=Float64, description="Chargebacks / sales, 90d"),
        Field(name="merchant_age_days", dtype=Int64, description="Days since onboarding"),
    ],
    online=True,
    source=merchant_risk_source,
    description="Merchant risk attributes",
    tags={"team": "fraud"},
    owner=OWNER,
)


@on_demand_feature_view(
    sources=[customer_profile, transaction],
    # No field descriptions here: Feast compares them with the inferred (bare) fields on apply.
    schema=[
        Field(name="amount_to_avg_ratio", dtype=Float64),
        Field(name="amount_log", dtype=Float64),
    ],
    mode="pandas",
    description="amount_to_avg_ratio = amount / avg_amount_30d; amount_log = log1p(amount)",
    tags={"team": "fraud"},
    owner=OWNER,
)
def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Derive amount ratios; missing inputs give NaN instead of raising."""
    # Online reads of unknown customers hand us None in object columns, so coerce first;
    # then plain NumPy: pandas operations cost more than the arithmetic on one-row frames.
    amount = pd.to_numeric(inputs["amount"], errors="coerce").to_numpy(dtype="float64")
    avg = pd.to_numeric(inputs["avg_amount_30d"], errors="coerce").to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(avg > 0, amount / avg, np.nan)
        log_amount = np.where(amount >= 0, np.log1p(amount), np.nan)
    return pd.DataFrame(
        {"amount_to_avg_ratio": ratio, "amount_log": log_amount}, index=inputs.index
    )


fraud_v1 = FeatureService(
    name="fraud_v1",
    features=[customer_profile, customer_activity, merchant_risk, transaction_features],
    description="Features of the first fraud model",
    tags={"team": "fraud"},
    owner=OWNER,
)
