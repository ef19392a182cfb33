"""Reports over time: each drift run updates the model's index; retention prunes; links work.

The pages are checked as a real headless Chromium renders them, offline.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from drift.publish import model_reports_dir
from jobs.drift_check import drift_check
from jobs.records import read_records
from jobs.runner import JobRunner
from scoring.log.schema import predictions_dir
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.chromium import Dom, rendered
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities

URL = re.compile(r"(?i)\b(?:https?|ftp|wss?):|^//")


@pytest.fixture
def logged(own_settings: Settings, demo_repo: DemoRepo) -> Settings:
    """Private settings whose prediction log holds 300 rows scored by the real service."""
    with TestClient(create_app(own_settings)) as client:
        for seed in range(3):
            body = {"entities": entities(demo_repo, 100, seed)}
            assert client.post("/score", json=body).status_code == 200
    return own_settings


def next_second() -> None:
    """Wait for the clock's next second: report names carry the run's time to the second."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def assert_links_resolve(dom: Dom, page: Path) -> list[str]:
    """Every link of the page names an existing file beside or under the data dir; no URL."""
    hrefs = [a.attrs["href"] for a in dom.find("a")]
    for href in hrefs:
        assert not href.startswith(("http:", "https:", "//")), href
        assert (page.parent / href).resolve().is_file(), f"{page.name} links to missing {href}"
    return hrefs


def assert_offline(page: Path, dom: Dom) -> None:
    """Nothing in the file or its DOM points at the network."""
    text = page.read_text()
    assert "http://" not in text
    assert "https://" not in text
    for element in dom.elements:
        for value in element.attrs.values():
            assert not URL.search(value), (element.tag, value)
    assert all("src" not in script.attrs for script in dom.find("script"))
    assert not [link for link in dom.find("link") if link.attrs.get("rel") == "stylesheet"]


def test_each_drift_run_adds_a_row_to_the_index_and_pages_link_up(logged: Settings) -> None:
    runner = JobRunner(logged)
    records = []
    for _ in range(3):
        next_second()
        record = runner.run("drift")
        assert record.outcome == "ok", record.detail
        records.append(record)
    folder = model_reports_dir(logged.data_dir, "fraud")
    index = folder / "index.html"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{Path(r.produced['fraud']['report_json']).stem}{suffix}" for r in records
         for suffix in (".json", ".html")] + ["index.html"]
    )  # fmt: skip

    dom = rendered(index)
    rows = dom.find("tr", "run")
    assert len(rows) == 3
    assert all("300" in row.text for row in rows)  # the rows column of every run
    assert_offline(index, dom)
    hrefs = assert_links_resolve(dom, index)
    # Newest first: each row links to its report and its run's record.
    newest_first = [Path(r.produced["fraud"]["report_html"]).name for r in reversed(records)]
    assert [a.attrs["href"] for a in dom.find("a", "report")] == newest_first
    assert [a.attrs["href"] for a in dom.find("a", "record")] == ["../../jobs/runs/drift.jsonl"] * 3
    assert set(hrefs) >= set(newest_first)
    # The chart: one line per feature and one for the score, thresholds as guides.
    report = orjson.loads(Path(records[-1].produced["fraud"]["report_json"]).read_bytes())
    series = {g.attrs["data-name"] for g in dom.find("g", "series")}
    assert series == {f["name"] for f in report["features"]} | {"score"}
    assert len(dom.find("g", "guide")) == 2
    assert len(dom.find("svg", "trend")) == 1  # no labels yet: no AUC chart, a sentence instead
    assert dom.find("p", "no-auc")

    # The newest report links to the index, to the previous report and to its run record.
    newest = Path(records[-1].produced["fraud"]["report_html"])
    page = rendered(newest)
    assert_offline(newest, page)
    assert_links_resolve(page, newest)
    [previous] = page.find("a", "previous")
    assert previous.attrs["href"] == newest_first[1]
    [to_index] = page.find("a", "index")
    assert to_index.attrs["href"] == "index.html"
    [to_record] = page.find("a", "record")
    assert records[-1].run_id in to_record.text
    [saved] = [
        r for r in read_records(logged.data_dir / "jobs" / "runs", "drift")
        if r.run_id == records[-1].run_id
    ]  # fmt: skip
    assert saved.outcome == "ok"
    assert report["run"] == {
        "job": "drift",
        "run_id": records[-1].run_id,
        "record": "../../jobs/runs/drift.jsonl",
    }
    # The first report had none before it.
    first = rendered(Path(records[0].produced["fraud"]["report_html"]))
    assert not first.find("a", "previous")
    assert first.find("span", "previous")


