"""Starting a throwaway local ``redis-server`` for the demo (and the test suite)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

INSTALL_HINT = (
    "install Redis (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) "
    "or point SCORER_ONLINE_STORE at a running Redis (host:port)"
)


def redis_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a Redis server answers PING at ``host:port``."""
    client = redis.Redis(
        host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now.

    Chosen below the kernel's ephemeral range: a port from that range (what binding port 0
    returns) can be taken as the source port of any outgoing connection, say to Redis,
    between this call and the server binding it.
    """
    low = 32768
    if _EPHEMERAL_RANGE.is_file():
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: fall back to the kernel's choice
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


class LocalRedisServer:
    """A ``redis-server`` child process on the loopback, keeping nothing on disk."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        """Feast's connection string for this server."""
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> LocalRedisServer:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(f"no redis-server binary on PATH: {INSTALL_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    self.host,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}; "
                    f"see {self.workdir / 'redis.log'}"
                )
            if redis_answers(self.host, self.port, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer in {timeout_s:g} s")

    def stop(self) -> None:
        """Stop the server (no-op when not running)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LocalRedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
