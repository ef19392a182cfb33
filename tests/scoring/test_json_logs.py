"""``SCORER_LOG_FORMAT=json`` through the real console script: every line one JSON object."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.records import read_records
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess
from tests.utils.serving import entities

SCORER = str(Path(sys.executable).with_name("scorer"))
REQUIRED = ("time", "level", "logger", "message")
JSON_ENV = {"SCORER_LOG_FORMAT": "json"}
UNKNOWN_ENTITY = {"customer_id": 987_654_321, "merchant_id": 987_654_321, "amount": 12.5}
"""No feature of it is stored: the service warns about such rows while scoring them."""


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line of ``text``, each of which must be a JSON log object."""
    parsed = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
        assert isinstance(record, dict), line
        assert all(key in record for key in REQUIRED), line
        when = datetime.fromisoformat(record["time"])
        assert when.utcoffset() == timedelta(0), line  # UTC, and said so
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, line
        parsed.append(record)
    return parsed


def json_env(**settings: str) -> dict[str, str]:
    """This process's environment without its ``SCORER_`` settings, plus json logs and these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    return env | JSON_ENV | settings


def test_serve_with_two_workers_logs_only_json(own_settings: Settings, demo_repo: DemoRepo) -> None:
    env = {**JSON_ENV, "SCORER_ACCESS_LOG": "true"}
    server = ServerProcess(own_settings, workers=2, extra_env=env).start(timeout_s=180)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            known = client.post("/score", json={"entities": entities(demo_repo, 1, seed=3)})
            unknown = client.post("/score", json={"entities": [UNKNOWN_ENTITY]})
            bad = client.post("/score", json={"entities": [{"customer_id": 1}]})
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()
    assert (known.status_code, unknown.status_code, bad.status_code) == (200, 200, 422)
    records = json_lines((own_settings.data_dir / "serve.log").read_text())

    # Both workers' own lines, and uvicorn's of the parent and the workers.
    loggers = [r["logger"] for r in records]
    assert loggers.count("scoring.web.app") >= 2, loggers  # "serving ..." in each worker
    assert loggers.count("scoring.serving.runtime") >= 2 * 2, loggers  # each log "closed ..."
    served = [r for r in records if r["message"].startswith("serving fraud")]
    assert len(served) == 2, served
    assert any(r["message"].startswith("Started parent process") for r in records), loggers
    assert any(r["message"].startswith("Finished server process") for r in records), loggers

    # Access lines, taken apart, naming the request they answered.
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    scores = {(r["method"], r["path"], r["status"]): r for r in access if r["path"] == "/score"}
    assert set(scores) == {("POST", "/score", 200), ("POST", "/score", 422)}, access
    assert any(r["path"] == "/health/ready" for r in access), access
    ids = {r.get("request_id") for r in access if r["status"] == 200 and r["path"] == "/score"}
    assert ids == {known.json()["request_id"], unknown.json()["request_id"]}, access
    assert "request_id" not in scores[("POST", "/score", 422)], "refused before it had an id"

    # A warning written while scoring names the request it was written for.
    [warning] = [r for r in records if r["logger"] == "scoring.serving.feature_gaps"]
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == unknown.json()["request_id"]
    assert all("color_message" not in r for r in records)


def test_jobs_run_materialize_logs_only_json(demo_repo: DemoRepo, tmp_path: Path) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo)
    with LocalRedisServer(free_port(), tmp_path / "redis") as redis_server:
        env = json_env(
            SCORER_FEATURE_REPO=str(repo),
            SCORER_DATA_DIR=str(tmp_path / "data"),
            SCORER_ONLINE_STORE=redis_server.connection_string,
        )
        done = subprocess.run(
            [SCORER, "jobs", "run", "materialize"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stderr)
    messages = [r["message"] for r in records]
    assert any(m.startswith("full reload: ") for m in messages), messages  # an empty Redis
    assert any(m.startswith("materialized ") for m in messages), messages
    # stdout is the run record, for scripts: one JSON object, on one line too.
    [line] = done.stdout.strip().splitlines()
    assert json.loads(line)["outcome"] == "ok"


def test_the_scheduler_logs_only_json(demo_repo: DemoRepo, tmp_path: Path) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo)
    runs = tmp_path / "data" / "jobs" / "runs"
    with LocalRedisServer(free_port(), tmp_path / "redis") as redis_server:
        env = json_env(
            SCORER_FEATURE_REPO=str(repo),
            SCORER_DATA_DIR=str(tmp_path / "data"),
            SCORER_ONLINE_STORE=redis_server.connection_string,
            SCORER_SCHEDULE_MATERIALIZE="every 1s",
            SCORER_SCHEDULE_DRIFT="",
        )
        with open(tmp_path / "jobs.log", "wb") as out:
            proc = subprocess.Popen([SCORER, "jobs"], env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if any(r.outcome == "ok" for r in read_records(runs, "materialize")):
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    text = (tmp_path / "jobs.log").read_text()
    assert code == 0, text
    records = json_lines(text)
    assert any(r["logger"].startswith("apscheduler") for r in records), text  # a library's INFO
    assert any(r["message"].startswith("materialize: ok") for r in records), text
    assert any(r["logger"] == "prints" for r in records), text  # Feast's progress


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["jobs", "run", "nosuch"], 1, "unknown job 'nosuch'"),  # ours
        (["models", "promote", "--model"], 2, "Option '--model' requires an argument."),  # click's
        (["nosuch"], 2, "No such command 'nosuch'."),
    ],
)
def test_a_cli_mistake_is_one_json_line(
    tmp_path: Path, args: list[str], code: int, said: str
) -> None:
    env = json_env(SCORER_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [SCORER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    [record] = json_lines(done.stderr)
    assert record["level"] == "ERROR"
    assert said in record["message"]
