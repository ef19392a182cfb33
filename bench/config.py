"""Sizes, durations and rates of one bench run: the full run and the quick one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class BenchConfig:
    """Everything a bench run varies; ``full()`` and ``quick()`` are the two presets."""

    customers: int = 20_000
    merchants: int = 2_000
    transactions: int = 200_000
    entity_rows: int = 4096
    """Real (customer, merchant, amount) rows the load cycles through, one per request."""

    workers: int = field(default_factory=_cores)
    """Worker processes of both servers: one per core."""

    rounds: int = 4
    """Saturation runs per server, interleaved so that machine noise hits all of them alike.

    Four, because the log's cost (a few percent) is smaller than a single run's noise here.
    """
    wrk_threads: int = 2
    wrk_connections: int = 32
    wrk_duration_s: float = 15.0
    wrk_warmup_s: float = 5.0

    log_ab_rounds: int = 6
    """Fresh pairs of one-worker servers, log on and off, whose CPU a request gives the log's
    judged cost (``bench.log_cpu``): two instances of one server differ by several percent,
    so one pair is not enough."""
    log_ab_round_s: float = 5.0
    log_ab_connections: int = 16

    open_rates: tuple[float, ...] = (200.0, 500.0)
    open_duration_s: float = 15.0
    open_warmup_s: float = 2.0
    open_connections: int = 64
    """Enough that the generator's own pool rarely queues a request the server could take."""

    fetch_sizes: tuple[int, ...] = (1, 10, 100, 1000)
    fetch_repeats: int = 100

    batch_entities: int = 1000
    batch_requests: int = 100
    """A hundred, so that one slow moment of a shared machine moves the median little."""
    batch_rate: float = 10.0
    """Requests per second of the 1000-entity run: slow enough that they rarely overlap."""

    push_rows: int = 100
    """Rows in each ``/push``: a stream aggregator's micro-batch."""
    push_requests: int = 300
    """Pushes a run, each sent once (``bench.push_load`` says why)."""
    push_connections: int = 8

    stream_events: int = 60_000
    """Single-entity events in the backlog one, then two, stream consumers drain."""
    stream_rate: float = 1000.0
    """Events per second of the stream's latency run."""
    stream_duration_s: float = 20.0

    drift_rows: int = 10_000_000
    drift_files: int = 10
    drift_row_group: int = 100_000

    retrain_rows: int = 1_000_000
    retrain_max_rss_gib: int = 8
    """The retraining child is stopped past this RSS (or 60% of free memory, if less)."""
    retrain_timeout_s: float = 420.0

    @classmethod
    def full(cls) -> BenchConfig:
        """The run whose figures are compared with the targets (15 to 20 minutes)."""
        return cls()

    @classmethod
    def quick(cls) -> BenchConfig:
        """Smaller data and shorter loads, to check that everything works (about 3 minutes)."""
        return replace(
            cls(),
            customers=5_000,
            merchants=500,
            transactions=30_000,
            entity_rows=1024,
            rounds=1,
            wrk_duration_s=6.0,
            wrk_warmup_s=2.0,
            open_duration_s=5.0,
            open_warmup_s=1.0,
            fetch_repeats=30,
            batch_requests=20,
            push_requests=60,
            log_ab_rounds=2,
            log_ab_round_s=3.0,
            stream_events=10_000,
            stream_duration_s=5.0,
            drift_rows=1_000_000,
            drift_files=4,
            retrain_rows=100_000,
            retrain_timeout_s=180.0,
        )
