"""Reading Prometheus text format with prometheus_client's parser; drift reports to show."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from drift.publish import report_stem

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Sample values by name and sorted labels."""


def parse_samples(text: str) -> Samples:
    """Every sample of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(collector: Collector) -> Samples:
    """What one collector shows on a scrape of a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return parse_samples(generate_latest(registry).decode())


def select(samples: Samples, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of ``name`` whose labels include ``labels``, by their labels."""
    return {
        key: value
        for (sample, key), value in samples.items()
        if sample == name and set(labels.items()) <= set(key)
    }


def write_report(
    folder: Path,
    model: str,
    at: datetime,
    psi: dict[str, float],
    *,
    action: str = "none",
    auc: float | None = None,
) -> dict[str, Any]:
    """A drift report JSON with the contract's fields, named as the drift job names it."""
    report = {
        "model": model,
        "version": 3,
        "window": {"start": None, "end": at.isoformat(), "rows": 1234},
        "drift_detected": action != "none",
        "action": action,
        "features": [
            {"name": name, "psi": value, "drifted": value > 0.2} for name, value in psi.items()
        ],
        "prediction": {"name": "score", "psi": 0.05, "drifted": False},
        "performance": None if auc is None else {"auc": auc, "labelled_rows": 300},
        "generated_at": at.isoformat(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report_stem(model, at)}.json").write_bytes(orjson.dumps(report))
    return report
