"""The Grafana dashboard: its panels query metrics the service shows, in PromQL promtool accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.scoring.observability.conftest import OBSERVABILITY, metric_names, run_promtool

DASHBOARD = OBSERVABILITY / "grafana" / "scorer.json"

# Grafana's variables, as a query would see them once Grafana has filled them in.
VARIABLES = {"$__rate_interval": "5m", "$model": ".*"}


def panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def filled(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def test_every_panel_queries_metrics_the_service_shows(known_metrics: set[str]) -> None:
    for panel in panels():
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used, (panel["title"], target["expr"])
            assert used <= known_metrics, (panel["title"], sorted(used - known_metrics))


def test_every_expression_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each one, as a recording rule of a throwaway rules file."""
    rules = [
        {"record": f"dashboard:panel_{i}", "expr": filled(expr)}
        for i, expr in enumerate(expressions())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run_promtool(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in output


def test_the_dashboard_shows_what_an_operator_looks_for() -> None:
    queries = "\n".join(expressions())
    for wanted in [
        "rate(scorer_requests_total",  # request rate, and errors by status
        "histogram_quantile(0.99, sum by (model, le) (rate(scorer_request_duration_seconds",
        'status!~"2.."',
        "scorer_features_missing_total",
        "scorer_features_stale_total",
        "max by (model, feature) (scorer_drift_psi",
        "scorer_job_runs_total",
        "scorer_job_last_success_timestamp_seconds",
        "scorer_model_served_version",
    ]:
        assert wanted in queries, wanted
    ids = [p["id"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_is_provisioned_with_the_dashboard_and_its_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [source] = yaml.safe_load((OBSERVABILITY / "grafana" / "datasources.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    for panel in panels():
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    [provider] = yaml.safe_load((OBSERVABILITY / "grafana" / "dashboards.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert dashboard["uid"]
