"""The ``scorer`` command line: the app, its commands, and the console-script entry point."""

from __future__ import annotations

import typer
from rich.markup import escape

from features.errors import FeatureStoreError
from scoring.cli import monitoring, pipeline, registry, server, traffic
from scoring.cli.terminal import console
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
    try:
        app()
    except (ScoringError, FeatureStoreError, FileNotFoundError, RuntimeError, ValueError) as exc:
        # soft_wrap: one line however long (Rich wraps at 80 columns off a terminal); escaped,
        # so brackets in a message are printed rather than read as markup.
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(1) from None
