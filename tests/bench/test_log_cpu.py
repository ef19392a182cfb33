"""The log's cost as CPU a request: /proc readings and the summary over fresh server pairs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.log_cpu import PairRound, group_cpu_s, summarize


def _stat(pid: int, name: str, pgid: int, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return f"{pid} ({name}) S 1 {pgid} {pgid} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0\n"


def _process(
    proc: Path, pid: int, name: str, pgid: int, threads: dict[int, tuple[int, int]]
) -> None:
    folder = proc / str(pid)
    (folder / "task").mkdir(parents=True)
    total = tuple(map(sum, zip(*threads.values(), strict=True)))
    (folder / "stat").write_text(_stat(pid, name, pgid, *total))
    for tid, (utime, stime) in threads.items():
        (folder / "task" / str(tid)).mkdir()
        (folder / "task" / str(tid) / "stat").write_text(_stat(tid, name, pgid, utime, stime))


def test_group_cpu_adds_every_thread_of_the_group_and_nothing_else(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    _process(tmp_path, 100, "scorer", 100, {100: (5 * ticks, ticks), 101: (ticks, 0)})
    _process(tmp_path, 102, "a (worker) x", 100, {102: (2 * ticks, 0)})  # spaces, parentheses
    _process(tmp_path, 200, "wrk", 200, {200: (50 * ticks, 9 * ticks)})
    (tmp_path / "self").mkdir()
    (tmp_path / "103").mkdir()  # a process that ended while /proc was read
    assert group_cpu_s(100, tmp_path) == pytest.approx(9.0)


def test_group_cpu_of_a_real_process_grows_while_it_works() -> None:
    busy = "import time\nend = time.process_time() + 30\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", busy], start_new_session=True)
    try:
        first = group_cpu_s(child.pid)
        deadline = time.monotonic() + 20  # however busy the machine, the child gets 50 ms
        while group_cpu_s(child.pid) < first + 0.05:
            assert time.monotonic() < deadline, "the busy child's CPU time did not grow"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait(30)


def _pair(on_us: float, off_us: float, rps: float = 3000.0) -> PairRound:
    return PairRound(on_us * 1e-6 * 10_000, 10_000, rps, off_us * 1e-6 * 10_000, 10_000, rps)


def test_the_cost_is_the_median_of_the_pairs_own_costs() -> None:
    pairs = [_pair(260, 250), _pair(315, 300), _pair(400, 250), _pair(255, 250), _pair(242, 240)]
    summary = summarize(pairs)
    costs = summary["pair_cost_pct"]
    assert costs == pytest.approx([4.0, 5.0, 60.0, 2.0, 0.8333], rel=1e-3)
    assert summary["cost_pct"] == pytest.approx(4.0)  # the odd 60% pair moves nothing
    assert summary["cpu_us_per_request_log_on"] == pytest.approx(260.0)
    assert summary["cpu_us_per_request_log_off"] == pytest.approx(250.0)
    assert summary["pairs"] == 5


def test_a_pair_that_answered_nothing_has_no_cost() -> None:
    assert PairRound(1.0, 0, 0.0, 0.0, 0, 0.0).cost_pct is None
    assert summarize([PairRound(1.0, 0, 0.0, 0.0, 0, 0.0)])["cost_pct"] is None
