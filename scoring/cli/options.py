"""Options several commands share, and the settings a command runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from scoring.errors import InvalidSetting, quoted
from scoring.logging_config import LogFormat
from scoring.settings import Settings, variable_name

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo", help="Feast repository (default: SCORER_FEATURE_REPO or ./feature_repo)."
    ),
]
ModelOption = Annotated[str, typer.Option("--model", help="Model name in the registry.")]
WhyOption = Annotated[str, typer.Option("--why", help="Reason, kept in the model's history.")]


def settings_from(**overrides: Any) -> Settings:
    """The environment's settings, with the options the user gave (``None``: not given).

    A value that does not fit raises InvalidSetting naming it: ``SCORER_PORT='x': ...``.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise InvalidSetting(_invalid_values(exc, given)) from exc
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise InvalidSetting(str(exc)) from exc


def _invalid_values(error: ValidationError, given: dict[str, Any]) -> str:
    """Each bad value as its variable (or option), the value and what is wrong, on one line."""
    parts = []
    for problem in error.errors(include_url=False):
        if not problem["loc"]:  # a rule over several values: its input is all the settings
            parts.append(f"settings: {problem['msg']}")
            continue
        field = str(problem["loc"][0])
        name = f"--{field.replace('_', '-')}" if field in given else variable_name(field)
        parts.append(f"{name}={quoted(problem['input'])}: {problem['msg']}")
    return "; ".join(parts)


def log_format() -> LogFormat:
    """``SCORER_LOG_FORMAT``, or ``text`` while the settings are wrong (the command says how)."""
    try:
        return Settings().log_format
    except ValidationError:
        return "text"
