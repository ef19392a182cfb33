"""Stream scoring in tests: a Redis of the streams' own, events in, results out, a process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis

from jobs.demo.redis_server import LocalRedisServer, free_port
from scoring.settings import Settings

SCORER = str(Path(sys.executable).with_name("scorer"))


def stream_redis(workdir: Path) -> LocalRedisServer:
    """A started redis-server for the streams, apart from the online store's (restartable)."""
    return LocalRedisServer(free_port(), workdir).start()


def with_stream_redis(settings: Settings, server: LocalRedisServer, **changes: Any) -> Settings:
    """``settings`` whose streams live on ``server``."""
    url = f"redis://{server.host}:{server.port}/0"
    return settings.model_copy(update={"redis_url": url, **changes})


def client_of(settings: Settings) -> redis.Redis:
    """A plain client of the streams' Redis."""
    return redis.Redis.from_url(settings.service_redis_url(), socket_timeout=10)


def add_events(client: redis.Redis, stream: str, bodies: list[Any]) -> list[str]:
    """``XADD`` one entry a body (JSON-encoded unless bytes); their ids, in order."""
    pipe = client.pipeline(transaction=False)
    for body in bodies:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        pipe.xadd(stream, {"body": raw})
    return [i.decode() for i in pipe.execute()]


def entries(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """Every entry of ``stream``: its fields, JSON fields decoded (``body``, ``error``)."""
    out = []
    for entry_id, fields in client.xrange(stream):
        decoded: dict[str, Any] = {"id": entry_id.decode()}
        for key, value in fields.items():
            name = key.decode()
            decoded[name] = orjson.loads(value) if name in ("body", "error") else value.decode()
        out.append(decoded)
    return out


def wait_for(predicate: Any, timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout_s`` (a bound)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def pending_of(client: redis.Redis, stream: str, group: str) -> dict[str, int]:
    """Unacknowledged entries by consumer name."""
    summary = client.xpending(stream, group)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"]}


def pending_ids(client: redis.Redis, stream: str, group: str, consumer: str) -> set[str]:
    """The ids ``consumer`` holds unacknowledged."""
    held = client.xpending_range(stream, group, "-", "+", 100_000, consumer)
    return {p["message_id"].decode() for p in held}


@dataclass
class StreamProcess:
    """A real ``scorer stream`` child process configured from ``settings``."""

    settings: Settings
    name: str
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.settings.data_dir / f"stream-{self.name}.log"

    def start(self, timeout_s: float = 180) -> StreamProcess:
        # Bounds a wait, asserts no speed: importing Feast on a busy machine takes a while.
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
        env |= {
            "SCORER_FEATURE_REPO": str(s.feature_repo),
            "SCORER_DATA_DIR": str(s.data_dir),
            "SCORER_ONLINE_STORE": s.online_store,
            "SCORER_REDIS_URL": s.service_redis_url(),
            "SCORER_ONLINE_TIMEOUT_S": str(s.online_timeout_s),
            "SCORER_STREAM_CONSUMER": self.name,
            "SCORER_STREAM_BATCH_SIZE": str(s.stream_batch_size),
            "SCORER_STREAM_CLAIM_IDLE_S": str(s.stream_claim_idle_s),
            **self.extra_env,
        }
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [SCORER, "stream"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for(self._started, timeout_s, f"scorer stream {self.name} to start")
        except BaseException:
            self.kill()
            raise
        return self

    def _started(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"scorer stream exited: {self.log_path.read_text()}")
        return f"as {self.name} of group" in self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)

    def wait(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
