"""The fast online read: Feast's Redis layout fetched in one round trip and decoded per column.

Same answers as ``FeatureStore.get_online_features(...).to_dict()`` for a feature service, at
a fraction of the cost: feature resolution is Feast's own and done once per service, keys and
hash fields come from Feast's encoders (``features.redis.layout``), all views on one entity
share one HMGET, values are decoded a column at a time (``features.redis.decoding``), and
on-demand views run through Feast's transformation code (``features.transforms.odfv``).

Feast 0.67's Redis read returns values however old they are: it does not filter on the
feature view's ``ttl`` (only Redis key expiry, ``key_ttl_seconds``, removes data). With
``enforce_ttl`` we do: the ``_ts:<view>`` field of every view with a ``ttl`` is fetched in the
same HMGET, and values whose event time is older than ``now - ttl`` come back as ``None`` and
are reported as stale. On-demand views are run first, on what Feast would hand them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feast import FeatureService, FeatureStore
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.value_type import ValueType
from redis.exceptions import RedisError

from features._feast_private import (
    DUMMY_ENTITY,
    DUMMY_ENTITY_ID,
    DUMMY_ENTITY_VAL,
    _get_online_request_context,
    _get_table_entity_values,
    _versioned_fv_name,
)
from features.deadline import within
from features.errors import OnlineStoreUnavailable, UnsupportedFeature
from features.loaded_marker import LoadedMarkerCheck
from features.online_features import OnlineFeatures
from features.redis.decoding import decode_column, event_time_before
from features.redis.fetch import HashReadCommand, RedisClient, Reply, connect, read_hashes
from features.redis.layout import EntityKeyEncoder, field_name, timestamp_field
from features.sdk_reader import OnlineFeatureReader
from features.transforms.odfv import OnDemandTransforms, python_values_as_feast_returns

log = logging.getLogger(__name__)

# Below this many rows decoding takes well under a millisecond: a thread hop costs more.
_INLINE_DECODE_ROWS = 64


@dataclass(frozen=True)
class EntityRead:
    """The features read from the hashes of one entity kind (one set of join keys)."""

    row_columns: tuple[str, ...]
    """Columns of a request row holding the join key values, in ``encoder`` order."""
    encoder: EntityKeyEncoder
    command: HashReadCommand
    outputs: tuple[tuple[str, ValueType], ...]
    """Feast's full name and value type of each feature field of ``command``, same order."""
    ttls: tuple[tuple[float, tuple[int, ...]], ...] = ()
    """Per view with a ``ttl`` enforced: the ttl in seconds and the positions in ``outputs`` of
    its features. Their ``_ts:<view>`` fields follow the features in ``command``, same order."""


@dataclass(frozen=True)
class ServicePlan:
    """Everything a read of one feature service needs, resolved once by Feast's own code."""

    entities: tuple[EntityRead, ...]
    result_names: tuple[str, ...]
    join_key_types: dict[str, ValueType]
    request_fields: tuple[str, ...]
    transforms: OnDemandTransforms | None
    entityless: bool
    stored: frozenset[str] = frozenset()
    """The features read from the online store (not computed by on-demand views)."""
    transform_columns: tuple[str, ...] = ()
    """The fetched columns in the order of Feast's response, which on-demand views see.

    Feast's Redis read appends each view's ``_ts:<view>`` field to the list of requested
    features (``_generate_hset_keys_for_features``), so its response, and the input of every
    on-demand view, has an all-null ``<view>___ts:<view>`` column per view: included here.
    """


