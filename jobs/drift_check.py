"""The drift check job: compare a model's recent prediction log with its reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from drift.check import check_drift
from drift.decision import DriftPolicy
from drift.publish import model_reports_dir, write_report
from drift.report import DriftReport, RunRef
from drift.shadow_log import NoShadowRows
from drift.window import PredictionLogError
from jobs.report_history import ReportFolder, publish_with_history, relative_link
from jobs.shadow_compare import ShadowCompareResult, shadow_compare
from jobs.triggers import parse_duration
from scoring.durable import write_atomically
from scoring.log.job_runs import runs_dir
from scoring.log.schema import labels_dir, predictions_dir
from scoring.model.loaded import ScoringModel, load_model
from scoring.model.registry import ModelRegistry

POLICY_FILE = "policy.json"
DRIFT_JOB = "drift"
"""The drift job's name, under which its runs are recorded."""
DEFAULT_MIN_IMPORTANCE = 0.01


@dataclass(frozen=True)
class DriftCheckResult:
    """A drift report and where it was written."""

    report: DriftReport
    json_path: Path
    html_path: Path
    shadow: ShadowCompareResult | None = None
    """The shadow comparison written beside the report, when the model has a shadow."""


def gain_importance(model: ScoringModel) -> dict[str, float]:
    """Each feature's share of the model's total split gain."""
    gains = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype=float)
    total = gains.sum() or 1.0
    return {
        name: float(g / total) for name, g in zip(model.schema.feature_names, gains, strict=True)
    }


def load_policy(path: Path, cooldown: timedelta, importance: dict[str, float]) -> DriftPolicy:
    """The model's drift policy: defaults, then ``policy.json`` beside the model if present.

    ``policy.json`` holds any :class:`DriftPolicy` field, durations as text (``"6h"``).
    """
    overrides: dict[str, Any] = orjson.loads(path.read_bytes()) if path.is_file() else {}
    known = {f.name for f in dataclasses.fields(DriftPolicy)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{path}: unknown policy field(s) {unknown}; known: {sorted(known)}")
    if "cooldown" in overrides:
        overrides["cooldown"] = parse_duration(overrides["cooldown"])
    if "ignore" in overrides:
        overrides["ignore"] = frozenset(overrides["ignore"])
    overrides.setdefault("cooldown", cooldown)
    overrides.setdefault("importance", importance)
    # Features that carry under 1% of the model's split gain only warn when they drift:
    # they barely move the score, so retraining for them buys little.
    overrides.setdefault("min_importance", DEFAULT_MIN_IMPORTANCE)
    return DriftPolicy(**overrides)


def last_retrain_at(registry: ModelRegistry, model: str) -> datetime | None:
    """When the newest version of ``model`` was trained."""
    versions = registry.versions(model)
    if not versions:
        return None
    return datetime.fromisoformat(registry.manifest(model, versions[-1]).created_at)


def drift_check(
    registry: ModelRegistry,
    data_dir: Path,
    model: str,
    *,
    end: datetime,
    window: timedelta,
    cooldown: timedelta,
    out_dir: Path | None = None,
    current: Path | None = None,
    retention: timedelta | None = None,
    run_id: str | None = None,
) -> DriftCheckResult:
    """Check the champion of ``model`` on ``[end - window, end)`` of its log (or ``current``).

    The reports go to ``out_dir``, by default the model's reports folder under ``data_dir``.
    In that folder the run also deletes reports older than ``retention`` (``None`` keeps them
    all), links its page to the previous report, and rebuilds the folder's ``index.html``.
    ``run_id`` names the drift job run that checks, whose record the report then links to.
    When the model has a shadow, its comparison with the champion over the same window is
    written beside the report, which links to it (``shadow_comparison``).
    """
    version = registry.resolve(model, "champion")
    log_dir = predictions_dir(data_dir, model)
    if current is None and not log_dir.exists():
        raise PredictionLogError(f"model {model!r} has no prediction log yet: nothing at {log_dir}")
    loaded = load_model(registry, model, version)
    manifest = loaded.manifest
    folder = registry.version_dir(model, version)
    reference = orjson.loads((folder / manifest.reference_file).read_bytes())
    kinds = {f.name: f.kind.value for f in loaded.schema.features}
    policy = load_policy(registry.root / model / POLICY_FILE, cooldown, gain_importance(loaded))
    labels_root = labels_dir(data_dir)
    has_labels = labels_root.is_dir() and any(labels_root.rglob("*.parquet"))
    report = check_drift(
        reference,
        kinds,
        model,
        version,
        manifest.metrics.get("auc"),
        manifest.postprocess.labels[1],
        current or log_dir,
        labels_root if has_labels else None,
        start=None if current else end - window,
        end=None if current else end,
        policy=policy,
        last_retrain_at=last_retrain_at(registry, model),
        now=end,
    )
    history = model_reports_dir(data_dir, model)
    out = out_dir or history
    if run_id is not None:
        record = runs_dir(data_dir) / f"{DRIFT_JOB}.jsonl"
        report = replace(report, run=RunRef(DRIFT_JOB, run_id, relative_link(record, out)))
    shadow = None
    if current is None and registry.aliases(model).shadow is not None:
        try:
            shadow = shadow_compare(
                registry, data_dir, model, end=end, window=window, out_dir=out,
                retention=retention, run_id=run_id, run_job=DRIFT_JOB,
            )  # fmt: skip
            report = replace(report, shadow_comparison=shadow.reference(out))
        except NoShadowRows as exc:  # a shadow set moments ago has scored nothing yet
            report = replace(report, notes=[*report.notes, f"shadow not compared: {exc}"])
    if out.resolve() == history.resolve():
        json_path, html_path = publish_with_history(report, ReportFolder(history, model), retention)
    else:
        json_path, html_path = write_report(report, out, write_atomically)
    return DriftCheckResult(report=report, json_path=json_path, html_path=html_path, shadow=shadow)
