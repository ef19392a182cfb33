"""Schemathesis over the OpenAPI schema of a real `scorer serve`: no 5xx, answers as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from scoring.settings import Settings
from tests.utils.server import ServerProcess
from tests.utils.serving import ADMIN_KEY, with_admin_key

MAX_EXAMPLES = 25
"""Cases per operation and phase: about 460 cases, well under a minute on two cores."""


def test_every_operation_answers_within_its_schema(own_settings: Settings, tmp_path: Path) -> None:
    server = ServerProcess(with_admin_key(own_settings), workers=1).start()
    st = str(Path(sys.executable).with_name("st"))
    try:
        run = subprocess.run(
            [st, "run", f"{server.url}/openapi.json",
             "--checks", "not_a_server_error,response_schema_conformance",
             "--header", f"Authorization: Bearer {ADMIN_KEY}",
             # Deterministic generation: every run sends the same cases (no seed is used).
             "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
             "--workers", "1", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=600, check=False,
            cwd=tmp_path,  # its caches go there, not into the repo
        )  # fmt: skip
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated is not None, run.stdout[-2000:]
    assert int(generated[1]) > 100, run.stdout[-2000:]  # every operation was exercised
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in run.stdout, run.stdout[-2000:]
