"""Pushing rows to a Feast push source: checked against its schema, written by Feast's writers.

The body of Feast feature server's ``POST /push`` is ``{"push_source_name", "df": {column:
[values]}, "to"}``; :meth:`FeaturePusher.push` takes the same three things from any front
end (HTTP, a stream) and knows nothing of either. Feast itself checks little before it
writes (a wrong column is a ``KeyError`` deep in its converter, and its offline write cannot
take date-time strings), so rows are checked here first, column by column, and typed for
Feast. The writes are Feast's own: ``FeatureStore.push``, which writes each fed feature
view through the online store's ``online_write_batch`` (Feast's Redis store keeps the newer
of two events for an entity) and the offline store's ``offline_write_batch``.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
from feast import FeatureStore
from feast.data_source import PushMode
from feast.value_type import ValueType
from redis.exceptions import RedisError

from features.errors import (
    FeatureStoreError,
    InvalidPush,
    OnlineStoreUnavailable,
    PushTooLarge,
)
from features.push_columns import column_problem, typed_column
from features.push_schema import ColumnRole, PushColumn, PushSchema, offline_columns, push_schema

SCHEMA_REUSE_S = 10.0
"""How long a push source's schema is reused: a registry lookup costs more than the checks,
and Feast's own registry cache (``cache_ttl_seconds``, 600 s by default) lags longer anyway."""


class PushTarget(enum.StrEnum):
    """Where pushed rows go: the values of the body's ``to``, as Feast names them."""

    ONLINE = "online"
    OFFLINE = "offline"
    ONLINE_AND_OFFLINE = "online_and_offline"

    @property
    def mode(self) -> PushMode:
        """Feast's own name for it."""
        return _MODES[self]

    @property
    def offline(self) -> bool:
        """Whether the rows go to the offline store (and must match its columns)."""
        return self is not PushTarget.ONLINE


_MODES = {
    PushTarget.ONLINE: PushMode.ONLINE,
    PushTarget.OFFLINE: PushMode.OFFLINE,
    PushTarget.ONLINE_AND_OFFLINE: PushMode.ONLINE_AND_OFFLINE,
}


@dataclass(frozen=True)
class PushResult:
    """What a push wrote: how many rows, to which feature views, where."""

    push_source_name: str
    to: PushTarget
    rows: int
    feature_views: tuple[str, ...]


