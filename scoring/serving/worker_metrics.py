"""One ``/metrics`` for all workers of a ``scorer serve``: prometheus_client's multiprocess mode.

``scorer serve`` gives each run a fresh directory under the data dir and hands it to its
workers (``SCORER_METRICS_DIR``). Each worker writes its values to its own files there;
whichever worker answers a scrape adds up every worker's files, those of workers that have
exited included, so counters never go back when uvicorn replaces a worker. Gauges of the
``live*`` modes describe a worker's state: a worker that exits marks its files dead, and one
killed outright is found dead at the next scrape (uvicorn has no hook for a replaced worker).

prometheus_client picks how values are kept once, at import, from ``PROMETHEUS_MULTIPROC_DIR``,
and importing Feast sets that variable to a temporary folder of Feast's own. So the service
sets the value class itself, before it creates its metrics: files of its own in its
directory, or plain memory outside ``scorer serve`` (tests, an app built in-process).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

METRICS_FOLDER = ".metrics"
"""Under the data dir: one folder per ``scorer serve`` run, named ``<host>-<pid>``."""

ENV_VAR = "SCORER_METRICS_DIR"
"""How ``scorer serve`` hands its workers their directory (``Settings.metrics_dir``)."""

PREFIX = "scorer_"
"""Only the service's own metrics are served: Feast's, written beside them, are not."""

_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(scorer\d+)\.db")


def _own_process_id() -> str:
    # Files of our own (``counter_scorer<pid>.db``): a value class Feast's import made may
    # write ``counter_<pid>.db`` in the same directory, and two writers of one file corrupt it.
    return f"scorer{os.getpid()}"


_PROCESS_ID = _own_process_id()


def _renew_process_id() -> None:
    global _PROCESS_ID
    _PROCESS_ID = _own_process_id()


os.register_at_fork(after_in_child=_renew_process_id)


def _process_id() -> str:
    # Asked for at every value's every change (to notice a fork): kept, renewed in a child.
    return _PROCESS_ID


@contextlib.contextmanager
def metrics_dir_for_workers(data_dir: Path) -> Iterator[Path]:
    """A fresh metrics directory for the workers started inside (they inherit the variable)."""
    folder = prepare_metrics_dir(data_dir)
    os.environ[ENV_VAR] = str(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # its counts meant something to its scrapes


def prepare_metrics_dir(data_dir: Path) -> Path:
    """An empty metrics directory for this ``scorer serve`` run, and none left by dead runs.

    Named after the host and the process, so that services on several hosts sharing one data
    dir (or containers whose process ids coincide) never share a directory, and a run that
    was killed and left its directory behind is cleaned up by the next one on its host.
    """
    root = data_dir / METRICS_FOLDER
    host = socket.gethostname()
    folder = root / f"{host}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)  # a run before with the same id left it
    if root.is_dir():
        for other in root.iterdir():
            owner, _, pid = other.name.rpartition("-")
            if owner == host and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def use_multiprocess_values(directory: Path) -> None:
    """Make the metrics this process creates from now on write to files in ``directory``."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # where those values open files
    values.ValueClass = values.MultiProcessValue(_process_id)  # type: ignore[no-untyped-call]


def use_process_values() -> None:
    """Make the metrics this process creates from now on live in its memory only."""
    values.ValueClass = values.MutexValue


def mark_worker_exited(directory: Path) -> None:
    """Leave this process out of the live gauges from now on (it is shutting down)."""
    mark_process_dead(_process_id(), str(directory))  # type: ignore[no-untyped-call]


class AllWorkers(Collector):
    """The service's metrics of every worker that wrote to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        """Mark dead workers, then yield the sums (gauges: by their multiprocess mode)."""
        for entry in os.scandir(self._directory):
            match = _LIVE_GAUGE_FILE.fullmatch(entry.name)
            if match is not None and not _alive(int(match.group(1).removeprefix("scorer"))):
                # Killed without its shutdown (SIGKILL, out of memory): its state is no more.
                mark_process_dead(match.group(1), str(self._directory))  # type: ignore[no-untyped-call]
        for metric in self._files.collect():  # type: ignore[no-untyped-call]
            if metric.name.startswith(PREFIX):
                yield metric


def all_workers(directory: Path) -> CollectorRegistry:
    """A registry of every worker's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AllWorkers(directory))
    return registry


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds the id now
        return False
    return True
