"""Running `scorer serve` as a real process, and loading it from client threads."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from jobs.demo.redis_server import free_port
from scoring.settings import Settings


@dataclass
class ServerProcess:
    """A `scorer serve` child process configured from ``settings``."""

    settings: Settings
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180) -> ServerProcess:
        # Bounds a wait, asserts no speed: on a busy machine, two workers importing Feast at
        # once take a minute before they even start.
        s = self.settings
        env = {
            **os.environ,
            "SCORER_FEATURE_REPO": str(s.feature_repo),
            "SCORER_DATA_DIR": str(s.data_dir),
            "SCORER_ONLINE_STORE": s.online_store,
            "SCORER_RELOAD_INTERVAL_S": str(s.reload_interval_s),
            "SCORER_ONLINE_TIMEOUT_S": str(s.online_timeout_s),
            **self.extra_env,
        }
        if s.admin_key is not None:
            env["SCORER_ADMIN_KEY"] = s.admin_key.get_secret_value()
        scorer = str(Path(sys.executable).with_name("scorer"))
        with open(s.data_dir / "serve.log", "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [scorer, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers share a process group we can kill whole
            )  # fmt: skip
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            # Never ready, or the wait was interrupted: no test would stop what was started,
            # and the workers of a server that exited may still be running.
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Until ``/health/ready`` answers 200 and every worker has started.

        One ready worker answers the probe while another may still be importing Feast; on a
        busy machine the first would then answer everything a test sends, and a test about
        several workers would watch one. Each worker says once that its startup is complete.
        """
        assert self.process is not None
        log = self.settings.data_dir / "serve.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"scorer serve exited: {log.read_text()}")
            try:
                ready = httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and self.started_workers() >= self.workers:
                return
            time.sleep(0.2)
        raise AssertionError(f"scorer serve did not become ready: {log.read_text()}")

    def started_workers(self) -> int:
        """How many workers have completed their startup so far (replacements included)."""
        log = self.settings.data_dir / "serve.log"
        return log.read_bytes().count(b"Application startup complete.")

    def wait(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server and every worker it started."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def group_alive(self) -> bool:
        """Whether any process of the server's group still exists."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.kill_all()
            self.process.wait()

    def worker_pids(self) -> set[int]:
        """The worker processes the server runs now (its children that uvicorn spawned)."""
        assert self.process is not None
        pids = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            if parent == self.process.pid and b"spawn_main" in cmdline:  # not its tracker
                pids.add(int(entry.name))
        return pids


@dataclass
class Load:
    """Client threads posting single-entity /score requests until stopped or bounded in time.

    The bound is time, not a request count: a count runs out sooner the faster the service
    gets, and a test waiting on a job (a retrain, say) would then watch a load that had
    already ended.
    """

    url: str
    entities: list[dict[str, Any]]
    threads: int = 4
    max_seconds: float = 300.0
    pause_s: float = 0.0
    """Sleep between a thread's requests, to leave the machine's cores to a job under test."""
    fresh_connections: bool = False
    """A new connection for each request, so that every worker of the server gets some."""
    statuses: Counter[int | str] = field(default_factory=Counter)
    versions: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    """The ``request_id`` of every request answered 200."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, offset: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        limits = httpx.Limits(max_keepalive_connections=0 if self.fresh_connections else 20)
        with httpx.Client(timeout=10, limits=limits) as client:
            for i in itertools.count():
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                entity = self.entities[(offset + i * self.threads) % len(self.entities)]
                try:
                    response = client.post(f"{self.url}/score", json={"entities": [entity]})
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.statuses[type(exc).__name__] += 1
                    if self._stop.wait(0.01):
                        return
                    continue
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        answer = response.json()
                        self.versions.append(answer["version"])
                        self.request_ids.append(answer["request_id"])
                if self.pause_s and self._stop.wait(self.pause_s):
                    return

    def start(self) -> Load:
        for k in range(self.threads):
            thread = threading.Thread(target=self._run, args=(k,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def running(self) -> bool:
        """Whether any client thread is still sending."""
        return any(thread.is_alive() for thread in self._workers)

    def answered(self) -> int:
        with self._lock:
            return self.statuses[200]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)
