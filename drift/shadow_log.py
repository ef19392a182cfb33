"""Pair a shadow's rows in the prediction log with the rows that answered the same requests.

A shadow scores every entity of a request after the answer, logged with route ``shadow``, the
request's id and the entity's join keys. Its partner is the row of the same request and the
same entity (the n-th of that entity in the request, should a request repeat it) that
answered: any route but ``shadow`` and ``canary``, so ``champion`` and ``stream`` rows (stream
events the champion answered). A canary's rows are left out: the canary guard compares the
canary with the champion, and a canary's version is not the champion's.

Only the shadow's rows and the answers of their requests are held in memory, with the few
columns a comparison needs; the rest of the window is counted, not read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from drift.window import (
    LogSource,
    PredictionLogError,
    as_utc,
    log_fragments,
    open_log,
    window_filter,
)

SHADOW_ROUTE = "shadow"
CANARY_ROUTE = "canary"
_OCCURRENCE = "_occurrence"
_VALUES = ("version", "route", "score", "label", "latency_ms", "logged_at")


class NoShadowRows(PredictionLogError):
    """The window of the log holds no row a shadow scored."""


@dataclass(frozen=True)
class VersionPair:
    """Paired rows of one champion version and one shadow version in the window."""

    champion: int
    shadow: int
    rows: int
    last_logged_at: datetime | None


@dataclass(frozen=True)
class ShadowPairs:
    """The paired rows of one version pair, side by side, and counts of the whole window."""

    champion_version: int
    shadow_version: int
    request_ids: list[str]
    champion_scores: npt.NDArray[np.float64]
    shadow_scores: npt.NDArray[np.float64]
    champion_labels: list[str | None]
    shadow_labels: list[str | None]
    champion_latency_ms: npt.NDArray[np.float64]
    """One latency per paired request (every row of a request carries its request's)."""
    shadow_latency_ms: npt.NDArray[np.float64]
    routes: dict[str, int]
    """Paired rows by the route that answered them (``champion``, ``stream``)."""
    version_pairs: list[VersionPair]
    """Every version pair the window paired, the most recently logged first."""
    shadow_rows: int
    """Every shadow row of the window."""
    unpaired_shadow: int
    """Shadow rows no answering row matched (its answer out of the window, or not logged)."""
    answer_rows: int
    """Rows that answered (champion, stream) since the first paired request of the window."""
    unpaired_answers: int
    """Of those, rows no shadow row matched (a shadow dropped under load, or failing)."""
    canary_rows: int = 0
    """Rows a canary answered in the window: not compared."""
    first_logged_at: datetime | None = None
    last_logged_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Paired rows of this version pair."""
        return len(self.request_ids)


def _read(
    dataset: ds.Dataset,
    model: str | None,
    columns: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    condition: ds.Expression,
) -> pa.Table:
    """The rows of the window that meet ``condition``, with ``columns`` (nulls where absent)."""
    first_day = as_utc(start).date() if start is not None else None
    last_day = as_utc(end).date() if end is not None else None
    tables = []
    for fragment in log_fragments(dataset, model, first_day, last_day):
        try:
            schema = fragment.physical_schema
            if "score" not in schema.names or "request_id" not in schema.names:
                raise PredictionLogError(f"{fragment.path} is not a prediction log")
            if "route" not in schema.names:
                continue  # nothing in it can be a shadow's
            window = window_filter(schema, None, start, end)
            wanted = condition if window is None else window & condition
            present = [c for c in columns if c in schema.names]
            table = fragment.to_table(columns=present, filter=wanted)
        except FileNotFoundError:
            continue  # compacted away between listing and reading
        for name in columns:
            if name not in table.column_names:  # a key this version's schema lacks
                table = table.append_column(name, pa.nulls(table.num_rows))
        tables.append(table.select(list(columns)))
    if not tables:
        return pa.table({name: pa.array([], pa.null()) for name in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def _count(
    dataset: ds.Dataset,
    model: str | None,
    start: datetime | None,
    end: datetime | None,
    condition: ds.Expression,
) -> int:
    """How many rows of the window meet ``condition``, without reading them."""
    first_day = as_utc(start).date() if start is not None else None
    last_day = as_utc(end).date() if end is not None else None
    total = 0
    for fragment in log_fragments(dataset, model, first_day, last_day):
        try:
            schema = fragment.physical_schema
            if "route" not in schema.names:
                continue
            window = window_filter(schema, None, start, end)
            total += fragment.count_rows(filter=condition if window is None else window & condition)
        except FileNotFoundError:
            continue
    return total


def occurrence(table: pa.Table, keys: Sequence[str]) -> npt.NDArray[np.int64]:
    """For each row, how many earlier rows of ``table`` have the same ``keys`` (0, 1, ...)."""
    n = table.num_rows
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.arange(n, dtype=np.int64)
    keyed = table.select(list(keys)).append_column("_position", pa.array(positions))
    sort_keys = [(k, "ascending") for k in (*keys, "_position")]
    order = np.asarray(pc.sort_indices(keyed, sort_keys=sort_keys), dtype=np.int64)
    ordered = keyed.take(order)
    starts_run = np.zeros(n, dtype=bool)
    starts_run[0] = True
    for key in keys:
        column = ordered.column(key)
        differs = pc.fill_null(pc.not_equal(column.slice(1), column.slice(0, n - 1)), True)
        starts_run[1:] |= np.asarray(differs, dtype=bool)
    run_start = np.maximum.accumulate(np.where(starts_run, positions, 0))
    counts = np.empty(n, dtype=np.int64)
    counts[order] = positions - run_start
    return counts


def _side(table: pa.Table, keys: Sequence[str], prefix: str) -> pa.Table:
    """One side's rows keyed for the join, its value columns renamed with ``prefix``."""
    table = table.append_column(_OCCURRENCE, pa.array(occurrence(table, ["request_id", *keys])))
    names = [f"{prefix}{c}" if c in _VALUES else c for c in table.column_names]
    return table.rename_columns(names)


def _latency_per_request(paired: pa.Table, column: str) -> npt.NDArray[np.float64]:
    per_request = paired.group_by("request_id").aggregate([(column, "max")])
    return np.asarray(per_request.column(f"{column}_max").to_numpy(), dtype=np.float64)


def _pairs_by_version(paired: pa.Table) -> list[VersionPair]:
    grouped = paired.group_by(["c_version", "s_version"]).aggregate(
        [("s_score", "count"), ("s_logged_at", "max")]
    )
    pairs = [
        VersionPair(
            champion=int(row["c_version"]),
            shadow=int(row["s_version"]),
            rows=int(row["s_score_count"]),
            last_logged_at=row["s_logged_at_max"],
        )
        for row in grouped.to_pylist()
    ]
    return sorted(
        pairs, key=lambda p: (p.last_logged_at is not None, p.last_logged_at), reverse=True
    )


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def read_shadow_pairs(
    source: LogSource,
    join_keys: Sequence[str],
    *,
    model: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    champion_version: int | None = None,
    shadow_version: int | None = None,
) -> ShadowPairs:
    """Pair the shadow rows of ``[start, end)`` with their answers, on ``join_keys``.

    The figures are of one version pair: ``champion_version`` and ``shadow_version`` (the
    aliases now) when the window paired them, else the pair logged most recently; every pair
    is counted in ``version_pairs``. Raises :class:`NoShadowRows` when no shadow row is found.
    """
    dataset = open_log(source, "prediction log")
    keys = list(join_keys)
    columns = ["request_id", *keys, *_VALUES]
    route = pc.field("route")
    shadow = _read(dataset, model, columns, start, end, route == SHADOW_ROUTE)
    if shadow.num_rows == 0:
        raise NoShadowRows(
            f"no shadow rows{f' of {model!r}' if model else ''} in the window: set a shadow "
            "(scorer models promote --alias shadow) and let it score traffic first"
        )
    ids = pc.unique(shadow.column("request_id"))
    answers_wanted = (
        (route != SHADOW_ROUTE) & (route != CANARY_ROUTE) & pc.field("request_id").isin(ids)
    )
    answers = _read(dataset, model, columns, start, end, answers_wanted)
    if answers.num_rows == 0:
        raise NoShadowRows(
            f"{shadow.num_rows:,} shadow rows in the window, but no row that answered their "
            "requests (a canary's rows are not compared)"
        )
    paired_all = _side(answers, keys, "c_").join(
        _side(shadow, keys, "s_"), keys=["request_id", *keys, _OCCURRENCE], join_type="inner"
    )
    if paired_all.num_rows == 0:
        raise NoShadowRows(
            f"{shadow.num_rows:,} shadow rows in the window, but none has its answer's row "
            f"there (paired on request_id and {', '.join(keys) or 'no join keys'})"
        )
    version_pairs = _pairs_by_version(paired_all)
    chosen = next(
        (p for p in version_pairs if (p.champion, p.shadow) == (champion_version, shadow_version)),
        version_pairs[0],
    )
    paired = paired_all.filter(
        (pc.field("c_version") == chosen.champion) & (pc.field("s_version") == chosen.shadow)
    )
    notes = []
    if (champion_version, shadow_version) != (chosen.champion, chosen.shadow) and (
        champion_version is not None or shadow_version is not None
    ):
        notes.append(
            f"no paired rows of champion v{champion_version} and shadow v{shadow_version}: "
            f"the figures are of the pair logged last, v{chosen.champion} and v{chosen.shadow}"
        )
    # Answers without a shadow are counted from the first request a shadow scored: before
    # it, no shadow was set, and those rows say nothing about the shadow.
    since = pc.min(paired_all.column("c_logged_at")).as_py()
    answer_rows = _count(
        dataset, model, since, end, (route != SHADOW_ROUTE) & (route != CANARY_ROUTE)
    )
    canary_rows = _count(dataset, model, start, end, route == CANARY_ROUTE)
    stamps = pa.concat_arrays(
        [
            shadow.column("logged_at").combine_chunks().cast(pa.timestamp("us", tz="UTC")),
            paired_all.column("c_logged_at").combine_chunks().cast(pa.timestamp("us", tz="UTC")),
        ]
    )
    low, high = pc.min_max(stamps).values()
    return ShadowPairs(
        champion_version=chosen.champion,
        shadow_version=chosen.shadow,
        request_ids=paired.column("request_id").to_pylist(),
        champion_scores=np.asarray(paired.column("c_score").to_numpy(), dtype=np.float64),
        shadow_scores=np.asarray(paired.column("s_score").to_numpy(), dtype=np.float64),
        champion_labels=paired.column("c_label").to_pylist(),
        shadow_labels=paired.column("s_label").to_pylist(),
        champion_latency_ms=_latency_per_request(paired, "c_latency_ms"),
        shadow_latency_ms=_latency_per_request(paired, "s_latency_ms"),
        routes=dict(Counter(paired.column("c_route").to_pylist())),
        version_pairs=version_pairs,
        shadow_rows=shadow.num_rows,
        unpaired_shadow=shadow.num_rows - paired_all.num_rows,
        answer_rows=answer_rows,
        unpaired_answers=max(0, answer_rows - paired_all.num_rows),
        canary_rows=canary_rows,
        first_logged_at=_as_datetime(low.as_py()),
        last_logged_at=_as_datetime(high.as_py()),
        notes=notes,
    )
