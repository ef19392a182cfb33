"""Drift and job outcomes as Prometheus metrics, read from the files the jobs leave.

The jobs run in other processes (``scorer jobs``, ``scorer drift``), so the service reads
their reports, run records and schedules from the data dir. Every worker reads the same
files and shows the same values: the collector yields them as they are on each scrape, never
through metric objects a multiprocess registry would add up across workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drift.decision import Action
from drift.publish import REPORTS_FOLDER
from scoring.log.job_runs import (
    OUTCOMES,
    JobSchedule,
    parse_record,
    parse_schedules,
    runs_dir,
    schedule_file,
)
from scoring.serving.latest_drift import DriftSummary, LatestDriftReports
from scoring.serving.watched_files import AppendedLines, WatchedFile, WatchedFolder

FINISHED = ("ok", "failed", "crashed")
"""Outcomes of runs that held the job's lock (a ``skipped`` run left the job to another)."""


@dataclass(frozen=True)
class JobOutcomes:
    """The runs of one job so far, as its run records tell them."""

    job: str
    counts: dict[str, int]
    """Runs by outcome, every outcome named (0 when none), runs in progress left out."""
    last_finished: str | None
    """The outcome of the last run that held the lock and ended."""
    last_success: float | None
    """When the last successful run ended, in seconds since the epoch."""


class JobRunLog:
    """One job's run records, folded as lines are appended to them."""

    def __init__(self, path: Path, job: str) -> None:
        self.job = job
        self._lines = AppendedLines(path)
        self._start()

    def _start(self) -> None:
        self._lines_read = 0
        self._outcomes: dict[str, str] = {}  # each run's latest outcome, by run id
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._last_finished: str | None = None
        self._last_success: float | None = None

    def read(self) -> JobOutcomes:
        """The job's runs as the file holds them now; reads only the lines appended since."""
        restarted, lines = self._lines.read()
        if restarted:
            self._start()
        for line in lines:
            record = parse_record(line, self._lines_read)
            self._lines_read += 1
            if record is None:
                continue
            # A later line of a run replaces its earlier one: count each run once.
            before = self._outcomes.get(record.run_id)
            if before in self._counts:
                self._counts[before] -= 1
            if record.outcome in self._counts:
                self._counts[record.outcome] += 1
            self._outcomes[record.run_id] = record.outcome
            if record.outcome in FINISHED:
                self._last_finished = record.outcome
            ended = _timestamp(record.ended_at)
            if record.outcome == "ok" and ended is not None:
                self._last_success = max(ended, self._last_success or ended)
        return JobOutcomes(self.job, dict(self._counts), self._last_finished, self._last_success)


def _timestamp(iso: str | None) -> float | None:
    try:
        return None if iso is None else datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Snapshot:
    """What one look at the files found."""

    drift: list[DriftSummary] = field(default_factory=list)
    jobs: list[JobOutcomes] = field(default_factory=list)
    schedules: list[JobSchedule] = field(default_factory=list)


