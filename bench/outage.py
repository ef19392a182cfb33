"""Answers while the online store is stalled, with the circuit breaker off and on.

``python -m bench.outage`` builds the bench's own world (a Redis, the demo repo, a trained
model), then, for each setting, starts ``scorer serve`` (one worker), scores single entities
from concurrent clients, pauses Redis (``CLIENT PAUSE``) for a few seconds and lets it come
back. It prints the latency of answers sent while Redis was healthy and while it was paused
(p50, p99, max), how many of the latter were 503, and how long after Redis came back the
first 200 arrived. With the breaker off every request waits out its budget; with it on, the
requests after the first few failures are refused at once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import redis

from bench.config import BenchConfig
from bench.servers import scorer_server
from bench.stats import summarize_ms
from bench.workspace import Workspace, entity_sample, prepare_workspace
from scoring.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sent:
    """One ``/score`` request: when it was sent (monotonic), how long it took, its status."""

    at: float
    elapsed_s: float
    status: int


@dataclass(frozen=True)
class OutageRun:
    """What the clients saw of one outage."""

    label: str
    healthy: list[Sent]
    during: list[Sent]
    recovery_s: float | None
    """From Redis's return to the first 200 of a request sent after it."""


async def _client(
    client: httpx.AsyncClient, bodies: Sequence[bytes], offset: int, until: float, out: list[Sent]
) -> None:
    i = offset
    while time.monotonic() < until:
        body = bodies[i % len(bodies)]
        i += 1
        sent = time.monotonic()
        try:
            response = await client.post(
                "/score", content=body, headers={"content-type": "application/json"}
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        out.append(Sent(sent, time.monotonic() - sent, status))


async def _outage(
    url: str, bodies: Sequence[bytes], redis_port: int, concurrency: int, healthy_s: float,
    outage_s: float, after_s: float,
) -> tuple[list[Sent], float, float]:  # fmt: skip
    """Load through a pause of Redis; all answers, and when the pause started and ended."""
    answers: list[Sent] = []
    start = time.monotonic()
    paused_at = start + healthy_s
    back_at = paused_at + outage_s
    until = back_at + after_s
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        clients = [
            asyncio.create_task(_client(client, bodies, k, until, answers))
            for k in range(concurrency)
        ]
        await asyncio.sleep(paused_at - time.monotonic())
        admin = redis.Redis(port=redis_port, socket_timeout=5)
        admin.client_pause(int(outage_s * 1000), all=True)
        admin.close()
        await asyncio.gather(*clients)
    return answers, paused_at, back_at


def measure(
    ws: Workspace, label: str, circuit_failures: int, entities: Sequence[dict[str, Any]],
    concurrency: int, outage_s: float,
) -> OutageRun:  # fmt: skip
    """One ``scorer serve`` with the breaker set as given, through one pause of Redis."""
    settings = Settings().model_copy(update={"circuit_failures": circuit_failures})
    server = scorer_server(
        settings, repo=ws.repo, data_dir=ws.data_dir, online_store=ws.online_store,
        workers=1, log_enabled=True, log_path=ws.root / "logs" / f"outage-{label}.log",
    ).start()  # fmt: skip
    try:
        bodies = [httpx.Request("POST", "/", json={"entities": [e]}).read() for e in entities]
        answers, paused_at, back_at = asyncio.run(
            _outage(server.url, bodies, ws.redis.port, concurrency, 3.0, outage_s, 4.0)
        )
    finally:
        server.stop()
    healthy = [a for a in answers if a.at < paused_at]
    during = [a for a in answers if paused_at <= a.at < back_at]
    healed = [a.at + a.elapsed_s for a in answers if a.at >= back_at and a.status == 200]
    recovery = min(healed) - back_at if healed else None
    return OutageRun(label, healthy, during, recovery)


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def report(runs: Sequence[OutageRun], budget_s: float, outage_s: float) -> str:
    """A plain-text table of the runs."""
    lines = [
        f"online store paused for {outage_s:g} s; request budget {budget_s * 1000:g} ms",
        f"{'breaker':<10}{'healthy p50':>12}{'p99':>8}{'outage n':>10}{'503 %':>7}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'back after s':>14}",
    ]
    for run in runs:
        healthy = summarize_ms([a.elapsed_s * 1000 for a in run.healthy])
        during = summarize_ms([a.elapsed_s * 1000 for a in run.during])
        failed = sum(a.status != 200 for a in run.during)
        share = 100 * failed / len(run.during) if run.during else 0.0
        back = "-" if run.recovery_s is None else f"{run.recovery_s:.2f}"
        lines.append(
            f"{run.label:<10}{_ms(healthy['p50_ms']):>12}{_ms(healthy['p99_ms']):>8}"
            f"{len(run.during):>10}{share:>7.1f}{_ms(during['p50_ms']):>9}"
            f"{_ms(during['p99_ms']):>9}{_ms(during['max_ms']):>9}{back:>14}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the workspace, measure an outage with the breaker off and on, print both."""
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--outage-s", type=float, default=5.0, help="how long Redis is paused")
    args = parser.parse_args(argv)
    config = BenchConfig.quick()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="scorer-outage-") as tmp:
        ws = prepare_workspace(Path(tmp), ROOT / "feature_repo", config, print, stack)
        entities = entity_sample(ws.transactions, config.entity_rows)
        runs = [
            measure(ws, label, failures, entities, args.concurrency, args.outage_s)
            for label, failures in (("off", 0), ("on", Settings().circuit_failures or 5))
        ]
    print(report(runs, Settings().online_timeout_s, args.outage_s))


if __name__ == "__main__":
    main()