def test_retention_deletes_old_reports_and_the_index_follows(logged: Settings) -> None:
    registry = ModelRegistry(logged.models_dir)
    now = datetime.now(UTC)
    old = {}
    for age in (100, 40, 20):
        # A check of the whole log, dated in the past as if run then (from the command line).
        old[age] = drift_check(
            registry,
            logged.data_dir,
            "fraud",
            end=now - timedelta(days=age),
            window=timedelta(hours=24),
            cooldown=timedelta(hours=6),
            current=predictions_dir(logged.data_dir, "fraud"),
        )
    folder = model_reports_dir(logged.data_dir, "fraud")
    assert len(rendered(folder / "index.html").find("tr", "run")) == 3
    # A half-written run's orphan page, and a file that is no report, both long untouched.
    orphan = folder / "drift-fraud-20200101T000000Z.html"
    orphan.write_text("<html></html>")
    notes = folder / "notes.txt"
    notes.write_text("mine")
    past = (now - timedelta(days=400)).timestamp()
    for path in (orphan, notes):
        os.utime(path, (past, past))

    settings = logged.model_copy(update={"report_retention": timedelta(days=30)})
    next_second()
    record = JobRunner(settings).run("drift")
    assert record.outcome == "ok", record.detail

    gone = [old[100], old[40]]
    for result in gone:
        assert not result.json_path.exists()
        assert not result.html_path.exists()
    assert not orphan.exists()
    assert notes.read_text() == "mine"
    kept = [old[20].html_path.name, Path(record.produced["fraud"]["report_html"]).name]
    index = folder / "index.html"
    dom = rendered(index)
    assert [a.attrs["href"] for a in dom.find("a", "report")] == kept[::-1]
    assert "older than 30 days are deleted" in index.read_text()
    assert_links_resolve(dom, index)
    # The oldest report kept pointed at one now deleted: it says none is kept instead.
    oldest = rendered(old[20].html_path)
    assert_links_resolve(oldest, old[20].html_path)
    assert not oldest.find("a", "previous")
    # It ran outside the scheduler, so it links to its JSON and says there is no job record.
    [to_json] = oldest.find("a", "record")
    assert to_json.attrs["href"] == old[20].json_path.name
    assert "no job run record" in oldest.find("nav", "runs")[0].text
    newest = rendered(Path(record.produced["fraud"]["report_html"]))
    [previous] = newest.find("a", "previous")
    assert previous.attrs["href"] == old[20].html_path.name


def test_a_report_written_elsewhere_leaves_the_models_folder_alone(
    logged: Settings, tmp_path: Path
) -> None:
    result = drift_check(
        ModelRegistry(logged.models_dir),
        logged.data_dir,
        "fraud",
        end=datetime.now(UTC),
        window=timedelta(hours=1),
        cooldown=timedelta(hours=6),
        out_dir=tmp_path / "elsewhere",
        retention=timedelta(days=1),
    )
    assert result.json_path.parent == tmp_path / "elsewhere"
    assert sorted(p.suffix for p in (tmp_path / "elsewhere").iterdir()) == [".html", ".json"]
    assert not model_reports_dir(logged.data_dir, "fraud").exists()


@pytest.mark.parametrize(
    ("text", "kept"),
    [("30d", timedelta(days=30)), (" 12h ", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
     ("", None)],
)  # fmt: skip
def test_report_retention_reads_a_duration(
    monkeypatch: pytest.MonkeyPatch, text: str, kept: timedelta | None
) -> None:
    monkeypatch.setenv("SCORER_REPORT_RETENTION", text)
    assert Settings().report_retention == kept


@pytest.mark.parametrize("text", ["30", "3x", "0d", "-1d", "thirty days", "1w"])
def test_a_malformed_report_retention_is_a_settings_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("SCORER_REPORT_RETENTION", text)
    with pytest.raises(ValidationError, match=f"SCORER_REPORT_RETENTION='{re.escape(text)}'"):
        Settings()


def test_reports_are_kept_90_days_by_default() -> None:
    assert Settings().report_retention == timedelta(days=90)
