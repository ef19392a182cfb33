"""Running a named job once: under its Redis lock, leaving a run record, whatever happens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from feast import FeatureStore

from features.store import open_feature_store
from jobs.drift_check import drift_check
from jobs.lock import job_lock
from jobs.materialize import materialize
from jobs.records import RunRecord, append_record, now_iso, record_crashed_runs
from jobs.retrain import retrain
from jobs.triggers import parse_duration
from scoring.errors import RedisUnavailable, UnknownJob
from scoring.log.job_runs import runs_dir
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings, variable_name

log = logging.getLogger(__name__)

JOBS = ("materialize", "drift", "retrain")


def check_job_name(job: str) -> None:
    """Raise UnknownJob unless ``job`` is one of :data:`JOBS`."""
    if job not in JOBS:
        raise UnknownJob(f"unknown job {job!r}; jobs are {', '.join(JOBS)}")


class JobRunner:
    """Runs ``materialize``, ``drift`` and ``retrain`` with the settings it was given."""

    def __init__(self, settings: Settings, say: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.registry = ModelRegistry(settings.models_dir)
        self.records_dir = runs_dir(settings.data_dir)
        self._say = say or log.info
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        """The Feast store, opened on first use."""
        if self._store is None:
            self._store = open_feature_store(self.settings.feature_repo, self.settings.online_store)
        return self._store

    def check_redis(self) -> None:
        """Raise RedisUnavailable unless the Redis holding the job locks answers a ping.

        A run that cannot take its lock cannot start: a command running one job asks first,
        so a Redis that is down is one clear error rather than a failed run's traceback.
        """
        client = self._lock_client()
        kwargs = client.connection_pool.connection_kwargs
        where = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"  # never the password
        try:
            client.ping()
        except redis.RedisError as exc:
            variable = variable_name("redis_url" if self.settings.redis_url else "online_store")
            raise RedisUnavailable(
                f"Redis at {where} ({variable}) does not answer, and jobs take a lock in it: {exc}"
            ) from exc
        finally:
            client.close()

    def _lock_client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.service_redis_url(), socket_timeout=5, socket_connect_timeout=5
        )

    def run(self, job: str, models: list[str] | None = None) -> RunRecord:
        """Run ``job`` now (for ``models``, default every model) and record how it went."""
        check_job_name(job)
        record = RunRecord(job=job, started_at=now_iso())
        client = self._lock_client()
        try:
            with job_lock(client, job, self.settings.job_lock_timeout_s) as lock:
                if not lock:
                    record.outcome = "skipped"
                    held_by = f" ({lock.holder})" if lock.holder else ""
                    record.detail = f"another scheduler{held_by} is running this job"
                else:
                    # The span a successful run records is the span it held the lock:
                    # started after acquiring, ended before releasing. Runs of one job
                    # by different schedulers then never overlap in the records either.
                    record.started_at = now_iso()
                    append_record(self.records_dir, record)  # "running", found if we die
                    for crashed in record_crashed_runs(self.records_dir, job, record):
                        log.warning("%s: an earlier run crashed: %s", job, crashed.detail)
                    record.produced = self._dispatch(job, models, record.run_id)
                    record.outcome = "ok"
                    record.ended_at = now_iso()
                    if lock.lost.is_set():
                        record.detail = "its lock expired while it ran (Redis unreachable?)"
        except Exception as exc:  # the record must say why, whatever broke
            log.exception("job %s failed", job)
            record.outcome = "failed"
            record.detail = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
            record.ended_at = record.ended_at or now_iso()
            append_record(self.records_dir, record)
        return record

    def _models(self, models: list[str] | None) -> list[str]:
        return models or [m for m in self.registry.models() if self.registry.aliases(m).champion]

    def _dispatch(self, job: str, models: list[str] | None, run_id: str) -> dict[str, Any]:
        if job == "materialize":
            result = materialize(self.store)
            if result.full_reload:
                self._say(f"full reload: {result.reason}")
            self._say(f"materialized {', '.join(result.feature_views)}")
            return {
                "end": result.end.isoformat(),
                "feature_views": result.feature_views,
                "full_reload": result.full_reload,
                "reason": result.reason,
            }
        produced: dict[str, Any] = {}
        for model in self._models(models):
            produced[model] = (
                self.drift(model, run_id=run_id) if job == "drift" else self.retrain(model)
            )
        return produced

    def drift(
        self, model: str, current: Path | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Check drift of ``model`` (in the run ``run_id``); retrain it when the check says so."""
        s = self.settings
        result = drift_check(
            self.registry,
            s.data_dir,
            model,
            end=datetime.now(UTC),
            window=parse_duration(s.drift_window),
            cooldown=parse_duration(s.retrain_cooldown),
            current=current,
            retention=s.report_retention,
            run_id=run_id,
        )
        report = result.report
        self._say(f"{model}: drift check over {report.rows:,} rows: action {report.action.value}")
        produced: dict[str, Any] = {
            "action": report.action.value,
            "rows": report.rows,
            "drifted": report.drifted_features,
            "report_json": str(result.json_path),
            "report_html": str(result.html_path),
        }
        if result.shadow is not None:
            produced["compare_json"] = str(result.shadow.json_path)
            produced["compare_html"] = str(result.shadow.html_path)
        if report.action.value == "retrain":
            produced["retrain"] = self.retrain(model)
        return produced

    def retrain(self, model: str) -> dict[str, Any]:
        """Retrain ``model`` and promote the candidate if it is not worse than the champion."""
        result = retrain(
            self.store,
            self.registry,
            self.settings.data_dir,
            model,
            margin=self.settings.promote_margin,
            progress=self._say,
        )
        self._say(f"{model}: {result.reason}: {'promoted' if result.promoted else 'kept'}")
        return asdict(result)
