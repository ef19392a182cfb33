"""The drift report as one self-contained HTML page: inline CSS and hand-drawn SVG, no network."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from drift.compare import FeatureStats
from drift.report import DriftReport

REFERENCE_COLOUR = "#4C78A8"
CURRENT_COLOUR = "#F58518"

_BANNERS = {
    "none": ("#E8F5E9", "#1B5E20", "No action needed"),
    "warn": ("#FFF4E5", "#8A4B00", "Warning: watch this model"),
    "retrain": ("#FDECEA", "#A4161A", "Retrain recommended"),
}

PAGE_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;
margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:#57606a;margin:0}
.banner{display:flex;gap:18px;align-items:flex-start;border-radius:8px;padding:14px 18px;
margin:18px 0;border:1px solid rgba(0,0,0,.08)}
.verdict{font-weight:700;font-size:20px;letter-spacing:.04em;white-space:nowrap}
.banner ul{margin:6px 0 0;padding-left:18px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
.card .label{color:#57606a;font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:20px;font-weight:600}
.card .sub{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;
border-radius:8px;overflow:hidden}
th,td{padding:6px 10px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f0f3f6;font-weight:600;font-size:12px;color:#424a53}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2),td:nth-child(3),
th:nth-child(3){text-align:left}
tr.drifted td{background:#fffaf2}
.chip{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.chip.none{background:#E8F5E9;color:#1B5E20}.chip.moderate{background:#FFF4E5;color:#8A4B00}
.chip.significant{background:#FDECEA;color:#A4161A}
.bar{display:inline-block;height:8px;border-radius:4px;background:#8c959f;vertical-align:middle;
margin-right:6px}.bar.moderate{background:#D98A00}.bar.significant{background:#A4161A}
.figure{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px;
margin-bottom:14px}
.figure h3{margin:0 0 2px;font-size:15px}.figure p{margin:0 0 6px;color:#57606a}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
footer{color:#57606a;font-size:12px;margin-top:28px}
nav.runs{display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0 0;font-size:13px}
nav.runs a{color:#0b5cad}nav.runs .muted{color:#57606a}
"""


@dataclass(frozen=True)
class ReportLinks:
    """Where a report's page points, as paths relative to the page."""

    index: str | None = None
    previous: str | None = None
    previous_label: str = ""
    run_record: str | None = None
    run_id: str | None = None
    report_json: str | None = None


_NAV = re.compile(r'<nav class="runs">.*?</nav>', re.DOTALL)


def render_nav(links: ReportLinks) -> str:
    """The links bar of a report: the index, the previous report, and the run's record."""
    items = []
    if links.index:
        items.append(f'<a class="index" href="{escape(links.index)}">All runs of this model</a>')
    if links.previous:
        when = f" ({links.previous_label})" if links.previous_label else ""
        items.append(
            f'<a class="previous" href="{escape(links.previous)}">Previous report{escape(when)}</a>'
        )
    elif links.index:
        items.append('<span class="muted previous">No earlier report kept</span>')
    if links.run_record:
        run = f" (run {links.run_id})" if links.run_id else ""
        items.append(
            f'<a class="record" href="{escape(links.run_record)}">Job run record{escape(run)}</a>'
        )
    elif links.report_json:
        # A run from the command line leaves no job record; the JSON is its only record.
        items.append(
            f'<a class="record" href="{escape(links.report_json)}">Report JSON</a>'
            '<span class="muted">(run outside the scheduler: no job run record)</span>'
        )
    return f'<nav class="runs">{"".join(items)}</nav>'


def replace_nav(page: str, links: ReportLinks) -> str:
    """``page`` with its links bar rendered anew (a page without one is returned unchanged)."""
    return _NAV.sub(lambda _: render_nav(links), page, count=1)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "-"
    # Large windows drive p-values to zero; past 1e-10 the digits carry no information.
    return "< 1e-10" if value < 1e-10 else f"{value:.2g}"


def _when(moment: datetime | None) -> str:
    return "…" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _nice_step(top: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5):
        if top / step <= 6:
            return step
    return 1.0


