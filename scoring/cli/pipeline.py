"""Commands that prepare what is served: demo data, materialization, training, the demo."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.options import RepoOption, settings_from
from scoring.cli.server import uvicorn_options
from scoring.cli.terminal import console, say
from scoring.logging_config import prints_logged


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


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
    if_no_champion: Annotated[
        bool,
        typer.Option(
            "--if-no-champion",
            help="Do nothing if the model already has a champion (for set-up run at every start).",
        ),
    ] = False,
    repo: RepoOption = None,
) -> None:
    """Train a LightGBM model on point-in-time features from Feast and register it."""
    from features.store import open_feature_store
    from jobs.train import read_labels, train_model
    from scoring.model.registry import ModelRegistry

    settings = settings_from(feature_repo=repo)
    registry = ModelRegistry(settings.models_dir)
    if if_no_champion:
        champion = registry.aliases(model).champion
        if champion is not None:
            typer.echo(f"{model} already has a champion (v{champion}): nothing trained")
            return
    with prints_logged(settings.log_format):
        store = open_feature_store(settings.feature_repo, settings.online_store)
        result = train_model(
            store,
            registry,
            model_name=model,
            feature_service=feature_service,
            labels=read_labels(labels),
            label_column=label_column,
            promote=promote,
            labels_source=str(labels.resolve()),
            progress=say,
        )
    m = result.manifest
    typer.echo(
        f"{m.name} v{m.version}: auc={m.metrics['auc']:.4f} log_loss={m.metrics['log_loss']:.4f}"
        f"{' (champion)' if result.promoted else ''}"
    )


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

    settings = settings_from(feature_repo=repo)
    with prints_logged(settings.log_format):  # Feast's progress
        store = open_feature_store(settings.feature_repo, settings.online_store)
        result = materialize_store(store, end, full=full)
    if result.full_reload:
        typer.echo(f"full reload: {result.reason}")
    typer.echo(f"materialized {', '.join(result.feature_views)} up to {result.end.isoformat()}")


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

    settings = settings_from()
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

    settings = settings_from(port=port)
    config = DemoDataConfig(customers=customers, merchants=merchants, transactions=transactions)
    with prints_logged(settings.log_format):
        result = run_demo(settings, config, say, regenerate=regenerate)
    try:
        command = curl_command(result.example_request, settings.host, settings.port)
        if settings.log_format == "json":
            say("ready: score two transactions with the command on stdout")
        else:
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
                **uvicorn_options(settings),
            )
    finally:
        if result.redis is not None:
            result.redis.stop()
