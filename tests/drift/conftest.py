"""Synthetic training data, reference profiles and prediction logs written as real Parquet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as scipy_stats

from drift.profile import ReferenceProfile, build_profile

MODEL = "fraud"
VERSION = 3
DAY0 = datetime(2024, 5, 1, tzinfo=UTC)

KINDS = {
    "txn__amount": "numeric",
    "txn__hour": "numeric",
    "cust__age": "numeric",
    "cust__balance": "numeric",
    "cust__tenure_days": "numeric",
    "cust__is_new": "boolean",
    "cust__signup_at": "timestamp",
    "merch__category": "categorical",
    "merch__country": "categorical",
    "dev__channel": "categorical",
}
CATEGORIES = ["grocery", "fuel", "travel", "electronics", "fashion", "dining", "health", "other"]
CATEGORY_P = [0.30, 0.15, 0.10, 0.05, 0.12, 0.15, 0.08, 0.05]
SHIFTED_CATEGORY_P = [0.10, 0.15, 0.10, 0.25, 0.12, 0.15, 0.08, 0.05]
COUNTRIES = ["FR", "DE", "ES", "IT", "NL"]
CHANNELS = ["web", "ios", "android"]

# What the acceptance test shifts: a +0.5 sd mean, a x1.5 spread, a category share, the score.
SHIFTED = {"cust__age", "cust__balance", "merch__category"}


def _with_missing(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    mask = rng.random(values.size) < rate
    out = values.astype(object)
    out[mask] = None
    return out


def make_rows(n: int, seed: int, shift: bool = False) -> dict[str, np.ndarray]:
    """Raw feature columns (None = missing), a score and a label, as the log would hold them."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40.0, 12.0, n) + (6.0 if shift else 0.0)  # +0.5 sd
    balance = rng.normal(1000.0, 300.0, n)
    if shift:
        balance = 1000.0 + 1.5 * (balance - 1000.0)
    category = rng.choice(CATEGORIES, n, p=SHIFTED_CATEGORY_P if shift else CATEGORY_P)
    is_new = rng.random(n) < 0.3
    amount = rng.lognormal(3.5, 1.0, n)
    signup = DAY0 - timedelta(days=400)
    signup_at = np.datetime64(signup.replace(tzinfo=None), "s") + rng.integers(
        0, 300 * 86400, n
    ).astype("timedelta64[s]")
    logit = -1.5 + 0.6 * np.log(amount / 30.0) + 1.0 * is_new + 0.8 * (category == "electronics")
    logit += rng.normal(0.0, 0.5, n)
    probability = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(n) < probability).astype(np.int64)
    # The model's score tracks the probability; the "drift" run is also mis-calibrated upward.
    score = 1.0 / (1.0 + np.exp(-(logit + (1.0 if shift else 0.0))))
    return {
        "txn__amount": _with_missing(rng, amount, 0.02),
        "txn__hour": rng.integers(0, 24, n),
        "cust__age": _with_missing(rng, age, 0.01),
        "cust__balance": balance,
        "cust__tenure_days": rng.integers(0, 3000, n),
        "cust__is_new": _with_missing(rng, is_new, 0.01),
        "cust__signup_at": signup_at,
        "merch__category": _with_missing(rng, category, 0.01),
        "merch__country": rng.choice(COUNTRIES, n, p=[0.4, 0.25, 0.15, 0.1, 0.1]),
        "dev__channel": rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2]),
        "score": score,
        "label": label,
    }


def _encoded(values: np.ndarray, kind: str) -> np.ndarray:
    """The float encoding the training profile uses: bool 1/0, timestamp epoch seconds."""
    if kind == "timestamp":
        return values.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Synthetic:
    """A reference profile of a synthetic training set and what a check needs beside it."""

    reference: ReferenceProfile
    kinds: dict[str, str]
    training_auc: float


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    """Reference profile of 120,000 synthetic training rows (10 features, some missing)."""
    rows = make_rows(120_000, seed=1)
    numeric = {n: _encoded(rows[n], k) for n, k in KINDS.items() if k != "categorical"}
    categorical = {n: list(rows[n]) for n, k in KINDS.items() if k == "categorical"}
    reference = build_profile(numeric, categorical, rows["score"], list(KINDS))
    positives = rows["score"][rows["label"] == 1]
    negatives = rows["score"][rows["label"] == 0]
    u = scipy_stats.mannwhitneyu(positives, negatives).statistic
    return Synthetic(reference, dict(KINDS), float(u / (positives.size * negatives.size)))


