"""The ``scorer`` command line."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from features.errors import FeatureStoreError
from scoring.errors import ScoringError
from scoring.logging_config import logging_config
from scoring.settings import Settings

if TYPE_CHECKING:
    from scoring.model.registry import Aliases

app = typer.Typer(
    help="Real-time scoring on Feast online features with LightGBM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo", help="Feast repository (default: SCORER_FEATURE_REPO or ./feature_repo)."
    ),
]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@contextlib.contextmanager
def _native_stderr_dropped() -> Iterator[None]:
    """Drop what C++ code writes straight to file descriptor 2 meanwhile.

    LightGBM prints ``[LightGBM] [Fatal] ...`` there before raising the same message, which
    our error repeats on one line with the file named. Only around single-threaded work.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _say(message: str) -> None:
    console.print(f"[bold cyan]>[/] {message}")


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``serve`` and ``demo`` tell uvicorn besides where to listen."""
    from scoring.web.header_deadline import HeaderDeadlineProtocol

    return {
        "access_log": False,
        "log_config": logging_config(),  # uvicorn applies it in every worker process too
        # A slow client cannot hold SIGTERM's exit: its request is cancelled after this.
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
        # uvicorn has no deadline on request headers: its own protocol with one.
        "http": functools.partial(
            HeaderDeadlineProtocol, header_timeout_s=settings.header_timeout_s
        ),
    }


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default SCORER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SCORER_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default SCORER_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API (uvicorn) with the champion of every registered model."""
    import uvicorn

    from features.store import open_feature_store
    from scoring.model.registry import ModelRegistry
    from scoring.serving.service import load_served

    settings = _settings(host=host, port=port, workers=workers)
    # A worker that cannot open the feature repo or load the models (an unknown default
    # model, a broken champion, an unreadable alias file) dies in uvicorn's startup
    # traceback, and with several workers the parent then exits 0. Open here what every
    # worker will, so the mistake is one line naming the file (and, for a champion, the fix).
    with _native_stderr_dropped():
        load_served(ModelRegistry(settings.models_dir), settings.default_model)
    open_feature_store(settings.feature_repo, settings.online_store)
    uvicorn.run(
        "scoring.web.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers or os.cpu_count() or 1,
        **_uvicorn_options(settings),
    )


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", help="Model name in the registry.")],
    feature_service: Annotated[
        str, typer.Option("--feature-service", help="Feast feature service feeding the model.")
    ],
    labels: Annotated[
        Path, typer.Option("--labels", help="Entity data frame with labels (.parquet or .csv).")
    ],
    label_column: Annotated[
        str, typer.Option("--label-column", help="Column holding the binary label.")
    ] = "label",
    promote: Annotated[
        bool, typer.Option("--promote", help="Make the new version the champion.")
    ] = False,
    repo: RepoOption = None,
) -> None:
    """Train a LightGBM model on point-in-time features from Feast and register it."""
    from features.store import open_feature_store
    from jobs.train import read_labels, train_model
    from scoring.model.registry import ModelRegistry

    settings = _settings(feature_repo=repo)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    result = train_model(
        store,
        ModelRegistry(settings.models_dir),
        model_name=model,
        feature_service=feature_service,
        labels=read_labels(labels),
        label_column=label_column,
        promote=promote,
        labels_source=str(labels.resolve()),
        progress=_say,
    )
    m = result.manifest
    typer.echo(
        f"{m.name} v{m.version}: auc={m.metrics['auc']:.4f} log_loss={m.metrics['log_loss']:.4f}"
        f"{' (champion)' if result.promoted else ''}"
    )


@app.command()
def materialize(
    end: Annotated[
        datetime | None, typer.Option(help="Materialize up to this time (default now, UTC).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Reload everything, ignoring Feast's watermark.")
    ] = False,
    repo: RepoOption = None,
) -> None:
    """Load new offline feature rows into the online store (feast materialize-incremental).

    A Redis online store that lost its data (no loaded marker) is reloaded in full.
    """
    from features.store import open_feature_store
    from jobs.materialize import materialize as materialize_store

    settings = _settings(feature_repo=repo)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    result = materialize_store(store, end, full=full)
    if result.full_reload:
        typer.echo(f"full reload: {result.reason}")
    typer.echo(f"materialized {', '.join(result.feature_views)} up to {result.end.isoformat()}")


