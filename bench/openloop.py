"""Open-loop HTTP load at a fixed rate, latency measured from each request's intended send time.

Request ``i`` is due at ``start + i / rate`` whatever happened to the requests before it, and
its latency runs from then to the last byte of its response: a slow server cannot slow the
schedule down and so hide its own queueing (no coordinated omission). Requests go over a fixed
pool of keep-alive HTTP/1.1 connections as raw bytes on asyncio streams, which costs the
generator far less per request than an HTTP client library's request and response objects.

Run it as its own process, so it does not share an interpreter with the code measuring::

    python -m bench.openloop --url http://127.0.0.1:8000/score --bodies bodies.jsonl --rate 500

It prints one JSON object: statuses, errors, and latency, service time and send lag in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.child import python_environment
from bench.stats import summarize_ms

LATENCY_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class ProtocolError(Exception):
    """The server answered something that is not an HTTP/1.1 response we can read."""


@dataclass(frozen=True)
class LoadPlan:
    """What to send, where, how fast and for how long."""

    url: str
    bodies: Sequence[bytes]
    rate: float
    duration_s: float
    connections: int = 16
    warmup_s: float = 0.0
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.bodies:
            raise ValueError("the load plan needs at least one request body")
        if self.rate <= 0 or self.duration_s <= 0 or self.connections < 1:
            raise ValueError("rate and duration must be positive, connections at least 1")


@dataclass
class _Record:
    """Per-request outcomes of the measured part of a run (warm-up requests are not kept)."""

    latency_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def encode_request(url: str, body: bytes) -> bytes:
    """A complete ``POST`` request with a JSON body, ready to write to a keep-alive connection."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response to its last byte; return its status and whether the server closes."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    length: int | None = None
    chunked = closes = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            closes = value == b"close"
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # no length: the body ends when the server closes
        closes = True
    return int(parts[1]), closes


class _Connection:
    """One keep-alive connection, reopened after an error or a ``Connection: close``."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> None:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)

    async def exchange(self, request: bytes) -> int:
        await self.open()
        assert self._streams is not None
        reader, writer = self._streams
        writer.write(request)
        status, closes = await read_response(reader)
        if closes:
            self.close()
        return status

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def run_load(plan: LoadPlan) -> dict[str, Any]:
    """Send ``plan`` on schedule and summarize the requests due after the warm-up."""
    parts = urlsplit(plan.url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"only plain http:// URLs are supported, not {plan.url!r}")
    requests = [encode_request(plan.url, body) for body in plan.bodies]
    total = math.ceil((plan.warmup_s + plan.duration_s) * plan.rate)
    connections = [_Connection(parts.hostname, parts.port or 80) for _ in range(plan.connections)]
    await asyncio.gather(*(c.open() for c in connections))
    # perf_counter, not loop.time(): uvloop's clock only moves in whole milliseconds.
    clock = time.perf_counter
    record = _Record()
    start = clock() + 0.05  # every worker is waiting on its first due time by then
    # Requests still unsent this long after the schedule's end are given up, so an
    # overloaded server cannot stretch the run without bound.
    give_up_at = start + plan.warmup_s + plan.duration_s + plan.timeout_s
    next_index = 0

    async def worker(connection: _Connection) -> None:
        nonlocal next_index
        while next_index < total:
            i = next_index
            next_index += 1
            due = start + i / plan.rate
            measured = i / plan.rate >= plan.warmup_s
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = clock()
            if sent > give_up_at:
                if measured:
                    record.errors["not_sent"] += 1
                continue
            try:
                async with asyncio.timeout(plan.timeout_s):
                    status = await connection.exchange(requests[i % len(requests)])
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
                connection.close()
                if measured:
                    record.errors[type(exc).__name__] += 1
                continue
            done = clock()
            if measured:
                record.statuses[status] += 1
                record.latency_ms.append((done - due) * 1e3)
                record.service_ms.append((done - sent) * 1e3)
                record.lag_ms.append((sent - due) * 1e3)

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    return _summary(plan, record, total - math.ceil(plan.warmup_s * plan.rate))


def _summary(plan: LoadPlan, record: _Record, scheduled: int) -> dict[str, Any]:
    ok = sum(n for status, n in record.statuses.items() if 200 <= status < 300)
    non_2xx = sum(record.statuses.values()) - ok
    return {
        "rate": plan.rate,
        "duration_s": plan.duration_s,
        "connections": plan.connections,
        "scheduled": scheduled,
        "ok": ok,
        "non_2xx": non_2xx,
        "errors": sum(record.errors.values()),
        "statuses": {str(k): v for k, v in sorted(record.statuses.items())},
        "error_kinds": dict(record.errors),
        "achieved_rps": ok / plan.duration_s,
        "latency": summarize_ms(record.latency_ms, LATENCY_PERCENTILES),
        "service_time": summarize_ms(record.service_ms, LATENCY_PERCENTILES),
        "send_lag": summarize_ms(record.lag_ms, LATENCY_PERCENTILES),
    }


def run_load_process(
    plan: LoadPlan, bodies_file: Path, python: str = sys.executable
) -> dict[str, Any]:
    """Run ``plan`` in a child process (``python -m bench.openloop``) and return its summary.

    ``bodies_file`` receives the plan's bodies, one per line, for the child to read.
    """
    bodies_file.write_bytes(b"".join(body + b"\n" for body in plan.bodies))
    command = [
        python, "-m", "bench.openloop", "--url", plan.url, "--bodies", str(bodies_file),
        "--rate", str(plan.rate), "--duration", str(plan.duration_s),
        "--warmup", str(plan.warmup_s), "--connections", str(plan.connections),
        "--timeout", str(plan.timeout_s),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        env=python_environment(),
        timeout=plan.warmup_s + plan.duration_s + 2 * plan.timeout_s + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"open-loop generator failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def _run_fast(plan: LoadPlan) -> dict[str, Any]:
    """Run on uvloop when it is installed (uvicorn[standard] brings it): less overhead."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run_load(plan))
    return uvloop.run(run_load(plan))


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: run one load plan and print its JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="http://host:port/path to POST to")
    parser.add_argument("--bodies", required=True, type=Path, help="JSON bodies, one a line")
    parser.add_argument("--rate", required=True, type=float, help="requests per second")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not measured")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout (s)")
    args = parser.parse_args(argv)
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line.strip()]
    plan = LoadPlan(
        url=args.url,
        bodies=bodies,
        rate=args.rate,
        duration_s=args.duration,
        connections=args.connections,
        warmup_s=args.warmup,
        timeout_s=args.timeout,
    )
    summary = _run_fast(plan)
    sys.stdout.buffer.write(orjson.dumps(summary) + b"\n")


if __name__ == "__main__":
    main()
