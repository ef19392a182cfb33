"""Publishing a drift report: a JSON file for machines and an HTML page for people, side by side."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drift.html import render_html
from drift.report import DriftReport

WriteFile = Callable[[Path, bytes], None]
"""How a file is written; the caller decides (the jobs write whole-or-absent files)."""


def report_stem(model: str, generated_at: datetime) -> str:
    """``drift-<model>-<UTC timestamp>``, safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    stamp = generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"drift-{safe}-{stamp}"


def write_report(
    report: DriftReport, out_dir: str | os.PathLike[str], write: WriteFile
) -> tuple[Path, Path]:
    """Write ``drift-<model>-<timestamp>.json`` and ``.html`` into ``out_dir``; return both."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = report_stem(report.model, report.generated_at)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)
    write(json_path, (text + "\n").encode())
    write(html_path, render_html(report).encode())
    return json_path, html_path
