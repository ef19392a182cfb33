"""The model registry on disk: ``<root>/<name>/<version>/`` plus one alias file per model.

Every entry point checks the model name first, so no name ever becomes a path outside the
registry. Alias changes are serialised across threads, workers and processes by a file lock
beside the alias file, recorded in the model's ``history.jsonl``, and only ever point at a
version that loads.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from scoring.durable import write_atomically
from scoring.errors import (
    AliasMoved,
    InvalidModelName,
    ModelLoadError,
    ModelNotFound,
    RegistryBusy,
    RegistryCorrupt,
    RegistryUnwritable,
    VersionNotLoadable,
)
from scoring.model.manifest import MANIFEST_FILE, ModelManifest, one_line

__all__ = ["ALIASES_FILE", "HISTORY_FILE", "MANIFEST_FILE", "Aliases", "ModelRegistry"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ALIASES_FILE = "aliases.json"
HISTORY_FILE = "history.jsonl"
ALIAS_NAMES = ("champion", "canary", "shadow")
LOCK_TIMEOUT_S = 30.0
"""Longest wait for another process's alias change (each holds the lock for milliseconds)."""

Who = Literal["admin", "cli", "job", "guard"]
"""Who moved an alias: the HTTP admin API, the command line, a job, or the canary guard."""


@dataclass(frozen=True)
class Aliases:
    """Which version answers (champion), takes a share (canary) or runs unseen (shadow)."""

    champion: int | None = None
    canary: int | None = None
    canary_weight: float = 0.0
    shadow: int | None = None


_ALIASES = TypeAdapter(Aliases)


