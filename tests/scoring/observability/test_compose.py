"""docker-compose.yml: valid for docker-compose, its Prometheus and Grafana fed the repo's files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]


def test_compose_config_is_valid() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose is missing: run tests/system-packages.sh (Debian's package)")
    done = subprocess.run(
        [compose, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_and_grafana_mount_the_observability_files() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = {
        name: {
            source: target.removesuffix(":ro")
            for source, _, target in (v.partition(":") for v in services[name]["volumes"])
            if source.startswith("./")
        }
        for name in ("prometheus", "grafana")
    }
    for files in mounts.values():
        for source in files:
            assert (ROOT / source).is_file(), source
    assert mounts["prometheus"] == {
        "./scoring/observability/prometheus.yml": "/etc/prometheus/prometheus.yml",
        # prometheus.yml names it relative to itself.
        "./scoring/observability/alerts.yml": "/etc/prometheus/alerts.yml",
    }
    grafana = mounts["grafana"]
    assert grafana["./scoring/observability/grafana/scorer.json"].startswith(
        "/var/lib/grafana/dashboards/"
    )
    assert grafana["./scoring/observability/grafana/datasources.yml"].startswith(
        "/etc/grafana/provisioning/datasources/"
    )
    assert grafana["./scoring/observability/grafana/dashboards.yml"].startswith(
        "/etc/grafana/provisioning/dashboards/"
    )
    scrape = yaml.safe_load((ROOT / "scoring/observability/prometheus.yml").read_text())
    [job] = scrape["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["api:8000"]}]
    assert job["honor_labels"] is True  # the job metrics' `job` label, which the rules use


def test_the_stream_service_runs_the_consumer_from_the_same_image() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    stream = services["stream"]
    assert stream["command"] == ["scorer", "stream"]
    assert stream["image"] == services["api"]["image"]
    assert stream["environment"]["SCORER_ONLINE_STORE"] == "redis:6379"
    assert stream["environment"]["SCORER_STREAM_PUSH"] == "scorer:push"
    assert stream["depends_on"]["init"]["condition"] == "service_completed_successfully"