def bar_chart(
    labels: list[str],
    reference: list[float],
    current: list[float],
    x_title: str,
    legend: tuple[str, str] = ("Reference (training)", "Current window"),
) -> str:
    """Grouped bars of reference vs current shares per bin, as an inline SVG.

    ``legend`` names the two series (a shadow comparison's are the two versions).
    """
    width, left, right, top = 1040, 62, 16, 34
    rotate = len(labels) > 8 or max((len(label) for label in labels), default=0) > 12
    longest = max((len(label) for label in labels), default=0)
    # Rotated labels need room below the axis in proportion to their length.
    bottom = int(min(130, 40 + 4 * min(longest, 22))) if rotate else 56
    height = 230 + bottom
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*reference, *current, 0.01])
    step = _nice_step(peak * 1.08)
    y_max = step * math.ceil(peak * 1.08 / step)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="reference vs current, {escape(x_title)}">'
    ]
    ticks = round(y_max / step)
    for i in range(ticks + 1):
        value = i * step
        y = top + plot_h - value / y_max * plot_h
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#8c959f" if i == 0 else "#eaeef2"}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#57606a">{value:.0%}</text>'
        )
    group = plot_w / max(len(labels), 1)
    bar = min(group * 0.38, 40)
    for i, label in enumerate(labels):
        centre = left + group * (i + 0.5)
        for offset, share, colour in (
            (-bar, reference[i], REFERENCE_COLOUR),
            (0.0, current[i], CURRENT_COLOUR),
        ):
            h = share / y_max * plot_h
            parts.append(
                f'<rect x="{centre + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {share:.2%}</title></rect>"
            )
        text_y = top + plot_h + 16
        shown = escape(label if len(label) <= 22 else label[:21] + "…")
        if rotate:
            parts.append(
                f'<text x="{centre:.1f}" y="{text_y}" font-size="11" fill="#424a53" '
                f'text-anchor="end" transform="rotate(-35 {centre:.1f} {text_y})">{shown}</text>'
            )
        else:
            parts.append(
                f'<text x="{centre:.1f}" y="{text_y}" font-size="11" fill="#424a53" '
                f'text-anchor="middle">{shown}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="12" fill="#1f2328" '
        f'text-anchor="middle">{escape(x_title)}</text>'
        f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" fill="#1f2328" '
        f'text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
        "Share of rows</text>"
    )
    legend_x = left + plot_w - 300
    for j, (name, colour) in enumerate(
        zip(legend, (REFERENCE_COLOUR, CURRENT_COLOUR), strict=True)
    ):
        x = legend_x + j * 160
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="18" font-size="12" fill="#1f2328">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure(stats: FeatureStats, title: str, verdict_text: str) -> str:
    x_title = "Category" if stats.kind == "categorical" else "Bin (reference deciles)"
    facts = [f"PSI {_fmt(stats.psi)}"]
    if stats.ks is not None:
        facts.append(f"KS {_fmt(stats.ks)} ({stats.ks_method})")
    if stats.chi2_p_value is not None:
        facts.append(f"χ² {_fmt(stats.chi2, 1)}, p {_p_value(stats.chi2_p_value)}")
    facts.append(
        f"missing {_pct(stats.missing_rate_reference)} → {_pct(stats.missing_rate_current)}"
    )
    if stats.unseen_share is not None:
        facts.append(f"unseen {_pct(stats.unseen_share)}")
    chart = bar_chart(
        stats.distribution.labels, stats.distribution.reference, stats.distribution.current, x_title
    )
    return (
        f'<div class="figure"><h3>{escape(title)} {verdict_text}</h3>'
        f"<p>{escape(' · '.join(facts))}</p>{chart}</div>"
    )


def _chip(severity: str) -> str:
    text = {"none": "stable", "moderate": "moderate", "significant": "significant"}[severity]
    return f'<span class="chip {severity}">{text}</span>'


