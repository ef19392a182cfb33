"""Rows pushed a second: our ``POST /push`` against ``feast serve``'s, with Feast's own body.

Both servers write the same Redis, and Feast's Redis store skips a row whose event is not
newer than the stored one: a body sent twice, or a server measured after the other with the
same bodies, would be measured skipping writes. So every body is sent once, and each run's
bodies are made just before it, with event times later than any run before: every row of
every run is a real write. Each body sweeps the next customers, so the rows of one run meet
an entity once per sweep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import orjson

from bench.stats import ratio, summarize_ms

Say = Callable[[str], None]
PUSH_SOURCE = "customer_activity_push"


@dataclass(frozen=True)
class PushSubject:
    """A server's ``/push`` and the headers it needs (ours: the admin key)."""

    key: str
    label: str
    url: str
    headers: Mapping[str, str]


def push_bodies(customers: Sequence[int], rows: int, pushes: int) -> list[bytes]:
    """``pushes`` Feast push bodies of ``rows`` activity rows each, event times from now on."""
    start = datetime.now(UTC)
    bodies = []
    for push in range(pushes):
        at = (start + timedelta(microseconds=push)).isoformat()
        first = push * rows
        ids = [customers[(first + i) % len(customers)] for i in range(rows)]
        counts = [(first + i) % 17 for i in range(rows)]
        df = {
            "customer_id": ids,
            "event_timestamp": [at] * rows,
            "txn_count_1h": counts,
            "txn_amount_1h": [c * 12.5 for c in counts],
            "txn_count_24h": [c * 3 for c in counts],
        }
        bodies.append(orjson.dumps({"push_source_name": PUSH_SOURCE, "df": df, "to": "online"}))
    return bodies


async def _send_all(
    subject: PushSubject, bodies: Sequence[bytes], connections: int, timeout_s: float
) -> dict[str, Any]:
    """Send every body once over ``connections`` connections; count and time the answers."""
    queue = iter(bodies)
    durations_ms: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"Content-Type": "application/json", **subject.headers}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:

        async def worker() -> None:
            for body in queue:  # one shared iterator: each body goes out once
                started = time.perf_counter()
                try:
                    response = await client.post(subject.url, content=body, headers=headers)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                durations_ms.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "statuses": statuses, "latency": summarize_ms(durations_ms)}


def measure_push(
    subject: PushSubject, bodies: Sequence[bytes], rows: int, connections: int
) -> dict[str, Any]:
    """One run: every body pushed once; rows a second counts only the answers of 200."""
    result = asyncio.run(_send_all(subject, bodies, connections, timeout_s=30.0))
    ok = result["statuses"].get("200", 0)
    result["rows_per_s"] = ok * rows / result["seconds"]
    result["pushes"] = len(bodies)
    result["failed"] = len(bodies) - ok
    return result


def check_push(subject: PushSubject, customers: Sequence[int]) -> None:
    """One push of one row: the server takes Feast's body, or the bench stops here."""
    body = push_bodies(customers, rows=1, pushes=1)[0]
    headers = {"Content-Type": "application/json", **subject.headers}
    answer = httpx.post(subject.url, content=body, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"{subject.label} answered {answer.status_code}: {answer.text[:500]}")


def push_throughput(
    subjects: Sequence[PushSubject],
    customers: Sequence[int],
    *,
    rows: int,
    pushes: int,
    connections: int,
    rounds: int,
    say: Say,
) -> dict[str, Any]:
    """Rows a second each subject takes, in interleaved rounds (reversed every other one)."""
    for subject in subjects:
        check_push(subject, customers)
    # Every worker of each server pushes before any run counts: a worker's first pushes pay
    # for Feast's lazy imports and registry reads, which made whichever server went first
    # look up to half as fast.
    for subject in subjects:
        say(f"push warm-up: {subject.label}")
        warm_up = push_bodies(customers, rows, pushes=4 * connections)
        measure_push(subject, warm_up, rows, connections)
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in subjects}
    for round_index in range(rounds):
        order = list(subjects) if round_index % 2 == 0 else list(reversed(subjects))
        for subject in order:
            say(f"push round {round_index + 1}/{rounds}: {subject.label}, "
                f"{pushes} pushes of {rows} rows")  # fmt: skip
            # Made now: later event times than every run before, so no row is skipped.
            result = measure_push(subject, push_bodies(customers, rows, pushes), rows, connections)
            latency = result["latency"]
            say(f"  {result['rows_per_s']:,.0f} rows/s, p50 {latency['p50_ms']:.1f} ms, "
                f"p99 {latency['p99_ms']:.1f} ms a push, failed {result['failed']}")  # fmt: skip
            runs[subject.key].append(result)
    summary: dict[str, Any] = {"rows_per_push": rows, "pushes": pushes, "connections": connections}
    for key, done in runs.items():
        summary[key] = {
            "rows_per_s": sum(r["rows_per_s"] for r in done) / len(done),
            "p50_ms": sum(r["latency"]["p50_ms"] or 0.0 for r in done) / len(done),
            "p99_ms": sum(r["latency"]["p99_ms"] or 0.0 for r in done) / len(done),
            "failed": sum(r["failed"] for r in done),
            "runs": done,
        }
    if "ours" in summary and "feast" in summary:
        summary["ratio_ours_to_feast"] = ratio(
            summary["ours"]["rows_per_s"], summary["feast"]["rows_per_s"]
        )
    return summary
