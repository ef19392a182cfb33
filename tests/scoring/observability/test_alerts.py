"""The alert rules: valid for promtool, each alert proven to fire by promtool's unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.scoring.observability.conftest import OBSERVABILITY, metric_names, run_promtool

RULES = OBSERVABILITY / "alerts.yml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_rules_pass_promtool_check(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alerts())} rules found" in output


def test_the_alert_unit_tests_pass(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert "SUCCESS" in output


def test_every_alert_waits_names_a_severity_and_explains_itself() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), names
    for rule in alerts():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_every_alert_is_shown_firing_and_quiet_when_healthy() -> None:
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    firing = {check["alertname"] for check in checks if check["exp_alerts"]}
    [healthy] = [case for case in cases if case["name"] == "a healthy service raises no alert"]
    quiet = {c["alertname"] for c in healthy["alert_rule_test"] if c["exp_alerts"] == []}
    every = {rule["alert"] for rule in alerts()}
    assert firing == every
    assert quiet == every


def test_the_rules_query_only_metrics_the_service_shows(known_metrics: set[str]) -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in alerts()))
    assert used, "no metric found in the rules"
    assert used <= known_metrics, sorted(used - known_metrics)


def test_the_compose_prometheus_config_loads_the_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", str(OBSERVABILITY / "prometheus.yml"))
    assert "SUCCESS: 1 rule files found" in output
