"""The latest drift report of every model, as the drift job left it under the reports folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from scoring.serving.watched_files import Listing, WatchedFile, WatchedFolder

# ``drift-<model>-<UTC stamp>.json`` (drift.publish.report_stem), in a folder of its own per
# model (drift.publish.model_reports_dir) or, written before those, in the reports folder
# itself; the stamp orders one model's reports.
_REPORT_NAME = re.compile(r"^drift-(?:(?P<prefix>.*)-)?(?P<stamp>\d{8}T\d{6}Z)\.json$")


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's line of a report."""

    name: str
    psi: float | None
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    """What the metrics show of one drift report."""

    model: str
    version: int | None
    generated_at: float
    """When the check ran, in seconds since the epoch."""
    rows: int
    drift_detected: bool
    action: str
    features: tuple[FeatureDrift, ...]
    score_psi: float | None
    auc: float | None
    """The window's AUC on labelled rows; None without labels."""


def parse_drift_report(content: bytes) -> DriftSummary:
    """The summary of a drift report's JSON (DESIGN's contract); ValueError when it is not one."""
    try:
        report: dict[str, Any] = orjson.loads(content)
        performance = report.get("performance") or {}
        return DriftSummary(
            model=str(report["model"]),
            version=_optional_int(report.get("version")),
            generated_at=datetime.fromisoformat(report["generated_at"]).timestamp(),
            rows=int(report["window"]["rows"]),
            drift_detected=bool(report["drift_detected"]),
            action=str(report["action"]),
            features=tuple(
                FeatureDrift(str(f["name"]), _optional_float(f.get("psi")), bool(f["drifted"]))
                for f in report["features"]
            ),
            score_psi=_optional_float((report.get("prediction") or {}).get("psi")),
            auc=_optional_float(performance.get("auc")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a drift report: {exc!r}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


class LatestDriftReports:
    """The newest report of each model under a reports folder, read again only when it changes.

    Looking costs a stat of the folder, of each model's folder and of each newest report;
    a report is parsed once, when it appears.
    """

    def __init__(self, root: Path) -> None:
        self._root = WatchedFolder(root)
        self._folders: dict[str, WatchedFolder] = {}
        self._reports: dict[Path, WatchedFile[DriftSummary]] = {}

    def read(self) -> list[DriftSummary]:
        """The newest readable report of every model, by model name."""
        root = self._root.read()
        listings: list[tuple[Path, Listing]] = [(self._root.path, root)]
        self._folders = {
            name: self._folders.get(name) or WatchedFolder(self._root.path / name)
            for name in root.folders
        }
        listings += [(folder.path, folder.read()) for folder in self._folders.values()]
        newest = [folder / name for folder, listing in listings for name in _newest(listing)]
        self._reports = {
            path: self._reports.get(path) or WatchedFile(path, parse_drift_report)
            for path in newest
        }
        latest: dict[str, DriftSummary] = {}
        for report in self._reports.values():
            summary = report.read()
            if summary is None:
                continue
            known = latest.get(summary.model)
            if known is None or summary.generated_at > known.generated_at:
                latest[summary.model] = summary
        return [latest[model] for model in sorted(latest)]


def _newest(listing: Listing) -> list[str]:
    """The newest report file of each model a folder holds reports of."""
    newest: dict[str | None, tuple[str, str]] = {}
    for name in listing.files:
        match = _REPORT_NAME.match(name)
        if match is None:
            continue
        prefix, stamp = match.group("prefix"), match.group("stamp")
        if prefix not in newest or stamp > newest[prefix][0]:
            newest[prefix] = (stamp, name)
    return [name for _, name in newest.values()]
