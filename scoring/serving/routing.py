"""Which loaded version answers each row of a model's requests: champion, canary share, shadow.

A canary with weight w answers a share w of *entities*, not of requests: each row is placed at
a fixed point of [0, 1) by a hash of its model's name and its join key values, and goes to the
canary when that point is below w. The hash is BLAKE2b, the same in every worker, process and
host (Python's own ``hash()`` of a string changes with every process), so a customer keeps one
version while the weight holds, and raising the weight only moves entities from the champion
to the canary. With no canary nothing is hashed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.errors import ModelNotFound
from scoring.model.loaded import ScoringModel
from scoring.model.registry import Aliases
from scoring.serving.batching import Rows
from scoring.serving.request import entity_rows

CHAMPION_ROUTE = "champion"
CANARY_ROUTE = "canary"

_DIGEST_BYTES = 8
_TO_UNIT = 2.0**-53
"""The top 53 bits of a digest times this are exact in a float and strictly below 1: dividing
all 64 bits by 2**64 instead rounds the largest digests up to 1.0, which no weight is above."""


def key_text(value: Any) -> str:
    """A join key value as the hash reads it: the same text for 42, 42.0 and "42".

    An entity is the same customer whatever JSON type its key arrives in (a key typed Int64
    in one feature service and String in the next, an Open Inference Protocol client sending
    it as BYTES), so numbers are hashed as their decimal text, whole floats as integers.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: True is an int too
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int) else repr(value)


class EntityBuckets:
    """Places each entity of one model at a fixed point of [0, 1) from its join key values."""

    def __init__(self, model: str, join_keys: Sequence[str]) -> None:
        # The model's name goes first, so two models' canaries do not take the same customers.
        self._prefix = hashlib.blake2b(model.encode() + b"\x00", digest_size=_DIGEST_BYTES)
        self.join_keys = tuple(sorted(join_keys))
        """In name order: the same combination whatever order a feature service lists them."""

    def bucket(self, row: Mapping[str, Any]) -> float:
        """Where ``row``'s entity falls in [0, 1), the same in every process and host."""
        keys = self.join_keys
        if len(keys) == 1:
            text = key_text(row[keys[0]])
        else:  # each value prefixed by its length, so ("1:2", "3") and ("1", "2:3") differ
            text = "".join(f"{len(t)}:{t}" for t in (key_text(row[k]) for k in keys))
        digest = self._prefix.copy()  # the prefix's state, hashed once per model
        digest.update(text.encode())
        return (int.from_bytes(digest.digest(), "big") >> 11) * _TO_UNIT


@dataclass(frozen=True)
class ServedVersions:
    """The loaded versions of one model: what answers, what takes a share, what runs unseen."""

    champion: ScoringModel
    canary: ScoringModel | None = None
    canary_weight: float = 0.0
    """Share of entities the canary answers, 0 to 1."""
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

    @functools.cached_property
    def buckets(self) -> EntityBuckets:
        """The entity hash of this model, by the champion's join keys (built on first use).

        The champion's keys decide for every version: routing happens before a version is
        chosen, and they are the keys the model's entities have been known by.
        """
        keys = [key.name for key in self.champion.schema.join_keys]
        return EntityBuckets(self.champion.name, keys)

    def canary_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Positions of the rows the canary answers: those whose bucket is below its weight."""
        if self.canary is None or self.canary_weight <= 0.0:
            return []
        bucket, weight = self.buckets.bucket, self.canary_weight
        return [i for i, row in enumerate(rows) if bucket(row) < weight]


def serving_aliases(aliases: Aliases) -> Aliases:
    """The part of an alias file that changes what is served: a canary without a share does not."""
    if aliases.canary is None or aliases.canary_weight <= 0.0:
        return Aliases(champion=aliases.champion, shadow=aliases.shadow)
    return aliases


@dataclass(frozen=True)
class RoutedRows:
    """The rows of one request that one version answers, and where they sit in the request."""

    model: ScoringModel
    route: str
    rows: Rows
    positions: Sequence[int] | None = None
    """Each row's index in the request; None when these are all its rows, in order."""


def split_by_version(
    served: ServedVersions, rows: Rows, entities: Sequence[dict[str, Any]]
) -> list[RoutedRows]:
    """A request's rows by the version that answers them: the champion's, then the canary's.

    ``rows`` are ``entities`` checked against the champion's inputs. A canary with other
    inputs (a request field the champion does not take) has its rows checked against its own,
    and a problem names the row by its index in the request.
    """
    champion, canary = served.champion, served.canary
    picked = served.canary_rows(rows)
    if canary is None or not picked:
        return [RoutedRows(champion, CHAMPION_ROUTE, rows)]
    if len(picked) == len(rows):
        return [RoutedRows(canary, CANARY_ROUTE, _rows_of(canary, champion, rows, entities))]
    chosen = set(picked)
    kept = [i for i in range(len(rows)) if i not in chosen]
    return [
        RoutedRows(champion, CHAMPION_ROUTE, [rows[i] for i in kept], kept),
        RoutedRows(
            canary, CANARY_ROUTE, _rows_of(canary, champion, rows, entities, picked), picked
        ),
    ]


def _rows_of(
    model: ScoringModel,
    champion: ScoringModel,
    rows: Rows,
    entities: Sequence[dict[str, Any]],
    positions: Sequence[int] | None = None,
) -> Rows:
    """``model``'s rows at ``positions`` (all when None), checked against its own inputs."""
    ours, theirs = model.schema, champion.schema
    if ours.join_keys == theirs.join_keys and ours.request_fields == theirs.request_fields:
        return rows if positions is None else [rows[i] for i in positions]
    if positions is None:
        return entity_rows(ours, list(entities))
    return entity_rows(ours, [entities[i] for i in positions], positions)