class JobMetricsCollector(Collector):
    """Latest drift report per model, job outcomes and schedules, from the data dir's files.

    ``refresh()`` looks at the files (a few stats when nothing changed; call it off the event
    loop), ``collect()`` yields what the last look found.
    """

    def __init__(self, data_dir: Path) -> None:
        self._reports = LatestDriftReports(data_dir / REPORTS_FOLDER)
        self._runs = WatchedFolder(runs_dir(data_dir))
        self._logs: dict[str, JobRunLog] = {}
        self._schedules = WatchedFile(schedule_file(data_dir), parse_schedules)
        self._lock = threading.Lock()  # two scrapes at once must not fold the same lines twice
        self.snapshot = Snapshot()

    def refresh(self) -> Snapshot:
        """Look at the files again; cheap when nothing changed."""
        with self._lock:
            jobs = sorted(
                name.removesuffix(".jsonl")
                for name in self._runs.read().files
                if name.endswith(".jsonl") and not name.startswith(".")
            )
            self._logs = {
                job: self._logs.get(job) or JobRunLog(self._runs.path / f"{job}.jsonl", job)
                for job in jobs
            }
            self.snapshot = Snapshot(
                drift=self._reports.read(),
                jobs=[log.read() for log in self._logs.values()],
                schedules=self._schedules.read() or [],
            )
            return self.snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield the values the last ``refresh()`` found."""
        snapshot = self.snapshot
        yield from _drift_metrics(snapshot.drift)
        yield from _job_metrics(snapshot.jobs, snapshot.schedules)


def _drift_metrics(reports: list[DriftSummary]) -> Iterator[Metric]:
    """The latest drift report of each model."""
    psi = GaugeMetricFamily(
        "scorer_drift_psi", "PSI of each feature in the latest drift check",
        labels=["model", "feature"],
    )  # fmt: skip
    drifted = GaugeMetricFamily(
        "scorer_drift_feature_drifted", "1 if the feature drifted in the latest check, else 0",
        labels=["model", "feature"],
    )  # fmt: skip
    detected = GaugeMetricFamily(
        "scorer_drift_detected", "1 if the latest drift check found drift, else 0",
        labels=["model"],
    )  # fmt: skip
    action = GaugeMetricFamily(
        "scorer_drift_action", "1 for the action the latest drift check asked for, else 0",
        labels=["model", "action"],
    )  # fmt: skip
    rows = GaugeMetricFamily(
        "scorer_drift_window_rows", "Logged rows the latest drift check compared",
        labels=["model"],
    )  # fmt: skip
    score_psi = GaugeMetricFamily(
        "scorer_drift_score_psi", "PSI of the score in the latest drift check", labels=["model"]
    )
    auc = GaugeMetricFamily(
        "scorer_drift_auc", "AUC on the labelled rows of the latest check (when labels exist)",
        labels=["model"],
    )  # fmt: skip
    version = GaugeMetricFamily(
        "scorer_drift_model_version", "Version the latest drift check judged", labels=["model"]
    )
    last_run = GaugeMetricFamily(
        "scorer_drift_last_run_timestamp_seconds", "When the latest drift check ran",
        labels=["model"],
    )  # fmt: skip
    for report in reports:
        model = report.model
        for feature in report.features:
            if feature.psi is not None:
                psi.add_metric([model, feature.name], feature.psi)
            drifted.add_metric([model, feature.name], int(feature.drifted))
        detected.add_metric([model], int(report.drift_detected))
        for known in Action:
            action.add_metric([model, known.value], int(report.action == known.value))
        rows.add_metric([model], report.rows)
        if report.score_psi is not None:
            score_psi.add_metric([model], report.score_psi)
        if report.auc is not None:
            auc.add_metric([model], report.auc)
        if report.version is not None:
            version.add_metric([model], report.version)
        last_run.add_metric([model], report.generated_at)
    yield from (psi, drifted, detected, action, rows, score_psi, auc, version, last_run)


def _job_metrics(jobs: list[JobOutcomes], schedules: list[JobSchedule]) -> Iterator[Metric]:
    """Runs of each job by outcome, its last success and last outcome, and its schedule."""
    runs = CounterMetricFamily(
        "scorer_job_runs", "Job runs by outcome, as the run records hold them",
        labels=["job", "outcome"],
    )  # fmt: skip
    last_success = GaugeMetricFamily(
        "scorer_job_last_success_timestamp_seconds", "When the job's last successful run ended",
        labels=["job"],
    )  # fmt: skip
    last_outcome = GaugeMetricFamily(
        "scorer_job_last_run_outcome",
        "1 for the outcome of the job's last run that held its lock (ok, failed, crashed)",
        labels=["job", "outcome"],
    )
    for job in jobs:
        for outcome, count in job.counts.items():
            runs.add_metric([job.job, outcome], count)
        if job.last_success is not None:
            last_success.add_metric([job.job], job.last_success)
        if job.last_finished is not None:
            for outcome in FINISHED:
                last_outcome.add_metric([job.job, outcome], int(job.last_finished == outcome))
    interval = GaugeMetricFamily(
        "scorer_job_schedule_interval_seconds",
        "Longest wait between two scheduled runs of the job",
        labels=["job"],
    )
    since = GaugeMetricFamily(
        "scorer_job_scheduled_since_timestamp_seconds",
        "Since when the scheduler runs the job on its current schedule",
        labels=["job"],
    )
    for schedule in schedules:
        interval.add_metric([schedule.job], schedule.interval_s)
        started = _timestamp(schedule.since)
        if started is not None:
            since.add_metric([schedule.job], started)
    yield from (runs, last_success, last_outcome, interval, since)
