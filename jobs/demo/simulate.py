"""``scorer simulate``: realistic traffic, then shifted traffic, so the loop can be watched.

Phase one replays the demo's transactions against a running service and sends their labels
as feedback. Phase two does the same with the generator's drift knob turned: amounts grow,
and shifted activity and merchant risk values are written to the online store through Feast
(a push and an online write), the way fresh upstream data would arrive.

After each scored transaction, the customer's activity counts, with that transaction added,
go back through the service's ``POST /push``, the way an upstream aggregator keeps
``customer_activity`` fresh. ``/push`` is an admin call: without the admin key the pushes are
left out, and the simulation says which setting turns them on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx2 as httpx
import pandas as pd
from feast import FeatureStore
from feast.data_source import PushMode

from jobs.demo.data import DemoData, DemoDataConfig, generate
from scoring.errors import ServiceUnreachable

Say = Callable[[str], None]
Traffic = list[tuple[dict[str, object], int]]
ACTIVITY_PUSH = "customer_activity_push"
ACTIVITY_VIEW = "customer_activity"
PUSH_KEY_HINT = "set SCORER_ADMIN_KEY to the service's admin key"


@dataclass
class PhaseResult:
    """What one phase of traffic got back."""

    statuses: Counter[int | str] = field(default_factory=Counter)
    versions: Counter[int] = field(default_factory=Counter)
    labelled: int = 0
    pushes: Counter[int | str] = field(default_factory=Counter)
    """Statuses of the activity pushes that followed the scored transactions."""


def entity_traffic(data: DemoData, n: int, seed: int) -> list[tuple[dict[str, object], int]]:
    """``n`` scoring rows drawn from the demo's transactions, each with its true label."""
    tx = data.transactions.sample(n, random_state=seed, replace=n > len(data.transactions))
    columns = tx[["customer_id", "merchant_id", "amount", "is_fraud"]]
    return [
        ({"customer_id": int(c), "merchant_id": int(m), "amount": round(float(a), 2)}, int(y))
        for c, m, a, y in columns.itertuples(index=False)
    ]


def write_shifted_online_features(store: FeatureStore, shifted: DemoData) -> int:
    """Push shifted activity and write shifted merchant risk into the online store."""
    now = pd.Timestamp(datetime.now(UTC))
    activity = shifted.customer_activity.sort_values("event_timestamp")
    activity = activity.drop_duplicates("customer_id", keep="last").assign(event_timestamp=now)
    store.push(ACTIVITY_PUSH, activity, to=PushMode.ONLINE)
    merchants = shifted.merchant_risk.assign(event_timestamp=now)
    store.write_to_online_store("merchant_risk", merchants)
    return len(activity) + len(merchants)


def updated_activity(
    entity: dict[str, object], features: dict[str, object], at: datetime
) -> dict[str, list[object]] | None:
    """The customer's activity with this transaction added: a ``/push`` body's ``df``.

    Counted from the values the score was made with, as an aggregator adds each event to
    its state. None when the answer holds no activity (a model that does not use it).
    """
    names = ("txn_count_1h", "txn_amount_1h", "txn_count_24h")
    full = [f"{ACTIVITY_VIEW}__{name}" for name in names]
    if not all(name in features for name in full):
        return None
    # A value the store did not have (a new customer) counts from zero.
    count_1h, amount_1h, count_24h = (_number(features[name]) for name in full)
    return {
        "customer_id": [entity["customer_id"]],
        "event_timestamp": [at.isoformat()],
        "txn_count_1h": [int(count_1h) + 1],
        "txn_amount_1h": [round(amount_1h + _number(entity["amount"]), 2)],
        "txn_count_24h": [int(count_24h) + 1],
    }


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


