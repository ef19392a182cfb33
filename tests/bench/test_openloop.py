"""The open-loop generator against a tiny local HTTP server: schedule, counts, no omission."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench.openloop import LoadPlan, encode_request, run_load

Reply = Callable[[int], Awaitable[bytes]]


def _fixed(status: int = 200, body: bytes = b'{"ok":true}') -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _chunked(body: bytes) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:3], body[3:]))
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


async def _serve_and_load(reply: Reply, **plan: Any) -> tuple[dict[str, Any], list[bytes]]:
    """Run ``plan`` against a server answering request ``n`` with ``await reply(n)``."""
    counter = itertools.count()
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                bodies.append(await reader.readexactly(length))
                writer.write(await reply(next(counter)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        summary = await run_load(LoadPlan(url=f"http://127.0.0.1:{port}/score", **plan))
    finally:
        server.close()
        await server.wait_closed()
    return summary, bodies


def test_sends_every_scheduled_request_and_counts_statuses() -> None:
    async def reply(n: int) -> bytes:
        return _fixed(503 if n % 10 == 0 else 200) if n % 7 else _chunked(b'{"chunked":1}')

    bodies = [b'{"n":1}', b'{"n":2}']
    summary, received = asyncio.run(
        _serve_and_load(reply, bodies=bodies, rate=200, duration_s=0.25, warmup_s=0.1)
    )
    # 70 requests in all, of which the 20 due in the warm-up are sent but not counted.
    assert len(received) == 70
    assert set(received) == set(bodies)
    assert summary["scheduled"] == 50
    assert summary["ok"] + summary["non_2xx"] == 50
    assert summary["errors"] == 0
    assert summary["latency"]["count"] == 50
    assert summary["latency"]["p50_ms"] <= summary["latency"]["p99_ms"]


def test_latency_counts_from_the_intended_send_time() -> None:
    # One connection, and the first request stalls the server for 200 ms: the requests due
    # meanwhile wait behind it. A closed-loop client would report one slow request; here the
    # ones due during the stall are slow too, by how long they waited past their due time.
    async def reply(n: int) -> bytes:
        if n == 0:
            await asyncio.sleep(0.2)
        return _fixed()

    summary, _ = asyncio.run(
        _serve_and_load(reply, bodies=[b"{}"], rate=100, duration_s=0.5, connections=1)
    )
    latency = summary["latency"]
    assert summary["ok"] == 50
    assert latency["max_ms"] >= 200
    # Requests 0..10 are due at 0..100 ms and answered after 200 ms: 11 of 50 wait >= 100 ms.
    assert latency["p90_ms"] >= 100


def test_a_server_that_never_answers_ends_in_counted_errors() -> None:
    async def reply(_n: int) -> bytes:
        await asyncio.sleep(3600)
        return b""

    summary, _ = asyncio.run(
        _serve_and_load(
            reply, bodies=[b"{}"], rate=50, duration_s=0.2, connections=2, timeout_s=0.2
        )
    )
    assert summary["ok"] == 0
    assert summary["errors"] == summary["scheduled"] == 10
    assert set(summary["error_kinds"]) <= {"TimeoutError", "not_sent"}


def test_request_bytes() -> None:
    request = encode_request("http://127.0.0.1:8000/score?x=1", b'{"a":1}')
    assert request.startswith(b"POST /score?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"\r\nContent-Length: 7\r\n\r\n" in request
    assert request.endswith(b'\r\n\r\n{"a":1}')


@pytest.mark.parametrize(
    "plan", [{"bodies": []}, {"rate": 0}, {"connections": 0}], ids=["no-body", "rate", "conns"]
)
def test_a_plan_that_cannot_run_is_refused(plan: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="at least"):
        LoadPlan(**{"url": "http://x", "bodies": [b"{}"], "rate": 1, "duration_s": 1, **plan})
