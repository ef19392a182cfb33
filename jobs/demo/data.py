"""Seeded, vectorised generator of card-payment demo data for the Feast repo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

SHIFTABLE_FEATURES = ("amount", "txn_count_1h", "chargeback_rate_90d")

# name, share of merchants, fraud log-odds, amount multiplier, mean 90d chargeback rate
_CATEGORIES = (
    ("grocery", 0.20, -0.9, 0.6, 0.002),
    ("fuel", 0.11, -0.4, 0.8, 0.003),
    ("restaurants", 0.15, -0.7, 0.7, 0.002),
    ("pharmacy", 0.06, -0.6, 0.6, 0.002),
    ("apparel", 0.12, 0.0, 1.2, 0.005),
    ("electronics", 0.09, 0.7, 2.5, 0.008),
    ("travel", 0.07, 0.5, 3.0, 0.007),
    ("gift_cards", 0.06, 1.4, 1.5, 0.015),
    ("online_gaming", 0.08, 1.1, 0.8, 0.012),
    ("jewelry", 0.06, 1.0, 3.5, 0.010),
)
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "CA", "PL", "BR")
_COUNTRY_P = (0.30, 0.14, 0.12, 0.10, 0.06, 0.07, 0.07, 0.06, 0.04, 0.04)
_CARD_TYPES = ("debit", "credit", "prepaid")
_CARD_P = (0.55, 0.37, 0.08)
_FRAUD_RATE = 0.03
_BURST_SHARE = 0.06


@dataclass(frozen=True)
class DemoDataConfig:
    """Size, seed and drift knob of the generated demo data."""

    customers: int = 20_000
    merchants: int = 2_000
    transactions: int = 200_000
    days: int = 42
    seed: int = 7
    end: datetime | None = None  # UTC; defaults to now floored to the hour
    shift: float = 0.0  # drift strength; 0 keeps the reference distribution
    shifted_features: tuple[str, ...] = SHIFTABLE_FEATURES


@dataclass(frozen=True)
class DemoData:
    """The generated source tables plus the labelled transactions."""

    customer_profile: pd.DataFrame
    customer_activity: pd.DataFrame
    merchant_risk: pd.DataFrame
    transactions: pd.DataFrame

    def write(self, data_dir: Path) -> dict[str, Path]:
        """Write the four tables as parquet files in data_dir; return name -> path."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name in ("customer_profile", "customer_activity", "merchant_risk", "transactions"):
            path = data_dir / f"{name}.parquet"
            tmp = data_dir / f".{name}.parquet.tmp"
            getattr(self, name).to_parquet(tmp, index=False)
            # Readers (feast materialize, training) never see a half-written file.
            os.replace(tmp, path)
            paths[name] = path
        return paths


