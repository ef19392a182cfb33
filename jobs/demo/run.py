"""``scorer demo``: from a fresh checkout to a running service in one command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
import pandas as pd

from features.store import feast_apply, open_feature_store
from jobs.demo.data import DemoDataConfig, generate
from jobs.demo.redis_server import INSTALL_HINT, LocalRedisServer, redis_answers
from jobs.materialize import materialize_all
from jobs.train import TrainingResult, train_model
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings

DEMO_MODEL = "fraud"
DEMO_SERVICE = "fraud_v1"
DEMO_LABEL = "is_fraud"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

Say = Callable[[str], None]


@dataclass
class DemoResult:
    """What the demo set up, and the Redis it started (if any) to stop on exit."""

    training: TrainingResult
    example_request: dict[str, object]
    redis: LocalRedisServer | None


def ensure_online_store(settings: Settings, say: Say) -> LocalRedisServer | None:
    """Make sure Redis answers at the configured address, starting a local one if we can."""
    host, port = settings.online_store_address()
    if redis_answers(host, port):
        say(f"online store: Redis at {host}:{port}")
        return None
    if host not in _LOCAL_HOSTS:
        raise RuntimeError(f"no Redis answers at {host}:{port}; {INSTALL_HINT}")
    say(f"no Redis at {host}:{port}: starting a local redis-server")
    return LocalRedisServer(port, (settings.data_dir / "redis").resolve()).start()


def example_request(transactions: pd.DataFrame) -> dict[str, object]:
    """A ready-to-send ``/score`` body built from real demo entities."""
    rows = transactions.tail(2)[["customer_id", "merchant_id", "amount"]]
    return {
        "model": DEMO_MODEL,
        "entities": [
            {"customer_id": int(c), "merchant_id": int(m), "amount": round(float(a), 2)}
            for c, m, a in rows.itertuples(index=False)
        ],
        "include_features": False,
    }


def run_demo(
    settings: Settings, config: DemoDataConfig, say: Say, regenerate: bool = False
) -> DemoResult:
    """Generate data, ``feast apply``, materialize, train and promote ``fraud`` v1."""
    redis_server = ensure_online_store(settings, say)
    try:
        repo = settings.feature_repo
        data_dir = repo / "data"
        labels_path = data_dir / "transactions.parquet"
        if regenerate or not labels_path.is_file():
            say(
                f"generating demo data ({config.customers:,} customers, "
                f"{config.transactions:,} transactions) into {data_dir}"
            )
            generate(config).write(data_dir)
        else:
            say(f"using existing demo data in {data_dir}")
        say("feast apply")
        feast_apply(repo, settings.online_store)
        store = open_feature_store(repo, settings.online_store)
        # A full load, not incremental: the online store may be a fresh redis-server while
        # the registry remembers an earlier run's watermark.
        say("materializing into the online store")
        materialize_all(store)
        labels = pd.read_parquet(labels_path)
        result = train_model(
            store,
            ModelRegistry(settings.models_dir),
            model_name=DEMO_MODEL,
            feature_service=DEMO_SERVICE,
            labels=labels,
            label_column=DEMO_LABEL,
            promote=True,
            labels_source=str(labels_path.resolve()),
            progress=say,
        )
        return DemoResult(result, example_request(labels), redis_server)
    except BaseException:
        if redis_server is not None:
            redis_server.stop()
        raise


def curl_command(body: dict[str, object], host: str, port: int) -> str:
    """The example request as a curl command line."""
    payload = orjson.dumps(body).decode()
    return (
        f"curl -s -X POST http://{host}:{port}/score "
        f"-H 'Content-Type: application/json' -d '{payload}'"
    )
