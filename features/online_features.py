"""What an online read returns: feature columns, which are stored, which values are stale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NO_STALE: Mapping[str, Sequence[bool]] = {}


class OnlineFeatures(dict[str, Sequence[Any]]):
    """``{<view>__<feature>: values}``, one value per row, ``None`` where missing.

    A plain dict of columns, plus what a caller needs to judge the values:

    - ``stored``: the features read from the online store, as opposed to those on-demand
      views compute at request time. A row with none of its stored features has nothing
      from the store, whatever its on-demand features say.
    - ``stale``: for each stored feature with at least one value older than its view's
      ``ttl``, where (row by row). Those values are already ``None`` in the columns.
    """

    __slots__ = ("stale", "stored")

    def __init__(
        self,
        columns: Mapping[str, Sequence[Any]],
        stored: frozenset[str],
        stale: Mapping[str, Sequence[bool]] = NO_STALE,
    ) -> None:
        super().__init__(columns)
        self.stored = stored
        self.stale = stale
