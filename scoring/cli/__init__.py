"""The ``scorer`` command line: the app, its commands, and the console-script entry point."""

from __future__ import annotations

from importlib.metadata import version as installed_version
from typing import Annotated

import typer

from drift.window import PredictionLogError
from features.errors import FeatureStoreError
from scoring.cli import monitoring, pipeline, registry, server, stream, terminal, traffic
from scoring.cli.options import log_format
from scoring.errors import ScoringError

DISTRIBUTION = "feast-scorer"
"""The name the package is installed under (pyproject.toml), which holds its version."""

app = typer.Typer(
    help="Real-time scoring on Feast online features with LightGBM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"scorer {installed_version(DISTRIBUTION)}")
        raise typer.Exit()


@app.callback()
def scorer(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Real-time scoring on Feast online features with LightGBM."""


app.command()(server.serve)
app.command()(stream.stream)
app.command()(pipeline.train)
app.command()(pipeline.materialize)
app.command()(pipeline.data)
app.command()(pipeline.demo)
app.command()(traffic.bench)
app.command()(monitoring.drift)
app.command()(monitoring.compare)
app.add_typer(monitoring.jobs_app, name="jobs")
app.command()(traffic.simulate)
app.add_typer(registry.models_app, name="models")


def _run(log_lines: bool) -> None:
    """Run the app; with json logs, click's own mistakes (an unknown option, a missing
    value) end as one log line too, rather than in a box drawn for a terminal."""
    if not log_lines:
        app()
        return
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors
        if exc.format_message():  # none when no command was given: the help was printed
            terminal.error(exc.format_message())
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:  # Ctrl-C
        terminal.error("aborted")
        raise SystemExit(1) from None
    if isinstance(code, int) and code:  # typer.Exit(code) is returned here, not raised
        raise SystemExit(code)


# What a user's mistake (or a service they named being down) raises: the commands and the
# layers below map library errors to these where they happen. The built-in three are still
# raised for mistakes by older checks (a repo without feature_store.yaml, a negative --shift,
# an unknown alias); any other exception is a bug and keeps its traceback.
USER_ERRORS = (
    ScoringError, FeatureStoreError, PredictionLogError, FileNotFoundError, RuntimeError,
    ValueError,
)  # fmt: skip


def main() -> None:
    """Console-script entry point: our errors end in one clear line, not a traceback."""
    chosen = log_format()
    terminal.log_lines(chosen)
    try:
        _run(log_lines=chosen == "json")
    except USER_ERRORS as exc:
        terminal.error(str(exc))
        raise SystemExit(1) from None
