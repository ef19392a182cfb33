"""Opening a Feast repository with the online store address taken from the settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from feast import FeatureStore

# The demo repository's feature_store.yaml reads the online store address from this variable
# (Feast expands ``${VAR}`` itself); other repositories are free to ignore it.
ONLINE_STORE_ENV = "SCORER_ONLINE_STORE"


def feast_environment(online_store: str) -> dict[str, str]:
    """The environment a ``feast`` command needs to see the same online store as the service."""
    return {**os.environ, ONLINE_STORE_ENV: online_store}


def open_feature_store(repo_path: Path, online_store: str) -> FeatureStore:
    """Open the Feast repository at ``repo_path``, pointing ``${SCORER_ONLINE_STORE}`` at the store.

    Feast reads ``feature_store.yaml`` through ``os.path.expandvars``, so the address has to be
    in this process's environment when the config is loaded; this is the one place that sets it.
    """
    if not (repo_path / "feature_store.yaml").is_file():
        raise FileNotFoundError(f"{repo_path} has no feature_store.yaml: is it a Feast repository?")
    os.environ[ONLINE_STORE_ENV] = online_store
    return FeatureStore(repo_path=str(repo_path))


def feast_apply(repo_path: Path, online_store: str) -> str:
    """Run ``feast apply`` on the repository, exactly as a user would; return its output."""
    feast = shutil.which("feast", path=str(Path(sys.executable).parent)) or shutil.which("feast")
    if feast is None:
        raise FileNotFoundError("the `feast` command is not installed in this environment")
    done = subprocess.run(
        [feast, "-c", str(repo_path), "apply"],
        env=feast_environment(online_store),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"feast apply failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout
