"""The bench's results: targets checked, one table for people, one JSON file for machines."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from bench.stats import ratio

GIB_KIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """A figure the product promises, e.g. throughput at least twice Feast's."""

    name: str
    text: str
    pick: Callable[[Mapping[str, Any]], float | None]
    at_least: bool
    threshold: float

    def check(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """The measured value and whether it meets the target (None when not measured)."""
        try:
            value = self.pick(results)
        except (KeyError, TypeError, IndexError):
            value = None
        compare = operator.ge if self.at_least else operator.le
        met = None if value is None else bool(compare(value, self.threshold))
        return {"name": self.name, "target": self.text, "measured": value, "met": met}


def _fetch_ratio(results: Mapping[str, Any]) -> float | None:
    row = next(r for r in results["feature_fetch"]["sizes"] if r["entities"] == 1000)
    value: float = row["ratio_sync_p50"]
    return value


TARGETS = (
    Target(
        "throughput_vs_feast",
        "≥ 2x feast serve",
        lambda r: r["saturation"]["ratio_ours_to_feast"],
        True,
        2.0,
    ),
    Target(
        "p99_at_500_rps_ms",
        "p99 ≤ 10 ms at 500 req/s",
        lambda r: r["open_loop"]["ours"]["500"]["latency"]["p99_ms"],
        False,
        10.0,
    ),
    Target(
        "routing_cost_pct",
        "≤ 3% throughput",
        lambda r: r["routing_cost"]["cost_pct"],
        False,
        3.0,
    ),
    Target("fetch_1000_ratio", "≥ 8x get_online_features", _fetch_ratio, True, 8.0),
    Target(
        "score_1000_p50_ms",
        "p50 ≤ 25 ms",
        lambda r: r["score_1000"]["latency"]["p50_ms"],
        False,
        25.0,
    ),
    Target(
        "log_cost_pct",
        "≤ 5% throughput",
        lambda r: r["log_cost"]["cpu"]["cost_pct"],
        False,
        5.0,
    ),
    Target(
        "stream_events_per_s",
        "≥ 5,000 events/s",
        lambda r: r["stream"]["consumers_1"]["events_per_s"],
        True,
        5000.0,
    ),
    Target(
        "stream_p99_at_1000_ms",
        "p99 ≤ 50 ms at 1,000/s",
        lambda r: r["stream"]["fixed_rate"]["latency"]["p99_ms"],
        False,
        50.0,
    ),
    Target("drift_wall_s", "≤ 60 s", lambda r: r["drift"]["process_wall_s"], False, 60.0),
    Target("drift_rss_gib", "≤ 1 GiB", lambda r: r["drift"]["max_rss_kib"] / GIB_KIB, False, 1.0),
)


def check_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and verdict."""
    return [target.check(results) for target in TARGETS]


def _f(value: Any, fmt: str = "{:,.1f}", unit: str = "") -> str:
    if value is None:
        return "-"
    return fmt.format(value) + unit


def _ms(summary: Mapping[str, Any] | None, *keys: str) -> str:
    if not summary:
        return "-"
    return " / ".join(_f(summary.get(k), "{:.1f}") for k in keys) + " ms"


def _errors(count: int | None, exceptions: Mapping[str, int]) -> str:
    if not count:
        return "0" if count == 0 else "-"
    top = max(exceptions, key=lambda name: exceptions[name], default="")
    return f"{count} ({top.rsplit('.', 1)[-1]})" if top else str(count)


class _Rows:
    """Adds rows to the table, with the verdict of the row's target when it has one."""

    def __init__(self, table: Table, targets: Mapping[str, dict[str, Any]]) -> None:
        self.table, self.targets = table, targets

    def add(
        self,
        label: str,
        ours: str,
        peer: str = "",
        ratio: str = "",
        target: str = "",
        name: str | None = None,
    ) -> None:
        met = self.targets[name]["met"] if name is not None and name in self.targets else None
        verdict = "" if met is None else ("[green]met[/]" if met else "[bold red]missed[/]")
        self.table.add_row(label, ours, peer, ratio, target, verdict)


def _saturation(rows: _Rows, results: Mapping[str, Any]) -> None:
    sat = results.get("saturation")
    if not sat:
        return
    ours, feast = sat["ours"], sat["feast"]
    rows.add(
        "1 saturation req/s, 1 entity (peer: feast serve)",
        _f(ours["rps"], "{:,.0f}"),
        _f(feast["rps"], "{:,.0f}"),
        _f(sat["ratio_ours_to_feast"], "{:.2f}x"),
        "≥ 2x",
        "throughput_vs_feast",
    )
    rows.add(
        "  latency p50 / p99 at saturation",
        _ms(ours, "p50_ms", "p99_ms"),
        _ms(feast, "p50_ms", "p99_ms"),
    )
    routing = results.get("routing_cost")
    if routing and routing.get("rps_canary") is not None:
        rows.add(
            f"  with a canary at {routing['weight']:g} (peer: none, same server)",
            _f(routing["rps_canary"], "{:,.0f}"),
            _f(routing["rps_no_canary"], "{:,.0f}"),
            _f(routing["cost_pct"], "{:.1f}", "% cost"),
            "≤ 3%",
            "routing_cost_pct",
        )
    problems = results.get("server_log_problems") or {}
    ours_log = problems.get("scorer serve (log on)", {})
    feast_log = problems.get("feast serve", {})
    if ours_log or feast_log:
        rows.add(
            "  ERROR lines in the server logs (all runs)",
            _errors(ours_log.get("errors"), ours_log.get("exceptions", {})),
            _errors(feast_log.get("errors"), feast_log.get("exceptions", {})),
        )
    rows.add(
        "  non-2xx / socket errors",
        f"{ours['non_2xx']} / {ours['socket_errors']}",
        f"{feast['non_2xx']} / {feast['socket_errors']}",
    )


def _open_loop(rows: _Rows, results: Mapping[str, Any]) -> None:
    runs = results.get("open_loop") or {}
    keys = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
    for rate, ours in runs.get("ours", {}).items():
        feast = runs.get("feast", {}).get(rate)
        at_500 = rate == "500"
        rows.add(
            f"2 open loop {rate} req/s: p50 / p90 / p99 / max",
            _ms(ours["latency"], *keys),
            _ms(feast["latency"] if feast else None, *keys),
            "",
            "p99 ≤ 10 ms" if at_500 else "",
            "p99_at_500_rps_ms" if at_500 else None,
        )
        rows.add(
            "  answered / errors",
            f"{ours['ok']:,} / {ours['errors'] + ours['non_2xx']:,}",
            f"{feast['ok']:,} / {feast['errors'] + feast['non_2xx']:,}" if feast else "-",
        )
        no_log = runs.get("ours_no_log", {}).get(rate)
        if no_log:
            rows.add("  ours with the log off", _ms(no_log["latency"], *keys))


def _fetch(rows: _Rows, results: Mapping[str, Any]) -> None:
    fetch = results.get("feature_fetch")
    if not fetch:
        return
    for row in fetch["sizes"]:
        size = row["entities"]
        rows.add(
            f"3 fetch {size} entit{'y' if size == 1 else 'ies'} p50 (peer: get_online_features)",
            _f(row["ours_p50_ms"], "{:.2f}", " ms"),
            _f(row["feast_sync_p50_ms"], "{:.2f}", " ms"),
            _f(row["ratio_sync_p50"], "{:.1f}x"),
            "≥ 8x" if size == 1000 else "",
            "fetch_1000_ratio" if size == 1000 else None,
        )
        if size == 1000:
            rows.add(
                "  1000 entities p50 (peer: the async read)",
                _f(row["ours_p50_ms"], "{:.2f}", " ms"),
                _f(row["feast_async_p50_ms"], "{:.2f}", " ms"),
                _f(row["ratio_async_p50"], "{:.1f}x"),
            )
    parity = fetch["parity"]
    rows.add(
        "  values identical to Feast's",
        "[green]yes[/]" if parity["identical"] else "[bold red]NO[/]",
        f"{parity['rows_checked']:,} rows",
    )


def _batch_and_log(rows: _Rows, results: Mapping[str, Any]) -> None:
    batch = results.get("score_1000")
    if batch:
        rows.add(
            f"4 /score {batch['entities']} entities: p50 / p99",
            _ms(batch["latency"], "p50_ms", "p99_ms"),
            "",
            "",
            "p50 ≤ 25 ms",
            "score_1000_p50_ms",
        )
        no_log = results.get("score_1000_no_log")
        if no_log:
            rows.add("  ours with the log off", _ms(no_log["latency"], "p50_ms", "p99_ms"))
    cost = results.get("log_cost")
    if cost:
        cpu = cost.get("cpu")
        if cpu:
            rows.add(
                f"5 log on: CPU a request (peer: log off), {cpu['pairs']} fresh 1-worker pairs",
                _f(cpu["cpu_us_per_request_log_on"], "{:,.0f}", " us"),
                _f(cpu["cpu_us_per_request_log_off"], "{:,.0f}", " us"),
                _f(cpu["cost_pct"], "{:.1f}", "% cost"),
                "≤ 5%",
                "log_cost_pct",
            )
            rows.add(
                "  their req/s, both loaded at once",
                _f(cpu["rps_log_on"], "{:,.0f}"),
                _f(cpu["rps_log_off"], "{:,.0f}"),
            )
        rows.add(
            "  saturation req/s, log on (peer: off), one 2-worker pair",
            _f(cost["rps_log_on"], "{:,.0f}"),
            _f(cost["rps_log_off"], "{:,.0f}"),
            _f(cost["cost_pct"], "{:.1f}", "% cost"),
        )


def _push(rows: _Rows, results: Mapping[str, Any]) -> None:
    push = results.get("push")
    if not push:
        return
    ours, feast = push["ours"], push["feast"]
    rows.add(
        f"9 push rows/s, {push['rows_per_push']} rows a push (peer: feast serve /push)",
        _f(ours["rows_per_s"], "{:,.0f}"),
        _f(feast["rows_per_s"], "{:,.0f}"),
        _f(push.get("ratio_ours_to_feast"), "{:.2f}x"),
    )
    rows.add(
        "  latency p50 / p99 a push", _ms(ours, "p50_ms", "p99_ms"), _ms(feast, "p50_ms", "p99_ms")
    )
    rows.add("  pushes failed", str(ours["failed"]), str(feast["failed"]))


def _jobs(rows: _Rows, results: Mapping[str, Any]) -> None:
    drift = results.get("drift")
    if drift:
        rows.add(
            f"6 drift job, {drift['rows']:,} rows: wall (check alone)",
            f"{_f(drift['process_wall_s'], '{:.1f}', ' s')} "
            f"({_f(drift.get('check_s'), '{:.1f}', ' s')})",
            "",
            "",
            "≤ 60 s",
            "drift_wall_s",
        )
        rows.add(
            "  peak RSS",
            f"{drift['max_rss_kib'] / GIB_KIB:.2f} GiB",
            "",
            "",
            "≤ 1 GiB",
            "drift_rss_gib",
        )
    retrain = results.get("retraining")
    if retrain:
        rows.add(
            f"7 retrain {retrain['rows']:,} rows: Feast join / LightGBM",
            f"{_f(retrain['feast_historical_s'], '{:.1f}', ' s')} / "
            f"{_f(retrain['lightgbm_s'], '{:.1f}', ' s')}",
        )
        rows.add(
            "  train_model total / peak RSS",
            f"{_f(retrain['train_model_s'], '{:.1f}', ' s')} / "
            f"{retrain['max_rss_kib'] / GIB_KIB:.2f} GiB",
        )
        if not retrain["ok"]:
            step = str(retrain.get("last_step") or "")
            phase = _PHASE_NAMES.get(step.split(" ")[0], step[:30])
            rows.add(
                f"  [bold red]did not finish: stopped ({retrain['stopped_for'] or 'error'})[/]",
                f"[bold red]after {retrain['wall_s']:.0f} s, in {phase}[/]",
            )


def _stream(rows: _Rows, results: Mapping[str, Any]) -> None:
    stream = results.get("stream")
    if not stream:
        return
    one, two = stream["consumers_1"], stream["consumers_2"]
    http = (results.get("saturation") or {}).get("ours") or {}
    rows.add(
        "8 stream events/s, 1 entity, 1 consumer (peer: /score req/s, all workers)",
        _f(one["events_per_s"], "{:,.0f}"),
        _f(http.get("rps"), "{:,.0f}"),
        _f(ratio(one["events_per_s"], http.get("rps")), "{:.2f}x"),
        "≥ 5,000/s",
        "stream_events_per_s",
    )
    rows.add(
        "  2 consumers (peer: 1 consumer)",
        _f(two["events_per_s"], "{:,.0f}"),
        _f(one["events_per_s"], "{:,.0f}"),
        _f(stream["ratio_two_to_one"], "{:.2f}x"),
    )
    fixed = stream["fixed_rate"]
    rows.add(
        f"  event to result at {fixed['rate']:,.0f}/s: p50 / p90 / p99 / max",
        _ms(fixed["latency"], "p50_ms", "p90_ms", "p99_ms", "max_ms"),
        "",
        "",
        "p99 ≤ 50 ms",
        "stream_p99_at_1000_ms",
    )


_PHASE_NAMES = {"fetching": "Feast's join", "training": "LightGBM"}


def results_table(results: Mapping[str, Any]) -> Table:
    """One row per figure: ours, the peer measured in the same run, the ratio, the target."""
    meta = results["meta"]
    table = Table(
        title=f"scorer bench ({meta['mode']}, {meta['cores']} cores)", caption=_machine(meta)
    )
    table.add_column("measurement", no_wrap=True)
    for column in ("ours", "peer", "ratio", "target"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("")
    rows = _Rows(table, {t["name"]: t for t in results["targets"]})
    for section in (_saturation, _open_loop, _fetch, _batch_and_log, _jobs, _stream, _push):
        section(rows, results)
    return table


def _machine(meta: Mapping[str, Any]) -> str | None:
    """What the machine was like: absolute figures only compare between similar runs."""
    machine = meta.get("machine")
    if not machine:
        return None
    parts = [f"reference loop {machine['reference_loop_ms']:.0f} ms"]
    if machine.get("steal_pct") is not None:
        parts.append(f"{machine['steal_pct']:.0f}% of CPU time taken by other guests")
    return "machine: " + ", ".join(parts) + " (ratios hold; absolute times are this machine's)"


def write_json(results: Mapping[str, Any], out: Path, started: datetime) -> Path:
    """Write ``results`` to ``<out>/bench-<UTC time>.json`` and return the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return path


def saturation_ratios(saturation: Mapping[str, Any]) -> dict[str, Any]:
    """Ours / feast throughput, and the prediction log's and a canary's costs in throughput."""
    on, off = saturation["ours"]["rps"], saturation.get("ours_no_log", {}).get("rps")
    canary = saturation.get("ours_canary", {}).get("rps")
    return {
        "ratio_ours_to_feast": ratio(on, saturation["feast"]["rps"]),
        "log_cost": {"rps_log_on": on, "rps_log_off": off, "cost_pct": _cost_pct(on, off)},
        "routing_cost": {
            "rps_canary": canary,
            "rps_no_canary": on,
            "cost_pct": _cost_pct(canary, on),
        },
    }


def _cost_pct(rps: float | None, peer_rps: float | None) -> float | None:
    """How much throughput ``rps`` lost against ``peer_rps``, in percent (negative: gained)."""
    return None if rps is None or not peer_rps else (1.0 - rps / peer_rps) * 100.0
