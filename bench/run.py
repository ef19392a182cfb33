"""``scorer bench``: set up a private world, measure everything side by side, report the ratios."""

from __future__ import annotations

import contextlib
import platform
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feast
import pyarrow.dataset as ds
import redis
from rich.console import Console

from bench.child import PROJECT_ROOT, available_memory_bytes
from bench.config import BenchConfig
from bench.drift_job import measure_drift_job, write_synthetic_log, write_synthetic_model
from bench.fetch_parity import run_fetch_bench
from bench.http_load import (
    Subject,
    canary_share,
    check_answers,
    feast_bodies,
    open_loop,
    saturation,
    score_batch,
    score_bodies,
)
from bench.log_cpu import measure_log_cpu
from bench.machine import cpu_counters, reference_loop_ms, steal_pct
from bench.push_load import PushSubject, push_throughput
from bench.report import (
    check_targets,
    results_table,
    saturation_ratios,
    write_json,
)
from bench.retrain import measure_retraining
from bench.servers import ServerProcess, feast_server, scorer_server
from bench.stats import ratio
from bench.stream_load import StreamNames, consumer, drain_backlog, fixed_rate
from bench.workspace import (
    CANARY_MODEL,
    CANARY_WEIGHT,
    FEATURE_SERVICE,
    MODEL,
    Workspace,
    entity_sample,
    prepare_workspace,
)
from bench.wrk import require_wrk
from features.store import open_feature_store
from scoring.log.schema import predictions_dir
from scoring.settings import Settings

