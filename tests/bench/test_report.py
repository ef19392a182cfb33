"""Targets, the results table and the JSON file, from a results dict of the bench's shape."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from bench.report import check_targets, results_table, saturation_ratios, write_json


def _latency(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p90_ms": p50 * 1.5, "p99_ms": p99, "max_ms": p99 * 2}


def _results() -> dict[str, Any]:
    run = {"ok": 1000, "errors": 0, "non_2xx": 0}
    saturation = {
        "ours": {"rps": 3000.0, "p50_ms": 9.0, "p99_ms": 30.0, "non_2xx": 0, "socket_errors": 0},
        "feast": {"rps": 1000.0, "p50_ms": 30.0, "p99_ms": 90.0, "non_2xx": 0, "socket_errors": 1},
        "ours_no_log": {"rps": 3100.0},
        "ours_canary": {"rps": 2880.0},
    }
    ratios = saturation_ratios(saturation)
    saturation["ratio_ours_to_feast"] = ratios["ratio_ours_to_feast"]
    fetch_row = {"entities": 1000, "ours_p50_ms": 5.0, "feast_sync_p50_ms": 30.0,
                 "feast_async_p50_ms": 35.0, "ratio_sync_p50": 6.0,
                 "ratio_async_p50": 7.0}  # fmt: skip
    results: dict[str, Any] = {
        "meta": {"mode": "quick", "cores": 2,
                 "machine": {"reference_loop_ms": 61.0, "steal_pct": 33.4}},
        "saturation": saturation,
        "log_cost": ratios["log_cost"],
        "routing_cost": {**ratios["routing_cost"], "weight": 0.1, "canary_share": 0.1},
        "open_loop": {
            "ours": {"500": {**run, "latency": _latency(2.0, 8.0)}},
            "feast": {"500": {**run, "latency": _latency(20.0, 400.0)}},
        },
        "feature_fetch": {"sizes": [fetch_row], "parity": {"identical": True, "rows_checked": 9}},
        "score_1000": {"entities": 1000, "latency": _latency(30.0, 40.0)},
        "push": {"rows_per_push": 100, "ratio_ours_to_feast": 0.8,
                 "ours": {"rows_per_s": 7200.0, "p50_ms": 88.0, "p99_ms": 190.0, "failed": 0},
                 "feast": {"rows_per_s": 9000.0, "p50_ms": 71.0, "p99_ms": 160.0, "failed": 2}},
        "drift": {"rows": 10, "process_wall_s": 12.0, "check_s": 9.0, "max_rss_kib": 2 * 2**20},
        "retraining": {"rows": 10, "ok": False, "stopped_for": "memory", "max_rss_kib": 2**23,
                       "wall_s": 40.0, "last_step": "fetching point-in-time features",
                       "feast_historical_s": None, "lightgbm_s": None, "train_model_s": None},
    }  # fmt: skip
    results["log_cost"]["cpu"] = {"pairs": 6, "cost_pct": 6.5, "pair_cost_pct": [6.5],
                                  "cpu_us_per_request_log_on": 266.0,
                                  "cpu_us_per_request_log_off": 250.0,
                                  "rps_log_on": 1470.0, "rps_log_off": 1500.0}  # fmt: skip
    results["stream"] = {
        "consumers_1": {"events_per_s": 4200.0},
        "consumers_2": {"events_per_s": 6300.0},
        "ratio_two_to_one": 1.5,
        "fixed_rate": {"rate": 1000.0, "latency": _latency(3.0, 12.0)},
    }
    results["targets"] = check_targets(results)
    return results


def test_each_target_is_judged_from_its_figure() -> None:
    verdicts = {t["name"]: (t["measured"], t["met"]) for t in _results()["targets"]}
    assert verdicts["throughput_vs_feast"] == (3.0, True)
    assert verdicts["p99_at_500_rps_ms"] == (8.0, True)
    assert verdicts["fetch_1000_ratio"] == (6.0, False)
    assert verdicts["score_1000_p50_ms"] == (30.0, False)
    # Judged on the CPU a request, not on the 2-worker pair's 3.2% (3000 vs 3100 req/s).
    assert verdicts["log_cost_pct"] == (6.5, False)
    # 2,880 req/s with a canary against the same server's 3,000 without.
    assert verdicts["routing_cost_pct"] == (pytest.approx(4.0), False)
    assert verdicts["drift_wall_s"] == (12.0, True)
    assert verdicts["drift_rss_gib"] == (2.0, False)
    assert verdicts["stream_events_per_s"] == (4200.0, False)
    assert verdicts["stream_p99_at_1000_ms"] == (12.0, True)


def test_a_figure_that_was_not_measured_has_no_verdict() -> None:
    targets = {t["name"]: t for t in check_targets({"meta": {}})}
    assert targets["throughput_vs_feast"]["measured"] is None
    assert targets["throughput_vs_feast"]["met"] is None


def test_the_table_shows_figures_ratios_and_verdicts() -> None:
    console = Console(width=200, record=True, color_system=None)
    console.print(results_table(_results()))
    text = console.export_text()
    for figure in ("3,000", "1,000", "3.00x", "6.0x", "30.0 / 40.0 ms", "2.00 GiB"):
        assert figure in text
    assert "2.0 / 3.0 / 8.0 / 16.0 ms" in text
    assert "3.2% cost" in text
    assert "with a canary at 0.1 (peer: none, same server)" in text
    assert "2,880" in text
    assert "4.0% cost" in text
    assert "6 fresh 1-worker pairs" in text
    for figure in ("266 us", "250 us", "6.5% cost"):
        assert figure in text
    assert "9 push rows/s, 100 rows a push" in text
    for figure in ("7,200", "9,000", "0.80x", "88.0 / 190.0 ms", "71.0 / 160.0 ms"):
        assert figure in text
    assert "did not finish: stopped (memory)" in text
    assert "reference loop 61 ms, 33% of CPU time taken by other guests" in text
    assert text.count("missed") == 6
    assert "4,200" in text  # one consumer, beside the HTTP req/s (3,000): 1.40x
    assert "1.40x" in text
    assert "6,300" in text
    assert "1.50x" in text
    assert "3.0 / 4.5 / 12.0 / 24.0 ms" in text


def test_costs_are_throughput_lost_against_the_peer_and_none_without_one() -> None:
    ratios = saturation_ratios(
        {"ours": {"rps": 900.0}, "feast": {"rps": 300.0}, "ours_canary": {"rps": 990.0}}
    )
    assert ratios["routing_cost"] == {
        "rps_canary": 990.0,
        "rps_no_canary": 900.0,
        "cost_pct": pytest.approx(-10.0),  # the canary's run was the faster one
    }
    assert ratios["log_cost"]["cost_pct"] is None  # no log-off run
    alone = saturation_ratios({"ours": {"rps": 0.0}, "feast": {"rps": 300.0}})
    assert alone["routing_cost"]["cost_pct"] is None
    assert alone["routing_cost"]["rps_canary"] is None


def test_results_go_to_a_json_file_named_by_utc_time(tmp_path: Path) -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    path = write_json({"a": 1}, tmp_path / "out", started)
    assert path == tmp_path / "out" / "bench-20260102T030405Z.json"
    assert orjson.loads(path.read_bytes()) == {"a": 1}
