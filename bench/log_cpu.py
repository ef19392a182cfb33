"""The prediction log's cost as CPU time a request, from fresh pairs of one-worker servers.

A throughput ratio between two long-running servers carries more than the log: two instances
of the same server differ by several percent from one start to the next (how their memory
and wrk's connections happen to fall), and a shared machine's speed drifts between rounds.
Here each pair is started fresh, both servers are loaded at the same moment, and each one's
CPU time (every thread of every process, from ``/proc``) is divided by the requests it
answered. At saturation a server is bound by its CPU, so the extra CPU a request is the
throughput the log costs; the median over pairs leaves the odd instance out.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.servers import ServerProcess
from bench.wrk import WrkRun, run_wrk, wrk_script

Say = Callable[[str], None]
MakeServer = Callable[[bool, int], ServerProcess]
"""``(log_enabled, pair)`` to a not yet started one-worker ``scorer serve``."""

_PROC = Path("/proc")


def _stat_fields(text: str) -> list[str]:
    """The fields of a ``stat`` file after the command name, which may hold spaces."""
    return text[text.rindex(")") + 2 :].split()


def group_cpu_s(pgid: int, proc: Path = _PROC) -> float:
    """CPU seconds, user and system, of every thread of every process in process group ``pgid``.

    Threads and processes that end while they are read are skipped: what they used is lost.
    """
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields((entry / "stat").read_text())[2]) != pgid:
                continue
            for task in (entry / "task").iterdir():
                fields = _stat_fields((task / "stat").read_text())
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class PairRound:
    """One pair's measured round: CPU seconds used and requests answered, log on and off."""

    cpu_on_s: float
    requests_on: int
    rps_on: float
    cpu_off_s: float
    requests_off: int
    rps_off: float

    @property
    def us_per_request_on(self) -> float:
        """CPU microseconds a request, log on."""
        return self.cpu_on_s / max(self.requests_on, 1) * 1e6

    @property
    def us_per_request_off(self) -> float:
        """CPU microseconds a request, log off."""
        return self.cpu_off_s / max(self.requests_off, 1) * 1e6

    @property
    def cost_pct(self) -> float | None:
        """Extra CPU a request with the log on, in % of the CPU a request takes without it."""
        off = self.us_per_request_off
        return None if off <= 0 else (self.us_per_request_on / off - 1.0) * 100.0


def summarize(pairs: Sequence[PairRound]) -> dict[str, Any]:
    """Medians over the pairs; the judged figure is the median of the pairs' own costs."""
    costs = [p.cost_pct for p in pairs if p.cost_pct is not None]
    return {
        "pairs": len(pairs),
        "cost_pct": statistics.median(costs) if costs else None,
        "pair_cost_pct": costs,
        "cpu_us_per_request_log_on": statistics.median(p.us_per_request_on for p in pairs),
        "cpu_us_per_request_log_off": statistics.median(p.us_per_request_off for p in pairs),
        "rps_log_on": statistics.median(p.rps_on for p in pairs),
        "rps_log_off": statistics.median(p.rps_off for p in pairs),
    }


def _group(server: ServerProcess) -> int:
    """The process group of a started server (its leader's pid: it starts a new session)."""
    if server.process is None:
        raise RuntimeError(f"{server.name} is not running")
    return server.process.pid


def _load_both(runs: Sequence[WrkRun], pool: ThreadPoolExecutor) -> list[dict[str, Any]]:
    return list(pool.map(run_wrk, runs))


def measure_log_cpu(
    make_server: MakeServer, bodies: Sequence[bytes], config: BenchConfig, work: Path, say: Say
) -> dict[str, Any]:
    """``config.log_ab_rounds`` fresh pairs, each loaded for ``config.log_ab_round_s``."""
    script = work / "log-cpu.lua"
    script.write_text(wrk_script(bodies))
    pairs: list[PairRound] = []
    with ThreadPoolExecutor(2) as pool:
        for pair in range(config.log_ab_rounds):
            on, off = make_server(True, pair), make_server(False, pair)
            say(f"log cost, pair {pair + 1}/{config.log_ab_rounds}: starting two servers")
            try:
                for server in (on, off) if pair % 2 == 0 else (off, on):
                    server.start()
                runs = [
                    WrkRun(server.url + "/score", script, threads=1,
                           connections=config.log_ab_connections,
                           duration_s=config.log_ab_round_s)
                    for server in (on, off)
                ]  # fmt: skip
                warm = min(config.wrk_warmup_s, 2.0)
                _load_both([replace(run, duration_s=warm) for run in runs], pool)
                pgids = [_group(server) for server in (on, off)]
                before = [group_cpu_s(pgid) for pgid in pgids]
                done = _load_both(runs, pool)
                after = [group_cpu_s(pgid) for pgid in pgids]
            finally:
                on.stop()
                off.stop()
            measured = PairRound(
                cpu_on_s=after[0] - before[0],
                requests_on=done[0]["requests"],
                rps_on=done[0]["rps"],
                cpu_off_s=after[1] - before[1],
                requests_off=done[1]["requests"],
                rps_off=done[1]["rps"],
            )
            pairs.append(measured)
            cost = measured.cost_pct
            say(
                f"  log on {measured.rps_on:,.0f} req/s, {measured.us_per_request_on:.0f} us CPU"
                f" a request; off {measured.rps_off:,.0f} req/s,"
                f" {measured.us_per_request_off:.0f} us: "
                + ("-" if cost is None else f"{cost:+.1f}%")
            )
    return {**summarize(pairs), "round_s": config.log_ab_round_s}
