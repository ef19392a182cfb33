"""Workers that die under load: no row the service answered for is missing from the log."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

from scoring.settings import Settings
from tests.scoring.test_serve_process import sample_entities, wait_for_answers
from tests.utils.repo import DemoRepo
from tests.utils.server import Load, ServerProcess

# Rows wait in memory for the flush interval: without the spool a killed worker loses them.
SLOW_FLUSH = {"SCORER_LOG_FLUSH_INTERVAL_S": "30"}


def logged_request_ids(data_dir: Path) -> Counter[str]:
    root = data_dir / "logs" / "predictions"
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table(["request_id"])
    return Counter(table.column("request_id").to_pylist())


def file_writers(data_dir: Path) -> set[int]:
    """The pids in the names of the prediction log's files (``part-<host>-<pid>-...``)."""
    root = data_dir / "logs" / "predictions"
    return {int(path.name.split("-")[-5]) for path in root.rglob("*.parquet")}


def wait_for(predicate: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not in {timeout_s} s")


def assert_every_answer_logged_once(load: Load, data_dir: Path, in_flight: int) -> None:
    logged = logged_request_ids(data_dir)
    answered = set(load.request_ids)
    assert len(answered) == len(load.request_ids) == load.answered()
    assert not answered - set(logged), f"{len(answered - set(logged))} answered rows missing"
    assert max(logged.values()) == 1, "a row logged twice"
    # A request the kill interrupted may be logged, spooled before its answer was lost.
    assert len(set(logged) - answered) <= in_flight


def test_a_killed_worker_is_replaced_and_no_answered_row_is_lost(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    spool = own_settings.data_dir / "logs" / "predictions" / ".spool"
    server = ServerProcess(own_settings, workers=2, extra_env=SLOW_FLUSH).start()
    load = Load(server.url, sample_entities(demo_repo), fresh_connections=True).start()
    try:
        wait_for(lambda: len(server.worker_pids()) == 2, "two workers")
        first = server.worker_pids()
        wait_for_answers(load, 300)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # with the rows of up to 30 s in memory
        wait_for(lambda: len(server.worker_pids() - first) == 1, "a replacement worker")
        (replacement,) = server.worker_pids() - first
        # Once started, it answers: rows appear in its spool. (Not asserted here: the rows
        # in the log, and the files under its name, tell whether it answered.)
        deadline = time.monotonic() + 60
        while not any(spool.glob(f"*-{replacement}-*.spool")) and time.monotonic() < deadline:
            time.sleep(0.05)
        wait_for_answers(load, load.answered() + 100)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        load.stop()
        server.stop()
    assert_every_answer_logged_once(load, own_settings.data_dir, in_flight=load.threads)
    # Both had answered: the replacement's own rows, and the victim's, under its name.
    assert {victim, replacement} <= file_writers(own_settings.data_dir)
    assert not list(spool.iterdir()), "the dead worker's spool was recovered and removed"


def test_a_killed_server_leaves_its_answered_rows_to_the_next_start(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    server = ServerProcess(own_settings, workers=2, extra_env=SLOW_FLUSH).start()
    load = Load(server.url, sample_entities(demo_repo), threads=4).start()
    try:
        wait_for_answers(load, 300)
        server.kill_all(signal.SIGKILL)  # the server and both workers, with rows in memory
        server.wait()
    finally:
        load.stop()
        server.stop()
    assert load.answered() >= 300
    restarted = ServerProcess(own_settings, workers=1).start()
    try:
        assert restarted.process is not None
        restarted.process.send_signal(signal.SIGTERM)
        restarted.wait()
    finally:
        restarted.stop()
    assert_every_answer_logged_once(load, own_settings.data_dir, in_flight=load.threads)
