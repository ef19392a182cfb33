"""`scorer compare`: a shadow against the champion over a real server's log and feedback."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import orjson
import pandas as pd
import pyarrow.dataset as ds
import pytest
from scipy import stats as scipy_stats

from scoring.settings import Settings
from tests.utils.cli import assert_one_line_mistake, run_scorer
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess
from tests.utils.shadow import train_shadow

KEYS = ["request_id", "customer_id", "merchant_id"]


def scorer_env(settings: Settings) -> dict[str, str]:
    return {
        "SCORER_FEATURE_REPO": str(settings.feature_repo),
        "SCORER_DATA_DIR": str(settings.data_dir),
        "SCORER_ONLINE_STORE": settings.online_store,
    }


def request_bodies(demo_repo: DemoRepo) -> list[list[dict[str, Any]]]:
    """Requests of 1 to 4 distinct entities each, 90 rows in all."""
    tx = demo_repo.data.transactions.drop_duplicates(["customer_id", "merchant_id"]).head(90)
    rows = [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in tx[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]
    bodies, start = [], 0
    for size in itertools.cycle([1, 4, 2, 3]):
        if start >= len(rows):
            return bodies
        bodies.append(rows[start : start + size])
        start += size
    raise AssertionError("unreachable")


def serve_with_shadow(settings: Settings, demo_repo: DemoRepo) -> dict[str, int]:
    """Score through a real `scorer serve` with a shadow; label two requests in three.

    Returns the label sent for each labelled request id.
    """
    server = ServerProcess(settings, workers=2).start()
    labels: dict[str, int] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i, body in enumerate(request_bodies(demo_repo)):
                answer = client.post("/score", json={"entities": body})
                assert answer.status_code == 200, answer.text
                if i % 3 != 2:
                    labels[answer.json()["request_id"]] = i % 2
            feedback = [{"request_id": r, "label": label} for r, label in labels.items()]
            assert client.post("/feedback", json=feedback).status_code == 202
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)  # a clean stop writes every row
        assert server.wait() == 0
    finally:
        server.stop()
    return labels


def paired_from_parquet(settings: Settings) -> pd.DataFrame:
    root = settings.data_dir / "logs" / "predictions"
    log = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    shadow = log[log["route"] == "shadow"]
    champion = log[log["route"] == "champion"]
    return champion.merge(shadow, on=KEYS, suffixes=("_c", "_s"), validate="one_to_one")


def brute_force_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def test_compare_writes_the_figures_of_a_real_shadow(
    own_settings: Settings, demo_repo: DemoRepo, tmp_path: Path
) -> None:
    shadow = train_shadow(own_settings, demo_repo)
    sent = serve_with_shadow(own_settings, demo_repo)
    out = tmp_path / "reports"
    done = run_scorer(
        scorer_env(own_settings), "compare", "--model", "fraud", "--since", "1h", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    [json_path] = out.glob("compare-fraud-*.json")
    [html_path] = out.glob("compare-fraud-*.html")
    report = orjson.loads(json_path.read_bytes())

    paired = paired_from_parquet(own_settings)
    assert len(paired) == 90
    assert report["champion"]["version"] == 1
    assert report["shadow"]["version"] == shadow
    assert report["rows"]["paired"] == 90
    assert report["rows"]["paired_requests"] == paired["request_id"].nunique()
    assert report["rows"]["shadow_unpaired"] == 0
    assert report["rows"]["answers_unpaired"] == 0
    assert report["version_pairs"][0]["rows"] == 90

    c, s = paired["score_c"].to_numpy(), paired["score_s"].to_numpy()
    assert not np.allclose(c, s), "a shadow trained anew should score differently"
    scores = report["scores"]
    assert scores["pearson"] == pytest.approx(np.corrcoef(c, s)[0, 1], abs=1e-6)
    assert scores["spearman"] == pytest.approx(scipy_stats.spearmanr(c, s).statistic, abs=1e-6)
    assert scores["mean_abs_difference"] == pytest.approx(np.abs(c - s).mean(), abs=1e-6)
    assert scores["max_abs_difference"] == pytest.approx(np.abs(c - s).max(), abs=1e-6)
    assert scores["psi"] >= 0
    agreeing = int((paired["label_c"] == paired["label_s"]).sum())
    assert report["labels"]["agreeing"] == agreeing
    assert report["labels"]["agreement"] == pytest.approx(agreeing / 90)
    assert sum(n for row in report["labels"]["confusion"].values() for n in row.values()) == 90

    per_request = paired.groupby("request_id")[["latency_ms_c", "latency_ms_s"]].first()
    latency = report["latency"]
    assert latency["champion"]["requests"] == len(per_request)
    assert latency["champion"]["p50_ms"] == pytest.approx(
        np.percentile(per_request["latency_ms_c"], 50), abs=1e-3
    )
    assert latency["shadow"]["p99_ms"] == pytest.approx(
        np.percentile(per_request["latency_ms_s"], 99), abs=1e-3
    )

    labelled = paired[paired["request_id"].isin(sent)]
    positive = labelled["request_id"].map(sent).to_numpy() == 1
    perf = report["performance"]
    assert perf["labelled_rows"] == len(labelled)
    assert 0 < perf["labelled_rows"] < 90
    assert perf["positives"] == int(positive.sum())
    assert perf["champion_auc"] == pytest.approx(
        brute_force_auc(labelled["score_c"].to_numpy(), positive), abs=1e-6
    )
    assert perf["shadow_auc"] == pytest.approx(
        brute_force_auc(labelled["score_s"].to_numpy(), positive), abs=1e-6
    )

    page = html_path.read_text()
    for name in ("Pearson", "Spearman", "PSI", "Label agreement", "p99", "AUC", f"v{shadow}"):
        assert name in page, name
    assert f"{scores['pearson']:.3f}" in page
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"shadow comparison fraud: champion v1 vs shadow v{shadow}")
    assert str(json_path) in done.stdout


def test_compare_without_shadow_rows_is_one_line(own_settings: Settings, tmp_path: Path) -> None:
    env = scorer_env(own_settings)
    done = run_scorer(env, "compare", "--model", "fraud", "--out", str(tmp_path))
    assert_one_line_mistake(done, "no prediction log")
    log = own_settings.data_dir / "logs" / "predictions" / "model=fraud"
    log.mkdir(parents=True)
    done = run_scorer(env, "compare", "--model", "fraud", "--out", str(tmp_path))
    assert_one_line_mistake(done, "no shadow rows", "scorer models promote --alias shadow")
    assert not list(tmp_path.glob("compare-*"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(("--model", "nosuch"), "nosuch"), (("--model", "fraud", "--since", "soon"), "--since")],
)
def test_compare_mistakes_are_one_line(
    own_settings: Settings, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_mistake(run_scorer(scorer_env(own_settings), "compare", *args), fragment)
