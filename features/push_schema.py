"""The columns a Feast push source takes, read from the registry: keys, times and features."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from feast import FeatureStore, FeatureView
from feast.data_source import DataSource, PushSource
from feast.value_type import ValueType

from features.errors import InvalidPush, PushSourceNotFound


class ColumnRole(enum.StrEnum):
    """What a pushed column is to the feature views it feeds."""

    JOIN_KEY = "join key"
    EVENT_TIMESTAMP = "event timestamp"
    CREATED_TIMESTAMP = "created timestamp"
    FEATURE = "feature"
    SOURCE = "batch source column"
    """A column of the offline source that no feature view reads (offline pushes only)."""


@dataclass(frozen=True)
class PushColumn:
    """One column a push must or may carry, with the Feast type its values must have."""

    name: str
    value_type: ValueType
    role: ColumnRole

    @property
    def nullable(self) -> bool:
        """Feature values may be null (Feast stores an empty value); keys and times may not."""
        return self.role in (ColumnRole.FEATURE, ColumnRole.SOURCE)


@dataclass(frozen=True)
class PushSchema:
    """What a push source feeds: its feature views, and the columns the online write needs."""

    push_source: str
    batch_source: DataSource
    feature_views: tuple[str, ...]
    columns: tuple[PushColumn, ...]
    created_timestamp: str | None
    """The batch source's created-timestamp column: optional online, stored offline."""


def push_schema(store: FeatureStore, name: str, allow_cache: bool = True) -> PushSchema:
    """The schema of push source ``name``, as the feature views it feeds declare it.

    Feast's own push writes to every feature view (and stream feature view) whose stream
    source is the push source; each needs its join keys, its features and the batch
    source's event timestamp.
    """
    views: list[FeatureView] = [
        *store.list_feature_views(allow_cache=allow_cache),
        *store.list_stream_feature_views(allow_cache=allow_cache),
    ]
    fed = [
        v for v in views if isinstance(v.stream_source, PushSource) and v.stream_source.name == name
    ]
    if not fed:
        known = sorted(
            {v.stream_source.name for v in views if isinstance(v.stream_source, PushSource)}
        )
        raise PushSourceNotFound(
            f"no feature view is fed by a push source named {name!r}; "
            f"push sources: {', '.join(known) or 'none'}",
            [{"field": "push_source_name", "message": f"unknown push source {name!r}"}],
        )
    batch_source = fed[0].batch_source
    if batch_source is None:  # a push source always has one; Feast's types allow None
        raise InvalidPush(f"push source {name!r} has no batch source")
    columns: dict[str, PushColumn] = {}

    def add(column: PushColumn) -> None:
        seen = columns.setdefault(column.name, column)
        if seen.value_type != column.value_type:
            # Two views of one push source disagree on a column: no row can fit both.
            raise InvalidPush(
                f"push source {name!r} feeds {column.name!r} as both {seen.value_type.name} "
                f"and {column.value_type.name}: fix the feature views"
            )

    for view in fed:
        for key in view.entity_columns:
            add(PushColumn(key.name, key.dtype.to_value_type(), ColumnRole.JOIN_KEY))
        timestamp = (view.batch_source or batch_source).timestamp_field
        add(PushColumn(timestamp, ValueType.UNIX_TIMESTAMP, ColumnRole.EVENT_TIMESTAMP))
        for feature in view.features:
            add(PushColumn(feature.name, feature.dtype.to_value_type(), ColumnRole.FEATURE))
    created = batch_source.created_timestamp_column or None
    return PushSchema(
        push_source=name,
        batch_source=batch_source,
        feature_views=tuple(v.name for v in fed),
        columns=tuple(columns.values()),
        created_timestamp=created,
    )


def offline_columns(store: FeatureStore, schema: PushSchema) -> tuple[PushColumn, ...]:
    """Every column of the push source's batch source, which an offline push must match.

    Feast's offline write refuses a frame whose columns differ from the source's; the
    source's own column types are read from the source itself (the Parquet file's schema).
    """
    source = schema.batch_source
    to_value_type = source.source_datatype_to_feast_value_type()
    online = {c.name: c for c in schema.columns}
    columns: list[PushColumn] = []
    for name, source_type in source.get_table_column_names_and_types(store.config):
        if name in online:
            columns.append(online[name])
        elif name == schema.created_timestamp:
            columns.append(PushColumn(name, ValueType.UNIX_TIMESTAMP, ColumnRole.CREATED_TIMESTAMP))
        else:
            columns.append(PushColumn(name, to_value_type(str(source_type)), ColumnRole.SOURCE))
    return tuple(columns)
