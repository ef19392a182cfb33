"""Acceptance: 100k+ logged rows with known shifts flag exactly the shifted features; retrain."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from drift.check import check_drift
from drift.decision import DriftPolicy
from drift.publish import write_report
from scoring.durable import write_atomically
from tests.drift.conftest import DAY0, MODEL, SHIFTED, VERSION, Synthetic


def _check(synthetic: Synthetic, data_dir: Path) -> dict[str, object]:
    report = check_drift(
        synthetic.reference.to_dict(),
        synthetic.kinds,
        MODEL,
        VERSION,
        synthetic.training_auc,
        1,
        data_dir / "logs" / "predictions",
        data_dir / "logs" / "labels",
        start=DAY0,
        end=DAY0 + timedelta(days=4),
        policy=DriftPolicy(),
        now=DAY0 + timedelta(days=4, hours=1),
    )
    json_path, html_path = write_report(report, data_dir / "reports", write_atomically)
    assert html_path.read_text().count("<svg") == len(report.drifted_features) + 1
    data: dict[str, object] = json.loads(json_path.read_text())
    return data


def test_shifted_features_are_flagged_and_retrain(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    table = write_log(tmp_path, 120_000, seed=7, shift=True)
    report = _check(synthetic, tmp_path)

    assert report["window"]["rows"] == table.num_rows  # type: ignore[index]
    drifted = {f["name"] for f in report["features"] if f["drifted"]}  # type: ignore[attr-defined]
    assert drifted == SHIFTED
    assert report["prediction"]["drifted"] is True  # type: ignore[index]
    assert report["drift_detected"] is True
    assert report["action"] == "retrain"
    # Labels came from the unshifted truth and the score still ranks rows alike: AUC holds.
    performance = report["performance"]
    assert performance is not None
    assert abs(performance["auc"] - synthetic.training_auc) < 0.02  # type: ignore[index]


def test_no_shift_flags_nothing(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path, 120_000, seed=8, shift=False)
    report = _check(synthetic, tmp_path)

    assert [f["name"] for f in report["features"] if f["drifted"]] == []  # type: ignore[attr-defined]
    assert report["prediction"]["drifted"] is False  # type: ignore[index]
    assert report["drift_detected"] is False
    assert report["action"] == "none"
    assert report["performance"]["labelled_rows"] > 20_000  # type: ignore[index]
