"""Stream scoring under load: ``scorer stream`` consumers fed through Redis Streams.

Throughput: a backlog of single-entity events appears at once (filled under another key,
then renamed onto the request stream) and one or two consumer processes drain it. Latency:
one consumer, events written at a fixed rate. Times come from the entries' ids, which Redis
stamps with its own clock when an entry is added (1 ms resolution): an event's latency is the
time from its entry to its result's entry.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from bench.servers import settings_environment, venv_command
from bench.stats import summarize_ms
from scoring.settings import Settings

FILL_CHUNK = 2000
"""Entries added per round trip when filling a backlog."""


@dataclass(frozen=True)
class StreamNames:
    """The streams of one measurement, apart from every other's."""

    prefix: str

    @property
    def requests(self) -> str:
        return f"{self.prefix}:requests"

    @property
    def results(self) -> str:
        return f"{self.prefix}:results"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"


@dataclass
class ConsumerProcess:
    """A ``scorer stream`` child process, ready once it logs that it consumes."""

    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout_s: float = 120.0) -> ConsumerProcess:
        """Start the consumer and wait until it reads the stream."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [venv_command("scorer"), "stream"], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up; see {self.log_path}")
            if f"as {self.name} of group" in self.log_path.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within {timeout_s:g} s; see {self.log_path}")

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit code (None: not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def consumer(
    settings: Settings,
    *,
    repo: Path,
    data_dir: Path,
    online_store: str,
    names: StreamNames,
    name: str,
    log_path: Path,
) -> ConsumerProcess:
    """A ``scorer stream`` on the bench's repo, registry and Redis (streams included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    env.update(settings_environment(settings))
    for key in list(env):  # the bench names the streams and the consumer
        if key.startswith("SCORER_STREAM_"):
            del env[key]
    env.update(
        SCORER_FEATURE_REPO=str(repo),
        SCORER_DATA_DIR=str(data_dir),
        SCORER_ONLINE_STORE=online_store,
        SCORER_LOG_ENABLED="true",
        SCORER_STREAM_REQUESTS=names.requests,
        SCORER_STREAM_RESULTS=names.results,
        SCORER_STREAM_DEAD=names.dead,
        SCORER_STREAM_GROUP=settings.stream_group,
        SCORER_STREAM_CONSUMER=name,
        SCORER_STREAM_BATCH_SIZE=str(settings.stream_batch_size),
        SCORER_STREAM_BLOCK_MS=str(settings.stream_block_ms),
    )
    return ConsumerProcess(name, env, log_path)


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _length(client: redis.Redis, stream: str) -> int:
    return int(cast(int, client.xlen(stream)))


def _entries(client: redis.Redis, stream: str) -> Entries:
    return cast(Entries, client.xrange(stream))


def _millis(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def _wait_for_results(client: redis.Redis, names: StreamNames, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _length(client, names.results) + _length(client, names.dead) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{_length(client, names.results):,} results of {n:,} events after {timeout_s:g} s"
            )
        time.sleep(0.05)


def drain_backlog(
    client: redis.Redis,
    names: StreamNames,
    consumers: Sequence[ConsumerProcess],
    bodies: Sequence[bytes],
    events: int,
) -> dict[str, Any]:
    """Events/s of ``consumers`` (already started) draining a backlog of ``events`` at once."""
    staging = f"{names.prefix}:staging"
    for start in range(0, events, FILL_CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + FILL_CHUNK, events)):
            pipe.xadd(staging, {"body": bodies[i % len(bodies)]})
        pipe.execute()
    client.xgroup_create(staging, consumers[0].env["SCORER_STREAM_GROUP"], id="0")
    seconds, micros = cast(tuple[int, int], client.time())
    client.rename(staging, names.requests)  # the whole backlog appears at once
    appeared_ms = seconds * 1000 + micros / 1000
    _wait_for_results(client, names, events, timeout_s=60 + events / 200)
    [(last_id, _)] = cast(Entries, client.xrevrange(names.results, count=1))
    elapsed_s = (_millis(last_id) - appeared_ms) / 1000
    exit_codes = [c.stop() for c in consumers]
    return {
        "consumers": len(consumers),
        "events": events,
        "results": _length(client, names.results),
        "dead": _length(client, names.dead),
        "seconds": elapsed_s,
        "events_per_s": events / elapsed_s if elapsed_s > 0 else None,
        "exit_codes": exit_codes,
    }


def fixed_rate(
    client: redis.Redis,
    names: StreamNames,
    bodies: Sequence[bytes],
    rate: float,
    duration_s: float,
) -> dict[str, Any]:
    """Event-to-result latency of a running consumer fed ``rate`` events/s for ``duration_s``."""
    n = int(rate * duration_s)
    started = time.perf_counter()
    for i in range(n):
        wait = started + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        client.xadd(names.requests, {"body": bodies[i % len(bodies)]})
    sent_s = time.perf_counter() - started
    _wait_for_results(client, names, n, timeout_s=60 + n / 200)
    added = {entry_id: _millis(entry_id) for entry_id, _ in _entries(client, names.requests)}
    latencies = [
        _millis(result_id) - added[fields[b"event_id"]]
        for result_id, fields in _entries(client, names.results)
        if fields[b"event_id"] in added
    ]
    return {
        "rate": rate,
        "events": n,
        "achieved_rate": n / sent_s if sent_s > 0 else None,
        "dead": _length(client, names.dead),
        "resolution_ms": 1,
        "latency": summarize_ms(latencies),
    }
