"""Publishing a report (drift, or shadow comparison): JSON for machines and HTML for people."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drift.html import ReportLinks, render_html
from drift.report import DriftReport
from drift.shadow_html import render_shadow_html
from drift.shadow_report import ShadowReport

WriteFile = Callable[[Path, bytes], None]
"""How a file is written; the caller decides (the jobs write whole-or-absent files)."""

REPORTS_FOLDER = "reports"


def model_reports_dir(data_dir: str | os.PathLike[str], model: str) -> Path:
    """``<data dir>/reports/<model>``: where the scheduled drift runs of ``model`` write."""
    return Path(data_dir) / REPORTS_FOLDER / _safe(model)


def _safe(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model)


def report_stem(model: str, generated_at: datetime, kind: str = "drift") -> str:
    """``<kind>-<model>-<UTC timestamp>`` (``drift`` or ``compare``), safe as a file name."""
    stamp = generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{kind}-{_safe(model)}-{stamp}"


def write_report(
    report: DriftReport,
    out_dir: str | os.PathLike[str],
    write: WriteFile,
    links: ReportLinks | None = None,
) -> tuple[Path, Path]:
    """Write ``drift-<model>-<timestamp>.json`` and ``.html`` into ``out_dir``; return both.

    ``links`` (to the index, the previous report, the run record) go at the top of the page.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = report_stem(report.model, report.generated_at)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)
    write(json_path, (text + "\n").encode())
    write(html_path, render_html(report, links).encode())
    return json_path, html_path


COMPARE_PREFIX = "compare"
"""The file names of shadow comparison reports start with it, beside the drift reports."""


def write_shadow_report(
    report: ShadowReport,
    out_dir: str | os.PathLike[str],
    write: WriteFile,
    links: ReportLinks | None = None,
) -> tuple[Path, Path]:
    """Write ``compare-<model>-<timestamp>.json`` and ``.html`` into ``out_dir``; return both."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = report_stem(report.model, report.generated_at, COMPARE_PREFIX)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)
    write(json_path, (text + "\n").encode())
    write(html_path, render_shadow_html(report, links).encode())
    return json_path, html_path
