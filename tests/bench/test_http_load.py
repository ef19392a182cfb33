"""How the saturation rounds order the servers they load."""

from __future__ import annotations

from pathlib import Path

from bench.http_load import Subject, round_order
from bench.servers import ServerProcess


def _subject(key: str) -> Subject:
    server = ServerProcess(key, ["true"], {}, "/", Path("unused.log"), 1)
    return Subject(key, key, server, "/", [b"{}"])


def test_rounds_alternate_order_and_keep_neighbours_together() -> None:
    ours, no_log, feast = (_subject(k) for k in ("ours", "ours_no_log", "feast"))
    orders = [[s.key for s in round_order([ours, no_log, feast], r)] for r in range(4)]
    assert orders == [
        ["ours", "ours_no_log", "feast"],
        ["feast", "ours_no_log", "ours"],
        ["ours", "ours_no_log", "feast"],
        ["feast", "ours_no_log", "ours"],
    ]
