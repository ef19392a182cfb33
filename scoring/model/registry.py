"""The model registry on disk: ``<root>/<name>/<version>/`` plus one alias file per model."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scoring.durable import write_atomically
from scoring.errors import ModelNotFound
from scoring.model.manifest import ModelManifest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ALIASES_FILE = "aliases.json"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Aliases:
    """Which version answers (champion), takes a share (canary) or runs unseen (shadow)."""

    champion: int | None = None
    canary: int | None = None
    canary_weight: float = 0.0
    shadow: int | None = None


def check_model_name(name: str) -> str:
    """Return ``name`` if it is usable as a model name (and a folder name), else raise."""
    if not _NAME.match(name):
        raise ValueError(
            f"model name {name!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


class ModelRegistry:
    """Versions and aliases of every model, stored as plain files (no pickle)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def models(self) -> list[str]:
        """Names of the models that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        """Registered versions of ``name``, oldest first."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def version_dir(self, name: str, version: int) -> Path:
        """Folder of one version."""
        return self.root / name / str(version)

    def manifest(self, name: str, version: int) -> ModelManifest:
        """The manifest of one version."""
        path = self.version_dir(name, version) / MANIFEST_FILE
        if not path.is_file():
            raise ModelNotFound(f"model {name!r} has no version {version}")
        return ModelManifest.model_validate_json(path.read_bytes())

    def aliases(self, name: str) -> Aliases:
        """Current aliases of ``name`` (all unset when none were ever set)."""
        path = self.root / name / ALIASES_FILE
        if not path.is_file():
            return Aliases()
        return Aliases(**json.loads(path.read_bytes()))

    def resolve(self, name: str, ref: str = "champion") -> int:
        """Turn an alias (champion, canary, shadow) or a version number into a version."""
        if ref.isdigit():
            version = int(ref)
            if version not in self.versions(name):
                raise ModelNotFound(f"model {name!r} has no version {version}")
            return version
        if ref not in ("champion", "canary", "shadow"):
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
        check_model_name(name)
        model_root = self.root / name
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

    def set_alias(self, name: str, alias: str, version: int | None, weight: float = 0.0) -> Aliases:
        """Point an alias at a version (``None`` clears it) and return the new aliases."""
        if version is not None and version not in self.versions(name):
            raise ModelNotFound(f"model {name!r} has no version {version}")
        current = asdict(self.aliases(name))
        if alias not in ("champion", "canary", "shadow"):
            raise ValueError(f"unknown alias {alias!r}: use champion, canary or shadow")
        current[alias] = version
        if alias == "canary":
            if not 0.0 <= weight <= 1.0:
                raise ValueError("canary weight must be between 0 and 1")
            current["canary_weight"] = weight if version is not None else 0.0
        write_atomically(self.root / name / ALIASES_FILE, json.dumps(current, indent=2).encode())
        return Aliases(**current)
