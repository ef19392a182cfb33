"""Running a job in a fresh process: its wall time and its own peak RSS, under a memory guard.

Linux carries a parent's peak RSS into a child it spawns (``exec`` folds the old address
space's high-water mark into the child's ``ru_maxrss``, and a forked or vforked child's old
address space is the parent's), so a job started from the bench process, which holds Feast,
pandas and the demo data, would report the bench's peak as its own, and ``RUSAGE_CHILDREN``
would add every server the bench ever ran. :func:`run_isolated` therefore starts the job
from a small stdlib-only wrapper (``python -m bench.child``), which reads the job's
``ru_maxrss`` from ``wait4`` (KiB on Linux). While the job runs, the wrapper polls its RSS
and stops it past ``max_rss_bytes``: a job that would exhaust a shared machine's memory is
reported as such rather than left to the OOM killer, which may pick someone else's process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def python_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the project root on ``PYTHONPATH``,
    so that ``python -m bench.<module>`` works from any directory."""
    env = dict(os.environ if base is None else base)
    paths = [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


@dataclass(frozen=True)
class ChildRun:
    """How a child process ended and what it cost."""

    returncode: int
    wall_s: float
    max_rss_kib: int
    stdout: bytes
    stderr_tail: str
    stopped_for: str | None
    """``"memory"`` or ``"time"`` when the guard stopped it, else ``None``."""

    @property
    def ok(self) -> bool:
        """The child ran to the end and exited with status 0."""
        return self.returncode == 0 and self.stopped_for is None


def resident_bytes(pid: int) -> int | None:
    """Current RSS of ``pid`` from ``/proc`` (None where there is no ``/proc`` or no process)."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * _PAGE_BYTES


def available_memory_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo``, or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    max_rss_bytes: int | None = None,
    poll_s: float = 0.1,
) -> ChildRun:
    """Run ``command`` from this process to its end or a limit: status, wall time, peak RSS.

    The peak includes this process's own (see the module docstring): call it from a small
    process, as :func:`run_isolated` does.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        stopped_for: str | None = None
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid == process.pid:
                    break
                if time.perf_counter() - started > timeout_s:
                    stopped_for = "time"
                elif max_rss_bytes is not None:
                    rss = resident_bytes(process.pid)
                    if rss is not None and rss > max_rss_bytes:
                        stopped_for = "memory"
                if stopped_for is not None:
                    process.kill()
                    _, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(poll_s)
        except BaseException:
            process.kill()  # Ctrl-C or an error in here: the job must not outlive us
            process.wait()
            raise
        wall_s = time.perf_counter() - started
        # Popen must not try to reap the pid again: tell it how the child ended.
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            returncode=process.returncode,
            wall_s=wall_s,
            max_rss_kib=int(usage.ru_maxrss),
            stdout=out.read(),
            stderr_tail=err.read().decode(errors="replace")[-3000:],
            stopped_for=stopped_for,
        )


def run_isolated(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    max_rss_bytes: int | None = None,
) -> ChildRun:
    """:func:`run_measured` from a fresh small wrapper process, so the peak RSS is the job's."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as folder:
        stdout_path = Path(folder) / "stdout"
        wrapper = [sys.executable, "-m", "bench.child", "--timeout", str(timeout_s),
                   "--stdout", str(stdout_path)]  # fmt: skip
        if max_rss_bytes is not None:
            wrapper += ["--max-rss-bytes", str(max_rss_bytes)]
        # The wrapper leads a process group that the job joins: whatever happens here
        # (Ctrl-C included), killing the group leaves nothing of the job behind.
        process = subprocess.Popen(
            [*wrapper, "--", *command],
            env=python_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            summary, _ = process.communicate(timeout=timeout_s + 60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"the measuring wrapper failed ({process.returncode})")
        fields = json.loads(summary)
        return ChildRun(stdout=stdout_path.read_bytes(), **fields)


def main(argv: Sequence[str] | None = None) -> None:
    """Wrapper entry point: run the command after ``--``, print its :class:`ChildRun` as JSON."""
    parser = argparse.ArgumentParser(description="Run a command; report its peak RSS and time.")
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--max-rss-bytes", type=int)
    parser.add_argument("--stdout", type=Path, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    run = run_measured(args.command, timeout_s=args.timeout, max_rss_bytes=args.max_rss_bytes)
    args.stdout.write_bytes(run.stdout)
    fields = {k: v for k, v in asdict(run).items() if k != "stdout"}
    sys.stdout.write(json.dumps(fields))


if __name__ == "__main__":
    main()