def check_model_name(name: str) -> str:
    """Return ``name`` if it is usable as a model name (and a folder name), else raise."""
    if not _NAME.match(name) or ".." in name:
        shown = name if len(name) <= 70 else name[:64] + "..."
        raise InvalidModelName(
            f"model name {shown!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


class ModelRegistry:
    """Versions and aliases of every model, stored as plain files (no pickle)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def model_dir(self, name: str) -> Path:
        """Folder of one model; the name is checked, so it is always inside the registry."""
        return self.root / check_model_name(name)

    def models(self) -> list[str]:
        """Names of the models that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _NAME.match(p.name) and ".." not in p.name and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        """Registered versions of ``name``, oldest first."""
        folder = self.model_dir(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def version_dir(self, name: str, version: int) -> Path:
        """Folder of one version."""
        return self.model_dir(name) / str(version)

    def manifest(self, name: str, version: int) -> ModelManifest:
        """The manifest of one version."""
        path = self.version_dir(name, version) / MANIFEST_FILE
        if not path.is_file():
            raise ModelNotFound(f"model {name!r} has no version {version}")
        try:
            return ModelManifest.model_validate_json(path.read_bytes())
        except (ValidationError, ValueError, OSError) as exc:
            raise ModelLoadError(f"{path} cannot be read: {one_line(exc)}") from exc

    def aliases_path(self, name: str) -> Path:
        """The alias file of ``name``."""
        return self.model_dir(name) / ALIASES_FILE

    def aliases(self, name: str) -> Aliases:
        """Current aliases of ``name`` (all unset when none were ever set)."""
        path = self.aliases_path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Aliases()
        except OSError as exc:
            raise RegistryCorrupt(f"{path} cannot be read: {exc}") from exc
        try:
            return _ALIASES.validate_json(data)
        except ValidationError as exc:
            raise RegistryCorrupt(
                f"{path} is corrupt ({one_line(exc)}); promote a version to rewrite it"
            ) from exc

    def resolve(self, name: str, ref: str = "champion") -> int:
        """Turn an alias (champion, canary, shadow) or a version number into a version."""
        if ref.isdigit():
            version = int(ref)
            if version not in self.versions(name):
                raise ModelNotFound(f"model {name!r} has no version {version}")
            return version
        if ref not in ALIAS_NAMES:
            raise ModelNotFound(f"{ref!r} is neither a version nor an alias of model {name!r}")
        version_or_none: int | None = getattr(self.aliases(name), ref)
        if version_or_none is None:
            if not self.versions(name):
                raise ModelNotFound(f"no model named {name!r} is registered")
            raise ModelNotFound(f"model {name!r} has no {ref} version")
        return version_or_none

    def register(
        self, name: str, files: Mapping[str, bytes], manifest: Mapping[str, Any]
    ) -> ModelManifest:
        """Store a new version with its files; the version folder appears complete or not at all."""
        model_root = self.model_dir(name)
        model_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=model_root, prefix=".staging-"))
        try:
            for filename, data in files.items():
                (staging / filename).write_bytes(data)
            while True:
                version = max(self.versions(name), default=0) + 1
                full = ModelManifest.model_validate({**manifest, "name": name, "version": version})
                (staging / MANIFEST_FILE).write_text(full.model_dump_json(indent=2))
                try:
                    # rename() of a directory onto a missing path is atomic; if another trainer
                    # took this number first, the target exists and we take the next one.
                    os.rename(staging, self.version_dir(name, version))
                except OSError:
                    if self.version_dir(name, version).exists():
                        continue
                    raise
                return full
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def check_loads(self, name: str, version: int) -> None:
        """Raise :class:`VersionNotLoadable` unless the version loads as a service would."""
        # Imported here: LightGBM and Feast take seconds to import, and reading the registry
        # (``scorer models list``, the catalog) never needs them.
        from scoring.model.loaded import load_model

        try:
            load_model(self, name, version)
        except ModelLoadError as exc:
            raise VersionNotLoadable(f"{name} v{version} cannot be loaded: {exc}") from exc

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        weight: float = 0.0,
        *,
        who: Who = "cli",
        why: str = "",
        rollback: bool = False,
        details: Mapping[str, Any] | None = None,
        expected: int | None = None,
    ) -> Aliases:
        """Point an alias at a version (``None`` clears it) and return the new aliases.

        The version must load, exactly as a serving worker would load it, before any alias
        names it. The change is made under the model's lock, so concurrent changes of other
        aliases are all kept, and appended to the model's history, with ``details`` (JSON-ready
        figures, say what the canary guard measured) when given. With ``expected``, the change
        is made only if the alias points at that version when the lock is held; otherwise
        nothing changes and :class:`AliasMoved` is raised (someone moved it meanwhile).
        """
        if alias not in ALIAS_NAMES:
            raise ValueError(f"unknown alias {alias!r}: use champion, canary or shadow")
        if not 0.0 <= weight <= 1.0:
            raise ValueError("canary weight must be between 0 and 1")
        if version is not None:
            if version not in self.versions(name):
                if not self.versions(name):
                    raise ModelNotFound(f"no model named {name!r} is registered")
                raise ModelNotFound(f"model {name!r} has no version {version}")
            # Versions never change once registered: checking outside the lock is enough.
            self.check_loads(name, version)
        try:
            with self._locked(name):
                old = self._aliases_for_change(name)
                if expected is not None and getattr(old, alias) != expected:
                    raise AliasMoved(
                        f"the {alias} of model {name!r} is {getattr(old, alias)}, not "
                        f"{expected}: someone changed it meanwhile; nothing changed"
                    )
                current = asdict(old)
                current[alias] = version
                if alias == "canary":
                    current["canary_weight"] = weight if version is not None else 0.0
                path = self.aliases_path(name)
                write_atomically(path, json.dumps(current, indent=2).encode())
                self._append_history(  # never raises: the change is made
                    name,
                    {
                        "time": datetime.now(UTC).isoformat(),
                        "alias": alias,
                        "old": getattr(old, alias),
                        "new": version,
                        "weight": current["canary_weight"] if alias == "canary" else None,
                        "who": who,
                        "why": why,
                        "rollback": rollback,
                        **({"details": dict(details)} if details else {}),
                    },
                )
        except OSError as exc:  # the lock or the file, written atomically: nothing changed
            raise RegistryUnwritable(
                f"the aliases of model {name!r} in {self.model_dir(name)} cannot be written "
                f"({exc}); nothing changed"
            ) from exc
        return Aliases(**current)

    def history(self, name: str, last: int | None = None) -> list[dict[str, Any]]:
        """The model's alias changes, oldest first (the ``last`` ones if given)."""
        path = self.model_dir(name) / HISTORY_FILE
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RegistryCorrupt(f"{path} cannot be read: {exc}") from exc
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                # A line cut short by a crash: the history is a record, not the state.
                log.warning("%s line %d is not JSON; skipped", path, number)
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries[-last:] if last else entries

    def previous_champion(self, name: str) -> int | None:
        """The champion before the current one, by the history (rollbacks undo a step)."""
        current = self.aliases(name).champion
        chain: list[int] = []
        for entry in self.history(name):
            if entry.get("alias") != "champion" or not isinstance(entry.get("new"), int):
                continue
            old, new = entry.get("old"), entry["new"]
            if entry.get("rollback") and chain and chain[-1] == old:
                chain.pop()
            elif not chain and isinstance(old, int):
                chain.append(old)
            if not chain or chain[-1] != new:
                chain.append(new)
        return next((v for v in reversed(chain) if v != current), None)

    def rollback(self, name: str, *, who: Who = "cli", why: str = "") -> Aliases:
        """Point the champion back at the previous champion; ModelNotFound if there is none."""
        current = self.aliases(name).champion
        previous = self.previous_champion(name)
        if previous is None:
            raise ModelNotFound(
                f"model {name!r} has no earlier champion to roll back to "
                f"(the history in {self.model_dir(name) / HISTORY_FILE} names none before "
                f"v{current})"
            )
        return self.set_alias(
            name, "champion", previous, who=who, why=why or f"rollback from v{current}",
            rollback=True,
        )  # fmt: skip

    def _aliases_for_change(self, name: str) -> Aliases:
        """The aliases a change starts from; a corrupt file is rebuilt from the history."""
        try:
            return self.aliases(name)
        except RegistryCorrupt as exc:
            rebuilt = self._aliases_from_history(name)
            try:
                lost = self.aliases_path(name).read_bytes()[:500]
            except OSError:
                lost = b""
            log.warning(
                "%s; overwriting it, starting from the history's aliases %s; it held: %r",
                exc, rebuilt, lost,
            )  # fmt: skip
            return rebuilt

    def _aliases_from_history(self, name: str) -> Aliases:
        current: dict[str, Any] = asdict(Aliases())
        for entry in self.history(name):
            alias = entry.get("alias")
            if alias in ALIAS_NAMES:
                current[alias] = entry.get("new")
                if alias == "canary":
                    current["canary_weight"] = entry.get("weight") or 0.0
        try:
            return _ALIASES.validate_python(current)
        except ValidationError:
            return Aliases()

    def _append_history(self, name: str, entry: dict[str, Any]) -> None:
        path = self.model_dir(name) / HISTORY_FILE
        line = json.dumps(entry).encode() + b"\n"
        try:
            with open(path, "ab") as history:
                history.write(line)
                history.flush()
                os.fsync(history.fileno())
        except OSError as exc:
            # The alias change is made and durable; losing its record must not undo it.
            log.error("alias change of %s not recorded in %s: %s", name, path, exc)

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Hold the model's alias lock: one change at a time across every process."""
        path = self.model_dir(name) / f"{ALIASES_FILE}.lock"
        with open(path, "a") as lock:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RegistryBusy(
                            f"{path} was held for over {LOCK_TIMEOUT_S:g} s; nothing changed"
                        ) from None
                    time.sleep(0.005)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
