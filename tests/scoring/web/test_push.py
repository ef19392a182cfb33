"""``POST /push``: Feast's body, checked against the push source, written by Feast, scored next."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from features.store import open_feature_store
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo, private_demo_repo
from tests.utils.serving import ADMIN, with_admin_key

SOURCE = "customer_activity_push"
ACTIVITY = ("txn_count_1h", "txn_amount_1h", "txn_count_24h")


@pytest.fixture(scope="module")
def push_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    """Pushes change what the store holds: a repo and a Redis of this module's own."""
    with private_demo_repo(tmp_path_factory.mktemp("push")) as repo:
        yield repo


@pytest.fixture
def push_settings(own_settings: Settings, push_repo: DemoRepo) -> Settings:
    """The served model over this module's repo, with an admin key."""
    update = {"feature_repo": push_repo.path, "online_store": push_repo.online_store}
    return with_admin_key(own_settings.model_copy(update=update))


@pytest.fixture
def client(push_settings: Settings) -> Iterator[TestClient]:
    """The app over this module's repo."""
    with TestClient(create_app(push_settings)) as test_client:
        yield test_client


def customer(push_repo: DemoRepo, i: int) -> int:
    """A customer of the demo data; each test takes its own, so their pushes do not meet."""
    return int(sorted(push_repo.data.customer_activity["customer_id"].unique())[i])


def activity(cid: int, at: datetime, count: int, amount: float) -> dict[str, list[Any]]:
    """One ``customer_activity`` row in the body's ``df`` form."""
    return {
        "customer_id": [cid],
        "event_timestamp": [at.isoformat()],
        "txn_count_1h": [count],
        "txn_amount_1h": [amount],
        "txn_count_24h": [count + 10],
    }


def scored_activity(client: TestClient, cid: int) -> dict[str, Any]:
    """The ``customer_activity`` features ``/score`` used for customer ``cid``."""
    entity = {"customer_id": cid, "merchant_id": 1, "amount": 10.0}
    response = client.post("/score", json={"entities": [entity], "include_features": True})
    assert response.status_code == 200, response.text
    features = response.json()["predictions"][0]["features"]
    return {name: features[f"customer_activity__{name}"] for name in ACTIVITY}


def push(client: TestClient, df: dict[str, Any], **body: Any) -> Any:
    """``POST /push`` with the admin key."""
    return client.post("/push", json={"push_source_name": SOURCE, "df": df, **body}, headers=ADMIN)


def test_a_push_reaches_the_next_score_as_feast_reads_it(
    client: TestClient, push_settings: Settings, push_repo: DemoRepo
) -> None:
    cid = customer(push_repo, 0)
    before = scored_activity(client, cid)
    now = datetime.now(UTC)
    response = push(client, activity(cid, now, 41, 987.25))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "push_source_name": SOURCE,
        "to": "online",
        "rows": 1,
        "feature_views": ["customer_activity"],
    }
    after = scored_activity(client, cid)
    assert after == {"txn_count_1h": 41, "txn_amount_1h": 987.25, "txn_count_24h": 51} != before
    store = open_feature_store(push_settings.feature_repo, push_settings.online_store)
    feast = store.get_online_features(
        [f"customer_activity:{name}" for name in ACTIVITY], [{"customer_id": cid}]
    ).to_dict()
    assert after == {name: feast[name][0] for name in ACTIVITY}


def test_an_older_event_never_overwrites_a_newer_one(
    client: TestClient, push_repo: DemoRepo
) -> None:
    cid = customer(push_repo, 1)
    now = datetime.now(UTC)
    assert push(client, activity(cid, now, 7, 70.0)).status_code == 200
    assert push(client, activity(cid, now - timedelta(minutes=5), 3, 30.0)).status_code == 200
    assert scored_activity(client, cid)["txn_count_1h"] == 7
    assert push(client, activity(cid, now + timedelta(seconds=1), 9, 90.0)).status_code == 200
    assert scored_activity(client, cid)["txn_count_1h"] == 9


def test_rows_for_several_customers_and_a_zoneless_time_read_as_utc(
    client: TestClient, push_repo: DemoRepo
) -> None:
    cids = [customer(push_repo, 2), customer(push_repo, 3)]
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    df = {
        "customer_id": cids,
        "event_timestamp": [naive, naive],
        "txn_count_1h": [5, None],  # a null feature is stored as missing, not as 0
        "txn_amount_1h": [12, 1.5],  # an integer is a number too
        "txn_count_24h": [6, 8],
        "not_a_feature": ["ignored", "as Feast ignores it"],
    }
    response = push(client, df)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 2
    assert scored_activity(client, cids[0]) == {
        "txn_count_1h": 5,
        "txn_amount_1h": 12.0,
        "txn_count_24h": 6,
    }
    entity = {"customer_id": cids[1], "merchant_id": 1, "amount": 10.0}
    answer = client.post("/score", json={"entities": [entity], "include_features": True}).json()
    prediction = answer["predictions"][0]
    assert "customer_activity__txn_count_1h" in prediction["missing"]
    assert prediction["features"]["customer_activity__txn_amount_1h"] == 1.5


def offline_rows(push_repo: DemoRepo, cid: int) -> list[dict[str, Any]]:
    """The rows of customer ``cid`` in the push source's batch source (the Parquet file)."""
    table = pq.read_table(push_repo.path / "data" / "customer_activity.parquet")
    return [r for r in table.to_pylist() if r["customer_id"] == cid]


