"""The protocol class ``scorer serve`` hands uvicorn: light to import in a new worker."""

from __future__ import annotations

import subprocess
import sys


def test_the_protocol_imports_nothing_heavy() -> None:
    # uvicorn's spawned worker unpickles the protocol before its health-check thread runs; a
    # worker whose import pulls in Feast misses the pings on a busy machine and is killed,
    # again and again, so `scorer serve --workers 2` never serves.
    code = (
        "import sys, scoring.web.client_deadlines\n"
        "heavy = [m for m in ('feast', 'pandas', 'lightgbm', 'fastapi') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"importing the protocol imports {done.stdout.strip()}"