async def send_phase(
    url: str,
    traffic: list[tuple[dict[str, object], int]],
    concurrency: int,
    feedback_share: float,
    admin_key: str | None = None,
) -> PhaseResult:
    """Score every row (single-entity requests), then send labels for a share of them.

    With ``admin_key``, each scored transaction is followed by a push of the customer's
    updated activity (:func:`updated_activity`) to ``POST /push``.
    """
    result = PhaseResult()
    labels: list[dict[str, object]] = []
    gate = asyncio.Semaphore(concurrency)
    every = max(1, round(1 / feedback_share)) if feedback_share > 0 else 0
    admin = {"Authorization": f"Bearer {admin_key}"} if admin_key else None

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def push(entity: dict[str, object], features: dict[str, object]) -> None:
            df = updated_activity(entity, features, datetime.now(UTC))
            if df is None or admin is None:
                return
            body = {"push_source_name": ACTIVITY_PUSH, "df": df, "to": "online"}
            try:
                response = await client.post("/push", json=body, headers=admin)
            except httpx.HTTPError as exc:
                result.pushes[type(exc).__name__] += 1
                return
            result.pushes[response.status_code] += 1

        async def one(i: int, entity: dict[str, object], truth: int) -> None:
            request = {"entities": [entity], "include_features": admin is not None}
            async with gate:
                try:
                    response = await client.post("/score", json=request)
                except httpx.HTTPError as exc:
                    result.statuses[type(exc).__name__] += 1
                    return
                if response.status_code == 200 and admin is not None:
                    await push(entity, response.json()["predictions"][0].get("features", {}))
            result.statuses[response.status_code] += 1
            if response.status_code == 200:
                body = response.json()
                result.versions[body["version"]] += 1
                if every and i % every == 0:
                    labels.append({"request_id": body["request_id"], "label": truth})

        await asyncio.gather(*(one(i, e, y) for i, (e, y) in enumerate(traffic)))
        for start in range(0, len(labels), 1000):
            response = await client.post("/feedback", json=labels[start : start + 1000])
            response.raise_for_status()
    result.labelled = len(labels)
    return result


def check_service(url: str) -> None:
    """Raise ServiceUnreachable unless a scoring service answers ``GET /health/live`` at ``url``."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/health/live", timeout=5)
    except httpx.HTTPError as exc:
        raise ServiceUnreachable(f"no service answers at {url}: {exc}") from exc
    if response.status_code != 200:
        raise ServiceUnreachable(
            f"{url} answered GET /health/live with {response.status_code}: is it a scorer service?"
        )


def simulate(
    url: str,
    store: FeatureStore,
    *,
    requests: int,
    shift: float,
    concurrency: int,
    feedback_share: float,
    config: DemoDataConfig,
    say: Say,
    admin_key: str | None = None,
    send: Callable[[Traffic], PhaseResult] | None = None,
) -> tuple[PhaseResult, PhaseResult]:
    """Run the normal phase, shift the online store, run the shifted phase.

    ``send`` sends a phase's traffic some other way than ``POST /score`` calls to ``url``
    (through the request stream, say).

    Nothing is shifted unless the service scored some of the normal phase: shifted rows in
    the online store would only mislead the service that comes up next. With ``admin_key``
    each scored transaction's activity is pushed back through ``/push``.
    """
    if admin_key is None:
        say(f"activity pushes off: {PUSH_KEY_HINT} to push each customer's counts to /push")
    normal = generate(config)
    say(f"phase 1: {requests:,} requests like the training data")

    def phase(traffic: Traffic) -> PhaseResult:
        if send is not None:
            return send(traffic)
        return asyncio.run(send_phase(url, traffic, concurrency, feedback_share, admin_key))

    first = phase(entity_traffic(normal, requests, 1))
    say(f"  answers {dict(first.statuses)}, versions {dict(first.versions)}, "
        f"{first.labelled:,} labels sent")  # fmt: skip
    _say_pushes(first, say)
    if not first.statuses[200]:
        raise ServiceUnreachable(
            f"{url} scored none of the first phase's requests ({dict(first.statuses)}): "
            "the online store was left unshifted"
        )
    shifted = generate(DemoDataConfig(**{**config.__dict__, "shift": shift}))
    written = write_shifted_online_features(store, shifted)
    say(f"phase 2: drift knob at {shift:g}: {written:,} shifted online rows written, "
        f"{requests:,} requests with shifted amounts")  # fmt: skip
    second = phase(entity_traffic(shifted, requests, 2))
    say(f"  answers {dict(second.statuses)}, versions {dict(second.versions)}, "
        f"{second.labelled:,} labels sent")  # fmt: skip
    _say_pushes(second, say)
    return first, second


def _say_pushes(result: PhaseResult, say: Say) -> None:
    """The pushes' statuses, and what to set when the service refused the key."""
    if not result.pushes:
        return
    say(f"  activity pushes {dict(result.pushes)}")
    refused = result.pushes[401] + result.pushes[403]
    if refused:
        say(f"  the service refused {refused:,} pushes: {PUSH_KEY_HINT}")
