"""Options several commands share, and the settings a command runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from scoring.logging_config import LogFormat
from scoring.settings import Settings

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo", help="Feast repository (default: SCORER_FEATURE_REPO or ./feature_repo)."
    ),
]
ModelOption = Annotated[str, typer.Option("--model", help="Model name in the registry.")]
WhyOption = Annotated[str, typer.Option("--why", help="Reason, kept in the model's history.")]


def settings_from(**overrides: Any) -> Settings:
    """The environment's settings, with the options the user gave (``None``: not given)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def log_format() -> LogFormat:
    """``SCORER_LOG_FORMAT``, or ``text`` while the settings are wrong (the command says how)."""
    try:
        return Settings().log_format
    except ValidationError:
        return "text"
