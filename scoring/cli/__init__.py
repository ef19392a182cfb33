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


def main() -> None:
    """Console-script entry point: our errors end in one clear line, not a traceback."""
    chosen = log_format()
    terminal.log_lines(chosen)
    try:
        _run(log_lines=chosen == "json")
    except (ScoringError, FeatureStoreError, FileNotFoundError, RuntimeError, ValueError) as exc:
        terminal.error(str(exc))
        raise SystemExit(1) from None
