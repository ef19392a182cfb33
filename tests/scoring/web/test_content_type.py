"""Bodies must be declared JSON: a cross-site "simple" POST (text/plain) reaches no route."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from scoring.settings import Settings
from scoring.web.app import create_app
from scoring.web.deps import is_json
from tests.utils.serving import ADMIN, with_admin_key

ROW = {"customer_id": 1, "merchant_id": 2, "amount": 10.0}
BODIES = {
    "/score": {"entities": [ROW]},
    "/feedback": {"request_id": "r1", "label": 1},
    "/models/fraud/promote": {"version": 1},
    "/push": {"push_source_name": "customer_activity_push", "df": {"customer_id": [1]}},
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(with_admin_key(settings))) as test_client:
        yield test_client


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=x", "application/jsonx", "text/json"],
)  # fmt: skip
def test_a_body_not_declared_json_is_415(
    client: TestClient, path: str, content_type: str | None
) -> None:
    headers = {**ADMIN, **({"content-type": content_type} if content_type else {})}
    response = client.post(path, content=orjson.dumps(BODIES[path]), headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "application/json" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/merge-patch+json"],
)  # fmt: skip
def test_json_media_types_are_accepted(client: TestClient, content_type: str) -> None:
    body = orjson.dumps(BODIES["/score"])
    response = client.post("/score", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_is_json() -> None:
    assert is_json("application/json;charset=UTF-8")
    assert is_json("application/problem+json")
    assert not is_json(None)
    assert not is_json("")
    assert not is_json("text/plain")
    assert not is_json("application/octet-stream")
