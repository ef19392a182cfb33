"""The two servers under load, each a child process group: ``scorer serve`` and ``feast serve``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx

from features.store import feast_environment
from jobs.demo.redis_server import free_port
from scoring.settings import Settings

HOST = "127.0.0.1"

# Settings that are the bench's to choose; every other field of the caller's Settings is
# handed on, so the bench measures the service as it is configured.
_BENCH_OWNED = frozenset(
    {"feature_repo", "data_dir", "online_store", "redis_url", "host", "port", "workers",
     "log_enabled", "admin_key", "admin_key_file", "default_model"}
)  # fmt: skip


@dataclass
class ServerProcess:
    """A server started in its own process group, stopped with everything it forked."""

    name: str
    command: list[str]
    env: Mapping[str, str]
    ready_path: str
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL on the loopback."""
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        """Start the server and wait until ``ready_path`` answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command,
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # one group: the stop reaches every worker it forks
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up; {self._log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout_s:g} s; {self._log_tail()}")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; a no-op when not running."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
        # Whatever is left of the group (a stuck leader, workers it did not reap) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""
        return f"last lines of {self.log_path}:\n{text[-3000:]}"


def venv_command(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"the `{name}` command is not installed in this environment")
    return found


def settings_environment(settings: Settings) -> dict[str, str]:
    """``SCORER_*`` variables carrying ``settings``' tuning fields (batch limits, log writer...)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if name not in _BENCH_OWNED and value is not None:
            env[f"SCORER_{name.upper()}"] = _as_variable(value)
    return env


def _as_variable(value: object) -> str:
    """A setting's value as its ``SCORER_`` variable spells it (a duration in seconds: ``90s``)."""
    if isinstance(value, timedelta):
        return f"{value.total_seconds():f}".rstrip("0").rstrip(".") + "s"
    return str(value)


def scorer_server(
    settings: Settings,
    *,
    repo: Path,
    data_dir: Path,
    online_store: str,
    workers: int,
    log_enabled: bool,
    log_path: Path,
    admin_key: str | None = None,
) -> ServerProcess:
    """``scorer serve`` on a free port with the bench's repo, registry and Redis.

    With ``admin_key``, admin calls (``/push``) are taken with that key.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    env.update(settings_environment(settings))
    env.update(
        SCORER_FEATURE_REPO=str(repo),
        SCORER_DATA_DIR=str(data_dir),
        SCORER_ONLINE_STORE=online_store,
        SCORER_HOST=HOST,
        SCORER_PORT=str(port),
        SCORER_WORKERS=str(workers),
        SCORER_LOG_ENABLED=str(log_enabled).lower(),
    )
    if admin_key is not None:
        env["SCORER_ADMIN_KEY"] = admin_key
    command = [venv_command("scorer"), "serve", "--host", HOST, "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    name = f"scorer serve (log {'on' if log_enabled else 'off'})"
    return ServerProcess(name, command, env, "/health/ready", log_path, port)


def feast_server(repo: Path, online_store: str, workers: int, log_path: Path) -> ServerProcess:
    """``feast serve`` on the same repo, tuned for throughput.

    No worker recycling (gunicorn's ``--max-requests`` defaults to 1000 and would restart a
    worker every few seconds under load), long keep-alive, and a registry refreshed hourly
    rather than every minute.
    """
    port = free_port()
    command = [
        venv_command("feast"), "-c", str(repo), "serve", "-h", HOST, "-p", str(port),
        "--workers", str(workers), "--no-access-log", "--max-requests", "0",
        "--max-requests-jitter", "0", "--keep-alive-timeout", "60",
        "--registry_ttl_sec", "3600",
    ]  # fmt: skip
    env = feast_environment(online_store)
    return ServerProcess("feast serve", command, env, "/health", log_path, port)
