"""``scorer models``: the model registry from the command line (list, promote, roll back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scoring.cli.options import ModelOption, WhyOption, settings_from
from scoring.cli.terminal import native_stderr_dropped

if TYPE_CHECKING:
    from scoring.model.registry import Aliases

models_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)


def _describe_aliases(aliases: Aliases) -> str:
    a = aliases
    parts = [f"champion v{a.champion}" if a.champion is not None else "no champion"]
    if a.canary is not None:
        parts.append(f"canary v{a.canary} ({a.canary_weight:g})")
    if a.shadow is not None:
        parts.append(f"shadow v{a.shadow}")
    return ", ".join(parts)


@models_app.command("list")
def models_list() -> None:
    """Every registered model: its versions and aliases."""
    from scoring.errors import RegistryCorrupt
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(settings_from().models_dir)
    for name in registry.models():
        versions = ", ".join(f"v{v}" for v in registry.versions(name))
        try:
            a = registry.aliases(name)
        except RegistryCorrupt as exc:
            typer.echo(f"{name}: versions {versions}; error: {exc}")
            continue
        typer.echo(f"{name}: versions {versions}; {_describe_aliases(a)}")


@models_app.command("promote")
def models_promote(
    model: ModelOption,
    version: Annotated[int, typer.Option("--version", help="Version to point the alias at.")],
    alias: Annotated[str, typer.Option("--alias", help="champion, canary or shadow.")] = "champion",
    weight: Annotated[float, typer.Option("--weight", help="Canary traffic share, 0 to 1.")] = 0.0,
    why: WhyOption = "",
) -> None:
    """Point an alias at a version, once it is checked to load; services follow it."""
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(settings_from().models_dir)
    with native_stderr_dropped():
        a = registry.set_alias(
            model, alias, version, weight, who="cli", why=why or "scorer models promote"
        )
    typer.echo(f"{model}: {_describe_aliases(a)}")


@models_app.command("rollback")
def models_rollback(model: ModelOption, why: WhyOption = "") -> None:
    """Point the champion back at the previous champion (by the model's history)."""
    from scoring.errors import ModelNotFound
    from scoring.model.registry import ModelRegistry

    registry = ModelRegistry(settings_from().models_dir)
    if not registry.versions(model):
        raise ModelNotFound(f"no model named {model!r} is registered")
    with native_stderr_dropped():
        a = registry.rollback(model, who="cli", why=why)
    typer.echo(f"{model}: {_describe_aliases(a)}")