def plan_service(
    store: FeatureStore, service: FeatureService, enforce_ttl: bool = False
) -> ServicePlan:
    """Resolve a feature service into per-entity HMGETs, as Feast's online read would.

    With ``enforce_ttl``, each view with a ``ttl`` also has its event time fetched.
    """
    config = store.config
    (
        feature_refs,
        odfvs,
        entity_name_to_join_key_map,
        entity_type_map,
        join_keys_set,
        grouped_refs,
        result_row_names,
        needed_request_data,
        entityless,
    ) = _get_online_request_context(store.registry, store.project, service, True)
    row_key_columns = set(join_keys_set) | ({DUMMY_ENTITY_ID} if entityless else set())
    key_types = dict(entity_type_map)
    key_types.setdefault(DUMMY_ENTITY_ID, DUMMY_ENTITY.value_type)

    Outputs = list[tuple[str, ValueType]]
    Ttls = list[tuple[bytes, float, tuple[int, ...]]]
    groups: dict[tuple[tuple[str, str], ...], tuple[list[bytes], Outputs, Ttls]] = {}
    feature_types: dict[str, ValueType] = {}
    fetched_order: list[str] = []
    response_order: list[str] = []
    for table, requested in grouped_refs:
        # Feast's own mapping from the row's (possibly aliased) columns to the stored join keys.
        identity: dict[str, Any] = {c: c for c in row_key_columns}
        store_to_row: dict[str, Any] = _get_table_entity_values(
            table, entity_name_to_join_key_map, identity
        )
        group_key = tuple(sorted(store_to_row.items()))
        fields, outputs, ttls = groups.setdefault(group_key, ([], [], []))
        first = len(outputs)
        dtypes = {f.name: f.dtype.to_value_type() for f in table.features}
        view_name = table.projection.name_to_use()
        for feature in requested:
            full_name = f"{view_name}__{feature}"
            fields.append(field_name(config, table, feature))
            outputs.append((full_name, dtypes[feature]))
            feature_types[full_name] = feature_types[feature] = dtypes[feature]
            fetched_order.append(full_name)
            response_order.append(full_name)
        ttl = table.ttl.total_seconds() if table.ttl else 0.0
        if enforce_ttl and ttl > 0:
            ttls.append((timestamp_field(config, table), ttl, tuple(range(first, len(outputs)))))
        response_order.append(f"{view_name}___ts:{_versioned_fv_name(table, config)}")

    entities = []
    for group_key, (fields, outputs, ttls) in groups.items():
        store_keys = [store_key for store_key, _ in group_key]
        row_columns = tuple(row_column for _, row_column in group_key)
        encoder = EntityKeyEncoder(config, store_keys, [key_types[c] for c in row_columns])
        # One HMGET per entity: the features, then the event times of views with a ttl.
        command = HashReadCommand([*fields, *(ts_field for ts_field, _, _ in ttls)])
        enforced = tuple((ttl, positions) for _, ttl, positions in ttls)
        entities.append(EntityRead(row_columns, encoder, command, tuple(outputs), enforced))

    transforms = OnDemandTransforms(odfvs, feature_refs, feature_types) if odfvs else None
    odfv_names = [
        f"{odfv.projection.name_to_use()}__{f.name}" for odfv in odfvs for f in odfv.features
    ]
    names = [n for n in (*fetched_order, *odfv_names) if n in result_row_names]
    return ServicePlan(
        entities=tuple(entities),
        result_names=tuple(dict.fromkeys(names)),
        join_key_types={c: key_types.get(c, ValueType.UNKNOWN) for c in join_keys_set},
        request_fields=tuple(sorted(needed_request_data)),
        transforms=transforms,
        entityless=entityless,
        stored=frozenset(fetched_order).intersection(names),
        transform_columns=tuple(response_order),
    )


def _unique(columns: Sequence[Sequence[Any]]) -> tuple[list[Sequence[Any]], list[int] | None]:
    """Distinct entities (as columns) and, for every row, the position of its entity.

    The positions are None when every row's entity is a new one: the rows are the entities.
    """
    index: dict[Any, int] = {}
    if len(columns) == 1:
        inverse = [index.setdefault(v, len(index)) for v in columns[0]]
        distinct: list[Sequence[Any]] = [list(index)]
    else:
        inverse = [index.setdefault(t, len(index)) for t in zip(*columns, strict=True)]
        distinct = [list(c) for c in zip(*index, strict=True)]
    return distinct, None if len(index) == len(inverse) else inverse


def _stale(
    columns: dict[str, Sequence[Any]],
    event_times: Sequence[tuple[EntityRead, int, Sequence[bytes | None], list[int] | None]],
) -> dict[str, list[bool]]:
    """Put None where a value is older than its view's ttl; return where, per feature."""
    now = time.time()
    stale: dict[str, list[bool]] = {}
    for entity, i, raw, inverse in event_times:
        ttl, positions = entity.ttls[i]
        older = event_time_before(raw, now - ttl)
        if not older.any():
            continue
        rows = older.tolist() if inverse is None else older[inverse].tolist()
        for position in positions:
            name = entity.outputs[position][0]
            values = columns[name]
            # A value that is not there is missing, not stale.
            where = [o and v is not None for o, v in zip(rows, values, strict=True)]
            if any(where):
                columns[name] = [None if w else v for v, w in zip(values, where, strict=True)]
                stale[name] = where
    return stale


