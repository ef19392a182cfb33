"""Bad input and faults over HTTP: the right status, a problem+json body, never a 500 or a hang."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.demo.redis_server import LocalRedisServer, free_port
from scoring.errors import ModelLoadError
from scoring.settings import Settings
from scoring.web.app import create_app

ROW = {"customer_id": 1, "merchant_id": 2, "amount": 10.0}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def assert_problem(response: Any, status: int, *in_detail: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    for fragment in in_detail:
        assert fragment in body["detail"], body
    return body


def test_missing_join_key_names_the_key_and_row(client: TestClient) -> None:
    entities = [ROW, {"customer_id": 3, "amount": 5.0}]
    body = assert_problem(
        client.post("/score", json={"entities": entities}), 422, "entities[1]", "'merchant_id'"
    )
    assert body["errors"] == [
        {"row": 1, "field": "merchant_id", "message": "entities[1]: missing join key 'merchant_id'"}
    ]


def test_missing_request_field(client: TestClient) -> None:
    row = {"customer_id": 1, "merchant_id": 2}
    assert_problem(client.post("/score", json={"entities": [row]}), 422, "request field 'amount'")


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({**ROW, "customer_id": "abc"}, "'customer_id' must be an integer"),
        ({**ROW, "customer_id": 1.5}, "'customer_id' must be an integer"),
        ({**ROW, "customer_id": True}, "'customer_id' must be an integer"),
        ({**ROW, "customer_id": 2**63}, "out of the 64-bit integer range"),
        ({**ROW, "customer_id": 2**70}, "'customer_id' must be an integer"),
        ({**ROW, "amount": "12"}, "'amount' must be a number"),
        ({**ROW, "amount": None}, "missing request field 'amount'"),
    ],
)
def test_wrong_types(client: TestClient, row: dict[str, Any], fragment: str) -> None:
    assert_problem(client.post("/score", json={"entities": [row]}), 422, fragment)


def test_a_bad_row_in_a_large_request_is_named(client: TestClient) -> None:
    rows = [{**ROW, "customer_id": i, "amount": i} for i in range(30)]  # ints are numbers too
    assert client.post("/score", json={"entities": rows}).status_code == 200
    rows[17] = {**ROW, "merchant_id": "17"}
    response = client.post("/score", json={"entities": rows})
    assert_problem(response, 422, "entities[17]: join key 'merchant_id' must be an integer")
    assert response.json()["errors"] == [
        {"row": 17, "field": "merchant_id", "message": response.json()["detail"]}
    ]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers(client: TestClient, literal: str) -> None:
    raw = '{"entities": [{"customer_id": 1, "merchant_id": 2, "amount": LIT}]}'.replace(
        "LIT", literal
    )
    response = client.post("/score", content=raw, headers={"content-type": "application/json"})
    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"entities": []}, "empty"),
        ({}, "'entities' must be a list"),
        ({"entities": {"customer_id": 1}}, "'entities' must be a list"),
        ({"entities": [1]}, "entities[0] must be an object"),
        ([ROW], "JSON object"),
        ({"entities": [ROW], "include_features": "yes"}, "include_features"),
        ({"entities": [ROW], "model": 7}, "'model' must be a string"),
        ({"entities": [ROW], "entity": []}, "unknown field"),
    ],
)
def test_malformed_bodies(client: TestClient, body: Any, fragment: str) -> None:
    assert_problem(client.post("/score", json=body), 422, fragment)


def test_not_json(client: TestClient) -> None:
    response = client.post("/score", content=b"{oops", headers={"content-type": "application/json"})
    assert_problem(response, 422, "not valid JSON")


def test_unknown_model(client: TestClient) -> None:
    assert_problem(client.post("/score", json={"model": "nope", "entities": [ROW]}), 404, "'nope'")
    assert_problem(client.get("/models/nope"), 404, "'nope'")


def test_batch_at_the_limit_is_scored_one_row_over_is_413(
    client: TestClient, settings: Settings
) -> None:
    rows = [ROW] * settings.max_batch_rows
    response = client.post("/score", json={"entities": rows})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == settings.max_batch_rows
    rows.append(ROW)
    assert_problem(client.post("/score", json={"entities": rows}), 413, "501 rows", "limit of 500")


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    assert_problem(client.get("/nowhere"), 404)
    assert_problem(client.get("/score"), 405)


def test_online_store_down_answers_503_then_recovers(settings: Settings, tmp_path: Path) -> None:
    """Nothing listens at the store's address: 503 + Retry-After; once Redis is back, 200."""
    port = free_port()
    down = settings.model_copy(update={"online_store": f"127.0.0.1:{port}"})
    with TestClient(create_app(down)) as client:
        response = client.post("/score", json={"entities": [ROW]})
        assert_problem(response, 503, "online store")
        assert response.headers["retry-after"] == str(settings.retry_after_s)
        assert_problem(client.get("/health/ready"), 503, "online store")

        with LocalRedisServer(port, tmp_path / "redis"):
            response = client.post("/score", json={"entities": [ROW]})
            assert response.status_code == 200, response.text
            # An empty store: every stored feature is missing, and still scored.
            assert "customer_profile__country" in response.json()["predictions"][0]["missing"]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_hung_online_store_answers_503_within_the_timeout(
    settings: Settings, black_hole: int
) -> None:
    hung = settings.model_copy(
        update={"online_store": f"127.0.0.1:{black_hole}", "online_timeout_s": 0.5}
    )
    with TestClient(create_app(hung)) as client:
        started = time.monotonic()
        response = client.post("/score", json={"entities": [ROW]})
        elapsed = time.monotonic() - started
    body = assert_problem(response, 503, "online store did not answer within 0.")
    assert body["detail"].endswith(" s"), body  # what was left of the 0.5 s budget
    # Generous bound: the point is "answers", not "is fast"; a hang would hit pytest's limit.
    assert elapsed < 30


def _registry_copy(settings: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(settings.data_dir / "models", tmp_path / "models")
    return settings.model_copy(update={"data_dir": tmp_path})


def test_corrupt_model_file_stops_start_up_with_the_reason(
    settings: Settings, tmp_path: Path
) -> None:
    broken = _registry_copy(settings, tmp_path)
    model_file = tmp_path / "models" / "fraud" / "1" / "model.txt"
    model_file.write_text("tree\nthis is not a LightGBM model\n")
    with pytest.raises(ModelLoadError, match=r"fraud v1: .*model\.txt is corrupt"):  # noqa: SIM117
        with TestClient(create_app(broken)):
            pass


def test_missing_model_directory_stops_start_up_with_the_reason(
    settings: Settings, tmp_path: Path
) -> None:
    broken = _registry_copy(settings, tmp_path)
    (tmp_path / "models" / "fraud" / "1" / "model.txt").unlink()
    with pytest.raises(ModelLoadError, match=r"fraud v1: .*model\.txt is missing"):  # noqa: SIM117
        with TestClient(create_app(broken)):
            pass


def test_a_client_that_hangs_up_mid_body_is_no_server_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Drive the ASGI app directly: the body never completes, the client disconnects."""
    app = create_app(settings)
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": b'{"entities": [', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with TestClient(app) as client:  # runs the lifespan, whose state the route needs
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "path": "/score", "raw_path": b"/score", "query_string": b"",
            "headers": [(b"content-type", b"application/json")], "scheme": "http",
            "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "root_path": "",
            "state": dict(client.app_state),
        }  # fmt: skip
        assert client.portal is not None
        client.portal.call(app, scope, receive, send)
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