def _feature_table(report: DriftReport) -> str:
    rows = []
    peak = max([s.psi for s in report.features] + [0.25])
    for stats in report.features_by_psi():
        verdict = report.decision.features[stats.name]
        width = max(2.0, 80 * min(stats.psi / peak, 1.0))
        name = escape(stats.name) + ("" if verdict.important else " <small>(minor)</small>")
        quality = "; ".join(verdict.quality)
        rows.append(
            f'<tr class="{"drifted" if verdict.drifted else ""}"><td>{name}</td>'
            f"<td>{escape(stats.kind)}</td><td>{_chip(str(verdict.severity))}"
            f"{' ⚠ ' + escape(quality) if quality else ''}</td>"
            f'<td><span class="bar {verdict.severity}" style="width:{width:.0f}px"></span>'
            f"{_fmt(stats.psi)}</td>"
            f"<td>{_fmt(stats.ks)}</td>"
            f"<td>{escape(_p_value(stats.chi2_p_value))}</td>"
            f"<td>{_pct(stats.missing_rate_reference)} → {_pct(stats.missing_rate_current)}</td>"
            f"<td>{_pct(stats.unseen_share)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Feature</th><th>Kind</th><th>Status</th><th>PSI</th><th>KS</th>"
        "<th>χ² p</th><th>Missing ref → cur</th><th>Unseen</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def cards_section(cards: Sequence[tuple[str, str, str]]) -> str:
    """The row of headline cards at the top of a report: (label, value, the line under it)."""
    return (
        '<section class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div><div class="sub">{escape(sub)}</div></div>'
            for label, value, sub in cards
        )
        + "</section>"
    )


def _cards(report: DriftReport) -> str:
    drifted = report.drifted_features
    score = report.prediction
    perf = report.performance
    if perf is not None and perf.auc is not None:
        auc_value = _fmt(perf.auc)
        auc_sub = f"training {_fmt(perf.training_auc)} · {perf.labelled_rows:,} labelled rows"
    else:
        auc_value, auc_sub = "-", "no labels in this window"
    cards = [
        ("Features drifted", f"{len(drifted)} / {len(report.features)}", ", ".join(drifted[:4])),
        ("Score PSI", _fmt(score.psi), f"KS {_fmt(score.ks)} · {score.ks_method or ''}"),
        ("AUC", auc_value, auc_sub),
        ("Rows", f"{report.rows:,}", f"reference {report.reference_rows:,}"),
    ]
    return cards_section(cards)


def _shadow_line(report: DriftReport) -> str:
    """A line linking the shadow comparison written with this report, if one was."""
    shadow = report.shadow_comparison
    if shadow is None:
        return ""
    return (
        f'<p class="meta shadow">Shadow v{shadow.shadow_version} against champion '
        f"v{shadow.champion_version} on {shadow.paired_rows:,} paired rows: score correlation "
        f"{_fmt(shadow.pearson)}, labels agree on {_pct(shadow.label_agreement)}. "
        f'<a href="{escape(shadow.report_html)}">Shadow comparison</a></p>'
    )


def render_html(report: DriftReport, links: ReportLinks | None = None) -> str:
    """A self-contained HTML page: verdict banner, feature table, charts of what drifted."""
    action = str(report.action)
    background, colour, headline = _BANNERS[action]
    version = f" v{report.version}" if report.version is not None else ""
    title = f"Drift report: {report.model}{version}"
    window = f"{_when(report.window_start)} → {_when(report.window_end)}"
    reasons = "".join(f"<li>{escape(reason)}</li>" for reason in report.decision.reasons)
    figures = [
        _figure(
            report.prediction,
            "Score (prediction drift)",
            _chip(str(report.decision.prediction.severity)),
        )
    ]
    for stats in report.features_by_psi():
        verdict = report.decision.features[stats.name]
        if verdict.drifted:
            figures.append(_figure(stats, stats.name, _chip(str(verdict.severity))))
    policy = report.policy
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{PAGE_CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Window {escape(window)} · {report.rows:,} rows · generated '
        f"{escape(_when(report.generated_at))}</p>"
        f"{render_nav(links) if links else ''}"
        f'<section class="banner" style="background:{background};color:{colour}">'
        f'<div class="verdict">{escape(action.upper())}</div><div><strong>{escape(headline)}'
        f"</strong><ul>{reasons}</ul></div></section>"
        f"{_cards(report)}{_shadow_line(report)}"
        f"<h2>Features, most drifted first</h2>{_feature_table(report)}"
        f"<h2>Distributions: score and drifted features</h2>{''.join(figures)}"
        f"<footer>Thresholds: PSI {policy.psi_moderate} moderate / {policy.psi_significant} "
        f"significant (Siddiqi 2006), KS {policy.ks_moderate} / {policy.ks_significant}, each "
        f"raised to its {policy.noise_alpha:.0%} sampling-noise floor for small windows; "
        f"minimum window {policy.min_rows:,} rows.</footer>"
        "</main></body></html>\n"
    )