@pytest.mark.parametrize("to", ["offline", "online_and_offline"])
def test_an_offline_push_appends_to_the_batch_source(
    client: TestClient, push_repo: DemoRepo, to: str
) -> None:
    cid = customer(push_repo, 4 if to == "offline" else 5)
    before = scored_activity(client, cid)
    stored = len(offline_rows(push_repo, cid))
    at = datetime.now(UTC).replace(microsecond=0)
    # A time without a zone, which Feast's own offline write cannot parse, read as UTC.
    df = {**activity(cid, at, 23, 230.5), "event_timestamp": [at.replace(tzinfo=None).isoformat()]}
    response = push(client, df, to=to)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == to
    rows = offline_rows(push_repo, cid)
    assert len(rows) == stored + 1
    assert [r for r in rows if r["event_timestamp"] == at] == [
        {
            "customer_id": cid,
            "event_timestamp": at,
            "txn_count_1h": 23,
            "txn_amount_1h": 230.5,
            "txn_count_24h": 33,
        }
    ]
    pushed = {"txn_count_1h": 23, "txn_amount_1h": 230.5, "txn_count_24h": 33}
    assert scored_activity(client, cid) == (before if to == "offline" else pushed)
    assert before != pushed


NOW = "2026-01-01T00:00:00Z"


def good_df() -> dict[str, list[Any]]:
    """A valid row, for the cases below to break one thing of."""
    return {
        "customer_id": [1],
        "event_timestamp": [NOW],
        "txn_count_1h": [1],
        "txn_amount_1h": [1.0],
        "txn_count_24h": [1],
    }


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"df": {k: v for k, v in good_df().items() if k != "txn_count_24h"}}, 422, "txn_count_24h"),
    ({"df": {**good_df(), "txn_count_1h": ["3"]}}, 422, "txn_count_1h"),
    ({"df": {**good_df(), "txn_count_1h": [1.5]}}, 422, "txn_count_1h"),
    ({"df": {**good_df(), "txn_count_1h": [True]}}, 422, "txn_count_1h"),
    ({"df": {**good_df(), "txn_count_1h": [2**64]}}, 422, "txn_count_1h"),
    ({"df": {**good_df(), "txn_amount_1h": ["1.0"]}}, 422, "txn_amount_1h"),
    ({"df": {**good_df(), "txn_amount_1h": [10**400]}}, 422, "txn_amount_1h"),
    ({"df": {**good_df(), "customer_id": [None]}}, 422, "customer_id"),
    ({"df": {**good_df(), "customer_id": ["1"]}}, 422, "customer_id"),
    ({"df": {**good_df(), "event_timestamp": ["yesterday"]}}, 422, "event_timestamp"),
    ({"df": {**good_df(), "event_timestamp": [1767225600]}}, 422, "event_timestamp"),
    ({"df": {**good_df(), "txn_count_1h": [1, 2]}}, 422, "differ in length"),
    ({"df": {**good_df(), "txn_count_1h": 1}}, 422, "txn_count_1h"),
    ({"df": {}}, 422, "no rows"),
    ({"df": {name: [] for name in good_df()}}, 422, "no rows"),
    (
        {
            "df": {
                **good_df(),
                "txn_count_1h": [None],
                "txn_amount_1h": [None],
                "txn_count_24h": [None],
            }
        },
        422,
        "null",
    ),
    ({"push_source_name": "nope"}, 422, "nope"),
    ({"push_source_name": "customer_activity_source"}, 422, "customer_activity_source"),
    ({"to": "elsewhere"}, 422, "to"),
    ({"df": {**good_df(), "extra": [1]}, "to": "offline"}, 422, "extra"),
    ({"df": [1, 2]}, 422, "df"),
    ({"push_source_name": None}, 422, "push_source_name"),
    ({"df": {name: [v[0]] * 501 for name, v in good_df().items()}}, 413, "501 rows"),
]


@pytest.mark.parametrize(("change", "status", "named"), BAD)
def test_a_push_that_does_not_fit_is_refused_naming_what(
    client: TestClient, push_repo: DemoRepo, change: dict[str, Any], status: int, named: str
) -> None:
    file = push_repo.path / "data" / "customer_activity.parquet"
    stored = pq.read_metadata(file).num_rows
    body = {"push_source_name": SOURCE, "df": good_df(), **change}
    response = client.post("/push", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]
    assert pq.read_metadata(file).num_rows == stored


def test_a_refused_push_writes_nothing_online(client: TestClient, push_repo: DemoRepo) -> None:
    cid = customer(push_repo, 6)
    before = scored_activity(client, cid)
    df = {**activity(cid, datetime.now(UTC), 99, 1.0), "txn_count_24h": ["many"]}
    response = push(client, df)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "df.txn_count_24h", "message": response.json()["detail"]}
    ]
    assert scored_activity(client, cid) == before


def test_a_body_over_the_size_limit_is_413(push_settings: Settings) -> None:
    limited = push_settings.model_copy(update={"max_body_bytes": 2000})
    df = {**good_df(), "customer_id": [1] * 1000}
    with TestClient(create_app(limited)) as client:
        response = push(client, df)
    assert response.status_code == 413
    assert "SCORER_MAX_BODY_BYTES" in response.json()["detail"]


def test_push_needs_the_admin_key(push_settings: Settings) -> None:
    body = {"push_source_name": SOURCE, "df": good_df()}
    unkeyed = push_settings.model_copy(update={"admin_key": None})
    with TestClient(create_app(unkeyed)) as client:
        response = client.post("/push", json=body, headers=ADMIN)
        assert response.status_code == 403
        assert "SCORER_ADMIN_KEY" in response.json()["detail"]
    with TestClient(create_app(push_settings)) as client:
        assert client.post("/push", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        response = client.post("/push", json=body, headers=wrong)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
