"""What the CLI shows a person: progress lines on stderr, and native noise kept off it."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape

from scoring.logging_config import LogFormat, configure_logging

console = Console(stderr=True)
log = logging.getLogger("scoring.cli")
_as_log_lines = False


def log_lines(log_format: LogFormat) -> None:
    """Apply ``SCORER_LOG_FORMAT`` here: in ``json`` mode, progress and errors too are log
    lines (a person reads colours; a log collector reads one JSON object a line)."""
    global _as_log_lines
    _as_log_lines = log_format == "json"
    if _as_log_lines:
        configure_logging(log_format)


def say(message: str) -> None:
    """Print one progress line on stderr (stdout stays for results that scripts parse)."""
    if _as_log_lines:
        log.info("%s", message)
    else:
        console.print(f"[bold cyan]>[/] {message}")


def error(message: str) -> None:
    """Print a user's mistake or a failure on stderr, in one line however long."""
    if _as_log_lines:
        log.error("%s", message)
    else:
        # soft_wrap: one line however long (Rich wraps at 80 columns off a terminal); escaped,
        # so brackets in a message are printed rather than read as markup.
        console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


@contextlib.contextmanager
def native_stderr_dropped() -> Iterator[None]:
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
