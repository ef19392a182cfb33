"""Commands that watch the models: a drift check, a shadow comparison, the scheduler, a job run."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.options import settings_from
from scoring.cli.terminal import say
from scoring.logging_config import configure_logging, prints_logged

ReportsOut = Annotated[
    Path | None,
    typer.Option(help="Folder for the reports; default: the model's, <data dir>/reports/MODEL."),
]


def _since(since: str) -> timedelta:
    """The window ``--since`` names, back from now; a mistake in it named after the option."""
    from jobs.triggers import parse_duration
    from scoring.errors import InvalidSetting

    try:
        return parse_duration(since)
    except InvalidSetting as exc:
        raise InvalidSetting(f"--since {exc}") from exc


def drift(
    model: Annotated[str, typer.Option("--model", help="Model whose champion is checked.")],
    current: Annotated[
        Path | None,
        typer.Option(help="A Parquet file or folder to check instead of the model's log."),
    ] = None,
    since: Annotated[str, typer.Option(help="Window of the log to check, back from now.")] = "24h",
    out: ReportsOut = None,
) -> None:
    """Compare recent predictions with the training reference; write JSON and HTML reports."""
    from jobs.drift_check import drift_check
    from jobs.triggers import check_job_settings, parse_duration
    from scoring.model.registry import ModelRegistry

    settings = settings_from()
    check_job_settings(settings)
    window = _since(since)
    result = drift_check(
        ModelRegistry(settings.models_dir),
        settings.data_dir,
        model,
        end=datetime.now(UTC),
        window=window,
        out_dir=out,
        cooldown=parse_duration(settings.retrain_cooldown),
        current=current,
        retention=settings.report_retention,
    )
    typer.echo(result.report.summary())
    typer.echo(f"report: {result.json_path}\n        {result.html_path}")


def compare(
    model: Annotated[str, typer.Option("--model", help="Model whose shadow is compared.")],
    since: Annotated[
        str, typer.Option(help="Window of the log to compare, back from now.")
    ] = "24h",
    out: ReportsOut = None,
) -> None:
    """Compare the shadow with the champion on the same logged requests; write JSON and HTML."""
    from jobs.shadow_compare import shadow_compare
    from scoring.model.registry import ModelRegistry

    settings = settings_from()
    window = _since(since)
    result = shadow_compare(
        ModelRegistry(settings.models_dir),
        settings.data_dir,
        model,
        end=datetime.now(UTC),
        window=window,
        out_dir=out,
        retention=settings.report_retention,
    )
    typer.echo(result.report.summary())
    typer.echo(f"report: {result.json_path}\n        {result.html_path}")


jobs_app = typer.Typer(help="The scheduler, or one job run now.", no_args_is_help=False)


@jobs_app.callback(invoke_without_command=True)
def jobs(ctx: typer.Context) -> None:
    """Run the scheduler (materialize, drift check, retrain) until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from jobs.scheduler import run_scheduler
    from jobs.triggers import check_job_settings

    settings = settings_from()
    check_job_settings(settings)
    # Every library's INFO lines too (APScheduler's runs), in the chosen format.
    configure_logging(settings.log_format, root_level="INFO")
    with prints_logged(settings.log_format):
        run_scheduler(settings)


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

    from jobs.runner import JobRunner, check_job_name
    from jobs.triggers import check_job_settings
    from scoring.model.registry import ModelRegistry

    settings = settings_from()
    # The user's mistakes and a Redis that is down stop here, before a run is recorded.
    check_job_name(name)
    check_job_settings(settings)
    registry = ModelRegistry(settings.models_dir)
    for named in model or []:
        registry.resolve(named, "champion")  # a mistyped name is the user's, not a failed run
    runner = JobRunner(settings, say=say)
    runner.check_redis()
    # Feast prints its progress on stdout: keep stdout for the record, which scripts parse.
    with contextlib.redirect_stdout(sys.stderr), prints_logged(settings.log_format):
        record = runner.run(name, model or None)
    # For people, indented; with json logs, one line like every other.
    indent = orjson.OPT_INDENT_2 if settings.log_format == "text" else 0
    typer.echo(orjson.dumps(asdict(record), option=indent, default=str).decode())
    if record.outcome == "failed":
        raise typer.Exit(1)
