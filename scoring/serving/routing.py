"""Which loaded version answers a model's requests: champion, canary share, shadow."""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.errors import ModelNotFound
from scoring.model.loaded import ScoringModel
from scoring.model.registry import Aliases


@dataclass(frozen=True)
class ServedVersions:
    """The loaded versions of one model: what answers, what takes a share, what runs unseen."""

    champion: ScoringModel
    canary: ScoringModel | None = None
    canary_weight: float = 0.0
    """Share of requests the canary answers, 0 to 1."""
    shadow: ScoringModel | None = None
    """Scored and logged on every request's rows, never returned."""

    def aliases(self) -> Aliases:
        """The versions served, in the registry's terms (compared with the alias file)."""
        return Aliases(
            champion=self.champion.version,
            canary=self.canary.version if self.canary is not None else None,
            canary_weight=self.canary_weight if self.canary is not None else 0.0,
            shadow=self.shadow.version if self.shadow is not None else None,
        )

    def pinned(self, version: int) -> tuple[ScoringModel, str]:
        """The version a request names, and its alias: the champion, or the canary.

        Only a version that answers requests may be named: a shadow's scores are never
        returned, and a registered version that is not served is not even loaded.
        """
        if self.champion.version == version:
            return self.champion, "champion"
        if self.canary is not None and self.canary.version == version:
            return self.canary, "canary"
        served = f"champion {self.champion.version}"
        if self.canary is not None:
            served += f", canary {self.canary.version}"
        raise ModelNotFound(
            f"version {version} of model {self.champion.name!r} is not served ({served})"
        )


def serving_aliases(aliases: Aliases) -> Aliases:
    """The part of an alias file that changes what is served: a canary without a share does not."""
    if aliases.canary is None or aliases.canary_weight <= 0.0:
        return Aliases(champion=aliases.champion, shadow=aliases.shadow)
    return aliases


@dataclass
class CanarySplit:
    """Sends each model's canary its exact share of requests, spread evenly.

    A credit per model grows by the weight on every request and the canary answers whenever
    it reaches one: with weight 0.25, every fourth request. The share is exact in every
    worker over any run of requests, rather than near it on average as a coin toss would be,
    so a small canary is seen at once and its logged rows are a steady sample.
    """

    _credit: dict[str, float] = field(default_factory=dict)

    def to_canary(self, name: str, weight: float) -> bool:
        """Whether this request for ``name`` goes to its canary."""
        credit = self._credit.get(name, 0.0) + weight
        if credit >= 1.0 - 1e-9:  # 1e-9: ten times 0.1 is not quite one in floating point
            self._credit[name] = credit - 1.0
            return True
        self._credit[name] = credit
        return False
