"""Client threads that keep scoring through an online store outage and note every answer."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx2 as httpx


@dataclass(frozen=True)
class Answer:
    """One ``/score`` answer as a client saw it."""

    sent: float
    """``time.monotonic()`` when the request was sent."""
    elapsed: float
    status: int
    content_type: str
    retry_after: str | None
    detail: str


class ScoringClients:
    """Threads posting single-entity ``/score`` requests, bounded in time, until stopped."""

    def __init__(
        self,
        url: str,
        entities: list[dict[str, Any]],
        threads: int = 3,
        pause_s: float = 0.02,
        max_seconds: float = 120.0,
    ) -> None:
        self.url = url
        self.entities = entities
        self.answers: list[Answer] = []
        self.errors: Counter[str] = Counter()
        self._threads = [
            threading.Thread(target=self._run, args=(k, threads), daemon=True)
            for k in range(threads)
        ]
        self._pause_s = pause_s
        self._max_seconds = max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._probe = httpx.Client(timeout=30)

    def _run(self, offset: int, step: int) -> None:
        deadline = time.monotonic() + self._max_seconds
        i = offset
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                entity = self.entities[i % len(self.entities)]
                i += step
                sent = time.monotonic()
                try:
                    response = client.post(f"{self.url}/score", json={"entities": [entity]})
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.errors[type(exc).__name__] += 1
                    self._stop.wait(0.05)
                    continue
                elapsed = time.monotonic() - sent
                detail = ""
                if response.status_code != 200:
                    detail = str(response.json().get("detail", ""))
                answer = Answer(
                    sent, elapsed, response.status_code,
                    response.headers.get("content-type", ""),
                    response.headers.get("retry-after"), detail,
                )  # fmt: skip
                with self._lock:
                    self.answers.append(answer)
                self._stop.wait(self._pause_s)

    def __enter__(self) -> ScoringClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        self._probe.close()

    def get(self, path: str) -> httpx.Response:
        """A GET from the test's own connection (readiness, metrics)."""
        return self._probe.get(f"{self.url}{path}")

    def wait_for(self, matches: Callable[[Answer], bool], timeout_s: float) -> Answer | None:
        """The first answer (by arrival) that ``matches``, waiting up to ``timeout_s`` for one."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = [a for a in self.answers if matches(a)]
            if found:
                return min(found, key=lambda a: a.sent + a.elapsed)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def summary(self) -> str:
        """Counts of answers by status and detail, and transport errors, for a failure message."""
        with self._lock:
            kinds = Counter(f"{a.status} {a.detail[:60]}" for a in self.answers)
        return f"{dict(kinds)}, errors {dict(self.errors)}"


def metric_value(text: str, name: str) -> float:
    """The value of an unlabelled metric in Prometheus text."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is not in /metrics"
    return float(found.group(1))
