"""`scorer demo` as a new user runs it: it starts its own Redis, sets up, serves the example."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import orjson

from jobs.demo.redis_server import free_port, redis_answers
from tests.utils.repo import ROOT


def _wait_for(predicate: object, timeout_s: float, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"scorer demo exited ({proc.returncode}) before {what}")
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_demo_serves_the_printed_example(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "feature_repo", tmp_path / "feature_repo",
                    ignore=shutil.ignore_patterns("data", "__pycache__"))  # fmt: skip
    redis_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "SCORER_ONLINE_STORE": f"127.0.0.1:{redis_port}",
        "SCORER_PORT": str(http_port),
        "SCORER_DATA_DIR": str(tmp_path / "data"),
        "SCORER_FEATURE_REPO": str(tmp_path / "feature_repo"),
    }
    command = [
        str(Path(sys.executable).with_name("scorer")), "demo",
        "--customers", "2000", "--merchants", "200", "--transactions", "20000",
    ]  # fmt: skip
    log = (tmp_path / "demo.out").open("w+")
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{http_port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, 240, "the service to be ready", proc)
        assert redis_answers("127.0.0.1", redis_port), "the demo should have started redis-server"

        log.seek(0)
        curl = next(line for line in log.read().splitlines() if line.startswith("curl "))
        args = shlex.split(curl)
        url, body = args[args.index("-X") + 2], orjson.loads(args[args.index("-d") + 1])
        assert url == f"{base}/score"
        response = httpx.post(url, json=body, timeout=10)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert len(predictions) == len(body["entities"]) == 2
        assert all(0 <= p["score"] <= 1 for p in predictions)
        assert (tmp_path / "data" / "models" / "fraud" / "1" / "model.txt").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        log.close()
    assert proc.returncode == 0, stderr
    assert not redis_answers("127.0.0.1", redis_port), "the demo's redis-server outlived it"
