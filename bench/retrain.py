"""Retraining on N labelled rows: Feast's point-in-time join, then LightGBM, in a fresh process.

The child (``python -m bench.retrain ...``) generates demo data with N transactions into its
own repo copy, runs ``feast apply`` and then ``train_model``, printing a timestamped JSON line
for each step as it happens, so the phases are known even when the memory guard stops it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.child import run_isolated

# train_model's progress messages that open each phase, in order.
_PHASES = (
    ("feast_historical_s", "fetching point-in-time features"),
    ("lightgbm_s", "training LightGBM"),
    ("profile_and_register_s", "holdout AUC"),
)
_DONE = "registered "


def phase_times(events: Sequence[tuple[float, str]]) -> dict[str, float | None]:
    """Seconds per phase of ``train_model`` from its timestamped progress messages.

    A phase that started but never finished (the child was stopped) has ``None``.
    """
    starts: list[float | None] = []
    for _, prefix in _PHASES:
        starts.append(next((t for t, m in events if m.startswith(prefix)), None))
    starts.append(next((t for t, m in events if m.startswith(_DONE)), None))
    times: dict[str, float | None] = {}
    for k, (name, _) in enumerate(_PHASES):
        begin, end = starts[k], starts[k + 1]
        times[name] = end - begin if begin is not None and end is not None else None
    first, last = starts[0], starts[-1]
    times["train_model_s"] = last - first if first is not None and last is not None else None
    return times


def measure_retraining(
    source_repo: Path,
    work: Path,
    online_store: str,
    *,
    rows: int,
    customers: int,
    merchants: int,
    max_rss_bytes: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Run the retraining child under the memory guard and summarize its phases."""
    command = [
        sys.executable, "-m", "bench.retrain", "--source-repo", str(source_repo),
        "--work", str(work), "--online-store", online_store, "--rows", str(rows),
        "--customers", str(customers), "--merchants", str(merchants),
    ]  # fmt: skip
    run = run_isolated(command, timeout_s=timeout_s, max_rss_bytes=max_rss_bytes)
    events: list[tuple[float, str]] = []
    for line in run.stdout.splitlines():
        if line.startswith(b'{"t"'):
            event = orjson.loads(line)
            events.append((float(event["t"]), str(event["event"])))
    result: dict[str, Any] = {
        "rows": rows,
        "ok": run.ok,
        "stopped_for": run.stopped_for,
        "max_rss_bytes_limit": max_rss_bytes,
        "wall_s": run.wall_s,
        "max_rss_kib": run.max_rss_kib,
        **phase_times(events),
        "last_step": events[-1][1] if events else None,
    }
    if not run.ok and run.stopped_for is None:
        result["error"] = run.stderr_tail[-1500:]
    return result


def _child(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Retrain fraud on N demo rows (bench child).")
    parser.add_argument("--source-repo", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--online-store", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--merchants", type=int, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def say(message: str) -> None:
        line = {"t": time.perf_counter() - started, "event": message}
        sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
        sys.stdout.flush()

    # Imported here: the parent only needs the helpers above.
    from bench.workspace import FEATURE_SERVICE, LABEL, MODEL, prepare_repo
    from features.store import open_feature_store
    from jobs.demo.data import DemoDataConfig
    from jobs.train import train_model
    from scoring.model.registry import ModelRegistry

    data = DemoDataConfig(
        customers=args.customers, merchants=args.merchants, transactions=args.rows
    )
    repo, labels = prepare_repo(args.source_repo, args.work / "repo", args.online_store, data, say)
    store = open_feature_store(repo, args.online_store)
    train_model(
        store,
        ModelRegistry(args.work / "models"),
        model_name=MODEL,
        feature_service=FEATURE_SERVICE,
        labels=labels,
        label_column=LABEL,
        labels_source=str(repo / "data" / "transactions.parquet"),
        progress=say,
    )


if __name__ == "__main__":
    _child()