def generate(config: DemoDataConfig) -> DemoData:
    """Generate deterministic demo data for config.

    All timestamps are UTC and transactions fall in [end - days, end). Profiles and
    merchants are stamped one day before the window so point-in-time joins find them;
    about 1% of customers have no profile row at all. Each transaction has an activity
    row one second earlier holding the customer's prior 1h/24h counts and 1h amount.
    The label comes from a logit over amount vs. the customer's usual amount, velocity,
    merchant category and chargeback rate, account age, card type and noise (~3% fraud).

    Drift: with shift > 0 each name in shifted_features moves after labelling, leaving
    every other column (and the labels) identical to the shift=0 data:
    ``amount`` is multiplied by 1 + shift, ``txn_count_1h`` gains Poisson(3 * shift)
    and ``chargeback_rate_90d`` is multiplied by 1 + shift (capped at 1).
    Raises ValueError for unknown shifted feature names, negative shift or sizes < 1.
    """
    _validate(config)
    end = _resolve_end(config.end)
    start = end - pd.Timedelta(days=config.days)
    span = config.days * 86_400
    # Independent streams so the drift draws never perturb the reference data.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(5)]
    cust = _customers(streams[0], config.customers)
    merch = _merchants(streams[1], config.merchants)
    txn = _transactions(streams[2], config.transactions, span, cust, merch)
    activity = _velocity(txn["customer"], txn["time"], txn["amount"], span)
    is_fraud = _label(streams[3], cust, merch, txn, activity)

    amount, count_1h, chargeback = txn["amount"], activity["count_1h"], merch["chargeback"]
    rng = streams[4]
    if "amount" in config.shifted_features:
        amount = np.round(amount * (1.0 + config.shift), 2)
    if "txn_count_1h" in config.shifted_features:
        count_1h = count_1h + rng.poisson(3.0 * config.shift, count_1h.size)
    if "chargeback_rate_90d" in config.shifted_features:
        chargeback = np.minimum(chargeback * (1.0 + config.shift), 1.0)

    ts = start + pd.to_timedelta(txn["time"], unit="s")
    snapshot = start - pd.Timedelta(days=1)
    has_profile = cust["has_profile"]
    customer_profile = pd.DataFrame(
        {
            "customer_id": cust["id"][has_profile],
            "event_timestamp": snapshot,
            "account_age_days": cust["age"][has_profile],
            "avg_amount_30d": cust["avg_amount"][has_profile],
            "credit_limit": cust["credit_limit"][has_profile],
            "country": cust["country"][has_profile],
            "card_type": cust["card_type"][has_profile],
            "is_premium": cust["premium"][has_profile],
        }
    )
    customer_activity = pd.DataFrame(
        {
            "customer_id": cust["id"][txn["customer"]],
            "event_timestamp": ts - pd.Timedelta(seconds=1),
            "txn_count_1h": count_1h.astype(np.int64),
            "txn_amount_1h": activity["amount_1h"],
            "txn_count_24h": activity["count_24h"],
        }
    )
    merchant_risk = pd.DataFrame(
        {
            "merchant_id": merch["id"],
            "event_timestamp": snapshot,
            "merchant_category": merch["category"],
            "chargeback_rate_90d": chargeback,
            "merchant_age_days": merch["age"],
        }
    )
    transactions = pd.DataFrame(
        {
            "transaction_id": np.arange(1, config.transactions + 1, dtype=np.int64),
            "customer_id": cust["id"][txn["customer"]],
            "merchant_id": merch["id"][txn["merchant"]],
            "event_timestamp": ts,
            "amount": amount,
            "is_fraud": is_fraud.astype(np.int64),
        }
    )
    return DemoData(
        customer_profile=customer_profile.reset_index(drop=True),
        customer_activity=customer_activity,
        merchant_risk=merchant_risk,
        transactions=transactions,
    )


def _validate(config: DemoDataConfig) -> None:
    unknown = sorted(set(config.shifted_features) - set(SHIFTABLE_FEATURES))
    if unknown:
        raise ValueError(f"unknown shifted features {unknown}; known: {SHIFTABLE_FEATURES}")
    if config.shift < 0:
        raise ValueError(f"shift must be >= 0, got {config.shift}")
    sizes = (config.customers, config.merchants, config.transactions, config.days)
    if min(sizes) < 1:
        raise ValueError("customers, merchants, transactions and days must be >= 1")


def _resolve_end(end: datetime | None) -> pd.Timestamp:
    if end is None:
        return pd.Timestamp.now(tz="UTC").floor("h")
    stamp = pd.Timestamp(end)
    # Naive datetimes are taken to be UTC rather than local time.
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    typical = rng.lognormal(np.log(45.0), 0.6, n)
    young = rng.random(n) < 0.08
    age = np.where(young, rng.integers(1, 60, n), rng.integers(60, 4_000, n))
    card = rng.choice(len(_CARD_TYPES), n, p=_CARD_P)
    premium = (card != 2) & (rng.random(n) < np.where(card == 1, 0.25, 0.05))
    limit = np.round(typical * rng.lognormal(np.log(40.0), 0.4, n), -2).clip(min=200.0)
    country = np.array(_COUNTRIES, dtype=object)[rng.choice(len(_COUNTRIES), n, p=_COUNTRY_P)]
    country[rng.random(n) < 0.02] = None
    return {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "typical": typical,
        # The profile mean is a noisy 30-day estimate of the customer's usual amount.
        "avg_amount": np.round(typical * rng.lognormal(0.0, 0.1, n), 2),
        "age": age.astype(np.int64),
        "card": card,
        "card_type": np.array(_CARD_TYPES, dtype=object)[card],
        "premium": premium,
        "credit_limit": np.where(rng.random(n) < 0.05, np.nan, limit),
        "country": country,
        "weight": rng.gamma(1.5, 1.0, n),
        "has_profile": rng.random(n) >= 0.01,
    }


