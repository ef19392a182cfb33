"""The on-disk model registry: versions appear whole, aliases are replaced atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scoring.errors import InvalidModelName, ModelNotFound, RegistryUnwritable
from scoring.model.registry import Aliases, ModelRegistry, check_model_name
from tests.utils.repo import ROOT
from tests.utils.tiny_model import tiny_files, tiny_manifest

# Runs one registry call in a child process whose files may grow to LIMIT bytes at most: the
# kernel stops the write that crosses it part-way, as a full disk does. With SIGXFSZ ignored
# (Python's default) the write fails with EFBIG, an OSError; with the signal's own default
# action the process dies there, in the middle of the write, as in a crash: no cleanup runs.
_LIMITED_CALL = """
import resource, signal, sys
from pathlib import Path
from scoring.model.registry import ModelRegistry

root, die, limit = Path(sys.argv[1]), sys.argv[2] == "die", int(sys.argv[3])
registry = ModelRegistry(root)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL if die else signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
registry.set_alias("m", "canary", 3, weight=0.25)
"""


def manifest() -> dict[str, Any]:
    schema = {"feature_service": "fs", "join_keys": [], "request_fields": [], "features": []}
    window = {"start": "a", "end": "b", "holdout_start": "b"}
    window |= {"rows": 1, "train_rows": 1, "holdout_rows": 0}
    return {
        "created_at": "2026-01-01T00:00:00+00:00",
        "feast_schema": schema,
        "categorical_levels": {},
        "label_column": "y",
        "metrics": {"auc": 0.9},
        "training_window": window,
        "postprocess": {"threshold": 0.5, "labels": [0, 1]},
    }


def test_versions_count_up_and_hold_their_files(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.register("m", {"model.txt": b"one"}, manifest())
    second = registry.register("m", {"model.txt": b"two"}, manifest())
    assert (first.version, second.version) == (1, 2)
    assert registry.versions("m") == [1, 2]
    assert registry.models() == ["m"]
    assert (registry.version_dir("m", 2) / "model.txt").read_bytes() == b"two"
    assert registry.manifest("m", 1).metrics == {"auc": 0.9}
    # Nothing half-made is left behind.
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]


def test_aliases(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for _ in range(3):
        registry.register("m", tiny_files(), tiny_manifest())
    assert registry.aliases("m") == Aliases()
    with pytest.raises(ModelNotFound, match="no champion"):
        registry.resolve("m")
    registry.set_alias("m", "champion", 2)
    registry.set_alias("m", "canary", 3, weight=0.1)
    assert registry.resolve("m") == 2
    assert registry.resolve("m", "canary") == 3
    assert registry.resolve("m", "1") == 1
    assert json.loads((tmp_path / "m" / "aliases.json").read_text())["canary_weight"] == 0.1
    registry.set_alias("m", "canary", None)
    assert registry.aliases("m") == Aliases(champion=2)
    with pytest.raises(ModelNotFound):
        registry.set_alias("m", "champion", 9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        registry.set_alias("m", "canary", 3, weight=2.0)
    with pytest.raises(ModelNotFound, match="no model named 'x'"):
        registry.resolve("x")


@pytest.mark.parametrize("name", ["", "..", "a..b", "../etc", "a/b", ".hidden", "x" * 65])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(InvalidModelName, match="model name"):
        check_model_name(name)


BESIDE = ("aliases.json", "aliases.json.lock", "history.jsonl")
"""What alias changes keep beside a model's version folders."""


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def registry_with_aliases(root: Path) -> ModelRegistry:
    """Model ``m`` with three versions, v1 the champion and v2 a 10% canary."""
    registry = ModelRegistry(root)
    for _ in range(3):
        registry.register("m", tiny_files(), tiny_manifest())
    registry.set_alias("m", "champion", 1)
    registry.set_alias("m", "canary", 2, weight=0.1)
    return registry


def test_an_alias_change_that_cannot_be_synced_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_with_aliases(tmp_path)
    before = registry.aliases("m")
    synced: list[int] = []

    def failing_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)  # the new aliases were written before the sync
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(RegistryUnwritable, match=r"Input/output error.*nothing changed"):
        registry.set_alias("m", "canary", 3, weight=0.5)
    monkeypatch.undo()
    assert synced
    assert synced[0] > 0
    assert registry.aliases("m") == before
    assert files_in(tmp_path / "m") == ["1", "2", "3", *BESIDE], "no temporary file left"
    assert len(registry.history("m")) == 2, "nothing recorded of the change that failed"