@app.command()
def data(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the Parquet files (default <repo>/data).")
    ] = None,
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    merchants: Annotated[int, typer.Option(help="Number of merchants.")] = 2_000,
    transactions: Annotated[int, typer.Option(help="Number of labelled transactions.")] = 200_000,
    days: Annotated[int, typer.Option(help="Days of history, ending now.")] = 42,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    shift: Annotated[
        float, typer.Option(help="Drift knob: 0 is the reference distribution.")
    ] = 0.0,
) -> None:
    """Generate the demo's seeded card-payment data (entities, activity, labelled transactions)."""
    from jobs.demo.data import DemoDataConfig, generate

    settings = _settings()
    folder = out or settings.feature_repo / "data"
    config = DemoDataConfig(
        customers=customers,
        merchants=merchants,
        transactions=transactions,
        days=days,
        seed=seed,
        shift=shift,
    )
    written = generate(config).write(folder)
    for name, path in written.items():
        typer.echo(f"{name}: {path}")


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve once set up.")
    ] = True,
    regenerate: Annotated[bool, typer.Option(help="Generate the demo data again.")] = False,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on (default SCORER_PORT).")
    ] = None,
    customers: Annotated[int, typer.Option(help="Customers in the generated data.")] = 20_000,
    merchants: Annotated[int, typer.Option(help="Merchants in the generated data.")] = 2_000,
    transactions: Annotated[int, typer.Option(help="Labelled transactions generated.")] = 200_000,
) -> None:
    """Generate data, feast apply, materialize, train and promote fraud v1, then serve."""
    import uvicorn

    from jobs.demo.data import DemoDataConfig
    from jobs.demo.run import curl_command, run_demo
    from scoring.web.app import create_app

    settings = _settings(port=port)
    config = DemoDataConfig(customers=customers, merchants=merchants, transactions=transactions)
    result = run_demo(settings, config, _say, regenerate=regenerate)
    try:
        command = curl_command(result.example_request, settings.host, settings.port)
        console.print("\n[bold green]Ready.[/] Score two transactions with:\n")
        typer.echo(command + "\n")
        if serve_after:
            # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; exit
            # through Python so the finally below still stops the Redis the demo started.
            signal.signal(signal.SIGTERM, _exit_quietly)
            uvicorn.run(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                **_uvicorn_options(settings),
            )
    finally:
        if result.redis is not None:
            result.redis.stop()


@app.command()
def bench(
    out: Annotated[
        Path, typer.Option(help="Folder for the JSON results (bench-<UTC time>.json).")
    ] = Path("bench-results"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller data and shorter loads (about 3 minutes).")
    ] = False,
) -> None:
    """Measure the service against Feast side by side: throughput, latency, fetch, log, jobs."""
    from bench.run import run_bench

    run_bench(_settings(), out, quick, _say)


def main() -> None:
    """Console-script entry point: our errors end in one clear line, not a traceback."""
    try:
        app()
    except (ScoringError, FeatureStoreError, FileNotFoundError, RuntimeError, ValueError) as exc:
        # soft_wrap: one line however long (Rich wraps at 80 columns off a terminal); escaped,
        # so brackets in a message are printed rather than read as markup.
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(1) from None


@app.command()
def drift(
    model: Annotated[str, typer.Option("--model", help="Model whose champion is checked.")],
    current: Annotated[
        Path | None,
        typer.Option(help="A Parquet file or folder to check instead of the model's log."),
    ] = None,
    since: Annotated[str, typer.Option(help="Window of the log to check, back from now.")] = "24h",
    out: Annotated[Path | None, typer.Option(help="Folder for the reports.")] = None,
) -> None:
    """Compare recent predictions with the training reference; write JSON and HTML reports."""
    from jobs.drift_check import drift_check
    from jobs.triggers import parse_duration
    from scoring.model.registry import ModelRegistry

    settings = _settings()
    result = drift_check(
        ModelRegistry(settings.models_dir),
        settings.data_dir,
        model,
        end=datetime.now(UTC),
        window=parse_duration(since),
        out_dir=out or settings.data_dir / "reports",
        cooldown=parse_duration(settings.retrain_cooldown),
        current=current,
    )
    typer.echo(result.report.summary())
    typer.echo(f"report: {result.json_path}\n        {result.html_path}")


jobs_app = typer.Typer(help="The scheduler, or one job run now.", no_args_is_help=False)
app.add_typer(jobs_app, name="jobs")