def _merchants(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    shares = np.array([c[1] for c in _CATEGORIES])
    cat = rng.choice(len(_CATEGORIES), n, p=shares / shares.sum())
    mean_cb = np.array([c[4] for c in _CATEGORIES])[cat]
    young = rng.random(n) < 0.10
    return {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "cat": cat,
        "category": np.array([c[0] for c in _CATEGORIES], dtype=object)[cat],
        # Beta(2, b) has mean 2 / (2 + b), so b = 2 / mean - 2 hits the category mean.
        "chargeback": rng.beta(2.0, 2.0 / mean_cb - 2.0),
        "age": np.where(young, rng.integers(1, 90, n), rng.integers(90, 5_000, n)),
        "weight": rng.gamma(0.8, 1.0, n),
    }


def _transactions(
    rng: np.random.Generator,
    n: int,
    span: int,
    cust: dict[str, np.ndarray],
    merch: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    n_burst = round(n * _BURST_SHARE) if n > 1 else 0
    n_base = n - n_burst
    c_base = rng.choice(cust["id"].size, n_base, p=cust["weight"] / cust["weight"].sum())
    m_base = rng.choice(merch["id"].size, n_base, p=merch["weight"] / merch["weight"].sum())
    t_base = rng.integers(0, span, n_base)

    # Bursts: quick follow-ups on the same card, skewed towards risky merchants.
    lengths = 1 + rng.poisson(1.5, n_burst)
    seeds = np.repeat(rng.integers(0, n_base, n_burst), lengths)[:n_burst]
    gaps = 30 + rng.exponential(240.0, n_burst)
    group_start = np.r_[True, seeds[1:] != seeds[:-1]] if n_burst else np.zeros(0, bool)
    csum = np.cumsum(gaps)
    offset = csum - np.maximum.accumulate(np.where(group_start, csum - gaps, 0.0))
    t_burst = np.minimum(t_base[seeds] + offset.astype(np.int64), span - 1)
    risk = np.exp(np.array([c[2] for c in _CATEGORIES])[merch["cat"]])
    m_weight = merch["weight"] * risk
    m_burst = rng.choice(merch["id"].size, n_burst, p=m_weight / m_weight.sum())

    customer = np.r_[c_base, c_base[seeds]]
    merchant = np.r_[m_base, m_burst]
    time = np.r_[t_base, t_burst]
    amount_mult = np.array([c[3] for c in _CATEGORIES])[merch["cat"][merchant]]
    noise = rng.lognormal(0.0, 0.55, n)
    big_ticket = np.where(rng.random(n) < 0.02, rng.uniform(3.0, 10.0, n), 1.0)
    amount = np.round(cust["typical"][customer] * amount_mult * noise * big_ticket, 2)
    amount = np.maximum(amount, 0.5)
    order = np.argsort(time, kind="stable")
    return {
        "customer": customer[order],
        "merchant": merchant[order],
        "time": time[order],
        "amount": amount[order],
    }


def _velocity(
    customer: np.ndarray, time: np.ndarray, amount: np.ndarray, span: int
) -> dict[str, np.ndarray]:
    """Per transaction: the customer's prior transactions in the last 1h and 24h."""
    order = np.lexsort((time, customer))
    # One sorted key per (customer, time); the stride keeps windows inside a customer.
    key = customer[order].astype(np.int64) * (span + 2 * 86_400) + time[order]
    pos = np.arange(key.size)
    csum = np.r_[0.0, np.cumsum(amount[order])]
    lo_1h = np.searchsorted(key, key - 3_600, side="left")
    lo_24h = np.searchsorted(key, key - 86_400, side="left")
    out = {
        "count_1h": pos - lo_1h,
        "amount_1h": np.round(csum[pos] - csum[lo_1h], 2),
        "count_24h": pos - lo_24h,
    }
    back = np.empty_like(order)
    back[order] = pos
    return {k: v[back] for k, v in out.items()}


def _label(
    rng: np.random.Generator,
    cust: dict[str, np.ndarray],
    merch: dict[str, np.ndarray],
    txn: dict[str, np.ndarray],
    activity: dict[str, np.ndarray],
) -> np.ndarray:
    c, m = txn["customer"], txn["merchant"]
    ratio = np.log(txn["amount"] / cust["typical"][c])
    logit = (
        1.3 * np.clip(ratio, -2.0, 3.0)
        + 0.8 * np.minimum(activity["count_1h"], 6)
        + np.array([cat[2] for cat in _CATEGORIES])[merch["cat"][m]]
        + 40.0 * merch["chargeback"][m]
        + 1.3 * (cust["age"][c] < 60)
        + 1.0 * (cust["card"][c] == 2)
        - 0.4 * cust["premium"][c]
        + 0.5 * (merch["age"][m] < 90)
        + rng.normal(0.0, 0.6, c.size)
    )
    # Solve for the intercept so the expected fraud rate is on target for any config.
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) > _FRAUD_RATE:
            high = mid
        else:
            low = mid
    prob = 1.0 / (1.0 + np.exp(-(logit + low)))
    is_fraud: np.ndarray = rng.random(c.size) < prob
    return is_fraud