class RedisOnlineFeatureReader:
    """Reads a feature service's online features straight from Feast's Redis layout."""

    def __init__(self, store: FeatureStore, timeout_s: float, enforce_ttl: bool = True) -> None:
        online_config = store.config.online_store
        if not isinstance(online_config, RedisOnlineStoreConfig):
            raise TypeError("RedisOnlineFeatureReader needs a Feast repo with a Redis online store")
        self._store = store
        self._timeout_s = timeout_s
        self._enforce_ttl = enforce_ttl
        self._client: RedisClient = connect(online_config, timeout_s)
        self.loaded_marker = LoadedMarkerCheck(self._client, store.project, timeout_s)
        """Whether the store still holds what materialization loaded (readiness, metrics)."""
        self._plans: dict[str, ServicePlan | None] = {}
        self._sdk: OnlineFeatureReader | None = None

    def _plan(self, name: str) -> ServicePlan | None:
        if name not in self._plans:
            service = self._store.get_feature_service(name, allow_cache=True)
            try:
                self._plans[name] = plan_service(self._store, service, self._enforce_ttl)
            except UnsupportedFeature as exc:
                log.warning("feature service %r read through Feast's SDK: %s", name, exc)
                self._plans[name] = None
        return self._plans[name]

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> OnlineFeatures:
        """Return ``{<view>__<feature>: values}``, one value per row, ``None`` where missing.

        ``timeout_s`` is what is left of the request's budget, capped by the reader's own.
        """
        plan = self._plan(feature_service)
        if timeout_s is None or timeout_s > self._timeout_s:
            timeout_s = self._timeout_s
        if plan is None:
            if self._sdk is None:
                self._sdk = OnlineFeatureReader(self._store, self._timeout_s, self._enforce_ttl)
            return await self._sdk.read(feature_service, rows, timeout_s)
        try:
            return await within(self._read(plan, rows), timeout_s)
        except TimeoutError as exc:
            raise OnlineStoreUnavailable(
                f"online store did not answer within {timeout_s:.2g} s"
            ) from exc
        except (RedisError, OSError) as exc:
            raise OnlineStoreUnavailable(f"online store unreachable: {exc}") from exc

    async def _read(self, plan: ServicePlan, rows: Sequence[Mapping[str, Any]]) -> OnlineFeatures:
        n = len(rows)
        batches, inverses = [], []
        for entity in plan.entities:
            if plan.entityless and entity.row_columns == (DUMMY_ENTITY_ID,):
                key_columns: list[Sequence[Any]] = [[DUMMY_ENTITY_VAL] * n]
            else:
                key_columns = [[row[c] for row in rows] for c in entity.row_columns]
            distinct, inverse = _unique(key_columns)
            batches.append((entity.command, entity.encoder.keys(distinct)))
            inverses.append(inverse)
        replies = await read_hashes(self._client, batches)
        if n <= _INLINE_DECODE_ROWS:
            return self._assemble(plan, rows, batches, inverses, replies)
        # Decoding and transforming a large batch takes milliseconds: keep the loop free.
        return await asyncio.to_thread(self._assemble, plan, rows, batches, inverses, replies)

    def _assemble(
        self,
        plan: ServicePlan,
        rows: Sequence[Mapping[str, Any]],
        batches: Sequence[tuple[HashReadCommand, Sequence[bytes]]],
        inverses: Sequence[list[int] | None],
        replies: Sequence[Reply],
    ) -> OnlineFeatures:
        columns: dict[str, Sequence[Any]] = {}
        too_old: list[tuple[EntityRead, int, Sequence[bytes | None], list[int] | None]] = []
        offset = 0
        for entity, (command, keys), inverse in zip(plan.entities, batches, inverses, strict=True):
            chunk = replies[offset : offset + len(keys)]
            offset += len(keys)
            fields = list(zip(*chunk, strict=True)) if chunk else [()] * len(command.fields)
            features = len(entity.outputs)
            for (name, value_type), raw in zip(entity.outputs, fields[:features], strict=True):
                decoded = decode_column(raw, value_type)
                if inverse is None:
                    columns[name] = decoded
                else:
                    columns[name] = list(map(decoded.__getitem__, inverse))
            for i, event_times in enumerate(fields[features:]):
                too_old.append((entity, i, event_times, inverse))
        if plan.transforms is not None:
            # On-demand views see every value, however old, exactly as Feast hands them over.
            columns.update(self._transform(plan, plan.transforms, rows, columns))
        stale = _stale(columns, too_old) if too_old else {}
        # Feast drops on-demand outputs its selection does not find (python-mode views that
        # return short names when full names are asked for): so do we.
        kept = {name: columns[name] for name in plan.result_names if name in columns}
        return OnlineFeatures(kept, plan.stored, stale)

    def _transform(
        self,
        plan: ServicePlan,
        transforms: OnDemandTransforms,
        rows: Sequence[Mapping[str, Any]],
        features: Mapping[str, Sequence[Any]],
    ) -> dict[str, list[Any]]:
        # Feast's transform input is its response: the join keys, then the request data, each
        # in the order of the rows' own keys, then the fetched columns in the order of its read.
        n = len(rows)
        first = rows[0] if rows else {}
        inputs: dict[str, Sequence[Any]] = {}
        for key in first:
            value_type = plan.join_key_types.get(key)
            if value_type is not None:
                inputs[key] = python_values_as_feast_returns([r[key] for r in rows], value_type)
        for key in first:
            if key in plan.request_fields:
                values = [r[key] for r in rows]
                inputs[key] = python_values_as_feast_returns(values, ValueType.UNKNOWN)
        for name in plan.transform_columns:
            inputs[name] = features[name] if name in features else [None] * n
        return transforms.apply(inputs)

    async def close(self) -> None:
        """Close the Redis connections (and the SDK reader's, if a service needed it)."""
        await self._client.aclose()
        if self._sdk is not None:
            await self._sdk.close()
