"""The whole loop on a live service: log, feedback, drift, retrain, promote, hot reload."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pyarrow.dataset as ds

from jobs.records import read_records
from jobs.runner import JobRunner
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.server import Load, ServerProcess

SHIFT = 2.0  # amounts three times larger than in training


def shifted_traffic(demo_repo: DemoRepo, n: int) -> list[tuple[dict[str, Any], int]]:
    tx = demo_repo.data.transactions.sample(n, random_state=9)
    return [
        ({"customer_id": int(c), "merchant_id": int(m), "amount": float(a) * (1 + SHIFT)}, int(y))
        for c, m, a, y in tx[["customer_id", "merchant_id", "amount", "is_fraud"]].itertuples(
            index=False
        )
    ]


def test_drift_retrain_promote_without_restart(own_settings: Settings, demo_repo: DemoRepo) -> None:
    settings = own_settings.model_copy(
        update={
            "reload_interval_s": 0.2,
            "log_flush_interval_s": 0.2,
            "retrain_cooldown": "0s",
            # The loop's mechanics are under test here; how the comparison decides is tested
            # on its own, so a generous margin keeps this test independent of model quality.
            "promote_margin": 0.1,
        }
    )
    traffic = shifted_traffic(demo_repo, 1500)
    server = ServerProcess(settings, extra_env={"SCORER_LOG_FLUSH_INTERVAL_S": "0.2"}).start()
    # A light load (2 threads, 5 ms apart) keeps the retrain's share of the 2 cores.
    load = Load(server.url, [e for e, _ in traffic[:300]], threads=2, pause_s=0.005).start()
    try:
        feedback = []
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for entity, truth in traffic:
                answer = client.post("/score", json={"entities": [entity]})
                assert answer.status_code == 200, answer.text
                assert answer.json()["version"] == 1
                feedback.append({"request_id": answer.json()["request_id"], "label": truth})
            for start in range(0, len(feedback), 500):
                response = client.post("/feedback", json=feedback[start : start + 500])
                assert response.status_code == 202
        predictions = settings.data_dir / "logs" / "predictions"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if list(predictions.rglob("*.parquet")) and (
                ds.dataset(predictions, partitioning="hive").count_rows() >= len(traffic)
            ):
                break
            time.sleep(0.2)

        record = JobRunner(settings).run("drift")
        assert record.outcome == "ok", record.detail
        produced = record.produced["fraud"]
        assert produced["action"] == "retrain"
        assert any("amount" in name for name in produced["drifted"]), produced["drifted"]
        retrained = produced["retrain"]
        assert retrained["promoted"], retrained["reason"]
        assert retrained["candidate_version"] == 2
        assert retrained["holdout_rows"] > 0

        report = orjson.loads(Path(produced["report_json"]).read_bytes())
        assert report["model"] == "fraud"
        assert report["drift_detected"] is True
        assert report["action"] == "retrain"
        assert report["window"]["rows"] >= len(traffic)

        # The live service follows the promotion by itself.
        assert load.running(), "the load ended before the retrain did; raise its time bound"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and load.versions[-20:] != [2] * 20:
            time.sleep(0.1)
        assert load.versions[-20:] == [2] * 20
    finally:
        load.stop()
        server.stop()
    assert set(load.statuses) == {200}, load.statuses
    [saved] = read_records(settings.data_dir / "jobs" / "runs", "drift")
    assert saved.outcome == "ok"
    assert saved.produced["fraud"]["retrain"]["candidate_version"] == 2
