"""The service as a real multi-worker process: shutdown, crash and promotion under load."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.server import Load, ServerProcess


def sample_entities(demo_repo: DemoRepo, n: int = 500) -> list[dict[str, Any]]:
    tx = demo_repo.data.transactions.sample(n, random_state=5)
    return [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in tx[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]


def logged_rows(data_dir: Path) -> int:
    root = data_dir / "logs" / "predictions"
    if not list(root.rglob("*.parquet")):
        return 0
    return int(ds.dataset(root, format="parquet", partitioning="hive").count_rows())


def wait_for_answers(load: Load, at_least: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while load.answered() < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    assert load.answered() >= at_least, load.statuses


def test_sigterm_under_load_loses_no_answered_row(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    # A long flush interval: whatever is on disk at the end was written by the shutdown.
    server = ServerProcess(own_settings, extra_env={"SCORER_LOG_FLUSH_INTERVAL_S": "30"}).start()
    load = Load(server.url, sample_entities(demo_repo)).start()
    try:
        wait_for_answers(load, 300)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.wait() == 0
        deadline = time.monotonic() + 10
        while server.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.group_alive(), "a worker outlived the server"
    finally:
        load.stop()
        server.stop()
    assert load.answered() >= 300
    assert logged_rows(own_settings.data_dir) == load.answered(), load.statuses
    root = own_settings.data_dir / "logs" / "predictions"
    logged = ds.dataset(root, format="parquet", partitioning="hive").to_table(["request_id"])
    assert sorted(logged.column("request_id").to_pylist()) == sorted(load.request_ids)
    assert not list((root / ".spool").iterdir()), "a clean shutdown leaves no spool behind"


def test_sigkill_leaves_only_readable_files(own_settings: Settings, demo_repo: DemoRepo) -> None:
    # Flush constantly so that the kill lands in the middle of writes.
    env = {"SCORER_LOG_FLUSH_INTERVAL_S": "0.01", "SCORER_LOG_FLUSH_ROWS": "5"}
    server = ServerProcess(own_settings, workers=1, extra_env=env).start()
    load = Load(server.url, sample_entities(demo_repo)).start()
    try:
        wait_for_answers(load, 300)
        server.kill_all(signal.SIGKILL)  # the server and its worker die mid-write
        server.wait()
    finally:
        load.stop()
        server.stop()
    files = sorted((own_settings.data_dir / "logs" / "predictions").rglob("*.parquet"))
    assert files, "the log should have been written while serving"
    for path in files:
        assert pq.read_table(path).num_rows > 0
    # Whatever temporary file the kill interrupted is hidden from dataset readers.
    assert 0 < logged_rows(own_settings.data_dir) <= load.answered()


def test_promotion_under_load_fails_no_request(own_settings: Settings, demo_repo: DemoRepo) -> None:
    settings = own_settings.model_copy(
        update={"admin_key": SecretStr("k"), "reload_interval_s": 0.2}
    )
    registry = ModelRegistry(settings.models_dir)
    folder = registry.version_dir("fraud", 1)
    files = {name: (folder / name).read_bytes() for name in ("model.txt", "reference.json")}
    v2 = registry.register("fraud", files, registry.manifest("fraud", 1).model_dump()).version

    server = ServerProcess(settings).start()
    load = Load(server.url, sample_entities(demo_repo)).start()
    try:
        wait_for_answers(load, 200)
        response = httpx.post(
            f"{server.url}/models/fraud/promote",
            json={"version": v2},
            headers={"Authorization": "Bearer k"},
        )
        assert response.status_code == 200, response.text
        # Every worker follows within its reload interval.
        before = load.answered()
        wait_for_answers(load, before + 400)
    finally:
        load.stop()
        server.stop()
    assert set(load.statuses) == {200}, load.statuses
    assert load.versions[0] == 1
    assert load.versions[-50:] == [v2] * 50


def test_micro_batched_requests_are_logged_row_for_row(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    """Concurrent requests of 1 to 3 rows share computations; each row is logged as its own."""
    entities = sample_entities(demo_repo, 300)
    bodies = [
        {"entities": entities[i : i + 1 + i % 3], "include_features": True}
        for i in range(0, 240, 2)
    ]

    async def send_all(url: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            responses = await asyncio.gather(*(client.post("/score", json=b) for b in bodies))
            assert [r.status_code for r in responses] == [200] * len(bodies)
            metrics = (await client.get("/metrics")).text
        values = {
            sample.name: sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
        }
        batches = values["scorer_microbatch_batches_total"]
        requests = values["scorer_microbatch_requests_total"]
        assert requests == len(bodies)
        assert batches < requests, "no two requests shared a computation"
        return [r.json() for r in responses]

    server = ServerProcess(own_settings, workers=1).start()
    try:
        answers = asyncio.run(send_all(server.url))
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # A single uvicorn process re-raises SIGTERM once it has shut down cleanly.
        assert server.wait() in (0, -signal.SIGTERM)
    finally:
        server.stop()
    root = own_settings.data_dir / "logs" / "predictions"
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    logged: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        logged.setdefault(row["request_id"], []).append(row)
    assert sum(len(b["entities"]) for b in bodies) == table.num_rows
    for body, answer in zip(bodies, answers, strict=True):
        rows = sorted(logged[answer["request_id"]], key=lambda r: r["score"])
        predictions = sorted(answer["predictions"], key=lambda p: p["score"])
        assert len(rows) == len(predictions) == len(body["entities"])
        for row, prediction in zip(rows, predictions, strict=True):
            assert row["score"] == prediction["score"]
            assert row["label"] == str(prediction["label"])
            assert row["route"] == "champion"
            assert row["latency_ms"] > 0
            for name, value in prediction["features"].items():
                assert row[name] == pytest.approx(value, nan_ok=True), name


def test_every_worker_logs_in_our_format(own_settings: Settings) -> None:
    """uvicorn applies our logging set-up in each worker, not only in the parent process."""
    server = ServerProcess(own_settings, workers=2).start()
    try:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()
    log = (own_settings.data_dir / "serve.log").read_text()
    # The lifespan's line, once per worker: time, level, logger, message.
    served = re.findall(r"^\S+ \S+ INFO scoring\.web\.app: serving fraud", log, re.MULTILINE)
    assert len(served) == 2, log
    assert re.search(r"^\S+ \S+ INFO uvicorn\.error: Finished server process", log, re.M), log
