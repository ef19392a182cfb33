"""The index of a model's reports: headlines read back from the JSON, the table and the trends."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from drift.check import check_drift
from drift.history import ReportEntry, entry_from_json, render_index
from drift.html import ReportLinks, render_html, replace_nav
from drift.report import DriftReport, RunRef
from tests.drift.conftest import DAY0, MODEL, SHIFTED, VERSION, Synthetic
from tests.utils.chromium import Dom


def _report(synthetic: Synthetic, data_dir: Path, day: int) -> DriftReport:
    return check_drift(
        synthetic.reference,
        synthetic.kinds,
        MODEL,
        VERSION,
        synthetic.training_auc,
        1,
        data_dir / "logs" / "predictions",
        data_dir / "logs" / "labels",
        DAY0,
        DAY0 + timedelta(days=4),
        now=DAY0 + timedelta(days=day),
    )


def _entry(report: DriftReport, stem: str) -> ReportEntry:
    # Through the JSON text, as the index reads it from disk.
    return entry_from_json(stem, json.loads(json.dumps(report.to_dict())))


def _parse(page: str) -> Dom:
    dom = Dom()
    dom.feed(page)
    return dom


def test_the_index_lists_runs_newest_first_and_charts_psi_and_auc(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path / "calm", 5_000, seed=3)
    write_log(tmp_path / "shifted", 5_000, seed=4, shift=True)
    calm = _entry(_report(synthetic, tmp_path / "calm", 5), "drift-fraud-a")
    shifted = _entry(_report(synthetic, tmp_path / "shifted", 6), "drift-fraud-b")

    page = render_index(MODEL, [shifted, calm], "Every report is kept.")
    dom = _parse(page)
    rows = dom.find("tr", "run")
    assert len(rows) == 2
    assert "retrain" in rows[0].text  # newest first, whatever order they came in
    assert all(name in rows[0].text for name in SHIFTED)
    assert "none" in rows[1].text
    assert [a.attrs["href"] for a in dom.find("a", "report")] == [
        "drift-fraud-b.html",
        "drift-fraud-a.html",
    ]
    # Command-line runs: no record to link, the row says so.
    assert not dom.find("a", "record")
    assert rows[0].text.count("command line") == 1

    [psi, auc] = dom.find("svg", "trend")
    names = [g.attrs["data-name"] for g in dom.find("g", "series")]
    assert names[: len(synthetic.kinds) + 1] == ["score", *sorted(synthetic.kinds)]
    assert names[len(synthetic.kinds) + 1 :] == ["AUC", "training AUC"]
    # Two runs: a segment per series, and a marker per run on each.
    assert len(dom.find("polyline")) == len(names)
    assert len(dom.find("circle")) == 2 * len(names)
    assert "significant 0.25" in psi.text
    assert "moderate 0.1" in psi.text
    assert calm.auc is not None
    assert f"{calm.auc:.3f}" in page
    assert "AUC" in auc.attrs["aria-label"]
    assert not re.search(r"\bsrc\s*=|https?:", page)


def test_a_single_run_is_a_point_and_a_report_with_a_run_links_its_record(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path, 2_000, seed=5)
    report = _report(synthetic, tmp_path, 5)
    run = RunRef("drift", "abc123", "../../jobs/runs/drift.jsonl")
    data = json.loads(json.dumps({**report.to_dict(), "run": {"job": "drift", "run_id": "abc123",
                                                             "record": run.record}}))  # fmt: skip
    entry = entry_from_json("drift-fraud-x", data, has_html=False)
    assert entry.run == run

    dom = _parse(render_index(MODEL, [entry], "Reports older than 90 days are deleted."))
    assert not dom.find("polyline")
    assert dom.find("circle")
    assert all("nan" not in c.attrs["cx"].lower() for c in dom.find("circle"))
    [record] = dom.find("a", "record")
    assert record.attrs["href"] == run.record
    assert not dom.find("a", "report")  # its page is missing: only the JSON is linked
    assert [a.attrs["href"] for a in dom.find("a", "json")] == ["drift-fraud-x.json"]
    assert dom.find("p", "no-auc") == []  # this window had labels


def test_no_report_kept_is_a_page_that_says_so() -> None:
    page = render_index(MODEL, [], "Reports older than 1 day are deleted at each drift run.")
    assert "No reports kept." in page
    assert "<svg" not in page


@pytest.mark.parametrize(
    "data",
    [{}, {"generated_at": "yesterday"}, {"generated_at": "2024-05-01T00:00:00+00:00"}, []],
)
def test_a_json_that_is_no_report_is_a_value_error_naming_it(data: object) -> None:
    with pytest.raises(ValueError, match=re.escape("drift-fraud-z.json is not a drift report")):
        entry_from_json("drift-fraud-z", data)  # type: ignore[arg-type]


def test_a_reports_links_bar_can_be_rewritten_in_place(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path, 2_000, seed=6)
    report = _report(synthetic, tmp_path, 5)
    links = ReportLinks(index="index.html", previous="drift-fraud-old.html", report_json="x.json")
    page = render_html(report, links)
    before = _parse(page)
    assert [a.attrs["href"] for a in before.find("a")] == [
        "index.html",
        "drift-fraud-old.html",
        "x.json",
    ]
    assert "no job run record" in before.find("nav", "runs")[0].text

    after = _parse(replace_nav(page, ReportLinks(index="index.html", report_json="x.json")))
    assert [a.attrs["href"] for a in after.find("a")] == ["index.html", "x.json"]
    assert "No earlier report kept" in after.find("nav", "runs")[0].text
    # The rest of the page is untouched.
    assert page.split('<nav class="runs">')[0] in replace_nav(page, ReportLinks())
    assert render_html(report) == re.sub(r'<nav class="runs">.*?</nav>', "", page)


def test_runs_seconds_apart_stay_apart_in_the_table_and_on_the_time_axis(
    synthetic: Synthetic, write_log: Callable[..., pa.Table], tmp_path: Path
) -> None:
    write_log(tmp_path, 2_000, seed=7)
    first = _entry(_report(synthetic, tmp_path, 5), "drift-fraud-0")
    entries = [
        replace(
            first, stem=f"drift-fraud-{i}", generated_at=first.generated_at + timedelta(seconds=i)
        )
        for i in range(3)
    ]
    dom = _parse(render_index(MODEL, entries, ""))
    times = [row.text.split(" UTC")[0] for row in dom.find("tr", "run")]
    assert len(set(times)) == 3
    ticks = [t.text for t in dom.find("text") if t.text.endswith(" UTC")]
    assert len(ticks) == 12  # six on the PSI chart's axis, six on the AUC chart's
    assert ticks[0] != ticks[5]
