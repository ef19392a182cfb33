"""Running the real ``scorer`` console script, and what a user's mistake must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCORER = str(Path(sys.executable).with_name("scorer"))


def run_scorer(
    settings: dict[str, str], *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``scorer ARGS`` with only ``settings`` as its ``SCORER_`` environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    return subprocess.run(
        [SCORER, *args],
        env=env | settings,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def assert_one_line_mistake(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 1 or 2, one line on stderr naming each fragment, no traceback; the line."""
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
