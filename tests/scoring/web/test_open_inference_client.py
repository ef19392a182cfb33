"""A real `scorer serve` through tritonclient's HTTP client, a third-party OIP v2 client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from jobs.train import TrainingResult
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess
from tests.utils.serving import entities, read_log
from tests.utils.stream import wait_for


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    demo_repo: DemoRepo,
    data_dir: Path,
    trained: TrainingResult,
) -> Iterator[ServerProcess]:
    """One `scorer serve` for the module, on its own copy of the registry and its own log."""
    own = tmp_path_factory.mktemp("oip-data")
    shutil.copytree(data_dir / "models", own / "models")
    settings = Settings(
        feature_repo=demo_repo.path, data_dir=own, online_store=demo_repo.online_store
    )
    server = ServerProcess(settings, workers=1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(served: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=served.url.removeprefix("http://"))
    try:
        yield client
    finally:
        client.close()


def inputs(rows: list[dict[str, Any]]) -> list[triton.InferInput]:
    """One InferInput per join key and request field, from numpy columns, as JSON data."""
    columns = [
        ("customer_id", "INT64", np.array([r["customer_id"] for r in rows], dtype=np.int64)),
        ("merchant_id", "INT64", np.array([r["merchant_id"] for r in rows], dtype=np.int64)),
        ("amount", "FP64", np.array([r["amount"] for r in rows], dtype=np.float64)),
    ]
    tensors = []
    for name, datatype, column in columns:
        tensor = triton.InferInput(name, list(column.shape), datatype)
        tensor.set_data_from_numpy(column, binary_data=False)
        tensors.append(tensor)
    return tensors


OUTPUTS = [triton.InferRequestedOutput(n, binary_data=False) for n in ("score", "label")]


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", "1")
    assert not client.is_model_ready("nope")
    assert client.get_server_metadata()["name"] == "scorer"
    metadata = client.get_model_metadata("fraud")
    assert metadata["platform"] == "lightgbm"
    assert metadata["versions"] == ["1"]
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        ("customer_id", "INT64", [-1]),
        ("merchant_id", "INT64", [-1]),
        ("amount", "FP64", [-1]),
    ]
    assert [o["name"] for o in metadata["outputs"]] == ["score", "label"]


def test_infer_equals_score_and_is_logged(
    client: triton.InferenceServerClient,
    served: ServerProcess,
    demo_repo: DemoRepo,
) -> None:
    rows = entities(demo_repo, 20, seed=11)
    rows.append({"customer_id": 999_999_999, "merchant_id": 999_999, "amount": 3.5})
    result = client.infer("fraud", inputs(rows), outputs=OUTPUTS, request_id="mine")
    scored = httpx.post(f"{served.url}/score", json={"entities": rows}, timeout=30).json()
    scores = result.as_numpy("score")
    labels = result.as_numpy("label")
    assert scores is not None
    assert labels is not None
    assert scores.dtype == np.float64
    assert scores.tolist() == [p["score"] for p in scored["predictions"]]
    assert labels.tolist() == [p["label"] for p in scored["predictions"]]
    response = result.get_response()
    assert response["id"] == "mine"
    assert response["model_version"] == "1"
    pinned = client.infer("fraud", inputs(rows), model_version="1", outputs=OUTPUTS)
    assert pinned.as_numpy("score").tolist() == scores.tolist()  # type: ignore[union-attr]
    request_ids = {response["parameters"]["request_id"], pinned.get_response()["id"]}
    logs = served.settings.data_dir / "logs" / "predictions"

    def logged() -> list[dict[str, Any]]:
        rows = read_log(logs).to_pylist() if logs.exists() else []
        return [r for r in rows if r["request_id"] in request_ids]

    wait_for(lambda: len(logged()) == 2 * len(rows), 30, "the inference requests' log rows")
    assert sorted(r["score"] for r in logged()) == sorted(scores.tolist() * 2)


def test_errors_reach_the_client_by_status_and_message(
    client: triton.InferenceServerClient,
) -> None:
    rows = [{"customer_id": 1, "merchant_id": 2, "amount": 3.0}]
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("nope", inputs(rows), outputs=OUTPUTS)
    assert unknown.value.status() == "404"
    assert "'nope' is not served" in unknown.value.message()

    wrong_type = inputs(rows)
    wrong_type[2] = triton.InferInput("amount", [1], "BYTES")
    wrong_type[2].set_data_from_numpy(np.array([b"3.0"], dtype=np.object_), binary_data=False)
    with pytest.raises(InferenceServerException) as datatype:
        client.infer("fraud", wrong_type, outputs=OUTPUTS)
    assert datatype.value.status() == "400"
    assert "'amount' has datatype 'BYTES'" in datatype.value.message()

    wrong_shape = inputs(rows)
    wrong_shape[0] = triton.InferInput("customer_id", [1, 1, 1], "INT64")
    wrong_shape[0].set_data_from_numpy(np.array([[[1]]], dtype=np.int64), binary_data=False)
    with pytest.raises(InferenceServerException) as shape:
        client.infer("fraud", wrong_shape, outputs=OUTPUTS)
    assert shape.value.status() == "400"
    assert "'customer_id' has shape [1, 1, 1]" in shape.value.message()

    with pytest.raises(InferenceServerException) as binary:
        client.infer("fraud", inputs(rows))  # binary outputs: tritonclient's default
    assert binary.value.status() == "400"
    assert "binary tensor data extension is not supported" in binary.value.message()
