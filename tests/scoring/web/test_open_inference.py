"""The Open Inference Protocol over the app: answers equal to /score's, and OIP's error matrix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.demo.redis_server import free_port
from scoring.model.registry import ModelRegistry
from scoring.serving.service_metrics import UNKNOWN
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, read_log, register_copy_of_v1

ROWS = [
    {"customer_id": 1, "merchant_id": 2, "amount": 10.0},
    {"customer_id": 3, "merchant_id": 4, "amount": 7},
]
LIMIT = 10_000


def tensors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One input tensor per column of ``rows``, as the metadata describes them."""
    datatypes = {"customer_id": "INT64", "merchant_id": "INT64", "amount": "FP64"}
    return [
        {"name": name, "shape": [len(rows)], "datatype": datatype, "data": [r[name] for r in rows]}
        for name, datatype in datatypes.items()
    ]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"max_body_bytes": LIMIT})
    with TestClient(create_app(limited)) as test_client:
        yield test_client


def assert_error(response: Any, status: int, *in_message: str) -> str:
    """An OIP error: ``{"error": message}`` as JSON (never problem+json), naming each fragment."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body
    message: str = body["error"]
    for fragment in in_message:
        assert fragment in message, message
    return message


def test_infer_answers_score_s_scores_and_labels(client: TestClient, demo_repo: DemoRepo) -> None:
    rows = entities(demo_repo, 5, seed=3)
    response = client.post("/v2/models/fraud/infer", json={"id": "abc", "inputs": tensors(rows)})
    assert response.status_code == 200, response.text
    answer = response.json()
    scored = client.post("/score", json={"entities": rows}).json()
    assert answer["model_name"] == "fraud"
    assert answer["model_version"] == "1"
    assert answer["id"] == "abc"
    request_id = answer["parameters"]["request_id"]
    assert len(request_id) == 32
    score, label = answer["outputs"]
    assert score == {
        "name": "score",
        "datatype": "FP64",
        "shape": [5],
        "data": [p["score"] for p in scored["predictions"]],
    }
    assert label == {
        "name": "label",
        "datatype": "INT64",
        "shape": [5],
        "data": [p["label"] for p in scored["predictions"]],
    }


def test_without_an_id_the_answer_carries_the_log_s_request_id(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 3, seed=4)
    with TestClient(create_app(own_settings)) as client:
        answer = client.post("/v2/models/fraud/infer", json={"inputs": tensors(rows)}).json()
        pinned = client.post(
            "/v2/models/fraud/versions/1/infer",
            json={"inputs": tensors(rows), "outputs": [{"name": "label"}]},
        ).json()
    assert answer["id"] == answer["parameters"]["request_id"]
    assert [o["name"] for o in pinned["outputs"]] == ["label"]
    logged = read_log(own_settings.data_dir / "logs" / "predictions").to_pylist()
    by_request: dict[str, list[int]] = {}
    for row in logged:
        by_request.setdefault(row["request_id"], []).append(row["customer_id"])
    assert by_request[answer["id"]] == [r["customer_id"] for r in rows]
    assert by_request[pinned["id"]] == [r["customer_id"] for r in rows]
    assert {(r["route"], r["version"]) for r in logged} == {("champion", 1)}


def test_a_column_vector_and_integer_amounts_are_taken(client: TestClient) -> None:
    inputs = tensors(ROWS)
    for tensor in inputs:
        tensor["shape"] = [2, 1]
    inputs[0]["data"] = [[1], [3]]  # nested row by row
    inputs[0]["datatype"] = "INT32"
    inputs[2]["datatype"] = "FP32"
    response = client.post("/v2/models/fraud/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    flat = client.post("/v2/models/fraud/infer", json={"inputs": tensors(ROWS)}).json()
    assert response.json()["outputs"] == flat["outputs"]


def test_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json() == {"name": "scorer", "version": "0.1.0", "extensions": []}
    assert client.get("/v2/models/fraud/ready").json() == {"name": "fraud", "ready": True}
    assert client.get("/v2/models/fraud/versions/1/ready").status_code == 200
    metadata = client.get("/v2/models/fraud").json()
    assert metadata == {
        "name": "fraud",
        "versions": ["1"],
        "platform": "lightgbm",
        "inputs": [
            {"name": "customer_id", "datatype": "INT64", "shape": [-1]},
            {"name": "merchant_id", "datatype": "INT64", "shape": [-1]},
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
        ],
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ],
    }
    assert client.get("/v2/models/fraud/versions/1").json() == metadata


def with_tensor(name: str, **changes: Any) -> dict[str, Any]:
    inputs = tensors(ROWS)
    for tensor in inputs:
        if tensor["name"] == name:
            tensor.update(changes)
    return {"inputs": inputs}


def without(name: str) -> dict[str, Any]:
    return {"inputs": [t for t in tensors(ROWS) if t["name"] != name]}


BINARY = "binary tensor data extension is not supported"


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (with_tensor("amount", datatype="BYTES", data=["a", "b"]),
         ["'amount' has datatype 'BYTES'", "FP64"]),
        (with_tensor("customer_id", datatype="FP64", data=[1.5, 2.0]),
         ["'customer_id' has datatype 'FP64'", "INT64"]),
        (with_tensor("customer_id", data=[1, "x"]), ["'customer_id' (INT64): data[1] = 'x'"]),
        (with_tensor("customer_id", datatype="INT8", data=[1, 300]), ["data[1] = 300", "-128"]),
        (with_tensor("amount", data=[1.0, True]), ["'amount' (FP64): data[1] = True"]),
        (with_tensor("amount", shape=[1, 2]), ["'amount' has shape [1, 2]", "[N]"]),
        (with_tensor("amount", shape=[2, 2, 1]), ["'amount' has shape [2, 2, 1]"]),
        (with_tensor("amount", shape="2"), ["'amount' has shape '2'"]),
        (with_tensor("amount", shape=[3]), ["'amount': shape [3] holds 3", "'data' has 2"]),
        (with_tensor("amount", shape=[0], data=[]), ["'amount' has no rows"]),
        (with_tensor("amount", data="1.0"), ["'amount': 'data' must be a list"]),
        (with_tensor("amount", shape=[1], data=[1.0]),
         ["same number of rows", "'amount' has 1", "'customer_id' has 2"]),
        (without("merchant_id"), ["missing input(s) ['merchant_id']", "merchant_id (INT64)"]),
        ({"inputs": [*tensors(ROWS), {"name": "colour", "shape": [2], "datatype": "BYTES",
                                      "data": ["r", "g"]}]},
         ["unknown input 'colour'", "customer_id, merchant_id, amount"]),
        ({"inputs": [*tensors(ROWS), tensors(ROWS)[0]]}, ["'customer_id' is sent twice"]),
        ({"inputs": []}, ["'inputs' must be a non-empty list"]),
        ({"entities": ROWS}, ["unknown field(s) ['entities']"]),
        ([], ["must be a JSON object"]),
        ({"inputs": tensors(ROWS), "id": 7}, ["'id' must be a string"]),
        ({"inputs": tensors(ROWS), "outputs": [{"name": "proba"}]}, ["unknown output 'proba'"]),
        ({"inputs": tensors(ROWS), "parameters": {"binary_data_output": True}}, [BINARY]),
        ({"inputs": tensors(ROWS), "outputs": [{"name": "score",
                                                "parameters": {"binary_data": True}}]}, [BINARY]),
        (with_tensor("amount", parameters={"binary_data_size": 16}), [BINARY]),
    ],
)  # fmt: skip
def test_a_bad_request_is_400_naming_what_is_wrong(
    client: TestClient, body: Any, fragments: list[str]
) -> None:
    assert_error(client.post("/v2/models/fraud/infer", json=body), 400, *fragments)


def test_the_binary_header_is_refused_by_name(client: TestClient) -> None:
    response = client.post(
        "/v2/models/fraud/infer",
        json={"inputs": tensors(ROWS)},
        headers={"Inference-Header-Content-Length": "120"},
    )
    assert_error(response, 400, BINARY, "binary_data=False")


def test_not_json(client: TestClient) -> None:
    response = client.post(
        "/v2/models/fraud/infer", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "not valid JSON")
    response = client.post(
        "/v2/models/fraud/infer", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert_error(response, 415, "application/json", "'text/plain'")


def test_unknown_model_version_and_path(client: TestClient) -> None:
    body = {"inputs": tensors(ROWS)}
    assert_error(client.post("/v2/models/nope/infer", json=body), 404, "'nope' is not served")
    assert_error(client.get("/v2/models/nope"), 404, "'nope' is not served")
    assert_error(client.get("/v2/models/nope/ready"), 404, "'nope' is not served")
    assert_error(
        client.post("/v2/models/fraud/versions/9/infer", json=body),
        404,
        "version 9 of model 'fraud' is not served (champion 1)",
    )
    assert_error(client.get("/v2/models/fraud/versions/9/ready"), 404, "version 9")
    assert_error(client.get("/v2/models/fraud/versions/x"), 400, "version 'x'")
    assert_error(client.get("/v2/nowhere"), 404)
    assert_error(client.get("/v2/models/fraud/infer"), 405)


def test_too_many_rows_and_too_large_a_body_are_413(client: TestClient, settings: Settings) -> None:
    n = settings.max_batch_rows + 1
    rows = [ROWS[0]] * n
    response = client.post("/v2/models/fraud/infer", json={"inputs": tensors(rows)})
    assert_error(response, 413, f"{n} rows is over the limit")
    response = client.post(
        "/v2/models/fraud/infer",
        content=b" " * (LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    assert_error(response, 413, f"limit of {LIMIT} bytes")


def test_online_store_down_is_503_with_retry_after(settings: Settings) -> None:
    down = settings.model_copy(update={"online_store": f"127.0.0.1:{free_port()}"})
    with TestClient(create_app(down)) as client:
        response = client.post("/v2/models/fraud/infer", json={"inputs": tensors(ROWS)})
        assert_error(response, 503, "online store")
        assert response.headers["retry-after"] == str(settings.retry_after_s)
        assert_error(client.get("/v2/health/ready"), 503, "online store")


def test_a_served_canary_can_be_named_a_shadow_cannot(
    own_settings: Settings, tmp_path: Path
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    canary = register_copy_of_v1(own_settings)
    shadow = register_copy_of_v1(own_settings)
    unserved = register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "canary", canary, 0.1)
    registry.set_alias("fraud", "shadow", shadow)
    body = {"inputs": tensors(ROWS)}
    with TestClient(create_app(own_settings)) as client:
        answers = [
            client.post(f"/v2/models/fraud/versions/{canary}/infer", json=body).json()
            for _ in range(3)
        ]
        assert {a["model_version"] for a in answers} == {str(canary)}
        assert client.get("/v2/models/fraud").json()["versions"] == ["1", str(canary)]
        for version in (shadow, unserved):
            assert_error(
                client.post(f"/v2/models/fraud/versions/{version}/infer", json=body),
                404,
                f"version {version} of model 'fraud' is not served (champion 1, canary {canary})",
            )
    logged = read_log(own_settings.data_dir / "logs" / "predictions").to_pylist()
    answered = {a["parameters"]["request_id"] for a in answers}
    # The shadow scores the rows a named version answers too, unseen.
    assert {(r["version"], r["route"]) for r in logged if r["request_id"] in answered} == {
        (canary, "canary"),
        (shadow, "shadow"),
    }


def test_inference_requests_are_counted_on_their_route(client: TestClient) -> None:
    client.post("/v2/models/fraud/infer", json={"inputs": tensors(ROWS)})
    client.post("/v2/models/nope/infer", json={"inputs": tensors(ROWS)})
    client.post("/v2/models/fraud/infer", json=without("amount"))
    metrics = client.get("/metrics").text
    for labels in (
        'model="fraud",route="/v2/infer",status="200",version="1"',
        f'model="{UNKNOWN}",route="/v2/infer",status="404",version="{UNKNOWN}"',
        f'model="fraud",route="/v2/infer",status="400",version="{UNKNOWN}"',
    ):
        assert f"scorer_requests_total{{{labels}}} 1.0" in metrics, metrics[:3000]
