"""Measuring a job in a fresh process: its own peak RSS, and the guards that stop it."""

from __future__ import annotations

import sys

from bench.child import run_isolated
from bench.retrain import phase_times


def test_peak_rss_is_the_jobs_own_not_the_callers() -> None:
    ballast = "x" * 400_000_000  # this process's peak must not show up as the job's
    run = run_isolated([sys.executable, "-c", "x = 'x' * 100_000_000; print('done')"], timeout_s=60)
    assert run.ok
    assert run.stdout == b"done\n"
    assert 95_000 <= run.max_rss_kib < 300_000
    del ballast


def test_a_job_over_its_memory_limit_is_stopped() -> None:
    code = "import time; x = 'x' * 300_000_000; time.sleep(60)"
    run = run_isolated([sys.executable, "-c", code], timeout_s=60, max_rss_bytes=100_000_000)
    assert not run.ok
    assert run.stopped_for == "memory"


def test_a_job_over_its_time_is_stopped() -> None:
    run = run_isolated([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.3)
    assert run.stopped_for == "time"
    assert run.returncode != 0


def test_training_phases_from_progress_messages() -> None:
    events = [
        (1.0, "feast apply (repo)"),
        (2.0, "fetching point-in-time features of fraud_v1 for 100 rows"),
        (5.0, "training LightGBM on 80 rows, 14 features"),
        (9.0, "holdout AUC 0.9, log loss 0.1"),
        (9.5, "registered fraud v1"),
    ]
    assert phase_times(events) == {
        "feast_historical_s": 3.0,
        "lightgbm_s": 4.0,
        "profile_and_register_s": 0.5,
        "train_model_s": 7.5,
    }
    stopped = phase_times(events[:2])
    assert stopped["feast_historical_s"] is None
    assert stopped["train_model_s"] is None
