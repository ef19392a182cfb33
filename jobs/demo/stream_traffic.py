"""The simulation's traffic through Redis Streams: transactions in, results read back.

What ``scorer simulate --via stream`` sends instead of ``POST /score`` calls: each transaction
is an entry of the request stream, the way a stream processor upstream would write it, and
its result (or dead letter) is read back from the output streams by the entry's id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import httpx2 as httpx
import orjson
import redis

from jobs.demo.simulate import ACTIVITY_PUSH, PhaseResult, updated_activity

SEND_CHUNK = 500
"""Entries added per round trip."""

QUIET_S = 60.0
"""Give up on the results still missing after this long without a new one."""

Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class StreamRoute:
    """Where the transactions go and where their results come back."""

    redis_url: str
    requests: str
    results: str
    dead: str


def _last_id(client: redis.Redis, stream: str) -> bytes:
    newest = cast(Entries, client.xrevrange(stream, count=1))
    return newest[0][0] if newest else b"0-0"


def send_phase_via_stream(
    route: StreamRoute,
    url: str,
    traffic: list[tuple[dict[str, object], int]],
    feedback_share: float,
    admin_key: str | None = None,
) -> PhaseResult:
    """Add every row to the request stream, read each one's result back, send the labels of a
    share of them to ``url``'s ``/feedback`` (the result's ``request_id`` is the entry's id).

    With ``admin_key``, each scored transaction's customer activity is then pushed to ``url``'s
    ``/push``, as the HTTP traffic does.
    """
    result = PhaseResult()
    every = max(1, round(1 / feedback_share)) if feedback_share > 0 else 0
    client = redis.Redis.from_url(route.redis_url, socket_timeout=30)
    try:
        # Results and dead letters of this phase come after these.
        seen: dict[Any, Any] = {
            route.results: _last_id(client, route.results),
            route.dead: _last_id(client, route.dead),
        }
        truth: dict[bytes, tuple[int, int]] = {}
        for start in range(0, len(traffic), SEND_CHUNK):
            pipe = client.pipeline(transaction=False)
            chunk = traffic[start : start + SEND_CHUNK]
            for entity, _ in chunk:
                body = {"entities": [entity], "include_features": admin_key is not None}
                pipe.xadd(route.requests, {"body": orjson.dumps(body)})
            for i, event_id in enumerate(pipe.execute()):
                truth[event_id] = (start + i, chunk[i][1])
        labels, scored = _read_back(client, route, seen, truth, result, every)
    finally:
        client.close()
    with httpx.Client(base_url=url, timeout=30) as http:
        if admin_key is not None:
            _push_activity(http, admin_key, traffic, scored, result)
        for start in range(0, len(labels), 1000):
            response = http.post("/feedback", json=labels[start : start + 1000])
            response.raise_for_status()
    result.labelled = len(labels)
    return result


def _push_activity(
    http: httpx.Client,
    admin_key: str,
    traffic: list[tuple[dict[str, object], int]],
    scored: list[tuple[int, dict[str, object]]],
    result: PhaseResult,
) -> None:
    """Push each scored transaction's updated customer activity, in the order they came back."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    for index, features in scored:
        df = updated_activity(traffic[index][0], features, datetime.now(UTC))
        if df is None:
            continue
        body = {"push_source_name": ACTIVITY_PUSH, "df": df, "to": "online"}
        try:
            response = http.post("/push", json=body, headers=headers)
        except httpx.HTTPError as exc:
            result.pushes[type(exc).__name__] += 1
            continue
        result.pushes[response.status_code] += 1


def _read_back(
    client: redis.Redis,
    route: StreamRoute,
    seen: dict[Any, Any],
    truth: dict[bytes, tuple[int, int]],
    result: PhaseResult,
    every: int,
) -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, object]]]]:
    """Read results and dead letters until every entry has one, or none came for a while.

    Returns the labels to send, and each scored row's index with the features it was scored
    with (when the body asked for them).
    """
    labels: list[dict[str, Any]] = []
    scored: list[tuple[int, dict[str, object]]] = []
    waiting = set(truth)
    quiet_since = time.monotonic()
    while waiting and time.monotonic() - quiet_since < QUIET_S:
        answer = cast(list[Any], client.xread(seen, count=1000, block=1000)) or []
        for stream, found in answer:
            name = stream.decode()
            for entry_id, fields in found:
                seen[name] = entry_id
                event_id = fields.get(b"event_id")
                if event_id not in waiting:
                    continue  # another producer's, or a second result of one already counted
                waiting.discard(event_id)
                quiet_since = time.monotonic()
                if name == route.dead:
                    result.statuses[int(orjson.loads(fields[b"error"])["status"])] += 1
                    continue
                body = orjson.loads(fields[b"body"])
                result.statuses[200] += 1
                result.versions[body["version"]] += 1
                index, label = truth[event_id]
                scored.append((index, body["predictions"][0].get("features", {})))
                if every and index % every == 0:
                    labels.append({"request_id": body["request_id"], "label": label})
    if waiting:
        result.statuses["no result"] += len(waiting)
    return labels, scored
