"""The shadow comparison as one self-contained HTML page, in the drift report's style."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from drift.html import PAGE_CSS, ReportLinks, bar_chart, cards_section, render_nav
from drift.shadow import LatencySummary
from drift.shadow_report import LATENCY_NOTE, ShadowReport


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _when(moment: datetime | None) -> str:
    return "…" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table of already escaped cells."""
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _cards(report: ShadowReport) -> str:
    s, perf = report.scores, report.performance
    if perf is not None and (perf.champion_auc is not None or perf.shadow_auc is not None):
        auc_value = f"{_fmt(perf.champion_auc)} → {_fmt(perf.shadow_auc)}"
        auc_sub = f"champion → shadow · {perf.labelled_rows:,} labelled rows"
    elif perf is not None:
        auc_value, auc_sub = "-", f"{perf.labelled_rows:,} labelled rows, one class only"
    else:
        auc_value, auc_sub = "-", "no feedback labels for these requests"
    p = report.pairs
    cards = [
        ("Paired rows", f"{p.rows:,}", f"{report.champion_latency.requests:,} requests"),
        ("Score correlation", _fmt(s.pearson), f"Pearson · Spearman {_fmt(s.spearman)}"),
        ("Label agreement", _pct(report.labels.agreement), f"{report.labels.agreeing:,} rows"),
        ("AUC", auc_value, auc_sub),
    ]
    return cards_section(cards)


def _scores(report: ShadowReport) -> str:
    s = report.scores
    rows = [
        ["Pearson correlation", _fmt(s.pearson)],
        ["Spearman correlation", _fmt(s.spearman)],
        ["PSI, shadow vs champion", f"{_fmt(s.psi)} (noise floor {_fmt(s.psi_noise_floor)})"],
        ["Mean absolute difference", _fmt(s.mean_abs_difference, 4)],
        ["Max absolute difference", _fmt(s.max_abs_difference, 4)],
        ["Mean score", f"champion {_fmt(s.mean_champion)} · shadow {_fmt(s.mean_shadow)}"],
    ]
    return _table(["Figure", "Value"], [[escape(a), escape(b)] for a, b in rows])


def _confusion(report: ShadowReport) -> str:
    confusion = report.labels.confusion
    shadow_labels = sorted({s for row in confusion.values() for s in row})
    rows = [
        [escape(c), *(f"{confusion[c].get(s, 0):,}" for s in shadow_labels)]
        for c in sorted(confusion)
    ]
    head = ["Champion label ↓ / shadow label →", *(escape(s) for s in shadow_labels)]
    return _table(head, rows)


def _latency_row(name: str, latency: LatencySummary) -> list[str]:
    return [
        escape(name),
        f"{latency.requests:,}",
        _fmt(latency.p50_ms, 2),
        _fmt(latency.p99_ms, 2),
        _fmt(latency.mean_ms, 2),
    ]


def _versions(report: ShadowReport) -> str:
    rows = [
        [
            f"v{pair.champion}",
            f"v{pair.shadow}",
            f"{pair.rows:,}",
            escape(_when(pair.last_logged_at)),
        ]
        for pair in report.pairs.version_pairs
    ]
    return _table(["Champion", "Shadow", "Paired rows", "Last logged"], rows)


def _rows(report: ShadowReport) -> str:
    p = report.pairs
    answered = ", ".join(f"{route} {count:,}" for route, count in sorted(p.routes.items()))
    rows = [
        ["Paired rows", f"{p.rows:,}", escape(answered)],
        ["Shadow rows without their answer", f"{p.unpaired_shadow:,}", f"of {p.shadow_rows:,}"],
        [
            "Answers without a shadow row",
            f"{p.unpaired_answers:,}",
            f"of {p.answer_rows:,} since the first shadowed request",
        ],
        ["Canary rows (not compared)", f"{p.canary_rows:,}", ""],
    ]
    return _table(["Rows", "Count", ""], rows)


def render_shadow_html(report: ShadowReport, links: ReportLinks | None = None) -> str:
    """A self-contained page: headline cards, score figures, labels, latency, versions."""
    title = (
        f"Shadow comparison: {report.model} v{report.champion_version} (champion) vs "
        f"v{report.shadow_version} (shadow)"
    )
    window = f"{_when(report.window_start)} → {_when(report.window_end)}"
    s = report.scores
    chart = bar_chart(
        s.bins,
        s.champion_shares,
        s.shadow_shares,
        "Score bin (champion deciles)",
        legend=(f"Champion v{report.champion_version}", f"Shadow v{report.shadow_version}"),
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
    latency = _table(
        ["Version", "Requests", "p50 ms", "p99 ms", "Mean ms"],
        [
            _latency_row(f"Champion v{report.champion_version}", report.champion_latency),
            _latency_row(f"Shadow v{report.shadow_version}", report.shadow_latency),
        ],
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{PAGE_CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Window {escape(window)} · {report.pairs.rows:,} paired rows · '
        f"generated {escape(_when(report.generated_at))}</p>"
        f"{render_nav(links) if links else ''}"
        f"{f'<ul>{notes}</ul>' if notes else ''}"
        f"{_cards(report)}<h2>Scores of the same rows</h2>{_scores(report)}"
        f'<div class="figure"><h3>Score distributions</h3><p>PSI {_fmt(s.psi)}</p>{chart}</div>'
        f"<h2>Labels</h2>{_confusion(report)}"
        f'<h2>Latency</h2>{latency}<p class="meta">{escape(LATENCY_NOTE)}</p>'
        f"<h2>Rows</h2>{_rows(report)}"
        f"<h2>Version pairs in the window</h2>{_versions(report)}"
        "<footer>Rows are paired on the request id and the entity's join keys; the answer "
        "is the champion's (routes champion and stream), a canary's rows are not compared. "
        "PSI bins are the champion's score deciles.</footer>"
        "</main></body></html>\n"
    )
