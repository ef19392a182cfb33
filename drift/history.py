"""A model's drift reports over time: each run's headline read back from its JSON, and the
index page (a table of every run and the trend of PSI and AUC), self-contained like a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from drift.html import PAGE_CSS
from drift.report import RunRef
from drift.trend import Guide, Series, legend, line_chart, series_style

INDEX_NAME = "index.html"
"""The index page's name in a model's reports folder."""

SCORE_COLOUR = "#1f2328"
AUC_COLOUR = "#4C78A8"
MAX_DRIFTED_SHOWN = 6

_INDEX_CSS = """
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 0;font-size:12px;color:#424a53}
.legend i{display:inline-block;width:14px;height:4px;border-radius:2px;margin-right:6px;
vertical-align:middle}
table.runs th,table.runs td{text-align:left}table.runs .num{text-align:right}
td.names{white-space:normal;max-width:360px}
.muted{color:#57606a}
"""


@dataclass(frozen=True)
class ReportEntry:
    """One run's headline, as its report's JSON holds it."""

    stem: str
    generated_at: datetime
    version: int | None
    rows: int
    action: str
    drifted: list[str]
    feature_psi: dict[str, float]
    score_psi: float | None
    auc: float | None
    training_auc: float | None
    psi_moderate: float | None
    psi_significant: float | None
    run: RunRef | None
    has_html: bool = True

    @property
    def json_name(self) -> str:
        """The report's JSON file name."""
        return f"{self.stem}.json"

    @property
    def html_name(self) -> str:
        """The report's HTML file name."""
        return f"{self.stem}.html"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def entry_from_json(stem: str, data: dict[str, Any], has_html: bool = True) -> ReportEntry:
    """The headline of the report ``data`` (its JSON form); ``ValueError`` if it is not one."""
    try:
        performance = data.get("performance") or {}
        policy = data.get("policy") or {}
        run = data.get("run")
        generated_at = datetime.fromisoformat(data["generated_at"])
        if generated_at.tzinfo is None:
            generated_at = generated_at.replace(tzinfo=UTC)
        features = data["features"]
        return ReportEntry(
            stem=stem,
            generated_at=generated_at,
            version=data.get("version"),
            rows=int(data["window"]["rows"]),
            action=str(data["action"]),
            drifted=[str(f["name"]) for f in features if f.get("drifted")],
            feature_psi={str(f["name"]): float(f["psi"]) for f in features},
            score_psi=_float((data.get("prediction") or {}).get("psi")),
            auc=_float(performance.get("auc")),
            training_auc=_float(performance.get("training_auc")),
            psi_moderate=_float(policy.get("psi_moderate")),
            psi_significant=_float(policy.get("psi_significant")),
            run=None if run is None else RunRef(str(run["job"]), str(run["run_id"]), run["record"]),
            has_html=has_html,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{stem}.json is not a drift report: {exc!r}") from exc


def _when(moment: datetime) -> str:
    # To the second, as the reports' names: runs minutes apart stay apart.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def psi_chart(entries: list[ReportEntry]) -> str:
    """PSI of every feature and of the score across runs, with the thresholds as guides."""
    times = [e.generated_at for e in entries]
    names = sorted({name for e in entries for name in e.feature_psi})
    series = [
        Series("score", [e.score_psi for e in entries], SCORE_COLOUR, width=3.0),
    ]
    for i, name in enumerate(names):
        colour, dashed = series_style(i)
        series.append(Series(name, [e.feature_psi.get(name) for e in entries], colour, 1.5, dashed))
    latest = entries[-1]
    guides = [
        Guide(value, f"{label} {value:g}")
        for value, label in (
            (latest.psi_moderate, "moderate"),
            (latest.psi_significant, "significant"),
        )
        if value is not None
    ]
    chart = line_chart(times, series, "PSI", guides, label="PSI per feature and score across runs")
    return f"{chart}{legend(series)}"


def auc_chart(entries: list[ReportEntry]) -> str:
    """AUC across runs, with the training AUC beside it; a sentence when no run had labels."""
    if all(e.auc is None for e in entries):
        return (
            '<p class="muted no-auc">No run had labels yet: AUC appears once feedback arrives.</p>'
        )
    series = [
        Series("AUC", [e.auc for e in entries], AUC_COLOUR, width=2.5),
        Series("training AUC", [e.training_auc for e in entries], "#8c959f", 1.5, dashed=True),
    ]
    times = [e.generated_at for e in entries]
    chart = line_chart(times, series, "AUC", y_floor=None, label="AUC across runs")
    return f"{chart}{legend(series)}"


def _run_row(entry: ReportEntry) -> str:
    action = escape(entry.action)
    shown = entry.drifted[:MAX_DRIFTED_SHOWN]
    more = len(entry.drifted) - len(shown)
    names = ", ".join(shown) + (f" +{more} more" if more > 0 else "")
    report = (
        f'<a class="report" href="{escape(entry.html_name)}">report</a> · '
        if entry.has_html
        else ""
    ) + f'<a class="json" href="{escape(entry.json_name)}">JSON</a>'
    if entry.run is not None:
        record = (
            f'<a class="record" href="{escape(entry.run.record)}" '
            f'title="run {escape(entry.run.run_id)}">{escape(entry.run.job)} run</a>'
        )
    else:
        record = '<span class="muted">command line</span>'
    severity = {"none": "none", "warn": "moderate", "retrain": "significant"}.get(
        entry.action, "none"
    )
    return (
        f'<tr class="run"><td>{_when(entry.generated_at)}</td>'
        f"<td>{'-' if entry.version is None else entry.version}</td>"
        f'<td class="num">{entry.rows:,}</td>'
        f'<td><span class="chip {severity}">{action}</span></td>'
        f'<td class="names" title="{escape(", ".join(entry.drifted))}">'
        f"{escape(names) or '-'}</td>"
        f'<td class="num">{_fmt(entry.score_psi)}</td><td class="num">{_fmt(entry.auc)}</td>'
        f"<td>{report}</td><td>{record}</td></tr>"
    )


def render_index(model: str, entries: list[ReportEntry], retention: str) -> str:
    """The index of ``model``'s reports (``entries`` oldest first); ``retention`` says how long
    reports are kept, in words."""
    entries = sorted(entries, key=lambda e: e.generated_at)
    title = f"Drift reports: {model}"
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{PAGE_CSS}{_INDEX_CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
    )
    if not entries:
        return (
            f'{head}<p class="meta">No reports kept. {escape(retention)}</p></main></body></html>\n'
        )
    span = f"{_when(entries[0].generated_at)} → {_when(entries[-1].generated_at)}"
    rows = "".join(_run_row(e) for e in reversed(entries))
    return (
        f'{head}<p class="meta">{len(entries):,} runs, {escape(span)}. {escape(retention)}</p>'
        '<h2>PSI across runs</h2><div class="figure psi"><h3>PSI per feature and score</h3>'
        "<p>The score is the thick dark line; dashed lines are the drift thresholds.</p>"
        f"{psi_chart(entries)}</div>"
        f'<h2>AUC across runs</h2><div class="figure auc">{auc_chart(entries)}</div>'
        "<h2>Runs, newest first</h2>"
        '<table class="runs"><thead><tr><th>Time</th><th>Version</th><th class="num">Rows</th>'
        '<th>Action</th><th>Drifted features</th><th class="num">Score PSI</th>'
        '<th class="num">AUC</th>'
        f"<th>Report</th><th>Run record</th></tr></thead><tbody>{rows}</tbody></table>"
        "<footer>Built from the drift-*.json reports in this folder at each drift run.</footer>"
        "</main></body></html>\n"
    )