@jobs_app.callback(invoke_without_command=True)
def jobs(ctx: typer.Context) -> None:
    """Run the scheduler (materialize, drift check, retrain) until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from jobs.scheduler import run_scheduler

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_scheduler(_settings())


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="materialize, drift or retrain.")],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Only this model (repeatable).")
    ] = None,
) -> None:
    """Run one job now, under its lock, and print its run record."""
    from dataclasses import asdict

    import orjson

    from jobs.runner import JobRunner
    from scoring.model.registry import ModelRegistry

    settings = _settings()
    registry = ModelRegistry(settings.models_dir)
    for named in model or []:
        registry.resolve(named, "champion")  # a mistyped name is the user's, not a failed run
    # Feast prints its progress on stdout: keep stdout for the record, which scripts parse.
    with contextlib.redirect_stdout(sys.stderr):
        record = JobRunner(settings, say=_say).run(name, model or None)
    typer.echo(orjson.dumps(asdict(record), option=orjson.OPT_INDENT_2, default=str).decode())
    if record.outcome == "failed":
        raise typer.Exit(1)


@app.command()
def simulate(
    url: Annotated[
        str | None, typer.Option(help="The running service (default http://SCORER_HOST:PORT).")
    ] = None,
    requests: Annotated[int, typer.Option(help="Requests per phase.")] = 3000,
    shift: Annotated[float, typer.Option(help="Drift knob of the second phase.")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 16,
    feedback_share: Annotated[float, typer.Option(help="Share of requests labelled.")] = 1.0,
    run_jobs: Annotated[
        bool,
        typer.Option(
            "--run-jobs/--no-run-jobs", help="Run the drift job (and retrain) right after."
        ),
    ] = True,
) -> None:
    """Send normal then shifted demo traffic to a running service, and watch the loop react."""
    import time

    import httpx2 as httpx

    from features.store import open_feature_store
    from jobs.demo.data import DemoDataConfig
    from jobs.demo.simulate import simulate as run_simulation
    from jobs.runner import JobRunner

    settings = _settings()
    base = url or f"http://{settings.host}:{settings.port}"
    store = open_feature_store(settings.feature_repo, settings.online_store)
    run_simulation(
        base, store, requests=requests, shift=shift, concurrency=concurrency,
        feedback_share=feedback_share, config=DemoDataConfig(), say=_say,
    )  # fmt: skip
    if not run_jobs:
        return
    time.sleep(max(2.0, settings.log_flush_interval_s * 2))  # let the service flush its log
    # The demo's model was trained minutes ago; a scheduled check would hold a retrain back
    # for the cool-down, which would hide the rest of the loop from the person watching.
    _say("running the drift job (retrain cool-down off for the simulation)")
    runner_settings = settings.model_copy(update={"retrain_cooldown": "0s"})
    record = JobRunner(runner_settings, say=_say).run("drift")
    if record.outcome != "ok":
        raise RuntimeError(f"drift job {record.outcome}: {record.detail}")
    for model, produced in record.produced.items():
        _say(f"{model}: action {produced['action']}, drifted {produced['drifted'][:5]}")
        _say(f"report: {produced['report_html']}")
        retrained = produced.get("retrain")
        if retrained and retrained["promoted"]:
            version = retrained["candidate_version"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                served = httpx.get(f"{base}/models/{model}", timeout=5).json()["served_version"]
                if served == version:
                    _say(f"{model}: the service now answers with v{version}, no restart")
                    break
                time.sleep(0.5)


models_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")

ModelOption = Annotated[str, typer.Option("--model", help="Model name in the registry.")]
WhyOption = Annotated[str, typer.Option("--why", help="Reason, kept in the model's history.")]


def _describe_aliases(aliases: Aliases) -> str:
    a = aliases
    parts = [f"champion v{a.champion}" if a.champion is not None else "no champion"]
    if a.canary is not None:
        parts.append(f"canary v{a.canary} ({a.canary_weight:g})")
    if a.shadow is not None:
        parts.append(f"shadow v{a.shadow}")
    return ", ".join(parts)


@models_app.command("list")
def models_list() -> None:
    """Every registered model: its versions and aliases."""
    from scoring.errors import RegistryCorrupt
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(_settings().models_dir)
    for name in registry.models():
        versions = ", ".join(f"v{v}" for v in registry.versions(name))
        try:
            a = registry.aliases(name)
        except RegistryCorrupt as exc:
            typer.echo(f"{name}: versions {versions}; error: {exc}")
            continue
        typer.echo(f"{name}: versions {versions}; {_describe_aliases(a)}")


@models_app.command("promote")
def models_promote(
    model: ModelOption,
    version: Annotated[int, typer.Option("--version", help="Version to point the alias at.")],
    alias: Annotated[str, typer.Option("--alias", help="champion, canary or shadow.")] = "champion",
    weight: Annotated[float, typer.Option("--weight", help="Canary traffic share, 0 to 1.")] = 0.0,
    why: WhyOption = "",
) -> None:
    """Point an alias at a version, once it is checked to load; services follow it."""
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(_settings().models_dir)
    with _native_stderr_dropped():
        a = registry.set_alias(
            model, alias, version, weight, who="cli", why=why or "scorer models promote"
        )
    typer.echo(f"{model}: {_describe_aliases(a)}")


@models_app.command("rollback")
def models_rollback(model: ModelOption, why: WhyOption = "") -> None:
    """Point the champion back at the previous champion (by the model's history)."""
    from scoring.errors import ModelNotFound
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(_settings().models_dir)
    if not registry.versions(model):
        raise ModelNotFound(f"no model named {model!r} is registered")
    with _native_stderr_dropped():
        a = registry.rollback(model, who="cli", why=why)
    typer.echo(f"{model}: {_describe_aliases(a)}")