Say = Callable[[str], None]
GIB = 2**30


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while the bench runs, so its cleanup runs too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(_signum: int, _frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _source_version() -> str | None:
    """The checked-out commit, with ``+dirty`` for local changes: what the figures are of."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
                                check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def _memory_guard(cap_bytes: int) -> int:
    """A child's memory limit: ``cap_bytes``, or less on a machine with less free memory."""
    available = available_memory_bytes()
    return cap_bytes if available is None else min(cap_bytes, int(available * 0.6))


def _fetch(ws: Workspace, settings: Settings, config: BenchConfig, say: Say) -> dict[str, Any]:
    say(f"feature fetch {list(config.fetch_sizes)} entities, {config.fetch_repeats} repeats")
    store = open_feature_store(ws.repo, ws.online_store)
    entities = entity_sample(ws.transactions, max(config.fetch_sizes), seed=11)
    rows = {size: entities[:size] for size in config.fetch_sizes}
    return run_fetch_bench(
        store, FEATURE_SERVICE, rows, config.fetch_repeats, settings.online_timeout_s
    )


def _log_rows(data_dir: Path) -> dict[str, int]:
    root = predictions_dir(data_dir)
    if not root.is_dir():
        return {"rows": 0, "files": 0}
    dataset = ds.dataset(str(root), format="parquet", partitioning="hive")
    return {"rows": dataset.count_rows(), "files": len(dataset.files)}


def _http(
    ws: Workspace, settings: Settings, config: BenchConfig, say: Say, stack: ExitStack
) -> dict[str, Any]:
    logs = ws.root / "server-logs"
    admin_key = secrets.token_urlsafe(24)  # for /push: this run's servers only

    def ours_server(log_enabled: bool, log_name: str, workers: int) -> ServerProcess:
        return scorer_server(settings, repo=ws.repo, data_dir=ws.data_dir,
                             online_store=ws.online_store, workers=workers,
                             log_enabled=log_enabled, log_path=logs / log_name,
                             admin_key=admin_key)  # fmt: skip

    ours = ours_server(True, "ours.log", config.workers)
    ours_no_log = ours_server(False, "ours-no-log.log", config.workers)
    feast_serve = feast_server(ws.repo, ws.online_store, config.workers, logs / "feast.log")
    for server in (ours, ours_no_log, feast_serve):
        say(f"starting {server.name} with {config.workers} workers")
        stack.callback(server.stop)
        server.start()

    entities = entity_sample(ws.transactions, config.entity_rows)
    ours_subject = Subject(
        "ours", "scorer /score (log on)", ours, "/score", score_bodies(MODEL, entities)
    )
    no_log_subject = Subject(
        "ours_no_log",
        "scorer /score (log off)",
        ours_no_log,
        "/score",
        score_bodies(MODEL, entities),
    )
    canary_subject = Subject(
        "ours_canary",
        f"scorer /score (log on, canary at {CANARY_WEIGHT:g})",
        ours,
        "/score",
        score_bodies(CANARY_MODEL, entities),
    )
    feast_subject = Subject(
        "feast",
        "feast serve /get-online-features",
        feast_serve,
        "/get-online-features",
        feast_bodies(FEATURE_SERVICE, entities),
    )
    # Side by side, the finest figures here: log on and off (the log's cost), and the same
    # server's model with a canary and without (the canary's cost).
    subjects = [canary_subject, ours_subject, no_log_subject, feast_subject]
    features = ws.training.manifest.feature_schema.feature_names
    results: dict[str, Any] = {"answers": check_answers(ours_subject, feast_subject, features)}
    share = canary_share(canary_subject)
    say(f"{CANARY_MODEL}: its canary answers {share:.1%} of the first entities")
    sat = saturation(subjects, config, ws.root, say)
    results["saturation"] = sat
    ratios = saturation_ratios(sat)
    sat["ratio_ours_to_feast"] = ratios["ratio_ours_to_feast"]
    results["log_cost"] = ratios["log_cost"]
    results["routing_cost"] = {**ratios["routing_cost"], "weight": CANARY_WEIGHT,
                               "canary_share": share}  # fmt: skip
    # Ours with the log off too: it tells what the log does to the latency tail.
    results["open_loop"] = open_loop(
        [ours_subject, no_log_subject, feast_subject], config, ws.root, say
    )
    say(f"/score with {config.batch_entities} entities, {config.batch_requests} requests")
    batch_entities = entity_sample(ws.transactions, config.batch_entities, seed=5)
    results["score_1000"] = score_batch(ours_subject, batch_entities, MODEL, config, ws.root)
    results["score_1000_no_log"] = score_batch(
        no_log_subject, batch_entities, MODEL, config, ws.root
    )
    results["push"] = _push(ws, ours, feast_serve, admin_key, config, say)
    for server in (ours, ours_no_log, feast_serve):
        server.stop()  # also flushes our prediction log
    results["log_cost"]["log_written"] = _log_rows(ws.data_dir)
    one_worker: list[ServerProcess] = []

    def pair_server(log_enabled: bool, pair: int) -> ServerProcess:
        log_name = f"ours-1w-{'log' if log_enabled else 'no-log'}-{pair + 1}.log"
        server = ours_server(log_enabled, log_name, 1)
        state = "on" if log_enabled else "off"
        server = replace(server, name=f"scorer serve (log {state}, 1 worker, pair {pair + 1})")
        one_worker.append(server)
        stack.callback(server.stop)
        return server

    say(f"log cost: {config.log_ab_rounds} fresh pairs of one-worker servers, loaded at once")
    bodies = score_bodies(MODEL, entities)
    results["log_cost"]["cpu"] = measure_log_cpu(pair_server, bodies, config, ws.root, say)
    servers = (ours, ours_no_log, feast_serve, *one_worker)
    results["server_log_problems"] = {server.name: _problems(server.log_path) for server in servers}
    return results


def _push(
    ws: Workspace,
    ours: ServerProcess,
    feast_serve: ServerProcess,
    admin_key: str,
    config: BenchConfig,
    say: Say,
) -> dict[str, Any]:
    """Rows a second through our ``/push`` and ``feast serve``'s, last: it changes the store."""
    subjects = [
        PushSubject("ours", "scorer /push", ours.url + "/push",
                    {"Authorization": f"Bearer {admin_key}"}),
        PushSubject("feast", "feast serve /push", feast_serve.url + "/push", {}),
    ]  # fmt: skip
    customers = sorted(int(c) for c in ws.transactions["customer_id"].unique())
    return push_throughput(
        subjects,
        customers,
        rows=config.push_rows,
        pushes=config.push_requests,
        connections=config.push_connections,
        rounds=config.rounds,
        say=say,
    )


def _stream(
    ws: Workspace, settings: Settings, config: BenchConfig, say: Say, stack: ExitStack
) -> dict[str, Any]:
    """``scorer stream``: a backlog drained by one consumer, then two; latency at a fixed rate."""
    logs = ws.root / "stream-logs"
    client = redis.Redis(host=ws.redis.host, port=ws.redis.port, socket_timeout=60)
    stack.callback(client.close)
    bodies = score_bodies(MODEL, entity_sample(ws.transactions, config.entity_rows, seed=13))

    def consumers(names: StreamNames, n: int) -> list[Any]:
        started = []
        for k in range(n):
            name = f"{names.prefix.replace(':', '-')}-{k + 1}"
            process = consumer(settings, repo=ws.repo, data_dir=ws.data_dir,
                               online_store=ws.online_store, names=names, name=name,
                               log_path=logs / f"{name}.log")  # fmt: skip
            stack.callback(process.stop)
            started.append(process.start())
        return started

    results: dict[str, Any] = {}
    for n in (1, 2):
        names = StreamNames(f"bench:drain{n}")
        running = consumers(names, n)
        say(f"stream: {n} consumer(s) draining {config.stream_events:,} events")
        results[f"consumers_{n}"] = drained = drain_backlog(
            client, names, running, bodies, config.stream_events
        )
        say(f"  {drained['events_per_s'] or 0:,.0f} events/s")
        client.delete(names.requests, names.results, names.dead)
    names = StreamNames("bench:rate")
    [running] = consumers(names, 1)
    say(f"stream: {config.stream_rate:,.0f} events/s for {config.stream_duration_s:g} s")
    results["fixed_rate"] = fixed_rate(
        client, names, bodies, config.stream_rate, config.stream_duration_s
    )
    running.stop()
    client.delete(names.requests, names.results, names.dead)
    results["ratio_two_to_one"] = ratio(
        results["consumers_2"]["events_per_s"], results["consumers_1"]["events_per_s"]
    )
    return results


def _problems(log_path: Path) -> dict[str, Any]:
    """What a server logged at ERROR or WARNING: counts, and the exception ending each trace."""
    if not log_path.is_file():
        return {"errors": 0, "warnings": 0, "exceptions": {}}
    lines = log_path.read_text(errors="replace").splitlines()
    exceptions: Counter[str] = Counter()
    in_trace = False
    for line in lines:
        if line.startswith("Traceback"):
            in_trace = True
        elif in_trace and line and not line.startswith(" "):
            exceptions[line[:200]] += 1
            in_trace = False
    return {
        "errors": sum(ln.startswith(("ERROR", "CRITICAL")) for ln in lines),
        "warnings": sum(ln.startswith("WARNING") for ln in lines),
        "exceptions": dict(exceptions.most_common(10)),
    }


def _drift(ws: Workspace, config: BenchConfig, say: Say) -> dict[str, Any]:
    data_dir = ws.root / "drift"
    say(f"drift: writing a synthetic log of {config.drift_rows:,} rows x 20 features")
    write_synthetic_model(data_dir / "models")
    log = write_synthetic_log(data_dir, config.drift_rows, config.drift_files,
                              config.drift_row_group)  # fmt: skip
    say(f"  written in {log.seconds:.1f} s ({log.bytes / 2**20:,.0f} MiB); running the drift job")
    result = measure_drift_job(data_dir, log, _memory_guard(4 * GIB), timeout_s=900)
    result["generate_s"] = log.seconds
    say(f"  {result['process_wall_s']:.1f} s, peak RSS {result['max_rss_kib'] / 2**20:.2f} GiB")
    return result


def _retrain(ws: Workspace, source: Path, config: BenchConfig, say: Say) -> dict[str, Any]:
    say(f"retraining on {config.retrain_rows:,} labelled rows (Feast point-in-time join)")
    limit = _memory_guard(config.retrain_max_rss_gib * GIB)
    result = measure_retraining(
        source,
        ws.root / "retrain",
        f"{ws.online_store},db=1",  # its own Redis database: apply must not touch the served one
        rows=config.retrain_rows,
        customers=config.customers,
        merchants=config.merchants,
        max_rss_bytes=limit,
        timeout_s=config.retrain_timeout_s,
    )
    if result["ok"]:
        say(f"  Feast {result['feast_historical_s']:.1f} s, LightGBM {result['lightgbm_s']:.1f} s")
    else:
        say(f"  stopped ({result['stopped_for'] or 'failed'}) during: {result['last_step']}")
    return result


def run_bench(
    settings: Settings,
    out: Path,
    quick: bool,
    say: Say,
    *,
    work_dir: Path | None = None,
    keep_work: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run every measurement in a private work dir, print the table, write the JSON; return it.

    ``settings.feature_repo`` is the Feast repo copied (definitions only); the service's
    tuning settings are handed to the servers. Everything else (Redis, data, registry, logs
    of the servers) lives in ``work_dir``, which is kept, or by default in a temp dir removed
    at the end unless ``keep_work``. Raises RuntimeError, with what to do, when ``wrk`` is
    not installed.
    """
    config = BenchConfig.quick() if quick else BenchConfig.full()
    require_wrk()
    if settings.max_batch_rows < config.batch_entities:
        raise RuntimeError(
            f"SCORER_MAX_BATCH_ROWS={settings.max_batch_rows} is below the "
            f"{config.batch_entities} entities of the batch measurement"
        )
    started = datetime.now(UTC)
    counters = cpu_counters()
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if quick else "full",
            "started_at": started.isoformat(),
            "host": platform.node(),
            "cores": config.workers,
            "python": platform.python_version(),
            "feast": feast.__version__,
            "source": _source_version(),
            "machine": {"reference_loop_ms": reference_loop_ms()},
        },
        "config": asdict(config),
    }
    with ExitStack() as stack, _sigterm_as_exit():
        if work_dir is None:
            root = Path(tempfile.mkdtemp(prefix="scorer-bench-"))
            if not keep_work:
                stack.callback(shutil.rmtree, root, True)
        else:
            root = work_dir
            root.mkdir(parents=True, exist_ok=True)
        say(f"work dir {root}")
        ws = prepare_workspace(root, settings.feature_repo.resolve(), config, say, stack)
        results["feature_fetch"] = _fetch(ws, settings, config, say)
        with ExitStack() as servers:
            results.update(_http(ws, settings, config, say, servers))
        with ExitStack() as consumers:
            results["stream"] = _stream(ws, settings, config, say, consumers)
        results["drift"] = _drift(ws, config, say)
        results["retraining"] = _retrain(ws, settings.feature_repo.resolve(), config, say)
    results["meta"]["finished_at"] = datetime.now(UTC).isoformat()
    results["meta"]["machine"]["steal_pct"] = steal_pct(counters, cpu_counters())
    results["targets"] = check_targets(results)
    path = write_json(results, out, started)
    results["json_path"] = str(path)
    if console is None:
        console = Console()
        if not console.is_terminal:  # rich would wrap the table to 80 columns
            console = Console(width=180)
    console.print(results_table(results))
    say(f"results: {path}")
    return results
