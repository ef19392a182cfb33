"""A model's reports folder over time: retention, links between runs, and the index page.

The ``drift-*.json`` files are the source of truth: each run deletes the reports past the
retention, writes its own report linked to the previous one, and rebuilds ``index.html`` from
the JSON files left, so the index always lists exactly the reports on disk.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from drift.history import INDEX_NAME, ReportEntry, entry_from_json, render_index
from drift.html import ReportLinks, replace_nav
from drift.publish import report_stem, write_report
from drift.report import DriftReport, RunRef
from scoring.durable import sync_folder, write_atomically

log = logging.getLogger(__name__)

REPORT_SUFFIXES = (".json", ".html")


@dataclass(frozen=True)
class ReportFolder:
    """The reports folder of one model: ``drift-<model>-<time>.json`` and ``.html`` pairs."""

    path: Path
    model: str

    def entries(self) -> list[ReportEntry]:
        """Every readable report's headline, oldest first (an unreadable JSON is skipped)."""
        entries = []
        for json_path in self.path.glob("drift-*.json"):
            try:
                data = orjson.loads(json_path.read_bytes())
                entries.append(
                    entry_from_json(json_path.stem, data, json_path.with_suffix(".html").is_file())
                )
            except (OSError, orjson.JSONDecodeError, ValueError) as exc:
                log.warning("%s: left out of the index: %s", json_path, exc)
        return sorted(entries, key=lambda e: e.generated_at)

    def prune(self, entries: list[ReportEntry], cutoff: datetime) -> set[str]:
        """Delete both files of every report made before ``cutoff``; return their stems.

        A report's time is the ``generated_at`` its JSON holds (``entries``); a file whose JSON
        is missing or unreadable is dated by its modification time, so nothing lingers for ever.
        """
        dated = {e.stem: e.generated_at for e in entries}
        removed = set()
        for path in self.path.glob("drift-*"):
            if path.suffix not in REPORT_SUFFIXES:
                continue
            made = dated.get(path.stem)
            try:
                if made is None:
                    made = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                if made < cutoff:
                    path.unlink()
                    removed.add(path.stem)
            except FileNotFoundError:
                continue  # another run of the check removed it first
        if removed:
            sync_folder(self.path)
        return removed

    def relink(self, entry: ReportEntry, previous: ReportEntry | None) -> None:
        """Rewrite the links bar of ``entry``'s page, e.g. once its previous report is gone."""
        page = self.path / entry.html_name
        if page.is_file():
            text = page.read_text(encoding="utf-8")
            links = _links(entry.run, entry.json_name, previous)
            write_atomically(page, replace_nav(text, links).encode())

    def write_index(self, retention: timedelta | None) -> Path:
        """Rebuild ``index.html`` from the reports on disk, atomically."""
        kept = "Every report is kept."
        if retention is not None:
            kept = f"Reports older than {describe(retention)} are deleted at each drift run."
        path = self.path / INDEX_NAME
        write_atomically(path, render_index(self.model, self.entries(), kept).encode())
        return path


def describe(duration: timedelta) -> str:
    """A duration in words: ``90 days``, ``12 hours``, ``30 minutes``."""
    seconds = duration.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _links(run: RunRef | None, json_name: str, previous: ReportEntry | None) -> ReportLinks:
    return ReportLinks(
        index=INDEX_NAME,
        previous=previous.html_name if previous and previous.has_html else None,
        previous_label=_when(previous.generated_at) if previous else "",
        run_record=run.record if run else None,
        run_id=run.run_id if run else None,
        report_json=json_name,
    )


def publish_with_history(
    report: DriftReport, folder: ReportFolder, retention: timedelta | None
) -> tuple[Path, Path]:
    """Prune past ``retention``, write ``report`` linked to the previous one, rebuild the index.

    Ages count back from the report's own time, so a check of a past window prunes alike.
    """
    folder.path.mkdir(parents=True, exist_ok=True)
    entries = folder.entries()
    removed = folder.prune(entries, report.generated_at - retention) if retention else set()
    stem = report_stem(report.model, report.generated_at)
    earlier = [
        e
        for e in entries
        if e.stem not in removed and e.stem != stem and e.generated_at < report.generated_at
    ]
    previous = earlier[-1] if earlier else None
    links = _links(report.run, f"{stem}.json", previous)
    paths = write_report(report, folder.path, write_atomically, links)
    if removed and earlier:
        # The oldest report kept may point at one just deleted: it now says none is kept.
        folder.relink(earlier[0], None)
    folder.write_index(retention)  # read back from disk: the index shows what is there
    return paths


def relative_link(target: Path, start: Path) -> str:
    """``target`` as a link relative to the folder ``start``, with forward slashes."""
    return Path(os.path.relpath(target, start)).as_posix()
