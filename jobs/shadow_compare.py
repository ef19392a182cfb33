"""The shadow comparison: a model's shadow against its champion on the same logged requests."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drift.html import ReportLinks
from drift.publish import COMPARE_PREFIX, model_reports_dir, write_shadow_report
from drift.report import RunRef, ShadowComparisonRef
from drift.shadow_log import read_shadow_pairs
from drift.shadow_report import ShadowReport, compare_shadow
from drift.window import PredictionLogError, read_labels
from jobs.report_history import relative_link
from scoring.durable import sync_folder, write_atomically
from scoring.log.job_runs import runs_dir
from scoring.log.schema import labels_dir, predictions_dir
from scoring.model.registry import ModelRegistry

log = logging.getLogger(__name__)

_STAMP = re.compile(r"-(\d{8}T\d{6}Z)\.(?:json|html)$")


@dataclass(frozen=True)
class ShadowCompareResult:
    """A shadow comparison report and where it was written."""

    report: ShadowReport
    json_path: Path
    html_path: Path

    def reference(self, from_folder: Path) -> ShadowComparisonRef:
        """What a drift report in ``from_folder`` says of this comparison, with links to it."""
        report = self.report
        return ShadowComparisonRef(
            report_json=relative_link(self.json_path, from_folder),
            report_html=relative_link(self.html_path, from_folder),
            champion_version=report.champion_version,
            shadow_version=report.shadow_version,
            paired_rows=report.pairs.rows,
            pearson=report.scores.pearson,
            label_agreement=report.labels.agreement,
        )


def prune_comparisons(folder: Path, cutoff: datetime) -> int:
    """Delete the comparison reports in ``folder`` made before ``cutoff`` (by their name's time)."""
    removed = 0
    for path in folder.glob(f"{COMPARE_PREFIX}-*"):
        match = _STAMP.search(path.name)
        if match is None:
            continue
        made = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if made < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        sync_folder(folder)
    return removed


def shadow_compare(
    registry: ModelRegistry,
    data_dir: Path,
    model: str,
    *,
    end: datetime,
    window: timedelta,
    out_dir: Path | None = None,
    retention: timedelta | None = None,
    run_id: str | None = None,
    run_job: str = "drift",
) -> ShadowCompareResult:
    """Compare the shadow of ``model`` with its champion on ``[end - window, end)`` of the log.

    The figures are of the current champion and shadow aliases when the window paired them,
    else of the version pair logged last (a shadow alias removed since is still compared).
    The reports go to ``out_dir``, by default the model's reports folder, where comparisons
    older than ``retention`` are deleted. Raises :class:`drift.shadow_log.NoShadowRows` when
    the window has no shadow row.
    """
    champion = registry.resolve(model, "champion")  # an unknown model is named here
    shadow = registry.aliases(model).shadow
    log_dir = predictions_dir(data_dir, model)
    if not log_dir.exists():
        raise PredictionLogError(f"model {model!r} has no prediction log yet: nothing at {log_dir}")
    join_keys = [f.name for f in registry.manifest(model, champion).feature_schema.join_keys]
    start = end - window
    pairs = read_shadow_pairs(
        log_dir,
        join_keys,
        model=model,
        start=start,
        end=end,
        champion_version=champion,
        shadow_version=shadow,
    )
    manifest = registry.manifest(model, pairs.champion_version)
    labels_root = labels_dir(data_dir)
    feedback = None
    notes = []
    if labels_root.is_dir() and any(labels_root.rglob("*.parquet")):
        feedback, truncated = read_labels(labels_root, manifest.postprocess.labels[1], start)
        if truncated:
            notes.append("labels were cut short; the AUCs use those read")
    report = compare_shadow(
        pairs,
        feedback,
        model=model,
        generated_at=end,
        window_start=start,
        window_end=end,
        source=str(log_dir),
        notes=notes,
    )
    history = model_reports_dir(data_dir, model)
    out = out_dir or history
    links = None
    if run_id is not None:
        record = runs_dir(data_dir) / f"{run_job}.jsonl"
        run = RunRef(run_job, run_id, relative_link(record, out))
        report = replace(report, run=run)
        links = ReportLinks(run_record=run.record, run_id=run_id)
    if retention is not None and out.resolve() == history.resolve() and out.is_dir():
        prune_comparisons(out, end - retention)
    json_path, html_path = write_shadow_report(report, out, write_atomically, links)
    return ShadowCompareResult(report=report, json_path=json_path, html_path=html_path)
