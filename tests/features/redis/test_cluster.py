"""The fast read against a real three-node Redis Cluster, written by Feast's cluster client."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from features.online_features import OnlineFeatures
from features.redis.reader import RedisOnlineFeatureReader
from jobs.demo.redis_server import free_port
from tests.features.conftest import make_typed_repo

Parity = Callable[[Mapping[str, Sequence[Any]], Mapping[str, Sequence[Any]], Sequence[str]], None]


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


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the cluster test needs {name} on PATH (apt-get install redis-server)")
    return path


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three cluster-enabled redis-servers joined into one cluster; the connection string."""
    server, cli = _binary("redis-server"), _binary("redis-cli")
    workdir = tmp_path_factory.mktemp("cluster")
    ports = [_cluster_port() for _ in range(3)]
    processes = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            processes.append(
                subprocess.Popen(
                    [
                        server,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node_dir / "nodes.conf"),
                        "--dir",
                        str(node_dir),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 15
        while not all(_answers(cli, p) for p in ports):
            if time.monotonic() > deadline:
                pytest.fail(f"cluster nodes on {ports} did not start")
            time.sleep(0.05)
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        while not all("cluster_state:ok" in _cluster_info(cli, p) for p in ports):
            if time.monotonic() > deadline + 15:
                pytest.fail("the Redis Cluster never reached cluster_state:ok")
            time.sleep(0.1)
        yield ",".join(nodes)
    finally:
        # Every node is told to stop before any is waited for, and one that will not stop is
        # killed: a node left running would hold its ports for the rest of the session.
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ask(cli: str, port: int, *command: str) -> str:
    """A node's answer to ``command``; empty when it does not answer within seconds."""
    try:
        done = subprocess.run(
            [cli, "-p", str(port), *command], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout


def _answers(cli: str, port: int) -> bool:
    return _ask(cli, port, "ping").strip() == "PONG"


def _cluster_info(cli: str, port: int) -> str:
    return _ask(cli, port, "cluster", "info")


def test_cluster_parity(redis_cluster: str, tmp_path: Path, same_features: Parity) -> None:
    repo = make_typed_repo(tmp_path, redis_cluster, redis_type="redis_cluster")
    store = repo.store()
    rows = [
        {"user_id": u, "item_id": f"item-{u % 17}", "shop_id": u % 14, "amount": 2.0}
        for u in range(-7, 110)
    ]
    theirs = store.get_online_features(
        features=store.get_feature_service("everything"), entity_rows=rows, full_feature_names=True
    ).to_dict()

    async def read(enforce_ttl: bool) -> OnlineFeatures:
        reader = RedisOnlineFeatureReader(store, timeout_s=5.0, enforce_ttl=enforce_ttl)
        try:
            return await reader.read("everything", rows)
        finally:
            await reader.close()

    ours = asyncio.run(read(enforce_ttl=False))
    same_features(ours, theirs, ["user_id", "item_id", "shop_id"])
    assert any(v is not None for v in ours["user_stats__i64"])
    # The event times come with the values across the cluster too: user 103 is ten days old.
    enforced = asyncio.run(read(enforce_ttl=True))
    old = [r["user_id"] == 103 for r in rows]
    assert list(enforced.stale["user_stats__i64"]) == old
    assert [v is None for v in enforced["user_stats__i64"]] == [
        o or v is None for o, v in zip(old, ours["user_stats__i64"], strict=True)
    ]
