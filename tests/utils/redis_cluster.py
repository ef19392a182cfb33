"""A real Redis Cluster of the tests' own: masters, optional replicas, nodes a test can kill."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobs.demo.redis_server import free_port


def _cluster_port() -> int:
    # Each node also listens on its port + 10000 (the cluster bus): both must be free and valid.
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def binary(name: str) -> str:
    """The path of a Redis program; fails the test (never skips) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the cluster tests need {name} on PATH (apt-get install redis-server)")
    return path


def ask(port: int, *command: str) -> str:
    """A node's answer to ``command``; empty when it does not answer within seconds."""
    try:
        done = subprocess.run(
            [binary("redis-cli"), "-p", str(port), *command],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout


@dataclass
class RedisCluster:
    """redis-server processes joined into one cluster on the loopback."""

    workdir: Path
    masters: int = 3
    replicas: int = 0
    """Replicas per master: with one, a killed master's replica takes over its slots."""
    node_timeout_ms: int = 15_000
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def connection_string(self) -> str:
        """Feast's connection string: every node."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> RedisCluster:
        """Start every node, create the cluster and wait until it serves every slot."""
        self.ports = [_cluster_port() for _ in range(self.masters * (1 + self.replicas))]
        for port in self.ports:
            self._start_node(port)
        deadline = time.monotonic() + 15
        while not all(ask(p, "ping").strip() == "PONG" for p in self.ports):
            if time.monotonic() > deadline:
                pytest.fail(f"cluster nodes on {self.ports} did not start")
            time.sleep(0.05)
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        subprocess.run(
            [binary("redis-cli"), "--cluster", "create", *nodes,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        self.wait_ok(30)
        return self

    def _start_node(self, port: int) -> None:
        node_dir = self.workdir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf"),
             "--cluster-node-timeout", str(self.node_timeout_ms),
             "--dir", str(node_dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait_ok(self, timeout_s: float) -> None:
        """Wait until every running node says ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout_s
        running = [p for p, process in self.processes.items() if process.poll() is None]
        while not all("cluster_state:ok" in ask(p, "cluster", "info") for p in running):
            if time.monotonic() > deadline:
                pytest.fail("the Redis Cluster never reached cluster_state:ok")
            time.sleep(0.1)

    def master_ports(self) -> list[int]:
        """Ports of the nodes that are masters now."""
        return [p for p in self.ports if "role:master" in ask(p, "info", "replication")]

    def kill(self, port: int) -> None:
        """SIGKILL one node."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        """Stop every node; one that will not stop is killed."""
        # Every node is told to stop before any is waited for: a node left running would hold
        # its ports for the rest of the session.
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