def log_table(rows: dict[str, np.ndarray], start: datetime, seconds: float, seed: int) -> pa.Table:
    """A prediction-log table with the logger's columns, rows spread over ``seconds``."""
    n = len(rows["score"])
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, seconds, n))
    logged = np.datetime64(start.replace(tzinfo=None), "us") + (offsets * 1e6).astype(
        "timedelta64[us]"
    )
    columns: dict[str, pa.Array] = {
        "request_id": pa.array([f"r{seed}-{i}" for i in range(n)]),
        "logged_at": pa.array(logged, pa.timestamp("us", tz="UTC")),
        "version": pa.array(np.full(n, VERSION, dtype=np.int32)),
        "route": pa.array(["champion"] * n),
        "customer_id": pa.array(rng.integers(0, 10_000, n)),
    }
    for name, kind in KINDS.items():
        values = rows[name]
        if kind == "timestamp":
            columns[name] = pa.array(values.astype("datetime64[us]"), pa.timestamp("us", tz="UTC"))
        elif kind == "boolean":
            columns[name] = pa.array(list(values), pa.bool_())
        elif kind == "categorical":
            columns[name] = pa.array(list(values), pa.string())
        elif values.dtype == object:
            columns[name] = pa.array(list(values), pa.float64())
        else:
            columns[name] = pa.array(values)
    columns["score"] = pa.array(rows["score"], pa.float64())
    columns["label"] = pa.array((rows["score"] >= 0.5).astype(np.int64))
    columns["missing_count"] = pa.array(np.zeros(n, dtype=np.int32))
    columns["latency_ms"] = pa.array(rng.uniform(1, 5, n))
    return pa.table(columns)


def write_hive(table: pa.Table, root: Path, model: str = MODEL, files_per_day: int = 3) -> None:
    """Write ``table`` as ``model=<m>/date=<d>/part-<i>.parquet`` by its logged_at day."""
    days = table.column("logged_at").cast(pa.timestamp("us")).to_numpy().astype("datetime64[D]")
    for day in np.unique(days):
        part = table.filter(pa.array(days == day))
        directory = root / f"model={model}" / f"date={day}"
        directory.mkdir(parents=True, exist_ok=True)
        for i, chunk in enumerate(np.array_split(np.arange(part.num_rows), files_per_day)):
            if chunk.size:
                pq.write_table(
                    part.take(pa.array(chunk)), directory / f"part-{i}.parquet", row_group_size=4096
                )


def labels_table(table: pa.Table, truth: np.ndarray, share: float, seed: int) -> pa.Table:
    """Feedback for a share of the logged requests: request_id, label, received_at."""
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(table.num_rows) < share)
    received = table.column("logged_at").take(pa.array(chosen))
    return pa.table(
        {
            "request_id": table.column("request_id").take(pa.array(chosen)),
            "label": pa.array(truth[chosen].astype(np.int64)),
            "received_at": received,
        }
    )


@pytest.fixture
def write_log() -> Callable[..., pa.Table]:
    """Write a synthetic prediction log (and labels) under a data dir; return the log table."""

    def write(data_dir: Path, n: int, seed: int, shift: bool = False, days: int = 4) -> pa.Table:
        rows = make_rows(n, seed, shift)
        table = log_table(rows, DAY0, days * 86400.0, seed)
        write_hive(table, data_dir / "logs" / "predictions")
        labels = labels_table(table, rows["label"], 0.2, seed + 1)
        labels_dir = data_dir / "logs" / "labels" / "date=2024-05-09"
        labels_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(labels, labels_dir / "part-0.parquet")
        return table

    return write
