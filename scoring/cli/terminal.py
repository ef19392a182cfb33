"""What the CLI shows a person: progress lines on stderr, and native noise kept off it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from rich.console import Console

console = Console(stderr=True)


def say(message: str) -> None:
    """Print one progress line on stderr (stdout stays for results that scripts parse)."""
    console.print(f"[bold cyan]>[/] {message}")


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