@pytest.mark.parametrize("die", [False, True], ids=["write-fails", "killed-mid-write"])
def test_an_alias_write_cut_short_leaves_the_old_aliases_whole(tmp_path: Path, die: bool) -> None:
    registry = registry_with_aliases(tmp_path)
    before = registry.aliases("m")
    size = (tmp_path / "m" / "aliases.json").stat().st_size
    limit = 16  # bytes: less than any alias file, so the new one is cut part-way
    assert size > limit
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_CALL, str(tmp_path), "die" if die else "fail", str(limit)],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if die:
        assert done.returncode == -signal.SIGXFSZ, done.stderr
    else:
        assert done.returncode == 1
        assert "OSError: [Errno 27] File too large" in done.stderr, done.stderr
    assert registry.aliases("m") == before
    assert registry.resolve("m", "canary") == 2
    left = [name for name in files_in(tmp_path / "m") if name not in ("1", "2", "3", *BESIDE)]
    if die:
        # A crash can leave the temporary file, never a half-written alias file: readers
        # only ever open aliases.json.
        assert all(n.startswith(".aliases.json.") for n in left), left
    else:
        assert left == [], "a failed write removes its temporary file"


def _registration(who: str, k: int) -> dict[str, bytes]:
    """Files that say which registration wrote them."""
    return {"model.txt": f"{who}-{k}".encode(), "reference.json": json.dumps([who, k]).encode()}


def _register_many(root: Path, who: str, count: int) -> dict[int, str]:
    """Register ``count`` versions of ``m``; which registration got which version."""
    registry = ModelRegistry(root)
    return {
        registry.register("m", _registration(who, k), manifest()).version: f"{who}-{k}"
        for k in range(count)
    }


# Each child says it is ready, then waits for the word to go, so that the registrations of
# all of them overlap rather than following each other's slow start.
_REGISTER_IN_A_CHILD = f"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests.scoring.model.test_registry import _register_many
root, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(root.parent / ("ready-" + who)).touch()
deadline = time.monotonic() + 120
while not (root.parent / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.001)
print(json.dumps(_register_many(root, who, count)))
"""


def assert_versions_whole(root: Path, got: dict[int, str], total: int) -> None:
    """Versions 1..total, each folder complete and holding the files of who got that number."""
    registry = ModelRegistry(root)
    assert sorted(got) == list(range(1, total + 1))
    assert registry.versions("m") == list(range(1, total + 1))
    assert files_in(root / "m") == sorted(str(v) for v in got), "no staging folder left"
    for version, who in got.items():
        folder = registry.version_dir("m", version)
        assert files_in(folder) == ["manifest.json", "model.txt", "reference.json"]
        assert (folder / "model.txt").read_text() == who
        writer, k = json.loads((folder / "reference.json").read_text())
        assert f"{writer}-{k}" == who
        assert registry.manifest("m", version).version == version
        assert registry.manifest("m", version).name == "m"


def test_threads_registering_at_once_get_distinct_consecutive_versions(tmp_path: Path) -> None:
    threads, each = 8, 6
    start = threading.Barrier(threads)
    results: list[dict[int, str]] = [{} for _ in range(threads)]
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            start.wait()
            results[t] = _register_many(tmp_path, f"t{t}", each)
        except BaseException as exc:  # reported below: a thread's error would go unseen
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors
    got = {v: who for result in results for v, who in result.items()}
    assert sum(map(len, results)) == len(got), "a version number was handed out twice"
    assert_versions_whole(tmp_path, got, threads * each)


def test_processes_registering_at_once_get_distinct_consecutive_versions(tmp_path: Path) -> None:
    processes, each = 3, 20
    root = tmp_path / "registry"
    children: list[subprocess.Popen[str]] = []
    outputs = []
    try:
        for p in range(processes):
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", _REGISTER_IN_A_CHILD, str(root), f"p{p}", str(each)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < processes:
            assert time.monotonic() < deadline, "the children never started"
            assert all(child.poll() is None for child in children), "a child died starting"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            outputs.append(json.loads(out))
    finally:
        for child in children:
            child.kill()
            child.wait()
    got = {int(v): who for output in outputs for v, who in output.items()}
    assert sum(map(len, outputs)) == len(got), "a version number was handed out twice"
    assert_versions_whole(root, got, processes * each)
