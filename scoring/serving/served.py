"""The versions in service, by model: loaded from the registry's aliases, reusing what was."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from scoring.errors import ModelLoadError, ModelNotFound, RegistryCorrupt
from scoring.model.loaded import LoadFailure, ScoringModel, load_model
from scoring.model.registry import ModelRegistry
from scoring.serving.routing import ServedVersions, serving_aliases

log = logging.getLogger(__name__)


@dataclass
class ServedModels:
    """The versions currently in service, by model name. Replaced whole, never mutated."""

    served: dict[str, ServedVersions] = field(default_factory=dict)
    default: str | None = None

    @property
    def champions(self) -> dict[str, ScoringModel]:
        """The champion of every served model."""
        return {name: served.champion for name, served in self.served.items()}

    def all_versions(self) -> list[ScoringModel]:
        """Every loaded version, each once: champions, canaries and shadows."""
        loaded = {}
        for served in self.served.values():
            for model in (served.champion, served.canary, served.shadow):
                if model is not None:
                    loaded[(model.name, model.version)] = model
        return list(loaded.values())


def load_served(
    registry: ModelRegistry,
    default: str | None,
    previous: ServedModels | None = None,
    on_failure: Callable[[LoadFailure], None] | None = None,
) -> ServedModels:
    """Load every registered model's champion, canary and shadow.

    Versions already loaded in ``previous`` are reused rather than read again. A model
    without a champion is not served; a canary without a share is not loaded. What cannot be
    loaded (a broken version, an unreadable alias file) is reported to ``on_failure`` (logged
    when None): the model keeps what ``previous`` served, and a canary or shadow is left out.
    Only a champion that cannot be served at all (nothing served before) fails, loudly,
    naming the file and the way back.
    """
    reuse = {(m.name, m.version): m for m in previous.all_versions()} if previous else {}
    served_before = previous.served if previous else {}

    def report(failure: LoadFailure) -> None:
        if on_failure is not None:
            on_failure(failure)
        else:
            log.error("%s %s not served: %s", failure.model, failure.alias, failure.error)

    def load(name: str, version: int | None) -> ScoringModel | None:
        if version is None:
            return None
        model = reuse.get((name, version))
        if model is None:
            model = reuse[(name, version)] = load_model(registry, name, version)
        return model

    served: dict[str, ServedVersions] = {}
    for name in registry.models():
        try:
            aliases = serving_aliases(registry.aliases(name))
        except RegistryCorrupt as exc:
            if name not in served_before:
                raise
            report(LoadFailure(name, "aliases", None, str(exc)))
            served[name] = served_before[name]
            continue
        try:
            champion = load(name, aliases.champion)
        except ModelLoadError as exc:
            if name not in served_before:
                raise ModelLoadError(
                    f"{exc}; it is the champion of {name!r}: point it back at the previous "
                    f"champion with `scorer models rollback --model {name}`"
                ) from exc
            report(LoadFailure(name, "champion", aliases.champion, str(exc)))
            served[name] = served_before[name]
            continue
        if champion is None:
            continue
        before = served_before.get(name)
        others: dict[str, ScoringModel | None] = {}
        weight = aliases.canary_weight
        for alias in ("canary", "shadow"):
            version = getattr(aliases, alias)
            try:
                others[alias] = load(name, version)
            except ModelLoadError as exc:
                report(LoadFailure(name, alias, version, str(exc)))
                # Keep what was served under that alias (at its share) rather than nothing.
                others[alias] = getattr(before, alias) if before else None
                if alias == "canary":
                    weight = before.canary_weight if before else 0.0
        served[name] = ServedVersions(
            champion=champion,
            canary=others["canary"],
            canary_weight=weight if others["canary"] is not None else 0.0,
            shadow=others["shadow"],
        )
    if default is not None and default not in served:
        raise ModelNotFound(f"default model {default!r} has no champion version in the registry")
    if default is None and len(served) == 1:
        default = next(iter(served))
    return ServedModels(served=served, default=default)
