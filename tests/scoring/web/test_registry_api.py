"""The registry through HTTP: hostile names, unloadable versions, corrupt files, and readiness."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from scoring.durable import write_atomically
from scoring.model.registry import Aliases, ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.server import ServerProcess
from tests.utils.serving import ADMIN, register_copy_of_v1, with_admin_key

LONG = "x" * 256


def assert_problem(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_name_that_is_a_path_or_too_long_is_refused_and_writes_nothing(
    own_settings: Settings,
) -> None:
    settings = with_admin_key(own_settings)
    data_dir = settings.data_dir
    before = files_under(data_dir)
    with TestClient(create_app(settings)) as client:
        for url in ("/models/%2e%2e/promote", f"/models/{LONG}/promote"):
            # Without the key the caller learns nothing about the name.
            assert_problem(client.post(url, json={"version": 1}), 401)
            assert_problem(client.post(url, json={"version": 1}, headers=ADMIN), 422, "model name")
        for url in ("/models/%2e%2e", f"/models/{LONG}", "/models/a..b"):
            assert_problem(client.get(url), 422, "model name")
    assert not (data_dir / "aliases.json").exists()
    assert files_under(data_dir) - before <= {"logs", "logs/predictions", "logs/labels"}


@pytest.mark.parametrize(
    ("broken_file", "content", "complaint"),
    [
        ("manifest.json", '{"name": "fraud", "vers', "manifest.json is invalid"),
        ("model.txt", "tree\nnot a model\n", "model.txt is corrupt"),
    ],
)
def test_promoting_a_version_that_cannot_load_is_refused_and_changes_nothing(
    own_settings: Settings, broken_file: str, content: str, complaint: str
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    registry = ModelRegistry(settings.models_dir)
    (registry.version_dir("fraud", v2) / broken_file).write_text(content)
    with TestClient(create_app(settings)) as client:
        for alias in ("champion", "canary", "shadow"):
            body = {"version": v2, "alias": alias, "weight": 0.5}
            response = client.post("/models/fraud/promote", json=body, headers=ADMIN)
            problem = assert_problem(response, 422, f"fraud v{v2} cannot be loaded", complaint)
            assert problem["title"] == "Version cannot be loaded"
        assert client.get("/models/fraud").json()["served"]["champion"] == 1
    assert registry.aliases("fraud") == Aliases(champion=1)


def test_a_registry_that_cannot_be_written_answers_503_and_changes_nothing(
    own_settings: Settings,
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    registry = ModelRegistry(settings.models_dir)
    aliases = registry.aliases_path("fraud")
    before = aliases.read_bytes()
    # What a read-only or full disk does to the lock file, in a way root cannot bypass.
    lock = aliases.with_name(aliases.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.mkdir()
    with TestClient(create_app(settings)) as client:
        response = client.post("/models/fraud/promote", json={"version": v2}, headers=ADMIN)
        problem = assert_problem(response, 503, "cannot be written", "nothing changed")
        assert problem["title"] == "Registry not writable"
        assert "Retry-After" in response.headers
        assert client.get("/models/fraud").json()["served"]["champion"] == 1
    assert aliases.read_bytes() == before


def test_a_corrupt_alias_file_is_named_and_promote_repairs_it(
    own_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    registry = ModelRegistry(settings.models_dir)
    path = settings.models_dir / "fraud" / "aliases.json"
    with TestClient(create_app(settings)) as client:
        path.write_text('{"champion": 1, "can')
        listed = client.get("/models")
        assert listed.status_code == 200, listed.text
        [entry] = listed.json()["models"]
        assert entry["name"] == "fraud"
        assert str(path) in entry["error"]
        assert_problem(client.get("/models/fraud"), 503, str(path), "promote")
        # The service keeps serving what it served, and says why it cannot follow the file.
        deadline = time.monotonic() + 30
        while not (failures := client.get("/health/ready").json()["load_failures"]):
            assert time.monotonic() < deadline, "the watcher never reported the alias file"
            time.sleep(0.05)
        assert failures[0]["alias"] == "aliases"
        assert str(path) in failures[0]["error"]
        promoted = client.post("/models/fraud/promote", json={"version": v2}, headers=ADMIN)
        assert promoted.status_code == 200, promoted.text
        # The history knew v1 was the champion before: nothing else was lost.
        assert registry.aliases("fraud") == Aliases(champion=v2)
        described = client.get("/models/fraud").json()
        assert described["aliases"]["champion"] == v2
        assert [(h["old"], h["new"], h["who"]) for h in described["history"]][-1] == (
            1,
            v2,
            "admin",
        )
    assert any(str(path) in m and "overwriting" in m for m in caplog.messages)


def test_a_promoted_version_that_cannot_load_shows_on_readiness_and_metrics(
    own_settings: Settings,
) -> None:
    v2 = register_copy_of_v1(own_settings)
    registry = ModelRegistry(own_settings.models_dir)
    aliases = own_settings.models_dir / "fraud" / "aliases.json"
    with TestClient(create_app(own_settings)) as client:
        assert client.get("/health/ready").json()["load_failures"] == []
        # Promoted elsewhere (another host's registry) and broken here.
        (registry.version_dir("fraud", v2) / "model.txt").write_text("garbage")
        write_atomically(aliases, json.dumps({"champion": v2}).encode())
        deadline = time.monotonic() + 30
        while not (ready := client.get("/health/ready")).json()["load_failures"]:
            assert time.monotonic() < deadline, "the watcher never reported the failure"
            time.sleep(0.05)
        # Still ready: the old champion serves, and every instance would fail alike.
        assert ready.status_code == 200
        assert ready.json()["models"] == {"fraud": 1}
        [failure] = ready.json()["load_failures"]
        assert (failure["model"], failure["alias"], failure["version"]) == ("fraud", "champion", v2)
        assert "model.txt is corrupt" in failure["error"]
        metrics = client.get("/metrics").text
        assert f'scorer_model_load_failed{{alias="champion",model="fraud"}} {v2}.0' in metrics
        # Rolled back: the failure is gone.
        write_atomically(aliases, json.dumps({"champion": 1}).encode())
        while client.get("/health/ready").json()["load_failures"]:
            assert time.monotonic() < deadline + 30, "the failure never cleared"
            time.sleep(0.05)
        assert "scorer_model_load_failed{" not in client.get("/metrics").text


def test_history_shows_the_last_twenty_changes(own_settings: Settings) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    with TestClient(create_app(settings)) as client:
        for k in range(12):
            body = {"version": v2 if k % 2 == 0 else 1, "why": f"step {k}"}
            assert client.post("/models/fraud/promote", json=body, headers=ADMIN).status_code == 200
            body = {"version": v2, "alias": "shadow", "why": f"shadow {k}"}
            assert client.post("/models/fraud/promote", json=body, headers=ADMIN).status_code == 200
        history = client.get("/models/fraud").json()["history"]
    assert len(history) == 20
    assert history[-1]["why"] == "shadow 11"
    assert history[-2] == {**history[-2], "alias": "champion", "old": v2, "new": 1, "who": "admin"}


def test_concurrent_promotions_on_a_multi_worker_server_are_all_kept(
    own_settings: Settings,
) -> None:
    settings = with_admin_key(own_settings)
    v2, v3 = register_copy_of_v1(settings), register_copy_of_v1(settings)
    versions = [1, v2, v3]
    registry = ModelRegistry(settings.models_dir)
    recorded_before = len(registry.history("fraud"))
    server = ServerProcess(settings, workers=2).start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            lost = []
            for trial in range(20):
                wanted = {
                    alias: versions[(trial + k) % 3]
                    for k, alias in enumerate(("champion", "canary", "shadow"))
                }
                bodies = [
                    {"version": v, "alias": alias, "weight": 0.5} for alias, v in wanted.items()
                ]
                with ThreadPoolExecutor(len(bodies)) as pool:
                    answers = list(
                        pool.map(lambda b: client.post("/models/fraud/promote", json=b), bodies)
                    )
                assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
                expected = Aliases(wanted["champion"], wanted["canary"], 0.5, wanted["shadow"])
                if registry.aliases("fraud") != expected:
                    lost.append(trial)
            assert lost == [], f"{len(lost)} of 20 trials lost a promotion"
            # The exact URL that once wrote an alias file outside the registry.
            traversal = client.post("/models/%2e%2e/promote", json={"version": 1})
            assert_problem(traversal, 422, "model name")
            assert_problem(client.post(f"/models/{LONG}/promote", json={"version": 1}), 422)
        assert len(registry.history("fraud")) == recorded_before + 60
        assert not (settings.data_dir / "aliases.json").exists()
    finally:
        server.stop()
