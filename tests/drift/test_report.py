"""The report: JSON shape, atomic files, self-contained HTML with a chart per drifted feature."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from drift.check import check_drift
from drift.publish import write_report
from scoring.durable import write_atomically
from tests.drift.conftest import DAY0, MODEL, VERSION, Synthetic


def test_report_files_json_and_html(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path, 20_000, seed=21, shift=True)
    report = check_drift(
        synthetic.reference,
        synthetic.kinds,
        MODEL,
        VERSION,
        synthetic.training_auc,
        1,
        tmp_path / "logs" / "predictions",
        None,
        DAY0,
        DAY0 + timedelta(days=4),
        now=DAY0 + timedelta(days=5),
    )
    json_path, html_path = write_report(report, tmp_path / "out", write_atomically)
    assert json_path.name == "drift-fraud-20240506T000000Z.json"
    assert html_path.name == "drift-fraud-20240506T000000Z.html"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [html_path.name, json_path.name]

    data = json.loads(json_path.read_text())
    assert {"model", "version", "window", "features", "prediction", "performance"} <= set(data)
    assert {"drift_detected", "action", "reasons", "generated_at"} <= set(data)
    assert data["window"]["rows"] == 20_000
    assert data["performance"] is None
    psis = [f["psi"] for f in data["features"]]
    assert psis == sorted(psis, reverse=True)
    categorical = next(f for f in data["features"] if f["kind"] == "categorical")
    assert {"chi2", "chi2_p_value", "unseen_share"} <= set(categorical)
    numeric = next(f for f in data["features"] if f["kind"] == "numeric")
    assert {"psi", "ks", "missing_rate_reference", "missing_rate_current"} <= set(numeric)

    html = html_path.read_text()
    assert html.startswith("<!doctype html>")
    assert html.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)\s*=", html)  # nothing to fetch
    assert "http" not in html
    assert "<script" not in html
    drifted = report.drifted_features
    assert drifted
    assert html.count("<svg") == len(drifted) + 1  # one per drifted feature, plus the score
    assert "RETRAIN" in html or "WARN" in html

    summary = report.summary()
    assert summary.splitlines()[0].startswith(f"drift check {MODEL} v{VERSION}:")
    assert "features drifted" in summary