class FeaturePusher:
    """Writes ``{column: [values]}`` rows to a Feast push source, after checking them.

    Blocking (the registry, Redis, the offline files): call it from a thread. Safe to call
    from several threads at once; offline writes are serialized, because Feast's file
    offline store rewrites the whole file and two writers at once would lose rows.
    """

    def __init__(self, store: FeatureStore, max_rows: int) -> None:
        self.store = store
        self.max_rows = max_rows
        self._offline_lock = threading.Lock()
        self._schemas: dict[str, tuple[float, PushSchema]] = {}

    def push(
        self,
        push_source_name: str,
        df: Mapping[str, Any],
        to: str = PushTarget.ONLINE,
        *,
        allow_registry_cache: bool = True,
        transform_on_write: bool = True,
    ) -> PushResult:
        """Check the rows against the push source's schema, then write them as ``to`` says.

        Raises :class:`~features.errors.PushSourceNotFound` for an unknown source,
        :class:`~features.errors.PushTooLarge` over ``max_rows``,
        :class:`~features.errors.InvalidPush` for rows that do not fit (naming each column),
        and :class:`~features.errors.OnlineStoreUnavailable` when the store does not answer.
        """
        target = _target(to)
        rows = _row_count(df, self.max_rows)
        schema = self._schema(push_source_name, allow_registry_cache)
        frame = self._frame(schema, df, target, rows)
        lock = self._offline_lock if target.offline else contextlib.nullcontext()
        try:
            with lock:
                self.store.push(
                    push_source_name,
                    frame,
                    allow_registry_cache=allow_registry_cache,
                    to=target.mode,
                    transform_on_write=transform_on_write,
                )
        except (RedisError, OSError) as exc:
            raise OnlineStoreUnavailable(f"the push could not be written: {exc}") from exc
        except (ValueError, TypeError, KeyError, pa.ArrowException) as exc:
            # What the checks above let through and Feast's converters refused (a type this
            # module does not check, such as a list): still the rows' fault, not the server's.
            raise InvalidPush(f"Feast refused the rows of {push_source_name!r}: {exc}") from exc
        return PushResult(push_source_name, target, rows, schema.feature_views)

    def _schema(self, name: str, allow_cache: bool) -> PushSchema:
        """The push source's schema, reused for a while unless the caller wants it fresh."""
        now = time.monotonic()
        cached = self._schemas.get(name)
        if allow_cache and cached is not None and now - cached[0] < SCHEMA_REUSE_S:
            return cached[1]
        # Only known sources are kept (an unknown one raises): the cache stays bounded.
        schema = push_schema(self.store, name, allow_cache)
        self._schemas[name] = (now, schema)
        return schema

    def _frame(
        self, schema: PushSchema, df: Mapping[str, Any], target: PushTarget, rows: int
    ) -> pd.DataFrame:
        """The rows as a typed frame of the columns the write takes, or every problem found."""
        problems: list[dict[str, str]] = []
        if target.offline:
            try:
                expected = offline_columns(self.store, schema)
            except (OSError, ValueError, pa.ArrowException) as exc:
                source = schema.push_source
                raise FeatureStoreError(
                    f"the offline source of {source!r} cannot be read: {exc}"
                ) from exc
            names = {c.name for c in expected}
            source = schema.push_source
            for name in list(df)[:_LISTED]:
                if name not in names:
                    message = (
                        f"{_clip(name)!r} is no column of the offline source of {source!r} "
                        f"(it has {', '.join(sorted(names))})"
                    )
                    problems.append({"field": f"df.{_clip(name)}", "message": message})
        else:
            expected = schema.columns
            if schema.created_timestamp is not None and schema.created_timestamp in df:
                role = ColumnRole.CREATED_TIMESTAMP
                created = PushColumn(schema.created_timestamp, ValueType.UNIX_TIMESTAMP, role)
                expected = (*expected, created)
        columns: dict[str, pd.Series] = {}
        for column in expected:
            values = df.get(column.name)
            if values is None:
                problems.append({"field": f"df.{column.name}", "message": (
                    f"push source {schema.push_source!r} needs the {column.role} column "
                    f"{column.name!r} ({column.value_type.name})")})  # fmt: skip
                continue
            problem = column_problem(column, values)
            if problem is None:
                columns[column.name], problem = typed_column(column, values)
            if problem is not None:
                problems.append({"field": f"df.{column.name}", "message": problem})
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise InvalidPush(problems[0]["message"] + more, problems)
        features = [c.name for c in expected if c.role is ColumnRole.FEATURE]
        if target is not PushTarget.OFFLINE and all(
            all(v is None for v in df[name]) for name in features
        ):
            # Feast's online write skips such a frame with only a warning.
            raise InvalidPush(
                f"every feature value pushed to {schema.push_source!r} is null: nothing to write"
            )
        return pd.DataFrame(columns, index=pd.RangeIndex(rows))


_LISTED = 20
"""Columns named at most in one error: a client may send thousands."""


def _clip(name: str) -> str:
    """A client's column name cut short enough to quote."""
    return name if len(name) <= 100 else f"{name[:100]}..."


def _target(to: str) -> PushTarget:
    try:
        return PushTarget(to)
    except ValueError:
        known = ", ".join(repr(t.value) for t in PushTarget)
        raise InvalidPush(
            f"'to' must be one of {known}, not {_clip(str(to))!r}",
            [{"field": "to", "message": f"one of {known}"}],
        ) from None


def _row_count(df: Mapping[str, Any], max_rows: int) -> int:
    """The rows in ``df``: every column a list of the same, non-zero length."""
    if not isinstance(df, Mapping):
        raise InvalidPush("'df' must be an object of columns, {column: [values]}")
    if not df:
        raise InvalidPush("'df' holds no rows: nothing to push")
    lengths: dict[str, int] = {}
    for name, values in df.items():
        if not isinstance(values, list):
            raise InvalidPush(
                f"column {_clip(name)!r} of 'df' must be a list of values, "
                f"not {type(values).__name__}",
                [{"field": f"df.{_clip(name)}", "message": "a list of values"}],
            )
        lengths[name] = len(values)
    rows = max(lengths.values())
    if min(lengths.values()) != rows:
        described = ", ".join(
            f"{_clip(name)!r}: {n}" for name, n in list(lengths.items())[:_LISTED]
        )
        raise InvalidPush(f"the columns of 'df' differ in length ({described})")
    if rows == 0:
        raise InvalidPush("'df' holds no rows: nothing to push")
    if rows > max_rows:
        raise PushTooLarge(f"{rows} rows pushed, over the limit of {max_rows} rows a push may hold")
    return rows
