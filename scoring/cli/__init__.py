"""The ``scorer`` command line: the app, its commands, and the console-script entry point."""

from __future__ import annotations

import typer

from features.errors import FeatureStoreError
from scoring.cli import monitoring, pipeline, registry, server, terminal, traffic
from scoring.cli.options import log_format
from scoring.errors import ScoringError

app = typer.Typer(
    help="Real-time scoring on Feast online features with LightGBM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(server.serve)
app.command()(pipeline.train)
app.command()(pipeline.materialize)
app.command()(pipeline.data)
app.command()(pipeline.demo)
app.command()(traffic.bench)
app.command()(monitoring.drift)
app.add_typer(monitoring.jobs_app, name="jobs")
app.command()(traffic.simulate)
app.add_typer(registry.models_app, name="models")


def main() -> None:
    """Console-script entry point: our errors end in one clear line, not a traceback."""
    terminal.log_lines(log_format())
    try:
        app()
    except (ScoringError, FeatureStoreError, FileNotFoundError, RuntimeError, ValueError) as exc:
        terminal.error(str(exc))
        raise SystemExit(1) from None
