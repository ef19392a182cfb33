"""What a client may send: body size, and error bodies that never echo unbounded input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scoring.errors import quoted
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.serving import ADMIN, with_admin_key

ROW = {"customer_id": 1, "merchant_id": 2, "amount": 10.0}
LIMIT = 10_000


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    limited = with_admin_key(settings).model_copy(update={"max_body_bytes": LIMIT})
    with TestClient(create_app(limited)) as test_client:
        yield test_client


def assert_problem(response: Any, status: int, *in_detail: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for fragment in in_detail:
        assert fragment in body["detail"], body
    return body


def test_the_default_limit_follows_the_batch_limit(settings: Settings) -> None:
    assert Settings().body_limit_bytes() == 5000 * 1024
    assert settings.model_copy(update={"max_batch_rows": 10}).body_limit_bytes() == 10 * 1024
    assert settings.model_copy(update={"max_body_bytes": 7}).body_limit_bytes() == 7


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/score"), ("POST", "/feedback"), ("POST", "/models/fraud/promote"),
     ("GET", "/health/live"), ("GET", "/nowhere")],
)  # fmt: skip
def test_a_declared_length_over_the_limit_is_refused_on_every_route(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(
        method,
        path,
        content=b" " * (LIMIT + 1),
        headers={"content-type": "application/json", **ADMIN},
    )
    assert_problem(response, 413, f"limit of {LIMIT} bytes", "SCORER_MAX_BODY_BYTES")


def test_a_chunked_body_is_refused_once_it_passes_the_limit(client: TestClient) -> None:
    # The test client reads the whole body first: a real server process shows it is not read.
    def chunks() -> Iterator[bytes]:
        yield b'{"entities": ['
        for _ in range(100):  # 100 x 1000 bytes: ten times the limit
            yield b" " * 1000

    response = client.post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413, f"limit of {LIMIT} bytes")


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    body = b'{"entities": [' + b'{"customer_id": 1, "merchant_id": 2, "amount": 10.0},' * 100
    body = body[:-1] + b"]}"
    body += b" " * (LIMIT - len(body))
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_quoted_cuts_long_input_and_says_how_long() -> None:
    assert quoted("fraud") == "'fraud'"
    cut = quoted("x" * 1_000_000)
    assert cut.startswith("'xxx")
    assert cut.endswith("... (1000002 characters)")
    assert len(cut) < 150


def test_a_huge_model_name_is_not_echoed(settings: Settings) -> None:
    name = "m" * 200_000
    with TestClient(create_app(settings)) as client:
        response = client.post("/score", json={"model": name, "entities": [ROW]})
        assert_problem(response, 404, "(200002 characters)")
        assert len(response.content) < 1000
        response = client.get(f"/models/{name[:50_000]}")  # the client caps URLs at 64 KiB
        assert response.status_code in (404, 422), response.text[:500]
        assert len(response.content) < 1000


def test_unknown_fields_are_quoted_short(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.post("/score", json={"entities": [ROW], "x" * 200_000: 1})
    assert_problem(response, 422, "unknown field(s) ['xxx", "characters)")
    assert len(response.content) < 1000


def test_validation_errors_clip_the_client_s_field_names(settings: Settings) -> None:
    with TestClient(create_app(with_admin_key(settings))) as client:
        body = {"version": 1, "y" * 100_000: 1, **{f"k{i}": i for i in range(100)}}
        response = client.post("/models/fraud/promote", json=body, headers=ADMIN)
    problem = assert_problem(response, 422)
    assert len(response.content) < 10_000
    assert 0 < len(problem["errors"]) <= 20
    assert all(len(e["field"]) < 150 for e in problem["errors"])
