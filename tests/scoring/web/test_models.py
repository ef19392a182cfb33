"""Several models in one service: which one a request gets, and a default that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scoring.errors import ModelNotFound
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, read_log

SCORER = str(Path(sys.executable).with_name("scorer"))

# Its own labels and a threshold every score passes: an answer from it cannot pass for fraud's.
RISK_POSTPROCESS = {"threshold": 0.0, "labels": ["ok", "review"]}


def register_risk(settings: Settings, champion: bool = True) -> int:
    """A second model, ``risk``, with fraud v1's booster and its own post-processing."""
    registry = ModelRegistry(settings.models_dir)
    folder = registry.version_dir("fraud", 1)
    manifest = {**registry.manifest("fraud", 1).model_dump(), "postprocess": RISK_POSTPROCESS}
    files = {name: (folder / name).read_bytes() for name in ("model.txt", "reference.json")}
    version = registry.register("risk", files, manifest).version
    if champion:
        registry.set_alias("risk", "champion", version)
    return version


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_several_models_and_no_default_need_the_request_to_name_one(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    assert own_settings.default_model is None
    register_risk(own_settings)
    rows = entities(demo_repo, 3, seed=1)
    with TestClient(create_app(own_settings)) as client:
        unnamed = client.post("/score", json={"entities": rows})
        risk = client.post("/score", json={"model": "risk", "entities": rows})
        fraud = client.post("/score", json={"model": "fraud", "entities": rows})
        ready = client.get("/health/ready")
    body = assert_problem(unnamed, 422)
    assert "several models are served (fraud, risk)" in body["detail"]
    assert "'model'" in body["detail"]

    assert risk.status_code == 200, risk.text
    assert (risk.json()["model"], risk.json()["version"]) == ("risk", 1)
    assert [p["label"] for p in risk.json()["predictions"]] == ["review"] * 3
    assert fraud.status_code == 200, fraud.text
    assert fraud.json()["model"] == "fraud"
    assert {p["label"] for p in fraud.json()["predictions"]} <= {0, 1}
    # The same booster: the scores agree, only the post-processing differs.
    assert [p["score"] for p in risk.json()["predictions"]] == [
        p["score"] for p in fraud.json()["predictions"]
    ]
    assert ready.json()["models"] == {"fraud": 1, "risk": 1}
    logged = read_log(own_settings.data_dir / "logs" / "predictions").to_pylist()
    by_request = {(r["request_id"], r["model"]) for r in logged}
    assert by_request == {
        (risk.json()["request_id"], "risk"),
        (fraud.json()["request_id"], "fraud"),
    }


def test_the_default_model_answers_requests_that_name_none(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    register_risk(own_settings)
    settings = own_settings.model_copy(update={"default_model": "risk"})
    rows = entities(demo_repo, 2, seed=2)
    with TestClient(create_app(settings)) as client:
        unnamed = client.post("/score", json={"entities": rows})
        fraud = client.post("/score", json={"model": "fraud", "entities": rows})
        models = client.get("/models").json()["models"]
    assert unnamed.status_code == 200, unnamed.text
    assert unnamed.json()["model"] == "risk"
    assert [p["label"] for p in unnamed.json()["predictions"]] == ["review"] * 2
    assert fraud.status_code == 200, fraud.text
    assert fraud.json()["model"] == "fraud"
    assert {m["name"]: m["default"] for m in models} == {"fraud": False, "risk": True}


@pytest.mark.parametrize("default", ["nosuch", "risk"])
def test_a_default_model_without_a_champion_stops_the_app_from_starting(
    own_settings: Settings, default: str
) -> None:
    # "risk" is registered but was never promoted: no more servable than an unknown name.
    register_risk(own_settings, champion=False)
    settings = own_settings.model_copy(update={"default_model": default})
    with (
        pytest.raises(ModelNotFound, match=f"default model '{default}' has no champion"),
        TestClient(create_app(settings)),
    ):
        pass


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_an_unknown_default_model_exits_with_one_line(
    own_settings: Settings, workers: int
) -> None:
    env = {
        **os.environ,
        "SCORER_FEATURE_REPO": str(own_settings.feature_repo),
        "SCORER_DATA_DIR": str(own_settings.data_dir),
        "SCORER_ONLINE_STORE": own_settings.online_store,
        "SCORER_DEFAULT_MODEL": "nosuch",
    }
    port = "0"  # never bound: the mistake is found before the server starts
    done = subprocess.run(
        [SCORER, "serve", "--port", port, "--workers", str(workers)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "'nosuch'" in done.stderr
    assert "Traceback" not in done.stderr
